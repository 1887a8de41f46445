"""`manifest.json`: what a conversion produced, beside the artifacts. Each artifact's entry has its path, sha256,
size, tensors (dtype, scale, zero point), preprocessing, labels, MACs, recipe, options and verification; the
manifest adds the source, the data, the seed, the notes and every tool version."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

from .. import __version__
from .recipes import Recipe
from .source import Source
from .verify import Verification

SCHEMA = "edgebb.manifest/1"


@dataclass
class Artifact:
    path: str
    format: str
    recipe: Recipe
    sha256: str
    size_bytes: int
    inputs: list
    outputs: list
    verification: Verification
    convert_seconds: float
    float_layers: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    kernels: dict | None = None  # what the runtime runs it as: integer nodes, compute left in float and why
    qat: dict | None = None  # int8-qat: how the QAT model came about, and the artifact against it in Keras

    def to_dict(self, source: Source, root: str) -> dict:
        return {
            "path": os.path.relpath(self.path, root), "format": self.format, "recipe": self.recipe.name,
            "source": source.config,
            "recipe_config": self.recipe.to_dict(), "options": self.options, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs], "preprocessing": source.preprocessing.to_dict(),
            "labels": source.labels, "macs": source.macs, "params": source.params,
            "verification": self.verification.to_dict(), "float_layers": self.float_layers,
            "convert_seconds": round(self.convert_seconds, 3), **({"kernels": self.kernels} if self.kernels else {}),
            **({"qat": self.qat} if self.qat else {}),
        }


def read_manifest(out_dir: str) -> dict | None:
    """The manifest already in `out_dir` (None if there is none). Raises InputError for a manifest.json that
    edgebb did not write: converting into that folder would replace a file that is not ours."""
    import json

    from ..core.errors import InputError

    path = os.path.join(out_dir, "manifest.json")
    if not os.path.isdir(out_dir) or not os.path.exists(path):
        return None
    try:
        manifest = json.loads(open(path).read())
        ok = manifest.get("schema") == SCHEMA and isinstance(manifest.get("artifacts"), list)
    except (OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise InputError(f"{path} exists and is not an edgebb manifest; convert into another folder (nothing was "
                         "changed)")
    return manifest


def merge(existing: dict | None, new: dict, out_dir: str) -> dict:
    """`new` with the entries of `existing` kept for the artifacts it did not make (and that still exist):
    converting the QAT model into the folder of its float model adds to the manifest instead of replacing it."""
    if not existing:
        return new
    made = {a["path"] for a in new["artifacts"]}
    kept = [a for a in existing.get("artifacts", []) if isinstance(a, dict) and a.get("path") not in made
            and os.path.exists(os.path.join(out_dir, str(a.get("path"))))]
    return {**new, "artifacts": kept + new["artifacts"]}


@functools.lru_cache(maxsize=1)
def converter_revision() -> str:
    """A digest of the code that decides what an artifact holds (edgebb.conversion, and edgebb.models with the
    Keras definitions), 12 hex digits. The version number moves at releases; this moves with any change to an
    exporter or a backbone, so a cache of converted backbones (`edgebb bench NAME`) can tell its artifacts were
    made by other code. Read from the installed sources: about 60 files, a few milliseconds."""
    import hashlib
    import importlib.util

    models = importlib.util.find_spec("edgebb.models").origin  # not imported: its registry is not needed here
    digest = hashlib.sha256()
    for package in (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(models))):
        for folder, dirs, files in os.walk(package):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, package).encode() + b"\0")
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:12]


def build_manifest(src: Source, data: dict, artifacts: list[Artifact], out_dir: str, seed: int,
                   notes: list[str]) -> dict:
    """The manifest of one conversion (a dict in the edgebb.manifest/1 schema)."""
    from ..core.versions import package_versions
    from ..runtimes import versions

    return {
        "schema": SCHEMA,
        "edgebb": __version__,
        "converter": converter_revision(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed,
        "versions": package_versions(("tensorflow", "tf_keras", "tf2onnx", "onnx", "numpy")) | versions(),
        "source": src.config,
        "preprocessing": src.preprocessing.to_dict(),
        "labels": src.labels,
        "labels_file": "labels.txt" if src.labels else None,
        "data": data,
        "notes": notes,
        "artifacts": [a.to_dict(src, out_dir) for a in artifacts],
    }
