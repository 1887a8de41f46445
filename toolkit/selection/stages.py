"""A cell's stages as plain functions: each takes a dict of JSON values and returns one, so any executor can run
it anywhere (a local process pool now, a Ray task later) and the driver, the store's only writer, records it.

    prepare(task)  train the (backbone, width, size) on the data (or skip training) and profile it
    convert(task)  convert the model with each missing recipe, verified on the held-out split
    measure(task)  bench the artifacts on one target (this machine or a device over SSH)

TensorFlow is imported by `prepare` and `convert` only, inside them.
"""

from __future__ import annotations

import os
import time


def _clear_session() -> None:
    """Free the Keras graph a stage built, so a long-lived worker does not grow with every model."""
    import sys

    if "tf_keras" in sys.modules:
        sys.modules["tf_keras"].backend.clear_session()


def prepare(task: dict, progress=None) -> dict:
    """Train backbone task["backbone"] at task["width"], task["size"] on task["data"] into task["output"] (.h5,
    see `as_h5`) when task["epochs"] > 0 (weights and augmentation as `edgebb train` takes them), and profile it.

    Returns {"model_path", "train": {best_val_accuracy, train_seconds, weights, epochs_run, notes} or None,
    "profile": {params, macs, peak_activation_bytes, weights_fp32_bytes, weights_int8_bytes}, "classes"}."""
    from ..build.listing import profile

    started = time.perf_counter()
    train_info, classes, path = None, None, None
    if task.get("data") and task.get("epochs", 0) > 0:
        from ..training import train

        t = task["train"]
        trained = os.path.splitext(task["output"])[0] + ".keras"  # what edgebb train writes
        result = train(task["backbone"], task["data"], trained, width=task["width"], size=task["size"],
                       epochs=task["epochs"], batch_size=t["batch_size"], lr=t["lr"], seed=t["seed"],
                       weights=t["weights"], augment=tuple(t["augment"]), progress=progress)
        path, classes = task["output"], len(result.labels)
        as_h5(trained, path)
        os.unlink(trained)
        train_info = {"best_val_accuracy": result.best_val_accuracy, "train_seconds": result.train_seconds,
                      "weights": result.weights, "epochs_run": result.epochs_run, "notes": result.notes}
    elif task.get("data"):
        from ..data import scan_folder

        classes = None if task["train"].get("weights") == "imagenet" else len(scan_folder(task["data"]).classes)
    p = profile(task["backbone"], task["width"], task["size"], num_classes=classes or 1000)
    _clear_session()
    return {"model_path": path, "train": train_info, "classes": classes or 1000,
            "profile": {"params": p.params_total, "macs": p.macs, "peak_activation_bytes": p.peak_activation_bytes,
                        "weights_fp32_bytes": p.weights_fp32_bytes, "weights_int8_bytes": p.weights_int8_bytes},
            "seconds": time.perf_counter() - started}


def as_h5(keras_path: str, h5_path: str) -> None:
    """Rewrite the .keras file edgebb train saved as an .h5 file (weights without the optimizer's state, and the
    same edgebb metadata), which every later stage loads in seconds.

    Why: tf_keras reads a .keras file's weights through h5py from inside the zip archive, and Python 3.11's
    zipfile re-reads a member from its start on every backward seek, so loading slows with the square of the file's
    size: a ResNet-50 trained with Adam (283 MB) takes 100 s to load, the same weights from a plain file 3 s. So
    the model is rebuilt from the archive's config and its weights read from an extracted copy."""
    import json
    import shutil
    import tempfile
    import zipfile

    from ..build.meta import read_meta, write_meta
    from ..core.files import atomic_path
    from ..core.tf import load_tensorflow, quiet
    from ..models.layers import CUSTOM_OBJECTS

    load_tensorflow()
    import tf_keras as keras

    with zipfile.ZipFile(keras_path) as archive, tempfile.TemporaryDirectory(prefix="edgebb-weights-") as tmp:
        config = json.loads(archive.read("config.json"))
        config["compile_config"] = None  # the model is only ever converted: no optimizer, no loss
        weights = os.path.join(tmp, "model.weights.h5")
        with archive.open("model.weights.h5") as src, open(weights, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        model = keras.saving.deserialize_keras_object(config, custom_objects=CUSTOM_OBJECTS)
        model.load_weights(weights)
    with atomic_path(h5_path) as out, quiet():  # quiet: Keras calls HDF5 a legacy format on every save
        model.save(out, save_format="h5", include_optimizer=False)
        write_meta(out, read_meta(keras_path) or {})
    _clear_session()


def convert(task: dict, progress=None) -> dict:
    """Convert task["source"] (a trained model file or a backbone name) into task["out_dir"] with each of
    task["recipes"] (a dict recipe -> formats): all in one conversion (the model is loaded and its float reference
    computed once), and if that fails, one conversion per recipe so that only the recipe that fails fails.

    Returns {"recipes": {recipe: {"artifacts": [...], "notes": [...]} or {"error": one line}}, "data": {...}}:
    each artifact with format, path, sha256, size_bytes, convert_seconds and verification."""
    from ..conversion import convert as run
    from ..core.errors import first_line

    out: dict = {"recipes": {}, "data": None}

    def once(recipes: list[str], formats: list[str]) -> None:
        try:
            result = run(task["source"], task["out_dir"], task.get("data"), recipes=",".join(recipes),
                         formats=",".join(formats), width=task["width"], size=task["size"],
                         weights=task.get("weights"), classes=task.get("classes"), calib_samples=task["calib_samples"],
                         eval_samples=task["eval_samples"], seed=task["seed"], progress=progress)
        finally:
            _clear_session()
        out["data"] = result.data
        for recipe in recipes:
            out["recipes"][recipe] = {
                "notes": result.notes, "macs": result.source.macs, "params": result.source.params,
                "random_weights": result.source.random_weights, "weights": result.source.config.get("weights"),
                "artifacts": [{"format": a.format, "path": os.path.abspath(a.path), "sha256": a.sha256,
                               "size_bytes": a.size_bytes, "convert_seconds": a.convert_seconds,
                               "verification": a.verification.to_dict()}
                              for a in result.artifacts if a.recipe.name == recipe],
                # made but not written, by format: its runtime could not load it (the one line why)
                "refused": {os.path.splitext(path)[1].lstrip("."): why for path, why in result.refused
                            if os.path.splitext(os.path.basename(path))[0].endswith(f"_{recipe}")}}

    wanted = task["recipes"]
    formats = sorted({f for fs in wanted.values() for f in fs})
    try:  # all recipes at once: the model is loaded and its float reference computed once
        once(list(wanted), formats)
        return out
    except Exception:
        out["recipes"] = {}
    for recipe, fmts in wanted.items():  # one failed: each on its own, so only the failing one fails
        try:
            once([recipe], fmts)
        except Exception as exc:  # a recipe the converter cannot make: this recipe's cells fail with the cause
            out["recipes"][recipe] = {"error": first_line(exc) if _is_ours(exc)
                                      else f"{type(exc).__name__}: {first_line(exc)}"}
    return out


def _is_ours(exc: BaseException) -> bool:
    from ..core.errors import EdgebbError

    return isinstance(exc, EdgebbError)


def measure(task: dict, progress=None) -> dict:
    """Bench task["items"] (artifact paths) on one target: task["target"] (a TargetSpec dict) with the
    task["bench"] settings; returns the BenchReport as a dict (edgebb.bench/1)."""
    from ..benchmark import BenchOptions, bench
    from .targets import TargetSpec

    target = TargetSpec.from_dict(task["target"])
    b = task["bench"]
    opts = BenchOptions(runtimes=target.runtimes, threads=(target.threads,), runs=b["runs"],
                        min_seconds=b["min_seconds"], max_seconds=b["max_seconds"], warmup=b["warmup"],
                        timeout=b["timeout"], baseline="none")
    if target.local:
        report = bench(list(task["items"]), opts, progress=progress)
    else:
        from ..benchmark.remote import remote_bench

        report = remote_bench(list(task["items"]), target.remote, opts, python=target.python,
                              ssh_options=target.ssh_options, progress=progress)
    return report.to_dict()
