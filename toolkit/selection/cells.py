"""Cells: one (backbone, width, size, recipe, runtime, target) of a sweep, its key, and its row in the store.

A key is a hash of everything that determines the cell's figures: the backbone configuration, the training and
conversion settings, the data's fingerprint, the recipe, the measuring machine's fingerprint (edgebb.selection.
targets), the bench settings and the tool versions (edgebb, the zoo's source, TensorFlow, the converters and
runtimes). The same key means the same measurement would come out; a re-run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from .grid import ModelConfig
from .store import now
from .targets import TargetSpec

TOOLS = ("tensorflow", "tf_keras", "tensorflow-model-optimization", "tf2onnx", "onnx", "onnxruntime",
         "ai-edge-litert", "numpy")


def digest(value) -> str:
    """16 hex digits of the sha256 of `value` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tool_versions() -> dict:
    """The versions a trained model, an artifact or a figure depends on (read from package metadata)."""
    from .. import __version__
    from ..build.listing import _zoo_hash
    from ..core.versions import package_versions

    return {"edgebb": __version__, "zoo": _zoo_hash(), **package_versions(TOOLS)}


def data_fingerprint(path: str) -> tuple[str, int, list[str]]:
    """(fingerprint, images, classes) of an image folder: the hash of every image's content and class, so a
    renamed folder is the same data and a changed image is not."""
    from ..data import fingerprint, scan_folder

    folder = scan_folder(path)
    entries = [(folder.classes[i.label], fingerprint(i.path)) for i in folder.items]
    return digest(sorted(entries)), len(folder.items), folder.classes


@dataclass(frozen=True)
class Cell:
    """A planned cell: what it is and the keys of the stages it depends on."""

    key: str
    model: ModelConfig
    model_key: str
    recipe: str
    format: str
    convert_key: str
    target: TargetSpec
    runtime: str
    fingerprint: dict

    @property
    def label(self) -> str:
        return f"{self.model.label} {self.recipe} on {self.runtime} ({self.target.label})"


def model_key(model: ModelConfig, train: dict, data: str | None, versions: dict) -> str:
    return digest({"model": [model.backbone, model.width, model.size], "train": train, "data": data,
                   "versions": versions})


def convert_key(mkey: str, recipe: str, fmt: str, convert: dict, converter: str) -> str:
    """`converter` is the digest of edgebb's conversion code (edgebb.conversion.manifest.converter_revision): an
    artifact made by other code is made again, while the trained model it comes from is kept."""
    return digest({"model": mkey, "recipe": recipe, "format": fmt, "convert": convert, "converter": converter})


def cell_key(ckey: str, runtime: str, fingerprint: dict, bench: dict) -> str:
    return digest({"convert": ckey, "runtime": runtime, "target": fingerprint, "bench": bench})


# ------------------------------------------------------------------------------------------------------ rows


def base_row(cell: Cell, run_id: int, plan) -> dict:
    """What is known of a cell before it is measured."""
    from ..models import get_spec

    spec = get_spec(cell.model.backbone)
    return {"key": cell.key, "run_id": run_id, "backbone": cell.model.backbone, "family": spec.family,
            "width": cell.model.width, "size": cell.model.size, "recipe": cell.recipe, "runtime": cell.runtime,
            "format": cell.format, "target": cell.target.label, "threads": cell.target.threads,
            "pretrained": None,  # what its model started from, once known (edgebb.selection.store.started_pretrained)
            "feature_strides": ",".join(map(str, spec.feature_strides)),
            "data_fingerprint": plan.data_fingerprint, "data_images": plan.data_images, "created": now(),
            "provenance": {"versions": plan.versions, "target": cell.fingerprint, "model_key": cell.model_key,
                           "convert_key": cell.convert_key, "converter": plan.converter,
                           "options": plan.options.to_dict(), "data": plan.data_description}}


def add_model(row: dict, prep: dict | None) -> None:
    """The trained model's figures: profile, training time, the weights it started from."""
    if not prep:
        return
    profile = prep.get("profile") or {}
    row.update({k: profile.get(k) for k in ("params", "macs", "peak_activation_bytes", "weights_fp32_bytes",
                                            "weights_int8_bytes")})
    train = prep.get("train")
    if train:
        row["train_seconds"] = train["train_seconds"]
        row["weights"] = train["weights"]
        row["provenance"]["train"] = train


def add_artifact(row: dict, conv: dict | None, cell: Cell, has_data: bool) -> None:
    """The artifact's figures: accuracy after the recipe (measured on the held-out split, else published, else
    none), agreement with the float model, conversion time."""
    from ..conversion.recipes import RECIPES
    from ..conversion.verify import as_run_by
    from .grid import published_accuracy

    if conv:
        v = as_run_by(conv["verification"], cell.runtime)  # OpenVINO's own accuracy on an int8 ONNX file
        row.update({"artifact": conv["path"], "convert_seconds": conv["convert_seconds"], "verification": v,
                    "agreement": _fraction(v.get("top1_agreement")), "macs": conv.get("macs") or row.get("macs"),
                    "params": conv.get("params") or row.get("params")})
        row.setdefault("size_mb", conv["size_bytes"] / 1e6)
        if has_data and v.get("accuracy") is not None:
            row.update({"accuracy": v["accuracy"] / 100.0, "accuracy_source": "measured",
                        "float_accuracy": _fraction(v.get("reference_accuracy"))})
        row["provenance"]["conversion_notes"] = conv.get("notes", [])
        if conv.get("weights"):  # a backbone converted without training: random, imagenet or the user's file
            row.setdefault("weights", conv["weights"])
    if not has_data:
        accuracy, source = published_accuracy(cell.model.backbone, cell.model.width, cell.model.size,
                                              RECIPES[cell.recipe])
        if accuracy is not None:
            row.update({"accuracy": accuracy, "accuracy_source": source})


def add_measurement(row: dict, bench_row: dict | None, env: dict) -> None:
    """The bench row's figures (or why there are none)."""
    if bench_row is None:
        row.update(status="failed", stage="measure", error="the bench returned no row for this artifact")
        return
    lat = bench_row.get("latency_ms") or {}
    row.update({"status": "ok" if bench_row.get("status") == "ok" else "failed",
                "stage": None if bench_row.get("status") == "ok" else "measure",
                "error": bench_row.get("error"), "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"),
                "p99_ms": lat.get("p99"), "peak_rss_mb": bench_row.get("peak_rss_mb"),
                "size_mb": bench_row.get("size_mb") or row.get("size_mb"),
                "emulated": bool(bench_row.get("emulated") or env.get("emulated")),
                "software": bool(bench_row.get("software")), "bench": bench_row})
    if bench_row.get("status") != "ok" and not row["error"]:
        row["error"] = f"bench row {bench_row.get('status')}"
    row["provenance"]["environment"] = env
    row["provenance"]["measured"] = now()


def failed(row: dict, stage: str, error: str) -> dict:
    row.update(status="failed", stage=stage, error=error)
    return row


def _fraction(percent):
    return None if percent is None else percent / 100.0


def artifact_ok(conv: dict | None) -> bool:
    """Whether a recorded conversion's artifact is still on disk, whole."""
    return bool(conv) and os.path.exists(conv["path"]) and os.path.getsize(conv["path"]) == conv["size_bytes"]


def chance_problem(row: dict) -> str | None:
    """Why the float model of `row` cannot be told from guessing, or None: its top-1 on the held-out images is at
    most two standard errors above chance (1 / classes). Its accuracy figures, and what a recipe does to them, then
    say little (an int8 model "more accurate" than its float model by luck, for one)."""
    data = (row.get("provenance") or {}).get("data") or {}
    samples = (row.get("verification") or {}).get("samples")
    acc = row.get("float_accuracy")
    classes = len(data.get("classes") or [])
    if acc is None or not samples or classes < 2:
        return None
    from ..core.chance import indistinguishable_from_chance

    if not indistinguishable_from_chance(acc, samples, classes):
        return None
    return (f"its float model's top-1 {100 * acc:.1f}% on {samples} held-out images is within two standard errors "
            f"of guessing ({100 / classes:.0f}% for {classes} classes)")


def not_learned(rows: list[dict]) -> list[str]:
    """One note per trained model that `chance_problem` finds, naming it."""
    out, seen = [], set()
    for r in rows:
        config = (r.get("backbone"), r.get("width"), r.get("size"))
        problem = chance_problem(r) if config not in seen else None
        if problem:
            seen.add(config)
            out.append(f"{r['backbone']} {r['width']:g} @{r['size']} is not clearly above chance: {problem}, so its "
                       "accuracy figures say little; train longer or on more images")
    return out


def noisy(rows: list[dict]) -> list[dict]:
    """The measured cells whose latencies varied by more than `edgebb bench` warns about (its NOISY, of rows.noise
    of the timed runs), noisiest first."""
    from ..benchmark.analysis import NOISY
    from ..benchmark.rows import noise

    out = [(r, noise(r.get("bench") or {}) or 0) for r in rows if r.get("status") == "ok"]
    return [r for r, x in sorted(out, key=lambda pair: -pair[1]) if x > NOISY]


def row_label(row: dict, target: bool = True) -> str:
    """"mobilenet_v2 0.35 @64 int8 on litert (cpu:1)": a cell row in one phrase (the report's and the warnings')."""
    width = f" {row['width']:g}" if row.get("width") is not None else ""
    return f"{row['backbone']}{width} @{row.get('size')} {row['recipe']} on {row['runtime']}" + \
        (f" ({row['target']})" if target else "")


def noise_warning(rows: list[dict], worst: int = 3) -> str | None:
    """What `edgebb bench` warns about noisy rows, for a sweep's cells: how many, and the `worst` noisiest."""
    from ..benchmark.analysis import varied
    from ..benchmark.rows import noise

    cells = noisy(rows)
    if not cells:
        return None
    named = [(row_label(r), noise(r["bench"])) for r in cells]
    return (varied(named, "cell", worst) + " (a Pareto mark or a choice between cells closer than that may flip): "
            f"{REMEASURE}")


REMEASURE = ("measure them again with nothing else running (the same sweep with --remeasure; or with --min-seconds N, "
             "longer runs measured as new cells)")


def busy_warning(rows: list[dict], worst: int = 3) -> str | None:
    """What `edgebb bench` warns about a busy machine, for a sweep's cells: those measured while other work used
    more of the measuring machine's CPU time than BUSY (its readings before and after, in the cell's environment),
    the busiest `worst` named."""
    from ..benchmark.analysis import BUSY, busy_share, few

    shares = [(r, busy_share((r.get("provenance") or {}).get("environment") or {})) for r in rows
              if r.get("status") == "ok"]
    named = [(row_label(r), x) for r, x in sorted(shares, key=lambda pair: -pair[1]) if x > BUSY]
    if not named:
        return None
    return (f"{len(named)} cell(s) were measured while other work used more than {BUSY:.0%} of the machine's CPU "
            f"time: {few(named, worst, 'the busiest: ')}; their latencies are slower and noisier than an idle "
            f"machine's: {REMEASURE}")


def throttle_warning(rows: list[dict]) -> str | None:
    """What `edgebb bench` warns about a device that throttled while it measured (a Raspberry Pi's `vcgencmd
    get_throttled` before and after), for a sweep's cells, per target."""
    from ..benchmark.environment import throttled_between

    spoiled: dict[str, tuple[list[dict], dict[str, None]]] = {}  # target -> its cells, the conditions (in order)
    for row in rows:
        env = (row.get("provenance") or {}).get("environment") or {}
        during = throttled_between(env.get("throttled_before"), env.get("throttled_after"))
        if row.get("status") == "ok" and during:
            cells, why = spoiled.setdefault(row["target"], ([], {}))
            cells.append(row)
            why.update(dict.fromkeys(during))
    if not spoiled:
        return None
    return "; ".join(f"{target} throttled ({', '.join(why)}) while {len(cells)} cell(s) were measured on it, "
                     "so their figures are not an unthrottled device's" for target, (cells, why) in spoiled.items()) \
        + ": cool the board (heatsink, fan), use the official power supply and measure them again (--remeasure)"


def measure_warnings(rows: list[dict]) -> list[str]:
    """What makes a sweep's measured figures less certain than they look, as `edgebb bench` warns about a run:
    a throttling device, a busy machine, cells whose runs varied."""
    return [w for w in (throttle_warning(rows), busy_warning(rows), noise_warning(rows)) if w]
