"""The generated shapes set: layout, determinism, validation, atomic writes, and that it can be learned."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edgebb.core.errors import InputError
from edgebb.data import load_image, load_images, scan_folder, split, synth
from edgebb.data.synth import SHAPES, generate
from edgebb.models.registry import Preprocessing


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


def test_generate_layout(tmp_path):
    calls = []
    out = tmp_path / "shapes"
    summary = generate(out, classes=4, per_class=5, size=32, seed=3, progress=lambda i, n: calls.append((i, n)))
    assert summary == synth.SynthSummary(str(out), list(SHAPES[:4]), 5, 32, 3, 20)
    assert sorted(os.listdir(out)) == sorted([*SHAPES[:4], "synth.json"])
    for shape in SHAPES[:4]:
        assert sorted(os.listdir(out / shape)) == [f"{i:05d}.png" for i in range(5)]
    assert load_image(out / SHAPES[0] / "00000.png").shape == (32, 32, 3)
    meta = json.loads((out / "synth.json").read_text())
    assert meta["classes"] == list(SHAPES[:4]) and meta["seed"] == 3 and meta["n_images"] == 20
    assert "generated" in meta["note"]
    assert calls == [(i, 20) for i in range(1, 21)]
    assert scan_folder(out).summary() == "20 images in 4 classes"
    assert len(SHAPES) >= 8 and len(set(SHAPES)) == len(SHAPES)


def test_generate_deterministic(tmp_path):
    a = _files(generate(tmp_path / "a", classes=3, per_class=4, size=24, seed=7).out_dir)
    b = _files(generate(tmp_path / "b", classes=3, per_class=4, size=24, seed=7).out_dir)
    c = _files(generate(tmp_path / "c", classes=3, per_class=4, size=24, seed=8).out_dir)
    assert a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a if k.endswith(".png"))
    # image i of a shape depends only on (seed, shape, i): a smaller set is part of a larger one
    small = _files(generate(tmp_path / "small", classes=2, per_class=2, size=24, seed=7).out_dir)
    assert all(small[k] == a[k] for k in small if k.endswith(".png"))


def test_every_shape_renders_a_visible_shape():
    for k, shape in enumerate(SHAPES):
        image = synth.render(shape, 32, np.random.default_rng([0, k, 0])).astype(float)
        luma = image @ [0.299, 0.587, 0.114]
        assert np.percentile(luma, 99) - np.percentile(luma, 1) > 60, shape


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": 1}, "classes must be between 2 and"),
    ({"classes": len(SHAPES) + 1}, "classes must be between 2 and"),
    ({"classes": 2.5}, "classes must be an integer"),
    ({"per_class": 1}, "--per-class must be at least 2"),
    ({"size": 15}, "size must be between 16 and 1024"),
    ({"size": 1025}, "size must be between 16 and 1024"),
    ({"seed": -1}, "seed must be 0 or more"),
])
def test_generate_validation(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        generate(tmp_path / "out", **kwargs)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_refuses_non_empty_out_dir(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="exists and is not empty; choose another folder") as info:
        generate(out, per_class=2, size=16)
    assert str(out) in str(info.value)
    assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"
    assert os.listdir(tmp_path) == ["mine"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        generate(tmp_path / "file", per_class=2, size=16)


def test_empty_out_dir_is_fine_and_no_leftovers(tmp_path):
    (tmp_path / "out").mkdir()
    generate(tmp_path / "out", per_class=2, size=16)
    assert os.listdir(tmp_path) == ["out"]  # no hidden temporary folder left
    assert len(scan_folder(tmp_path / "out").items) == 8


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_no_half_written_folder_on_error(tmp_path, monkeypatch, error):
    render, calls = synth.render, []

    def failing(*args):
        calls.append(1)
        if len(calls) == 5:
            raise error("stop")
        return render(*args)

    monkeypatch.setattr(synth, "render", failing)
    with pytest.raises(error):
        generate(tmp_path / "out", per_class=3, size=16)
    assert len(calls) == 5
    assert os.listdir(tmp_path) == []


def _shape_features(x):
    """Shape descriptors of each image's bright region: moment invariants, fill ratio, edge ratio, hollow centre."""
    luma = x @ np.float32([0.299, 0.587, 0.114])
    lo, hi = np.percentile(luma, [2, 98], axis=(1, 2), keepdims=True)
    masks = (luma > (lo + hi) / 2).astype(np.float64)
    yy, xx = np.mgrid[: x.shape[1], : x.shape[2]].astype(np.float64)
    rows = []
    for m in masks:
        area = m.sum()
        cy, cx = (m * yy).sum() / area, (m * xx).sum() / area
        dy, dx = yy - cy, xx - cx
        eta = lambda p, q: (m * dx**p * dy**q).sum() / area ** (1 + (p + q) / 2)  # noqa: B023
        hu1 = eta(2, 0) + eta(0, 2)
        hu2 = (eta(2, 0) - eta(0, 2)) ** 2 + 4 * eta(1, 1) ** 2
        hu3 = (eta(3, 0) - 3 * eta(1, 2)) ** 2 + (3 * eta(2, 1) - eta(0, 3)) ** 2
        reach = np.hypot(dx, dy)[m > 0].max() + 0.5
        edges = np.abs(np.diff(m, axis=0)).sum() + np.abs(np.diff(m, axis=1)).sum()
        rows.append([hu1, np.sqrt(hu2), np.cbrt(hu3), area / reach**2, edges / np.sqrt(area), m[round(cy), round(cx)]])
    return np.array(rows)


def test_learnable_without_a_network(tmp_path):
    """A nearest-centroid classifier on generic shape descriptors tells the classes apart on held-out images."""
    out = generate(tmp_path / "shapes", classes=4, per_class=60, size=32, seed=0).out_dir
    train, test = split(scan_folder(out).items, 0.25, seed=0)
    raw = Preprocessing(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), crop_fraction=1.0)
    a, b = load_images(train, raw), load_images(test, raw)
    fa, fb = _shape_features(a.x), _shape_features(b.x)
    mu, sd = fa.mean(0), fa.std(0) + 1e-9
    fa, fb = (fa - mu) / sd, (fb - mu) / sd
    centroids = np.stack([fa[a.labels == c].mean(0) for c in range(4)])
    predicted = np.argmin(((fb[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert len(b.labels) == 60
    assert (predicted == b.labels).mean() > 0.8  # chance is 0.25


def test_textures_are_deterministic_and_every_class_is_drawn(tmp_path):
    from edgebb.data.textures import TEXTURES, render

    a = _files(generate(tmp_path / "a", classes=len(TEXTURES), per_class=2, size=48, seed=1, kind="textures").out_dir)
    b = _files(generate(tmp_path / "b", classes=len(TEXTURES), per_class=2, size=48, seed=1, kind="textures").out_dir)
    assert a == b and json.loads((tmp_path / "a" / "synth.json").read_text())["kind"] == "textures"
    for k, name in enumerate(TEXTURES):  # a texture, not a flat field, under whatever lighting it got
        image = render(name, 64, np.random.default_rng([0, k, 0])).astype(float).mean(axis=2)
        assert image.std() > 5, name
    with pytest.raises(InputError, match="unknown kind of generated set 'noise'"):
        generate(tmp_path / "c", kind="noise")


def test_digits_are_real_scans_split_without_overlap(tmp_path):
    pytest.importorskip("sklearn")
    from edgebb.data.scans import write_digits

    train = write_digits(str(tmp_path / "train"), size=32, split="train")
    held = write_digits(str(tmp_path / "eval"), size=32, split="eval")
    assert train["n_images"] == 1258 and held["n_images"] == 539 and train["classes"] == [str(d) for d in range(10)]
    assert "UCI" in train["source"] and load_image(tmp_path / "eval" / "7" / "00000.png").shape == (32, 32, 3)
    pixels = {(tmp_path / s / c / f).read_bytes() for s in ("train", "eval") for c in train["classes"]
              for f in os.listdir(tmp_path / s / c)}
    assert len(pixels) > 1700  # (near-)duplicate scans aside, the two parts are different images


def test_digits_refuse_a_file_and_bad_options_by_their_names(tmp_path):
    """`data digits m.log.csv` (a file) said it "is not an empty folder"; errors name the options as typed."""
    pytest.importorskip("sklearn")
    from edgebb import InputError
    from edgebb.data.scans import write_digits

    existing = tmp_path / "m.log.csv"
    existing.write_text("epoch\n")
    with pytest.raises(InputError, match="m.log.csv is a file; choose a folder"):
        write_digits(str(existing))
    assert existing.read_text() == "epoch\n"
    with pytest.raises(InputError, match="^--size must be between 8 and 1024"):
        write_digits(str(tmp_path / "d"), size=4)
    with pytest.raises(InputError, match="^--split must be one of"):
        write_digits(str(tmp_path / "d"), split="test")
