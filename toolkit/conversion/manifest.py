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
    kept = [{"data": existing.get("data"), **a} for a in existing.get("artifacts", [])
            if isinstance(a, dict) and a.get("path") not in made
            and os.path.exists(os.path.join(out_dir, str(a.get("path"))))]
    # the earlier conversion's notes on the artifacts kept (they begin with the file's name) stay with them
    names = tuple(f"{os.path.basename(str(a.get('path')))}:" for a in kept)
    earlier = [n for n in existing.get("notes") or [] if isinstance(n, str) and names and n.startswith(names)
               and n not in new["notes"]]
    return {**new, "notes": new["notes"] + earlier, "artifacts": kept + new["artifacts"]}


# A folder holds the artifacts of one model, so that the manifest's top level (source, preprocessing, labels: what
# an app reads) describes every artifact it lists. One model is, for a backbone, its architecture, its outputs and
# where its weights come from (not --seed or --data, which draw random weights and calibrate); for a model file,
# the file by its path (a QAT model saved beside its float model, model_qat.h5 beside model.keras, is that model's,
# as its artifacts' names say; a file retrained in place is still the same model), its backbone and input size.
# Its preprocessing and labels must match as well.
SAME_MODEL = {"backbone": ("backbone", "width", "input_size", "num_classes", "weights"),
              "file": ("model", "backbone", "input_size")}


def model_identity(config) -> dict:
    """The fields of a manifest's `source` (or of as much of one as is known) that say which model it is."""
    config = config if isinstance(config, dict) else {}
    kind = config.get("kind")
    if isinstance(config.get("path"), str):
        stem = os.path.splitext(config["path"].rstrip(os.sep))[0]
        config = {**config, "model": stem[:-4] if config.get("qat") and stem.endswith("_qat") else stem}
    return {"kind": kind, **{k: config[k] for k in SAME_MODEL.get(kind, ()) if k in config}}


def check_one_model(existing: dict | None, out_dir: str, asked: dict) -> None:
    """InputError unless every artifact `existing` lists that is still in `out_dir` is of the model `asked`
    describes ({"source": ..., "preprocessing": ..., "labels": ...} as expected_source gives it: what is left out
    is not compared). Converting another model there would leave the manifest describing the old artifacts wrongly
    (an app would feed them another model's preprocessing and labels); a folder whose listed artifacts are all
    gone starts afresh."""
    import json

    from ..core.errors import InputError
    from ..core.serialize import to_json

    # as the manifest would hold them
    wanted = json.loads(to_json({"model": model_identity(asked["source"]),
                                 **{k: asked[k] for k in ("preprocessing", "labels") if k in asked}}))
    for entry in (existing or {}).get("artifacts", []):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and os.path.exists(os.path.join(out_dir, entry["path"]))):
            continue
        source = entry.get("source", existing.get("source"))
        held = {k: entry.get(k, existing.get(k)) for k in ("preprocessing", "labels")}
        held["model"] = {k: model_identity(source).get(k) for k in wanted["model"]}
        aspect = next((k for k in wanted if held[k] != wanted[k]), None)
        if aspect:
            raise InputError(f"{out_dir} holds the artifacts of {_describe(source, aspect, held, wanted)}; this "
                             f"conversion is of {_describe(asked['source'], aspect, wanted, held)}, and a folder holds "
                             "one model's artifacts (its manifest.json describes them all): convert into another "
                             "folder with -o (nothing was changed)")


def _describe(config, aspect: str, these: dict, others: dict) -> str:
    """The model of a manifest `source`, with its preprocessing or labels when `aspect` is where it differs."""
    def number(value) -> str:
        return f"{value:g}" if isinstance(value, (int, float)) else str(value)

    config = config if isinstance(config, dict) else {}
    if config.get("kind") == "backbone":
        weights = config.get("weights")
        model = (f"{config.get('backbone')} (width {number(config.get('width'))}, {config.get('input_size')} px, "
                 f"{config.get('num_classes')} classes, "
                 + (f"{weights} weights)" if weights in ("random", "imagenet") else f"weights {weights})"))
    elif config.get("kind") == "file":
        backbone = config.get("backbone") if isinstance(config.get("backbone"), dict) else {}
        size = config.get("input_size") or backbone.get("input_size")  # before loading, only its metadata says it
        about = [f"{backbone['name']} width {number(backbone.get('width'))}" if backbone.get("name") else "",
                 f"{size} px" if size else ""]
        model = str(config.get("path")) + (f" ({', '.join(a for a in about if a)})" if any(about) else "")
    else:
        model = "a model its manifest does not describe"
    if aspect == "labels":
        labels = these["labels"] if isinstance(these["labels"], list) else []
        shown = ", ".join(map(str, labels[:6])) + (", ..." if len(labels) > 6 else "")
        return model + (f" with {len(labels)} labels ({shown})" if labels else " without labels")
    if aspect == "preprocessing":
        pp = these["preprocessing"] if isinstance(these["preprocessing"], dict) else {}
        other = others["preprocessing"] if isinstance(others["preprocessing"], dict) else {}
        keys = [k for k in sorted(set(pp) | set(other)) if pp.get(k) != other.get(k)]
        return model + " with preprocessing " + ", ".join(f"{k} {pp.get(k)}" for k in keys)
    return model


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
        # each artifact says which images verified it: a second convert into the folder keeps the first one's
        # artifacts, whose verification the new top-level `data` does not describe
        "artifacts": [{**a.to_dict(src, out_dir), "data": data} for a in artifacts],
    }
