"""Profiles of registered backbones, and a cache of them so `edgebb list` is instant after its first run.

The cache key is a hash of the zoo's source, so a changed stage table never reads a stale figure.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Callable

from . import __version__
from .fsutil import write_atomic


def profile(name: str, width: float = 1.0, input_size: int = 224, num_classes: int = 1000,
            include_top: bool = True):
    """Build backbone `name` and return its `ModelProfile` (imports TensorFlow)."""
    from .models import create_model
    from .profile import profile_model

    return profile_model(create_model(name, width=width, input_size=input_size, num_classes=num_classes,
                                      include_top=include_top))


def _zoo_hash() -> str:
    digest = hashlib.sha256(__version__.encode())
    models_dir = pathlib.Path(__file__).resolve().parent / "models"
    if not models_dir.is_dir():  # the source layout: models/ beside toolkit/
        from . import models

        models_dir = pathlib.Path(models.__file__).resolve().parent
    for path in sorted(models_dir.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_file() -> pathlib.Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(root) / "edgebb" / f"zoo-{_zoo_hash()}.json"


def zoo_rows(progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """One row per (backbone, width): parameters, MACs at 224x224 and published top-1, computed once and cached."""
    from .models import get_spec, variants

    cache = _cache_file()
    cached: dict[str, dict] = {}
    if cache.exists():
        try:
            cached = json.loads(cache.read_text())
        except (OSError, ValueError):
            cached = {}
    rows, pending = [], variants()
    for i, (name, width) in enumerate(pending, start=1):
        key = f"{name}@{width:g}"
        if key not in cached:
            if progress:
                progress(i, len(pending), key)
            p = profile(name, width)
            cached[key] = {"params_total": p.params_total, "params_trainable": p.params_trainable,
                           "macs": p.macs, "weights_fp32_bytes": p.weights_fp32_bytes,
                           "weights_int8_bytes": p.weights_int8_bytes}
        spec = get_spec(name)
        rows.append({"name": name, "width": width, "family": spec.family, "input_size": 224, **cached[key],
                     "imagenet_weights": spec.has_imagenet, "top1": spec.published_top1.get(width),
                     "top1_source": spec.top1_source if width in spec.published_top1 else None})
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(cache), json.dumps(cached))
    except (OSError, ValueError):
        pass  # a read-only home only costs the next run the same work
    return rows
