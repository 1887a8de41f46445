"""Reading the manifest.json that `edgebb convert` writes beside its artifacts, for bench: the file itself, and
what an entry's source says of the model (its width, whether its weights are random, its MACs).

The `Target`s a manifest describes are made from these by edgebb.benchmark.targets.from_manifest.
"""

from __future__ import annotations

import json

from ..core.errors import InputError


def read_manifest(path: str) -> dict:
    """The parsed manifest; InputError saying what `path` is instead (unreadable, not JSON, other JSON)."""
    try:
        with open(path) as f:
            manifest = json.load(f)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not an edgebb manifest: not JSON ({exc})") from None
    if isinstance(manifest, dict) and isinstance(manifest.get("artifacts"), list):
        return manifest
    kind = ("an edgebb bench result" if isinstance(manifest, dict) and "results" in manifest and "env" in manifest
            else "a sweep export" if isinstance(manifest, dict) and "cells" in manifest else "JSON")
    raise InputError(f"{path}: not an edgebb manifest: it is {kind} with no \"artifacts\" list (edgebb convert "
                     "writes manifest.json beside the artifacts it lists)")


def width_of(source: dict) -> float | None:
    """The width a manifest's source was built at: a backbone's own, or a trained model's backbone's (None: not
    said, as for a model file edgebb did not make)."""
    backbone = source.get("backbone")
    width = source.get("width") if isinstance(backbone, str) else (backbone or {}).get("width")
    return float(width) if isinstance(width, (int, float)) and not isinstance(width, bool) else None


def random_weights_of(source: dict) -> bool | None:
    """Whether a manifest's source says its weights are random (a backbone converted without trained weights, as
    bench converts a backbone name), as convert marks them; None where it does not say (a model file)."""
    weights = source.get("weights")
    return weights == "random" if isinstance(weights, str) else None


def _architecture(entry: dict, source: dict) -> str | None:
    """What fixes an entry's MACs, as text to compare (the backbone its source names, with its width and classes,
    and the input size); None where its source names no backbone (a model file edgebb did not make)."""
    entry_source = entry.get("source") or source
    if not isinstance(entry_source, dict) or not entry_source.get("backbone"):
        return None
    said = {key: entry_source.get(key) for key in ("backbone", "width", "num_classes")}
    return json.dumps([said, (entry.get("preprocessing") or {}).get("size")], sort_keys=True, default=str)


def _counted(macs) -> bool:
    return isinstance(macs, int) and not isinstance(macs, bool) and macs > 0


def macs_of(entry: dict, manifest: dict) -> int | None:
    """An entry's MACs: its own, or where it says none or 0, those another entry of the manifest says for the same
    backbone (width, classes) at the same input size. A quantization-aware model's MACs are recorded as 0 (the
    profile counts its layers inside the fake-quantization wrappers as nothing), yet it computes what the float model
    it was made from computes: a row without them has no GMAC/s and no % peak."""
    macs = entry.get("macs")
    if _counted(macs):
        return macs
    source = manifest.get("source") or {}
    mine = _architecture(entry, source)
    if mine is None:
        return macs
    return next((other["macs"] for other in manifest["artifacts"] if isinstance(other, dict)
                 and _counted(other.get("macs")) and _architecture(other, source) == mine), macs)
