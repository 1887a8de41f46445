"""Image folders: scanning, decoding every supported format, preprocessing numerics, splitting."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from PIL import Image

from edgebb.core.errors import InputError
from edgebb.data import (
    IMAGE_EXTENSIONS,
    ImageItem,
    UnreadableImage,
    load_image,
    load_images,
    preprocess,
    preprocess_uint8,
    scan_folder,
    split,
)
from edgebb.models import preprocessing_for
from edgebb.models.registry import Preprocessing

COLOUR = (200, 40, 90)
H, W = 20, 30


def _solid(mode="RGB", colour=COLOUR, size=(W, H)):
    return Image.new(mode, size, colour)


@pytest.fixture
def folder(tmp_path):
    """Class "a": every format (9 images, one nested, one upper-case), a .txt and a .DS_Store;
    class "b": 3 good PNGs, a corrupt .jpg and a truncated .png. Plus things scan_folder must ignore."""
    root = tmp_path / "photos"
    a, b = root / "a", root / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    for ext in ("jpg", "png", "bmp", "gif", "webp"):
        _solid().save(a / f"img.{ext}")
    _solid().save(a / "UPPER.JPG", format="JPEG")
    _solid("L", 77).save(a / "gray.png")
    _solid("RGBA", (10, 20, 30, 0)).save(a / "rgba.png")
    _solid().save(a / "sub" / "nested.png")
    (a / "notes.txt").write_text("not an image")
    (a / ".DS_Store").write_bytes(b"\0\1\2")
    for i in range(3):
        _solid(colour=(i, i, i)).save(b / f"{i}.png")
    (b / "corrupt.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    noisy.save(tmp_path / "noisy.png")  # noise, so the pixel data is long enough to cut in half
    whole = (tmp_path / "noisy.png").read_bytes()
    (b / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (root / "README.md").write_text("files directly in root are ignored")
    (root / ".cache").mkdir()
    _solid().save(root / ".cache" / "hidden.png")
    return root


def test_scan_folder(folder):
    f = scan_folder(folder)
    assert f.classes == ["a", "b"]
    assert f.summary() == "14 images in 2 classes (1 non-image file skipped)"
    assert [p.rsplit("/", 1)[-1] for p in f.skipped] == ["notes.txt"]
    names = [(item.path.split("photos/")[1], item.label) for item in f.items]
    assert names == [
        ("a/UPPER.JPG", 0), ("a/gray.png", 0), ("a/img.bmp", 0), ("a/img.gif", 0), ("a/img.jpg", 0),
        ("a/img.png", 0), ("a/img.webp", 0), ("a/rgba.png", 0), ("a/sub/nested.png", 0),
        ("b/0.png", 1), ("b/1.png", 1), ("b/2.png", 1), ("b/corrupt.jpg", 1), ("b/truncated.png", 1),
    ]
    assert scan_folder(str(folder)) == f  # deterministic, and str or Path alike


def test_summary_plurals(tmp_path):
    (tmp_path / "only").mkdir()
    _solid().save(tmp_path / "only" / "x.png")
    assert scan_folder(tmp_path).summary() == "1 image in 1 class"


@pytest.mark.parametrize("ext", ["jpg", "png", "bmp", "gif", "webp"])
def test_load_image_formats(folder, ext):
    image = load_image(folder / "a" / f"img.{ext}")
    assert image.dtype == np.uint8 and image.shape == (H, W, 3)
    tolerance = 6 if ext in ("jpg", "webp") else 0  # lossy formats
    assert np.abs(image.astype(int) - COLOUR).max() <= tolerance


def test_load_image_modes(folder, tmp_path):
    assert (load_image(folder / "a" / "gray.png") == 77).all()
    assert (load_image(folder / "a" / "rgba.png") == (10, 20, 30)).all()  # alpha dropped, not composited
    Image.fromarray(np.full((4, 5), 51400, np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    deep = load_image(tmp_path / "deep.png")
    assert deep.shape == (4, 5, 3) and (deep == round(51400 / 257)).all()
    palette = Image.new("P", (W, H), 2)
    palette.putpalette([0, 0, 0, 9, 9, 9, *COLOUR])
    palette.save(tmp_path / "palette.png", transparency=b"\x00\x80")  # per-index alpha, as icons often have
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL warns when such an image goes straight to RGB
        assert (load_image(tmp_path / "palette.png") == COLOUR).all()


def test_load_image_gif_first_frame_and_exif(tmp_path):
    red, blue = _solid(colour=(255, 0, 0)), _solid(colour=(0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100)
    assert (load_image(tmp_path / "anim.gif") == (255, 0, 0)).all()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: "rotate 90 degrees clockwise to display"
    _solid().save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (W, H, 3)


@pytest.mark.parametrize("name", ["corrupt.jpg", "truncated.png", "missing.png"])
def test_load_image_unreadable(folder, name):
    path = folder / "b" / name
    with pytest.raises(UnreadableImage) as info:
        load_image(path)
    assert isinstance(info.value, InputError)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_load_images(folder):
    pp = preprocessing_for("mobilenet_v2", 16)
    calls = []
    loaded = load_images(scan_folder(folder).items, pp, progress=lambda i, n: calls.append((i, n)))
    assert loaded.x.shape == (12, 16, 16, 3) and loaded.x.dtype == np.float32
    assert loaded.labels.dtype == np.int64 and loaded.labels.tolist() == [0] * 9 + [1] * 3
    assert len(loaded.paths) == 12 and all(p.endswith((".jpg", ".JPG", ".png", ".bmp", ".gif", ".webp"))
                                           for p in loaded.paths)
    assert [p.rsplit("/", 1)[-1] for p in loaded.unreadable] == ["corrupt.jpg", "truncated.png"]
    assert calls == [(i, 14) for i in range(1, 15)]
    assert np.abs(loaded.x).max() <= 1.0  # mobilenet's (x - 127.5) / 127.5
    assert np.allclose(loaded.x[-1], (2 - 127.5) / 127.5)  # b/2.png is the constant colour (2, 2, 2)


def test_load_images_none_readable(folder):
    items = [ImageItem(str(folder / "b" / "corrupt.jpg"), 0), ImageItem(str(folder / "b" / "truncated.png"), 0)]
    with pytest.raises(InputError, match="none of the 2 images could be read.*corrupt.jpg"):
        load_images(items, preprocessing_for("mobilenet_v2", 16))
    with pytest.raises(InputError, match="no images"):
        load_images([], preprocessing_for("mobilenet_v2", 16))


def _one_line_error(path, match):
    with pytest.raises(InputError, match=match) as info:
        scan_folder(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_scan_errors(tmp_path):
    _one_line_error(tmp_path / "nope", "not found")
    (tmp_path / "file.png").write_bytes(b"x")
    _one_line_error(tmp_path / "file.png", "is a file")
    (tmp_path / "empty").mkdir()
    _one_line_error(tmp_path / "empty", "no class subfolders")
    loose = tmp_path / "loose"
    loose.mkdir()
    _solid().save(loose / "x.png")
    _one_line_error(loose, r"no class subfolders.*1 image directly")
    classes = tmp_path / "classes"
    for name in ("cat", "dog"):
        (classes / name).mkdir(parents=True)
        (classes / name / "labels.csv").write_text("x")
    _one_line_error(classes, r"no images in .*2 class folders hold no jpg/jpeg/png/bmp/gif/webp files")


def test_image_extensions():
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def _items(sizes):
    return [ImageItem(f"c{label}/{i}.png", label) for label, n in enumerate(sizes) for i in range(n)]


def test_split_stratified():
    items = _items([10, 5, 2, 1])
    first, second = split(items, 0.2, seed=0)
    count = lambda xs, label: sum(x.label == label for x in xs)
    assert [count(second, c) for c in range(4)] == [2, 1, 1, 0]  # at least 1 of a class with >= 2 items
    assert [count(first, c) for c in range(4)] == [8, 4, 1, 1]
    assert sorted(first + second, key=items.index) == items and not set(first) & set(second)
    assert first == sorted(first, key=items.index) and second == sorted(second, key=items.index)
    _, most = split(_items([3]), 0.99, seed=0)
    assert len(most) == 2  # the first part keeps at least one


def test_split_deterministic():
    items = _items([20, 20])
    assert split(items, 0.3, seed=1) == split(list(items), 0.3, seed=1)
    assert split(items, 0.3, seed=1) != split(items, 0.3, seed=2)
    # one class's split does not depend on the other classes
    assert split(items, 0.3, seed=1)[1][:6] == split(items[:20], 0.3, seed=1)[1]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, math.nan])
def test_split_bad_fraction(fraction):
    with pytest.raises(InputError, match="fraction"):
        split(_items([4]), fraction, seed=0)


PP32 = Preprocessing(size=32, mean=(127.5, 100.0, 50.0), std=(127.5, 2.0, 0.5), crop_fraction=0.875)


def test_preprocess_resize_and_constant(monkeypatch):
    sizes = []
    resize = Image.Image.resize
    monkeypatch.setattr(Image.Image, "resize", lambda self, size, *a, **k: sizes.append(size) or resize(self, size,
                                                                                                         *a, **k))
    colour = np.array([10, 100, 250], np.uint8)
    x = preprocess(np.broadcast_to(colour, (100, 200, 3)).copy(), PP32)
    assert sizes == [(74, 37)]  # shorter side round(32 / 0.875) = 37, the longer in proportion
    assert x.shape == (32, 32, 3) and x.dtype == np.float32
    expected = (colour.astype(np.float32) - np.float32(PP32.mean)) / np.float32(PP32.std)
    assert np.array_equal(x, np.broadcast_to(expected, x.shape))
    preprocess(np.zeros((200, 100, 3), np.uint8), PP32)
    assert sizes[-1] == (37, 74)


def test_preprocess_centre_crop_exact():
    image = np.random.default_rng(0).integers(0, 256, (37, 40, 3), dtype=np.uint8)
    out = preprocess_uint8(image, PP32)  # already 37 on the shorter side: no resize, only the crop
    assert np.array_equal(out, image[2:34, 4:36])  # offsets (37 - 32) // 2 and (40 - 32) // 2


def test_preprocess_centre_crop_symmetric():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :100, 0] = 255
    image[:, 100:, 2] = 255
    out = preprocess_uint8(image, PP32).astype(int)
    assert out[:, 0, 0].min() > 240 and out[:, -1, 2].min() > 240
    assert np.abs(out[:, :, 0] - out[:, ::-1, 2]).max() <= 1  # the crop is centred: red mirrors blue


def test_preprocess_bgr():
    bgr = Preprocessing(size=32, mean=PP32.mean, std=PP32.std, crop_fraction=0.875, channel_order="bgr")
    image = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    assert np.array_equal(preprocess_uint8(image, bgr), preprocess_uint8(image, PP32)[:, :, ::-1])
    x = preprocess(np.broadcast_to(np.uint8([10, 100, 250]), (40, 40, 3)).copy(), bgr)
    assert np.allclose(x[0, 0], [(250 - 127.5) / 127.5, (100 - 100) / 2, (10 - 50) / 0.5])


def test_preprocess_bad_input():
    with pytest.raises(InputError, match="uint8"):
        preprocess(np.zeros((10, 10), np.uint8), PP32)
    with pytest.raises(InputError, match="uint8"):
        preprocess(np.zeros((10, 10, 3), np.float32), PP32)
    with pytest.raises(InputError, match="channel_order"):
        preprocess(np.zeros((10, 10, 3), np.uint8), Preprocessing(8, (0, 0, 0), (1, 1, 1), channel_order="rbg"))
