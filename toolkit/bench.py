"""`edgebb bench`: latency and memory of artifacts on this machine's runtimes, against ResNet-50.

Inputs are .tflite / .onnx artifacts, manifest.json files (or the folders holding them), or backbone names
(converted on the fly, which needs the TensorFlow side). Each (artifact, runtime, threads) is measured by
`edgebb.bench_worker` in its own process. Results come back as a `BenchReport` of plain dicts in the schema
documented in the README: `{"env": {...}, "results": [...]}`.

Nothing here imports TensorFlow unless a backbone name has to be converted, so on a device with only
`edgebb[device]` installed, benchmarking .tflite artifacts and their manifests works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

Progress = Callable[[str], None]
RUNTIME_FORMAT = {"litert": "tflite", "litert-gpu": "tflite", "tflite-runtime": "tflite", "onnxruntime": "onnx",
                  "keras": "keras"}
SUFFIX_FORMAT = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras", ".h5": "keras"}
BASELINE = "resnet50"
LATENCY_KEYS = ("mean", "std", "min", "p50", "p90", "p99", "max")


@dataclass
class Target:
    """One model at one recipe, with its artifact per format."""

    model: str
    recipe: str
    artifacts: dict[str, str] = field(default_factory=dict)  # format -> path
    macs: int | None = None
    preprocessing: dict | None = None
    input_size: int | None = None


@dataclass
class BenchReport:
    env: dict
    results: list[dict]
    notes: list[str]
    # Conditions that make the figures not comparable to a clean run (a device that throttled during it).
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if r["status"] == "failed"]

    def to_dict(self) -> dict:
        return {"schema": "edgebb.bench/1", "env": self.env, "results": self.results, "notes": self.notes,
                "warnings": self.warnings}


# -------------------------------------------------------------------------------------------------- targets


def _check_artifact(path: str) -> str | None:
    """Why `path` is not a benchmarkable artifact (one line), or None if it looks like one."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".tflite", ".onnx"):
        return f"{path}: not a .tflite or .onnx artifact (or a manifest.json)"
    if not os.path.exists(path):
        return f"{path}: artifact not found"
    size = os.path.getsize(path)
    if size < 16:
        return f"{path}: {'empty' if size == 0 else 'truncated'} file ({size} bytes)"
    with open(path, "rb") as f:
        head = f.read(8)
    if suffix == ".tflite" and head[4:8] != b"TFL3":
        return f"{path}: not a TFLite model (no TFL3 identifier)"
    if suffix == ".onnx" and head[:1] not in (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42"):
        return f"{path}: not an ONNX model (not a protobuf ModelProto)"
    return None


def _from_manifest(path: str) -> list[Target]:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        manifest = json.loads(open(path).read())
        entries = manifest["artifacts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not an edgebb manifest ({type(exc).__name__})") from exc
    source = manifest.get("source", {})
    model = source.get("backbone") if isinstance(source.get("backbone"), str) else None
    if model is None:
        model = (source.get("backbone") or {}).get("name") if isinstance(source.get("backbone"), dict) else None
    targets: dict[str, Target] = {}
    for entry in entries:
        name = model or os.path.basename(entry["path"]).rsplit("_", 1)[0]
        t = targets.setdefault(entry["recipe"], Target(model=name, recipe=entry["recipe"], macs=entry.get("macs"),
                                                       preprocessing=entry.get("preprocessing")))
        t.artifacts[entry["format"]] = os.path.join(folder, entry["path"])
        t.input_size = (entry.get("preprocessing") or {}).get("size")
    if source.get("kind") == "file" and source.get("path", "").endswith((".keras", ".h5")):
        for t in targets.values():
            if t.recipe == "fp32" and os.path.exists(source["path"]):
                t.artifacts["keras"] = source["path"]
    return list(targets.values())


def _from_file(path: str) -> Target:
    """An artifact on its own; its manifest (if one sits beside it) supplies model name, MACs and preprocessing."""
    manifest = os.path.join(os.path.dirname(os.path.abspath(path)), "manifest.json")
    if os.path.exists(manifest):
        for t in _from_manifest(manifest):
            for fmt, p in t.artifacts.items():
                if os.path.abspath(p) == os.path.abspath(path):
                    return Target(model=t.model, recipe=t.recipe, artifacts={fmt: p}, macs=t.macs,
                                  preprocessing=t.preprocessing, input_size=t.input_size)
    stem = os.path.splitext(os.path.basename(path))[0]
    model, _, recipe = stem.rpartition("_")
    return Target(model=model or stem, recipe=recipe if model else "unknown",
                  artifacts={SUFFIX_FORMAT[os.path.splitext(path)[1].lower()]: path})


def _cache_root() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "edgebb", "artifacts")


def convert_backbone(name: str, recipe: str, formats: list[str], size: int, progress: Progress | None) -> Target:
    """Convert backbone `name` with `recipe` (random weights, generated calibration data) into the cache, once."""
    from .conversion import convert

    out = os.path.join(_cache_root(), f"{name}_{size}_{recipe}")
    wanted = [f for f in formats if f != "keras"]
    manifest = os.path.join(out, "manifest.json")
    have = {t.recipe: t for t in _from_manifest(manifest)} if os.path.exists(manifest) else {}
    if recipe not in have or not set(wanted) <= set(have[recipe].artifacts):
        if progress:
            progress(f"converting {name} to {recipe} ({', '.join(wanted)}) at {size}x{size}; cached in {out}")
        convert(name, out, None, recipes=recipe, formats=",".join(wanted), size=size, calib_samples=64,
                eval_samples=32, progress=None)
        have = {t.recipe: t for t in _from_manifest(manifest)}
    target = have[recipe]
    target.model = name
    if "keras" in formats and recipe == "fp32":
        keras_path = os.path.join(out, f"{name}.keras")
        if not os.path.exists(keras_path):
            from .fsutil import atomic_path
            from .models import create_model

            with atomic_path(keras_path) as tmp:
                create_model(name, input_size=size).save(tmp)
        target.artifacts["keras"] = keras_path
    return target


def collect_targets(items: list[str], *, recipes: list[str], formats: list[str], size: int,
                    progress: Progress | None = None) -> list[Target]:
    """Targets for artifacts, manifests (or folders with one) and backbone names (one per recipe). Bad artifacts
    raise one InputError whose message has one line per artifact."""
    from .models import list_models

    targets, problems = [], []
    for item in items:
        if os.path.isdir(item) and os.path.exists(os.path.join(item, "manifest.json")):
            targets += _from_manifest(os.path.join(item, "manifest.json"))
        elif item.endswith(".json"):
            if not os.path.exists(item):
                problems.append(f"{item}: manifest not found")
            else:
                targets += _from_manifest(item)
        elif item in list_models():
            targets.append(None)  # placeholder, converted below once the problems are known
        elif os.path.splitext(item)[1] or os.path.sep in item:
            problem = _check_artifact(item)
            if problem:
                problems.append(problem)
            else:
                targets.append(_from_file(item))
        else:
            from .models import get_spec

            try:
                get_spec(item)
            except InputError as exc:
                problems.append(str(exc))
    if None in targets:
        from .recipes import get_recipe

        trained = [r for r in recipes if get_recipe(r).qat]
        if trained:
            problems.append(f"recipe {trained[0]} needs a trained model, and backbone names are benched with random "
                            "weights: make it with edgebb convert MODEL --recipe int8-qat --data DIR and bench the "
                            "manifest.json it writes")
    if problems:
        raise InputError("\n".join(problems))
    names = iter(item for item in items if item in list_models())
    try:
        out = []
        for t in targets:
            if t is None:
                name = next(names)
                out += [convert_backbone(name, recipe, formats, size, progress) for recipe in recipes]
            else:
                out.append(t)
        return out
    except ImportError as exc:
        raise InputError(f"benchmarking a backbone by name converts it first, which needs the TensorFlow side "
                         f"({exc.name} is not installed: pip install 'edgebb[full]'); bench .tflite artifacts "
                         "or a manifest.json instead") from exc


# ---------------------------------------------------------------------------------------------- measuring


def latency_stats(times_ms: list[float]) -> dict:
    a = np.asarray(times_ms, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def _inputs_for(target: Target, data: str | None, samples: int, seed: int, folder: str) -> str:
    """A .npy batch of preprocessed inputs: the user's images, or random pixels through the preprocessing."""
    size = target.input_size or (target.preprocessing or {}).get("size") or 224
    pp = target.preprocessing
    if data:
        from .data import load_images, scan_folder
        from .models.registry import Preprocessing

        if pp is None:
            raise InputError(f"--data needs the preprocessing of {target.model}: bench its manifest.json")
        spec = Preprocessing(size=pp["size"], mean=tuple(pp["mean"]), std=tuple(pp["std"]),
                             crop_fraction=pp.get("crop_fraction", 0.875), channel_order=pp.get("channel_order", "rgb"))
        x = load_images(scan_folder(data).items[:samples], spec).x
    else:
        pixels = np.random.default_rng(seed).uniform(0, 255, (samples, size, size, 3)).astype(np.float32)
        if pp:
            if pp.get("channel_order") == "bgr":
                pixels = pixels[..., ::-1]
            x = (pixels - np.asarray(pp["mean"], np.float32)) / np.asarray(pp["std"], np.float32)
        else:
            x = pixels / 127.5 - 1.0
    path = os.path.join(folder, f"inputs_{size}_{abs(hash((target.model, data))) % 10**8}.npy")
    np.save(path, x.astype(np.float32))
    return path


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_worker(spec: dict, timeout: float, folder: str) -> dict:
    """Run one measurement in a new process; a crash, hang or kill becomes a failed result with its cause."""
    spec_path = os.path.join(folder, f"spec_{time.monotonic_ns()}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    proc = subprocess.Popen([sys.executable, "-m", "edgebb.bench_worker", spec_path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "failed", "error": f"timed out after {timeout:g} s (--timeout)"}
    for line in out.splitlines():
        if line.startswith("EDGEBB_RESULT "):
            return json.loads(line[len("EDGEBB_RESULT "):])
    if proc.returncode < 0:
        name = _signal_name(proc.returncode)
        cause = "killed (SIGKILL: out of memory?)" if name == "SIGKILL" else f"crashed ({name})"
        return {"status": "failed", "error": cause}
    last = [ln for ln in err.strip().splitlines() if ln.strip()]
    if any("MemoryError" in ln or "bad_alloc" in ln for ln in last[-5:]):
        return {"status": "failed", "error": "out of memory"}
    return {"status": "failed", "error": f"exited {proc.returncode}: {last[-1][:200] if last else 'no output'}"}


def _row(target: Target, runtime: str, threads: int, fmt: str) -> dict:
    path = target.artifacts.get(fmt)
    size = os.path.getsize(path) / 1e6 if path and os.path.exists(path) else None
    return {"model": target.model, "artifact": os.path.basename(path) if path else None, "path": path,
            "format": fmt, "recipe": target.recipe, "runtime": runtime, "target": "cpu", "threads": threads,
            "status": "skipped", "error": None, "init_ms": None, "first_ms": None,
            "latency_ms": None, "runs": None, "cv": None, "throughput_ips": None, "peak_rss_mb": None,
            "rss_delta_mb": None, "size_mb": size, "macs": target.macs, "gmacs_per_s": None,
            "speedup_vs_baseline": None, "memory_ratio_vs_baseline": None, "baseline": False}


def bench(items: list[str], *, runtimes=("litert",), threads=(1,), recipes=("fp32",), size: int = 224,
          data: str | None = None, runs: int = 50, min_seconds: float = 2.0, max_seconds: float | None = None,
          warmup: int = 5,
          timeout: float = 600.0, baseline: str = BASELINE, memory_limit_mb: float | None = None,
          profile: bool = False, target_name: str = "cpu", progress: Progress | None = None) -> BenchReport:
    """Measure every (artifact, runtime, threads) and return a BenchReport.

    Raises InputError for bad input (unknown names, bad artifacts, bad options); runtime failures are rows.
    """
    from .envinfo import device_state, environment, throttled, throttled_between
    from .runtimes import RUNTIMES, available

    for r in runtimes:
        if r not in RUNTIMES:
            from .errors import unknown_name

            raise unknown_name("runtime", r, list(RUNTIMES))
    if runs < 1 or warmup < 0 or min_seconds < 0 or timeout <= 0:
        raise InputError("--runs must be >= 1, --warmup >= 0, --min-seconds >= 0 and --timeout > 0")
    if any(t < 1 for t in threads):
        raise InputError(f"--threads must be positive; received {','.join(map(str, threads))}")
    if data is not None and not os.path.isdir(data):
        raise InputError(f"data folder not found: {data}")
    runtimes, notes = _tflite_fallback(list(runtimes))
    formats = sorted({RUNTIME_FORMAT[r] for r in runtimes})
    say = progress or (lambda message: None)
    env = environment()
    env["temperature_before_c"] = env.pop("temperature_c")
    env["throttled_before"] = env.pop("throttled")
    from .recipes import RECIPES, parse_list

    recipes = parse_list(recipes if isinstance(recipes, str) else ",".join(recipes), RECIPES, "recipe")
    targets = collect_targets(list(items), recipes=recipes, formats=formats, size=size, progress=progress)
    if baseline != "none" and not any(t.model == baseline for t in targets):
        recipes = sorted({t.recipe for t in targets})
        for rec in recipes:
            try:
                targets.append(convert_backbone(baseline, rec, formats, size, progress))
            except ImportError as exc:
                notes.append(f"baseline {baseline} not measured: converting it needs the TensorFlow side "
                             f"({exc.name} is not installed); bench a {baseline} artifact alongside instead")
    results = []
    before = device_state()  # again, now that converting (which heats a device) is done
    env.update(temperature_before_c=before["temperature_c"], throttled_before=before["throttled"])
    if before["cpu_freq_mhz"]:
        env["cpu_freq_mhz"] = before["cpu_freq_mhz"]
    with tempfile.TemporaryDirectory(prefix="edgebb-bench-") as folder:
        jobs = [(t, r, n) for t in targets for r in runtimes for n in threads
                if not (r == "keras" and t.recipe != "fp32")]
        for i, (t, runtime, n) in enumerate(jobs, start=1):
            fmt = RUNTIME_FORMAT[runtime]
            row = _row(t, runtime, n, fmt)
            row["baseline"] = t.model == baseline
            row["target"] = "gpu" if runtime == "litert-gpu" else target_name
            row["emulated"] = env["emulated"]
            ok, reason = available(runtime)
            if fmt not in t.artifacts:
                row["error"] = f"no {fmt} artifact for {t.model} {t.recipe}"
            elif not ok:
                row["error"] = reason
            else:
                say(f"[{i}/{len(jobs)}] {row['artifact']} on {runtime}, {n} thread(s)")
                spec = {"path": t.artifacts[fmt], "runtime": runtime, "threads": n, "runs": runs,
                        "min_seconds": min_seconds, "max_seconds": max_seconds, "warmup": warmup,
                        "memory_limit_mb": memory_limit_mb,
                        "inputs": _inputs_for(t, data, 8, 0, folder), "profile": profile,
                        "outputs": os.path.join(folder, f"out_{i}.npy")}
                # Read per row where the device reports throttling, so the rows it spoiled can be named.
                row_before = throttled() if env["throttled_before"] is not None else None
                _finish(row, run_worker(spec, timeout, folder), spec["outputs"])
                if row_before is not None:
                    row["throttled"] = throttled_between(row_before, throttled())
            results.append(row)
        _parity(results)
    after = device_state()
    env.update(temperature_after_c=after["temperature_c"], throttled_after=after["throttled"],
               cpu_freq_after_mhz=after["cpu_freq_mhz"])
    _compare_to_baseline(results, baseline)
    notes += diagnose(results, env)
    if env["emulated"]:
        notes.append(f"emulated ({env['emulation']}): these figures measure an emulator on another CPU, not the "
                     "target's speed; they prove the device path runs, nothing more")
    for r in results:
        r.pop("_outputs", None)
    return BenchReport(env=env, results=results, notes=notes, warnings=device_warnings(env, results))


def _tflite_fallback(runtimes: list[str]) -> tuple[list[str], list[str]]:
    """Where ai-edge-litert has no wheel (32-bit armv7 Raspberry Pi OS) a device has only the legacy tflite-runtime:
    a request for `litert` then runs on tflite-runtime, the rows name the runtime that ran, and a note says why."""
    from .runtimes import available

    if "litert" not in runtimes or "tflite-runtime" in runtimes or available("litert")[0] \
            or not available("tflite-runtime")[0]:
        return runtimes, []
    return (["tflite-runtime" if r == "litert" else r for r in runtimes],
            ["ai-edge-litert is not installed here; the .tflite artifacts ran on tflite-runtime instead"])


def device_warnings(env: dict, results: list[dict]) -> list[str]:
    """Why the figures of a run are not comparable to a clean run on the same device: throttling during it (from
    the before/after readings of `vcgencmd get_throttled`), or sticky flags from earlier that hide a new throttle."""
    from .envinfo import THROTTLE_SINCE_BOOT, throttled_between

    out = []
    during = throttled_between(env.get("throttled_before"), env.get("throttled_after"))
    if during:
        spoiled = [f"{r['artifact']} on {r['runtime']} ({r['threads']} thread(s))" for r in results
                   if r.get("throttled")]
        out.append(f"the device throttled during this run ({', '.join(during)}; vcgencmd get_throttled "
                   f"{env.get('throttled_before')} -> {env.get('throttled_after')}): these figures are not comparable "
                   "to an unthrottled run; cool the board (heatsink, fan), use the official power supply and run again"
                   + (f"; rows affected: {'; '.join(spoiled)}" if spoiled else ""))
    try:
        sticky = int(env.get("throttled_before") or "0", 16) & sum(1 << bit for bit in THROTTLE_SINCE_BOOT)
    except ValueError:
        sticky = 0
    if sticky and not during:
        out.append(f"the device had throttled before this run (vcgencmd get_throttled {env['throttled_before']}; "
                   "the since-boot flags stay set until a reboot), so a new throttle during this run that is over "
                   "by its end would not show; reboot before benchmarking to start from 0x0")
    return out


def _finish(row: dict, result: dict, outputs_path: str) -> None:
    row["status"] = result.get("status", "failed")
    row["error"] = result.get("error")
    if row["status"] != "ok":
        return
    times = result["latencies_ms"]
    stats = latency_stats(times)
    row.update(init_ms=result["init_ms"], first_ms=result["first_ms"], latency_ms=stats, runs=len(times),
               cv=stats["std"] / stats["mean"] if stats["mean"] else None,
               throughput_ips=1e3 / stats["mean"], peak_rss_mb=result["peak_rss_mb"],
               rss_delta_mb=result["rss_after_mb"] - result["rss_before_mb"])
    if row["macs"]:
        row["gmacs_per_s"] = row["macs"] / (stats["p50"] / 1e3) / 1e9
    for key in ("adapter", "software", "fully_accelerated", "provider", "profile", "profile_note"):
        if key in result:
            row[key] = result[key]
    if os.path.exists(outputs_path):
        row["_outputs"] = np.load(outputs_path)


def _parity(results: list[dict]) -> None:
    """GPU rows: max abs error and top-1 agreement of their outputs against the CPU litert row of the artifact."""
    cpu = {r["path"]: r for r in results if r["runtime"] == "litert" and "_outputs" in r}
    for r in results:
        if r["runtime"] == "litert-gpu" and "_outputs" in r and r["path"] in cpu:
            a, b = cpu[r["path"]]["_outputs"], r["_outputs"]
            a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
            r["parity"] = {"max_abs_error": float(np.abs(a - b).max()),
                           "top1_agreement": 100.0 * float(np.mean(a2.argmax(1) == b2.argmax(1))), "samples": len(a)}


def _compare_to_baseline(results: list[dict], baseline: str) -> None:
    base = {(r["recipe"], r["runtime"], r["threads"]): r for r in results
            if r["model"] == baseline and r["status"] == "ok"}
    for r in results:
        b = base.get((r["recipe"], r["runtime"], r["threads"]))
        if r["status"] == "ok" and b:
            r["speedup_vs_baseline"] = b["latency_ms"]["p50"] / r["latency_ms"]["p50"]
            r["memory_ratio_vs_baseline"] = r["peak_rss_mb"] / b["peak_rss_mb"]


def diagnose(results: list[dict], env: dict) -> list[str]:
    """Say where int8 is slower than fp32 on the same model, runtime and threads, with the likely cause."""
    from .envinfo import int8_speed_hint

    ok = {(r["model"], r["runtime"], r["threads"], r["recipe"]): r for r in results if r["status"] == "ok"}
    notes = []
    for (model, runtime, threads, recipe), r in ok.items():
        fp32 = ok.get((model, runtime, threads, "fp32"))
        if recipe not in ("int8", "int8-qat") or not fp32:
            continue
        ratio = r["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]
        if ratio > 1.0:
            cause = int8_speed_hint(env)
            if runtime == "litert-gpu":
                cause = ("the GPU delegate did not take the whole int8 model and fell back to CPU for part of it"
                         if r.get("fully_accelerated") is False else
                         "LiteRT's GPU accelerator computes int8 models in float (it dequantizes them), so int8 "
                         "saves size there, not time")
            notes.append(f"{model} int8 is {ratio:.2f}x slower than fp32 on {runtime} ({threads} thread(s)): {cause}")
    for r in results:
        if r.get("software"):
            notes.append(f"{r['artifact']} on {r['runtime']} ran on a software adapter ({r.get('adapter')}): "
                         "its latency is emulation, not GPU speed")
    return notes


def flat_row(r: dict) -> dict:
    """A result with latency_ms and parity flattened, for CSV."""
    out = {k: v for k, v in r.items() if k not in ("latency_ms", "parity", "profile")}
    for k in LATENCY_KEYS:
        out[f"latency_{k}_ms"] = (r.get("latency_ms") or {}).get(k)
    for k in ("max_abs_error", "top1_agreement"):
        out[f"parity_{k}"] = (r.get("parity") or {}).get(k)
    if isinstance(r.get("throttled"), list):
        out["throttled"] = "; ".join(r["throttled"])
    return out
