"""edgebb's metadata carried inside a saved Keras model: backbone config, preprocessing and labels.

`edgebb train` and `edgebb build` write it so that `edgebb convert model.keras` needs nothing else (`built_meta`
says what `build` knows of an untrained model). Where it lives:
a `.keras` file is a zip archive, so it is one more member, `edgebb.json` (Keras ignores members it does not
know); a `.h5` file gets an `edgebb` attribute on its root group; a SavedModel folder gets `edgebb.json`.
"""

from __future__ import annotations

import json
import os
import zipfile

MEMBER = "edgebb.json"


def write_meta(path: str, meta: dict) -> None:
    """Attach `meta` (JSON-serialisable) to the saved model at `path`."""
    text = json.dumps(meta, sort_keys=True)
    if os.path.isdir(path):
        with open(os.path.join(path, MEMBER), "w") as f:
            f.write(text)
    elif path.endswith(".h5"):
        import h5py

        with h5py.File(path, "a") as f:
            f.attrs["edgebb"] = text
    else:
        with zipfile.ZipFile(path, "a") as z:
            z.writestr(MEMBER, text)


def read_meta(path: str) -> dict | None:
    """The metadata attached to the model at `path`, or None when it has none (or is not readable)."""
    try:
        if os.path.isdir(path):
            member = os.path.join(path, MEMBER)
            return json.loads(open(member).read()) if os.path.exists(member) else None
        if path.endswith(".h5"):
            import h5py

            with h5py.File(path, "r") as f:
                text = f.attrs.get("edgebb")
            return json.loads(text) if text is not None else None
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read(MEMBER)) if MEMBER in z.namelist() else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def built_meta(name: str, *, width: float, size: int, classes: int, weights: str | None, features: bool = False,
               include_top: bool = True) -> dict:
    """What `edgebb build` knows of the model it writes, in the keys `edgebb train` uses: the backbone
    (num_classes None without a classifier), its preprocessing and the weights it holds ("random", "imagenet"
    or the weights file's path). No labels, no training images: it was never trained. `edgebb_build` (in place
    of train's `edgebb_train`) says so, and what was built: a classifier, feature maps or the bare trunk."""
    from ..models import get_spec, preprocessing_for

    head = include_top and not features
    build = {"features": bool(features), "include_top": bool(head), "trained": False}
    if weights == "imagenet" and head and classes != 1000:
        build["head_weights"] = "random"  # ImageNet's classifier is copied only for its 1000 classes
    if features:
        build["feature_strides"] = list(get_spec(name).feature_strides)
    held = "random" if weights is None else weights if weights == "imagenet" else os.path.abspath(weights)
    return {"backbone": {"name": name, "width": width, "input_size": size, "num_classes": classes if head else None},
            "preprocessing": preprocessing_for(name, size).to_dict(), "weights": held, "edgebb_build": build}
