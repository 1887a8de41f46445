"""edgebb's metadata carried inside a saved Keras model: backbone config, preprocessing and labels.

`edgebb train` writes it so that `edgebb convert model.keras` needs nothing else. Where it lives:
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
