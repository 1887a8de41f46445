"""`edgebb bench`: latency and memory of artifacts on this machine's runtimes, against ResNet-50.

Each (artifact, runtime, threads) is measured by `edgebb.benchmark.worker` in its own process, so its memory
figures are its own and a crash, a hang or running out of memory fails only its row, with the cause. Results come
back as a `BenchReport` of `BenchRow`s (edgebb.benchmark.rows).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..conversion.recipes import RECIPES
from ..core.errors import InputError
from ..core.formats import FORMATS
from ..core.progress import Progress, as_progress
from .analysis import device_warnings, diagnose, noise_warnings
from .comparisons import add_baselines, baseline_recipe, compare_to_baseline, cpu_parity, plan_baselines
from .options import BenchOptions
from .rows import BenchReport, BenchRow, latency_stats, spread_of
from .targets import Target, collect_targets, missing_file

# add_baselines and compare_to_baseline live in edgebb.benchmark.comparisons; they are imported from here too.
__all__ = ["INPUT_SAMPLES", "add_baselines", "bench", "compare_to_baseline", "finish", "new_row", "run_worker"]

from .process import run_worker  # noqa: E402  (part of this module's API)

INPUT_SAMPLES = 8  # distinct inputs a row cycles through (and compares outputs on, for GPU parity)


def bench(items: list[str], options: BenchOptions | None = None, *, progress: Progress | None = None,
          **kwargs) -> BenchReport:
    """Measure every (artifact, runtime, threads) of `items` (.tflite/.onnx artifacts, manifest.json files or the
    folders holding them, backbone names) and return a BenchReport.

    `options` (a BenchOptions) and/or keyword arguments naming its fields (runtimes=("litert", "onnxruntime"),
    threads=(1, 2), ...) say how. Raises InputError for bad input (unknown names, bad artifacts, bad options);
    runtime failures are rows.
    """
    from ..runtimes import RUNTIMES, available
    from .environment import cpu_busy, device_state, environment

    opts = BenchOptions.from_kwargs(options, kwargs)
    say = as_progress(progress)
    if opts.data is not None and not os.path.isdir(opts.data):
        raise InputError(f"data folder not found: {opts.data}")
    env = environment()
    env["temperature_before_c"] = env.pop("temperature_c")
    env["throttled_before"] = env.pop("throttled")
    if opts.runtimes:  # asked for by name: when none of them can run here, say so before converting anything
        reasons = [available(name)[1] for name in _tflite_fallback(list(opts.runtimes))[0]]
        if all(reasons):
            raise InputError(f"nothing can be measured here: {'; '.join(dict.fromkeys(reasons))}")
    targets = collect_targets(list(items), recipes=list(opts.recipes), formats=opts.formats, size=opts.size,
                              progress=progress, baseline=None if opts.baseline == "none" else opts.baseline)
    given = list(targets)  # the items asked about; the baselines added below are comparisons
    have = {f for t in given for f in t.artifacts}
    notes: list[str] = []
    if opts.runtimes:
        wanted = list(opts.runtimes)
    elif opts.best:  # edgebb's choice, not the user's: none that no item gives a file to
        wanted, notes = _fed(opts.best_runtimes, have)
        for note in notes:
            say.say(note)
    else:  # every artifact on its own format's runtime
        wanted = list(dict.fromkeys(FORMATS[f].default_runtime for t in targets for f in sorted(t.artifacts)
                                    if FORMATS[f].artifact))
    runtimes, fallback_notes = _tflite_fallback(wanted)
    notes += fallback_notes
    if opts.runtimes and not any(RUNTIMES[r].format in have for r in runtimes if available(r)[0]):
        reads = "; ".join(f"{r} reads {FORMATS[RUNTIMES[r].format].suffix}" for r in runtimes if available(r)[0])
        raise InputError(f"nothing to measure: {reads}, and no item is one (they are "
                         f"{', '.join(sorted(FORMATS[f].suffix for f in have)) or 'nothing measurable'})")
    unratioed: dict[str, str] = {}  # runtimes whose rows get no ratio (a software GPU): no baseline measured there
    if opts.baseline != "none":
        targets, baseline_notes, unratioed = plan_baselines(targets, opts.baseline, runtimes, env, progress)
        notes += baseline_notes
    results: list[BenchRow] = []
    before = device_state()  # again, now that converting (which heats a device) is done
    env.update(temperature_before_c=before["temperature_c"], throttled_before=before["throttled"],
               load_average_before=load_average(), cpu_busy_before=cpu_busy())
    # None where cpufreq is unreadable, as cpu_freq_after_mhz is (one key without the other read as a bug)
    env["cpu_freq_mhz"] = before["cpu_freq_mhz"] or env.get("cpu_freq_mhz")
    with tempfile.TemporaryDirectory(prefix="edgebb-bench-") as folder:
        # A runtime runs the targets that have a file of its format. One that no item given feeds gets a skipped row
        # per item, saying so (--runtime asked for it); a runtime that has work elsewhere gets no row for the
        # targets it cannot read (a .tflite and an .onnx benched on both runtimes: two rows, not two more "no onnx
        # artifact"). A source format's runtime (keras) runs only the float models that have that file, by the same
        # rule. The baseline runs only where some item is measured at its recipe and size, on a runtime whose rows
        # get a ratio: anywhere else it would compare with nothing.
        mine = {id(t) for t in given}
        runnable = [r for r in runtimes if available(r)[0]]
        measured = {(baseline_recipe(t.recipe), t.input_size, r) for t in given for r in runnable
                    if RUNTIMES[r].format in t.artifacts}

        def runs(t: Target, r: str) -> bool:
            fmt = RUNTIMES[r].format
            if id(t) in mine:  # an item no runtime reads keeps its skipped rows, beside items they read
                return fmt in t.artifacts or fmt not in have or not any(RUNTIMES[x].format in t.artifacts
                                                                         for x in runtimes)
            return fmt in t.artifacts and r not in unratioed and (t.recipe, t.input_size, r) in measured

        jobs = [(t, r, n) for t in targets for r in runtimes for n in opts.threads if runs(t, r)]
        if opts.sustained:
            timed = [j for j in jobs if RUNTIMES[j[1]].format in j[0].artifacts and available(j[1])[0]]
            base = sum(1 for t, _, _ in timed if id(t) not in mine)
            say.say(f"--sustained {opts.sustained:g} s for each of {len(timed)} row(s): at least "
                    f"{_duration(len(timed) * opts.sustained)}" + (
                        f" ({base} of them the baseline's, for its ratios; --baseline none leaves them out)"
                        if base else ""))
        with say.step("measuring", total=len(jobs)) as step:
            for i, (t, runtime, n) in enumerate(jobs, start=1):
                row = _measure(t, runtime, n, opts, env, os.path.join(folder, f"out_{i}.npy"), step)
                results.append(row)
                if row.ok:
                    outcome = f"p50 {row.p50:.2f} ms"
                elif row.artifact:
                    outcome = row.status
                else:  # never started: no artifact of this runtime's format, or the runtime is missing
                    outcome = f"{row.status} ({row.error})"
                step.advance(detail=f"{row.artifact or f'{t.model} {t.recipe}'} on {runtime}, {n} thread(s): {outcome}")
        notes += cpu_parity(results)
    weights = {path: t.random_weights for t in targets for path in t.artifacts.values()}
    for row in results:  # what a reader of the parity needs to know of the model (rendered by bench_lines)
        if row.get("parity"):
            row.extra["parity"]["random_weights"] = weights.get(row.path)
    after = device_state()
    env.update(temperature_after_c=after["temperature_c"], throttled_after=after["throttled"],
               cpu_freq_after_mhz=after["cpu_freq_mhz"], load_average_after=load_average(), cpu_busy_after=cpu_busy())
    compare_to_baseline(results, opts.baseline, unratioed)
    _peak(results, env, say)
    notes += diagnose(results, env) + _machine_notes(results, env)
    verifications = {path: t.verification[fmt] for t in targets for fmt, path in t.artifacts.items()
                     if fmt in t.verification}
    _conversion_checks(results, verifications)
    best = None
    if opts.best:
        from .best import choose

        best = choose(results, verifications, opts.max_drop)
    return BenchReport(env=env, results=results, notes=notes,
                       warnings=device_warnings(env, results) + noise_warnings(env, results), best=best)


def _measure(t: Target, runtime: str, n: int, opts: BenchOptions, env: dict, outputs: str, step) -> BenchRow:
    """One row: `t` on `runtime` at `n` threads, measured in a worker process (its outputs saved to `outputs`), or
    the reason it could not be (no file of the runtime's format, a runtime missing here)."""
    from ..runtimes import RUNTIMES, available
    from .environment import throttled, throttled_between

    rt = RUNTIMES[runtime]
    row = new_row(t, runtime, n, rt.format)
    row.baseline = t.model == opts.baseline and t.recipe in RECIPES
    row.target = rt.target
    row.emulated = env["emulated"]
    ok, reason = available(runtime)
    if rt.format not in t.artifacts:
        row.error = missing_file(t, rt.format)
        return row
    if not ok:
        row.error = reason
        return row
    step.advance(0, detail=f"{row.artifact} on {runtime}, {n} thread(s)")
    folder = os.path.dirname(outputs)
    spec = {"path": t.artifacts[rt.format], "runtime": runtime, "threads": n, "runs": opts.runs,
            "min_seconds": opts.min_seconds, "max_seconds": opts.max_seconds, "warmup": opts.warmup,
            "memory_limit_mb": opts.memory_limit_mb, "inputs": inputs_for(t, opts.data, INPUT_SAMPLES, 0, folder),
            "profile": opts.profile, "sustained": opts.sustained, "reference": _reference(rt), "outputs": outputs,
            "options": {"enforce_f32": True} if opts.gpu_fp32 and "enforce_f32" in rt.options else {}}
    # Read per row where the device reports throttling, so the rows it spoiled can be named.
    before = throttled() if env["throttled_before"] is not None else None
    # --timeout bounds what comes besides a --sustained run, not the run it asked for
    finish(row, run_worker(spec, opts.timeout + (opts.sustained or 0), folder), outputs)
    if before is not None:
        seen = throttled_between(before, throttled())
        row.extra["throttled"] = seen + [f for f in row.get("throttled") or [] if f not in seen]
    return row


def _machine_notes(results: list[BenchRow], env: dict) -> list[str]:
    """What the machine the rows ran on says of them: threads over its cores, an emulator."""
    notes = []
    over = sorted({r.threads for r in results if r.threads and r.threads > (env.get("cores") or r.threads)})
    if over:
        notes.append(f"{', '.join(map(str, over))} thread(s) on a machine of {env['cores']} cores: the threads share "
                     "the cores, so those rows measure contention, not how the model scales (% peak is against "
                     f"the peak at {env['cores']} threads)")
    if env["emulated"]:
        notes.append(f"emulated ({env['emulation']}): these figures measure an emulator on another CPU, not the "
                     "target's speed; they prove the device path runs, nothing more")
    return notes


def _conversion_checks(results: list[BenchRow], verifications: dict) -> None:
    """Each row's "conversion_check": its artifact's verdict against the float model from the conversion (as its
    runtime ran it, where convert ran it there too), so that a fast row of an artifact that failed its budget is
    not read as a candidate (the table says so; a report leaves it off the frontier)."""
    from ..conversion.verify import as_run_by

    for row in results:
        if row.path in verifications:  # the baseline too: asked for by name, its int8 row is as unjudged as any
            check = as_run_by(verifications[row.path], row.runtime)
            row.extra["conversion_check"] = {"passed": check.get("passed"),
                                             "failed_because": check.get("failed_because")}


def _peak(results: list[BenchRow], env: dict, say) -> None:
    """env["peak"]: this machine's measured GEMM peak at the rows' thread counts (edgebb.benchmark.peak; after the
    measurements, so probing does not heat the device before them), and each row's fraction of it. Not for an
    emulated machine, whose peak is the emulator's."""
    from .peak import machine_peak, peak_fraction

    measured = [r for r in results if r.ok and r.gmacs_per_s and r.target == "cpu"]
    if not measured or env.get("emulated"):
        return
    env["peak"] = machine_peak(env, sorted({r.threads for r in measured}), say)
    for row in measured:
        fraction = peak_fraction(row.gmacs_per_s, row.recipe, row.threads, env["peak"])
        if fraction is not None:
            row.extra["peak_fraction"] = fraction


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def new_row(target: Target, runtime: str, threads: int, fmt: str) -> BenchRow:
    """A skipped row for `target` on `runtime`: what is known before measuring."""
    path = target.artifacts.get(fmt)
    size = os.path.getsize(path) / 1e6 if path and os.path.exists(path) else None
    return BenchRow(model=target.model, artifact=os.path.basename(path) if path else None, path=path, format=fmt,
                    recipe=target.recipe, runtime=runtime, input_size=target.input_size, threads=threads,
                    size_mb=size, macs=target.macs)


def inputs_for(target: Target, data: str | None, samples: int, seed: int, folder: str) -> str | None:
    """A .npy batch of preprocessed inputs: the user's images, or random pixels through the preprocessing; None
    when neither the size nor the preprocessing is known (the worker then makes inputs of the model's own shape)."""
    from ..data import normalize

    pp = target.preprocessing
    size = target.input_size or (pp or {}).get("size")
    if size is None and not data:
        return None
    pp = target.preprocessing
    if data:
        from ..data import load_images, scan_folder
        from ..models.registry import Preprocessing

        if pp is None:
            raise InputError(f"--data needs the preprocessing of {target.model}: bench its manifest.json")
        x = load_images(scan_folder(data).items[:samples], Preprocessing.from_dict(pp)).x
    else:
        pixels = np.random.default_rng(seed).uniform(0, 255, (samples, size, size, 3)).astype(np.float32)
        if pp:
            from ..models.registry import Preprocessing

            x = normalize(pixels, Preprocessing.from_dict(pp, size=size))
        else:
            x = pixels / 127.5 - 1.0
    path = os.path.join(folder, f"inputs_{size}_{abs(hash((target.model, data))) % 10**8}.npy")
    np.save(path, x.astype(np.float32))
    return path


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def finish(row: BenchRow, result: dict, outputs_path: str) -> None:
    """Fill `row` from a worker's `result` (and its saved outputs, for parity)."""
    row.status = result.get("status", "failed")
    row.error = result.get("error")
    if row.status != "ok":
        return
    times = result["latencies_ms"]
    stats = latency_stats(times)
    # a long sustained run keeps every k-th latency for the percentiles; `runs` is how many ran
    runs = sum(w["runs"] for w in result["sustained"]["windows"]) if "sustained" in result else len(times)
    row.init_ms, row.first_ms, row.latency_ms, row.runs = result["init_ms"], result["first_ms"], stats, runs
    row.cv = stats["std"] / stats["mean"] if stats["mean"] else None
    row.spread = spread_of(times)
    row.throughput_ips = 1e3 / stats["mean"]
    row.peak_rss_mb = result["peak_rss_mb"]
    row.rss_delta_mb = result["rss_after_mb"] - result["rss_before_mb"]
    if row.macs:
        row.gmacs_per_s = row.macs / (stats["p50"] / 1e3) / 1e9
    # parity: a GPU row's outputs against the CPU runtime's, computed in its worker (parity_error: why not)
    for key in ("adapter", "software", "fully_accelerated", "provider", "gpu_precision", "profile", "profile_note",
                "parity", "parity_error"):
        if key in result:
            row.extra[key] = result[key]
    if "sustained" in result:
        from .environment import throttled_between

        sustained = result["sustained"]
        readings = [sustained["start"]["throttled"]] + [w["throttled"] for w in sustained["windows"]]
        flags = list(dict.fromkeys(f for a, b in zip(readings, readings[1:]) for f in throttled_between(a, b)))
        sustained["throttled_windows"] = [i + 1 for i, (a, b) in enumerate(zip(readings, readings[1:]))
                                          if throttled_between(a, b)]
        row.extra["sustained"] = sustained
        if flags:
            row.extra["throttled"] = flags
    if os.path.exists(outputs_path):
        row.outputs = np.load(outputs_path)


def _fed(runtimes: tuple[str, ...], have: set[str]) -> tuple[list[str], list[str]]:
    """Of the runtimes --best chose (no --runtime), those that load a format some item has a file of, and a note
    naming the others by format: they would only have made a skipped row of every item (and measured the baseline
    with nothing to compare it with)."""
    from ..runtimes import RUNTIMES

    kept, dropped = [], {}
    for name in runtimes:
        fmt = RUNTIMES[name].format
        if fmt in have:
            kept.append(name)
        else:
            dropped.setdefault(fmt, []).append(name)
    notes = [f"--best: {' and '.join(names)} not measured: {'they load' if len(names) > 1 else 'it loads'} "
             f"{FORMATS[fmt].suffix} files, and no item has one (--runtime {','.join(names)} lists a skipped row "
             "for each item)" for fmt, names in dropped.items()]
    return kept, notes


def _tflite_fallback(runtimes: list[str]) -> tuple[list[str], list[str]]:
    """A runtime that cannot run here is replaced by its registered `fallback` when that one can and was not asked
    for too: where ai-edge-litert has no wheel (32-bit armv7 Raspberry Pi OS) a device has only the legacy
    tflite-runtime, so `litert` runs there; the rows name the runtime that ran, and a note says why."""
    from .. import runtimes as registry

    out, notes = [], []
    for name in runtimes:
        runtime = registry.RUNTIMES[name]
        fallback = runtime.fallback
        if fallback and fallback not in runtimes and not registry.available(name)[0] \
                and registry.available(fallback)[0]:
            out.append(fallback)
            notes.append(f"{runtime.package} is not installed here; the {FORMATS[runtime.format].suffix} artifacts "
                         f"ran on {fallback} instead")
        else:
            out.append(name)
    return out, notes


def _reference(runtime) -> str | None:
    """The runtime a GPU row's worker runs the same inputs on, for its parity against the CPU: its format's default
    (CPU) runtime, where that can run here (litert for a .tflite on litert-gpu); None for a CPU row."""
    from ..runtimes import available

    default = FORMATS[runtime.format].default_runtime
    return default if runtime.target == "gpu" and available(default)[0] else None
