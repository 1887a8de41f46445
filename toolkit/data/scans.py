"""Real scans as an image folder: the handwritten digits scikit-learn ships inside its wheel (nothing is
downloaded), so a test or benchmark can show what quantization costs on images nobody drew for it.

Source: sklearn/datasets/data/digits.csv.gz, the data of `sklearn.datasets.load_digits`: 1,797 scans of
handwritten digits, 8 x 8 pixels at 17 grey levels, 10 classes (the test set of the UCI "Optical Recognition of
Handwritten Digits" data, Alpaydin & Kaynak, CC BY 4.0). Written upscaled (bicubic) to `size` px RGB.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import uuid

import numpy as np

from ..core.errors import InputError
from ..core.files import check_can_create_dir, check_writable_dir

SOURCE = ("scikit-learn's load_digits (sklearn/datasets/data/digits.csv.gz): the UCI Optical Recognition of "
          "Handwritten Digits test set, 8x8 scans at 17 grey levels; CC BY 4.0 (Alpaydin & Kaynak)")
SPLITS = ("all", "train", "eval")
EVAL_FRACTION = 0.3


def _digits_file() -> str:
    spec = importlib.util.find_spec("sklearn")  # found, not imported: scikit-learn's import is slow
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the digits set is read from scikit-learn's wheel: pip install scikit-learn")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        raise InputError(f"this scikit-learn has no {path}")
    return path


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """A fixed, stratified split by index: within each class the last EVAL_FRACTION of its images are "eval"."""
    if split == "all":
        return np.arange(len(labels))
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        cut = len(idx) - int(round(len(idx) * EVAL_FRACTION))
        keep.extend(idx[:cut] if split == "train" else idx[cut:])
    return np.array(sorted(keep))


def write_digits(out_dir: str, size: int = 64, split: str = "all") -> dict:
    """Write the digits (or their "train" / "eval" part) as out_dir/<digit>/<index:05d>.png plus source.json; the
    folder appears whole or not at all. Returns what source.json holds."""
    from PIL import Image

    if split not in SPLITS:
        raise InputError(f"--split must be one of {', '.join(SPLITS)}; received {split}")
    if not 8 <= size <= 1024:
        raise InputError(f"--size must be between 8 and 1024 pixels; received {size}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir} is a file; choose a folder to write the images into")
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise InputError(f"{out_dir} exists and is not an empty folder; choose another folder")
    check_can_create_dir(out_dir)
    data = np.loadtxt(_digits_file(), delimiter=",")  # 64 pixels (0..16) and the label per row
    x = np.round(data[:, :-1].reshape(-1, 8, 8) * 255 / 16).astype(np.uint8)
    y = data[:, -1].astype(int)
    keep = split_indices(y, split)
    parent, base = os.path.split(os.path.abspath(out_dir))
    check_writable_dir(parent)
    tmp = os.path.join(parent, f".{base}.{uuid.uuid4().hex[:8]}.partial")
    os.mkdir(tmp)
    try:
        counts: dict[str, int] = {}
        for image, label in zip(x[keep], y[keep]):
            name = str(label)
            os.makedirs(os.path.join(tmp, name), exist_ok=True)
            big = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
            big.save(os.path.join(tmp, name, f"{counts.get(name, 0):05d}.png"))
            counts[name] = counts.get(name, 0) + 1
        meta = {"source": SOURCE, "split": split, "eval_fraction": EVAL_FRACTION, "size": size,
                "classes": sorted(counts), "counts": counts, "n_images": int(sum(counts.values()))}
        with open(os.path.join(tmp, "source.json"), "w") as f:
            f.write(json.dumps(meta, indent=2) + "\n")
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
