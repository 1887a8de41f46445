"""Image folders as users have them (one subfolder per class), read and preprocessed without TensorFlow.

`scan_folder` finds the images, `load_images` decodes and preprocesses them exactly as a backbone's
`Preprocessing` describes, and `split` makes a deterministic, stratified hold-out set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import InputError, first_line

if TYPE_CHECKING:  # only for annotations: reading images needs none of the model zoo
    from ..models.registry import Preprocessing

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

Progress = Callable[[int, int], None]


class UnreadableImage(InputError):
    """A file that PIL cannot decode as an image (missing, truncated, corrupt, or not an image at all)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ImageItem:
    path: str
    label: int


@dataclass
class ImageFolder:
    """The images under `root`: `items` are labelled by their class's index in `classes` (sorted folder names);
    `skipped` lists the files in class folders that are not images by extension."""

    root: str
    classes: list[str]
    items: list[ImageItem]
    skipped: list[str]

    def require_split(self, what: str) -> None:
        """Raise InputError unless every class can lend images to a held-out part: at least 2 classes, each with
        at least 2 images. `what` says who needs it ("convert holds out part of each class for evaluation")."""
        if len(self.classes) < 2:
            raise InputError(f"{self.root} has {_count(len(self.classes), 'class folder')}; {what} needs at least 2 "
                             "classes")
        counts = np.bincount([i.label for i in self.items], minlength=len(self.classes))
        if counts.min() < 2:
            name = self.classes[int(counts.argmin())]
            raise InputError(f"class {name!r} in {self.root} has {_count(int(counts.min()), 'image')}; {what} needs "
                             "at least 2 per class")

    def summary(self) -> str:
        """One line, e.g. "412 images in 4 classes (3 non-image files skipped)"."""
        text = f"{_count(len(self.items), 'image')} in {_count(len(self.classes), 'class')}"
        if self.skipped:
            text += f" ({_count(len(self.skipped), 'non-image file')} skipped)"
        return text


@dataclass
class LoadedImages:
    """Preprocessed images `x` (N, size, size, 3) float32 with `labels` (N,) int64 and the `paths` they came from;
    `unreadable` lists the files that could not be decoded and were left out."""

    x: np.ndarray
    labels: np.ndarray
    paths: list[str]
    unreadable: list[str]


def _count(n: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{n} {noun if n == 1 else plural}"


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def scan_folder(root: str | os.PathLike) -> ImageFolder:
    """Find the images under `root`, one subfolder per class (searched recursively), in sorted order.

    Classes are the sorted names of `root`'s subfolders; hidden files and folders (".DS_Store", ".git") are
    ignored, and so are files lying directly in `root` (metadata such as a README or synth.json).
    Raises InputError when `root` is missing, is a file, has no class subfolders, or holds no images.
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise InputError(f"image folder not found: {root}")
    if not os.path.isdir(root):
        raise InputError(f"{root} is a file; expected a folder with one subfolder of images per class")

    def unreadable(exc: OSError):
        raise InputError(f"cannot read image folder {exc.filename}: {exc.strerror}") from exc

    try:
        entries = sorted(e for e in os.listdir(root) if not e.startswith("."))
    except OSError as exc:
        unreadable(exc)
    classes = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    if not classes:
        loose = sum(_is_image(e) for e in entries)
        hint = f" (it holds {_count(loose, 'image')} directly; move them into class subfolders)" if loose else ""
        raise InputError(f"no class subfolders in {root}; expected one subfolder of images per class{hint}")
    items: list[ImageItem] = []
    skipped: list[str] = []
    for label, name in enumerate(classes):
        for folder, dirs, files in os.walk(os.path.join(root, name), onerror=unreadable):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # in place: steers os.walk's order
            for file in sorted(f for f in files if not f.startswith(".")):
                path = os.path.join(folder, file)
                if _is_image(file):
                    items.append(ImageItem(path, label))
                else:
                    skipped.append(path)
    if not items:
        raise InputError(f"no images in {root}: its {_count(len(classes), 'class folder')} hold no "
                         f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files")
    return ImageFolder(root, classes, items, skipped)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file as uint8 (H, W, 3) RGB, upright according to its EXIF orientation.

    Grayscale and palette images are expanded to RGB, 16-bit images scaled to 8 bits, and an alpha channel is
    dropped (not composited), as PIL's convert("RGB"), Keras' load_img and tf.io.decode_image do, so the pixels
    match what most training pipelines saw. Animated GIF/WebP: the first frame.
    Raises UnreadableImage (an InputError) naming the file when it is missing or PIL cannot decode it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    try:
        with Image.open(path) as im:
            im.seek(0)
            im = ImageOps.exif_transpose(im)  # decodes the whole image, so truncation surfaces here
            if im.mode.startswith("I"):  # 16-bit (or 32-bit integer) grayscale
                gray = np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 65535) / 257.0).astype(np.uint8)
                return np.repeat(gray[:, :, None], 3, axis=2)
            if im.mode == "F":
                gray = np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 255)).astype(np.uint8)
                return np.repeat(gray[:, :, None], 3, axis=2)
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")  # PIL warns when converting such a palette image straight to RGB
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as exc:
        raise UnreadableImage(path, "not a recognised image format") from exc
    except OSError as exc:
        raise UnreadableImage(path, exc.strerror or first_line(exc, 200)) from exc
    except Exception as exc:  # PIL's decoders raise many types (SyntaxError, ValueError, ...) for a damaged file
        raise UnreadableImage(path, first_line(exc, 200)) from exc



_RESAMPLE = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "lanczos": "LANCZOS"}


def preprocess_uint8(image: np.ndarray, pp: Preprocessing) -> np.ndarray:
    """Resize, centre-crop and reorder the channels of one uint8 (H, W, 3) RGB image, before normalization.

    The shorter side is resized to round(pp.size / pp.crop_fraction) and the longer side in proportion (rounded),
    with PIL's resampling filter named by `pp.resize` (PIL's bilinear antialiases when downscaling, unlike
    tf.image.resize's default); then the centre pp.size x pp.size square is cut at offset (dim - size) // 2 and
    the channels are put in pp.channel_order. Returns uint8 (size, size, 3): handy as a test vector.
    Raises InputError for an image that is not uint8 (H, W, 3) or a Preprocessing it cannot apply.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected a uint8 (H, W, 3) RGB image, got {image.dtype} {image.shape}")
    if pp.resize not in _RESAMPLE or pp.channel_order not in ("rgb", "bgr") or not 0 < pp.crop_fraction <= 1:
        raise InputError(f"unsupported preprocessing: resize={pp.resize!r}, channel_order={pp.channel_order!r}, "
                         f"crop_fraction={pp.crop_fraction}")
    h, w = image.shape[:2]
    short = round(pp.size / pp.crop_fraction)
    nh, nw = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
    if (nh, nw) != (h, w):
        resample = getattr(Image.Resampling, _RESAMPLE[pp.resize])
        image = np.asarray(Image.fromarray(image).resize((nw, nh), resample))
    top, left = (nh - pp.size) // 2, (nw - pp.size) // 2
    out = image[top:top + pp.size, left:left + pp.size]
    if pp.channel_order == "bgr":
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def preprocess(image: np.ndarray, pp: Preprocessing) -> np.ndarray:
    """Turn one uint8 (H, W, 3) RGB image into the model's float32 (size, size, 3) input: `preprocess_uint8`,
    then (x - mean) / std per channel (mean and std in the model's channel order)."""
    return standardize(preprocess_uint8(image, pp), pp)


def standardize(x: np.ndarray, pp: Preprocessing) -> np.ndarray:
    """(x - mean) / std per channel, for pixels already in the model's channel order; float32."""
    return ((np.asarray(x, np.float32) - np.asarray(pp.mean, np.float32)) / np.asarray(pp.std, np.float32)).astype(
        np.float32)


def normalize(rgb: np.ndarray, pp: Preprocessing) -> np.ndarray:
    """RGB pixels (..., 3) in 0..255 of the model's input size as the model's input: channels put in
    pp.channel_order, then standardized. For inputs that need no resize (random pixels, generated batches)."""
    rgb = np.asarray(rgb, np.float32)
    return standardize(rgb[..., ::-1] if pp.channel_order == "bgr" else rgb, pp)


def load_images(items: Iterable[ImageItem], pp: Preprocessing, progress: Progress | None = None) -> LoadedImages:
    """Decode and preprocess `items` into one float32 array; `progress(i, n)` is called after each image.

    Files that cannot be decoded are left out and listed in `unreadable`. Everything is held in memory
    (N x size x size x 3 float32). Raises InputError when there are no items or none could be read.
    """
    items = list(items)
    if not items:
        raise InputError("no images to load")
    n = len(items)
    x = np.empty((n, pp.size, pp.size, 3), np.float32)
    labels: list[int] = []
    paths: list[str] = []
    unreadable: list[str] = []
    first_error: UnreadableImage | None = None
    for i, item in enumerate(items):
        try:
            image = load_image(item.path)
        except UnreadableImage as exc:
            unreadable.append(item.path)
            first_error = first_error or exc
        else:
            x[len(paths)] = preprocess(image, pp)
            labels.append(item.label)
            paths.append(item.path)
        if progress is not None:
            progress(i + 1, n)
    if not paths:
        raise InputError(f"none of the {_count(n, 'image')} could be read ({first_error})")
    if len(paths) < n:
        x = x[:len(paths)].copy()  # a copy, so the unused tail of the buffer is freed
    return LoadedImages(x, np.asarray(labels, np.int64), paths, unreadable)


_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint(path: str | os.PathLike) -> str:
    """A short content hash of a file (sha1, 16 hex digits): the same image under another name or folder matches,
    which is how convert keeps a model's training images out of its held-out evaluation (and train its validation
    images out of its training ones). Remembered by path, size and modification time: train hashes its images
    for the --val-data check and again for the metadata, and reads each file once."""
    import hashlib

    st = os.stat(path)
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    if key not in _FINGERPRINTS:
        with open(path, "rb") as f:
            _FINGERPRINTS[key] = hashlib.sha1(f.read()).hexdigest()[:16]
    return _FINGERPRINTS[key]


def split(items: Iterable[ImageItem], fraction: float, seed: int) -> tuple[list[ImageItem], list[ImageItem]]:
    """Split `items` per class into (first, second), e.g. (train, validation), deterministically for `seed`.

    `second` takes round(fraction * n) of each class's n items, but at least 1 when the class has 2 or more,
    and `first` always keeps at least 1. Each class is shuffled by its own generator seeded with (seed, label),
    so one class's split does not change when other classes gain or lose images. Both lists keep the input order.
    Raises InputError unless 0 < fraction < 1 and seed >= 0.
    """
    if not 0 < fraction < 1:
        raise InputError(f"split fraction must be between 0 and 1 (exclusive), got {fraction}")
    if seed < 0:
        raise InputError(f"split seed must be 0 or more, got {seed}")
    items = list(items)
    by_class: dict[int, list[int]] = {}
    for index, item in enumerate(items):
        by_class.setdefault(item.label, []).append(index)
    chosen: set[int] = set()
    for label, indices in by_class.items():
        n = len(indices)
        take = min(max(round(fraction * n), 1), n - 1)
        order = np.random.default_rng([seed, label]).permutation(n)
        chosen.update(indices[j] for j in order[:take])
    first = [item for i, item in enumerate(items) if i not in chosen]
    second = [item for i, item in enumerate(items) if i in chosen]
    return first, second
