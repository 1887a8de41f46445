"""Profiles of registered backbones, and a cache of them so `edgebb list` is instant after its first run.

The cache key is a hash of the zoo's source, so a changed stage table never reads a stale figure.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

from .. import __version__
from ..core.cache import cache_dir
from ..core.files import write_atomic
from ..core.progress import Progress, as_progress


def profile(name: str, width: float = 1.0, input_size: int = 224, num_classes: int = 1000,
            include_top: bool = True):
    """Build backbone `name` and return its `ModelProfile` (imports TensorFlow)."""
    from ..models import create_model
    from .profile import profile_model

    return profile_model(create_model(name, width=width, input_size=input_size, num_classes=num_classes,
                                      include_top=include_top))


def _zoo_hash() -> str:
    from .. import models

    digest = hashlib.sha256(__version__.encode())
    for path in sorted(pathlib.Path(models.__file__).resolve().parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_file() -> pathlib.Path:
    return pathlib.Path(cache_dir(f"zoo-{_zoo_hash()}.json"))


def zoo_rows(progress: Progress | None = None) -> list[dict]:
    """One row per (backbone, width): parameters, MACs at 224x224 and published top-1, computed once and cached."""
    from ..models import get_spec, variants

    cache = _cache_file()
    cached: dict[str, dict] = {}
    if cache.exists():
        try:
            cached = json.loads(cache.read_text())
        except (OSError, ValueError):
            cached = {}
    rows, every = [], variants()
    missing = [(name, width) for name, width in every if f"{name}@{width:g}" not in cached]
    if missing:
        try:  # what was profiled is kept even when Ctrl-C stops the rest (a first run takes minutes)
            with as_progress(progress).step("profiling the zoo at 224x224 (once: a few minutes; cached)",
                                            total=len(missing)) as step:
                for name, width in missing:
                    p = profile(name, width)
                    cached[f"{name}@{width:g}"] = {
                        "params_total": p.params_total, "params_trainable": p.params_trainable, "macs": p.macs,
                        "weights_fp32_bytes": p.weights_fp32_bytes, "weights_int8_bytes": p.weights_int8_bytes,
                        "peak_activation_bytes": p.peak_activation_bytes}
                    step.advance(detail=f"{name} {width:g}")
        finally:
            _save(cache, cached)
    for name, width in every:
        key = f"{name}@{width:g}"
        spec = get_spec(name)
        rows.append({"name": name, "width": width, "family": spec.family, "input_size": 224, **cached[key],
                     "imagenet_weights": spec.has_imagenet_at(width), "top1": spec.published_top1.get(width),
                     "top1_source": spec.top1_source if width in spec.published_top1 else None})
    return rows


def _save(cache: pathlib.Path, cached: dict) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(cache), json.dumps(cached))
    except (OSError, ValueError):
        pass  # a read-only home only costs the next run the same work
