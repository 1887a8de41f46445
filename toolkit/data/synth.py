"""A generated, learnable image classification set for when there is no data: one shape per class.

Each image is a dark background (a solid colour or a two-colour gradient, plus mild noise) with one filled shape
in a brighter random colour, at a random position, scale (35-80% of the image) and, where the shape allows it,
rotation. The same arguments always give byte-identical files, so tests and demos can train and quantize on it.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..core.files import check_can_create_dir, check_writable_dir

Progress = Callable[[int, int], None]


def _regular(n: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), -np.sin(angles)], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)


def _star() -> np.ndarray:
    outer, inner = _regular(5, 1.0, np.pi / 2), _regular(5, 0.4, np.pi / 2 + np.pi / 5)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _bars(vertical: bool) -> list[tuple[np.ndarray, int]]:
    h = 0.7  # half-side of the square the bars fill; its corners touch the unit circle
    bars = [_rect(-h, -h + k * 2 * h / 5, h, -h + (k + 1) * 2 * h / 5) for k in (0, 2, 4)]
    return [(b[:, ::-1] if vertical else b, 255) for b in bars]


def _checker() -> list[tuple[np.ndarray, int]]:
    h, cell = 0.7, 1.4 / 3
    return [(_rect(-h + i * cell, -h + j * cell, -h + (i + 1) * cell, -h + (j + 1) * cell), 255)
            for i in range(3) for j in range(3) if (i + j) % 2 == 0]


_W = 0.24  # half-width of the cross's arms
_CROSS = np.array([(-_W, -0.95), (_W, -0.95), (_W, -_W), (0.95, -_W), (0.95, _W), (_W, _W), (_W, 0.95),
                   (-_W, 0.95), (-_W, _W), (-0.95, _W), (-0.95, -_W), (-_W, -_W)])

# name -> (polygons in unit coordinates inside the unit circle, drawn in order with fill 255 or 0 (a hole);
#          the rotation range in degrees: a shape is turned by a uniform angle in [-range, range]).
# Rotations are limited where a full turn would make one class look like another (square vs diamond, cross vs
# an X, horizontal vs vertical bars). The order is fixed, `generate(classes=k)` uses the first k, and the first
# four are the ones a small CNN tells apart soonest.
_SHAPES: dict[str, tuple[list[tuple[np.ndarray, int]], float]] = {
    "star": ([(_star(), 255)], 180.0),
    "ring": ([(_regular(72), 255), (_regular(72, 0.55), 0)], 0.0),
    "square": ([(_rect(-0.7, -0.7, 0.7, 0.7), 255)], 15.0),
    "vbars": (_bars(vertical=True), 10.0),
    "triangle": ([(_regular(3, 1.0, np.pi / 2), 255)], 180.0),
    "cross": ([(_CROSS, 255)], 15.0),
    "circle": ([(_regular(72), 255)], 0.0),
    "hbars": (_bars(vertical=False), 10.0),
    "diamond": ([(np.array([(0, -1), (0.55, 0), (0, 1), (-0.55, 0)], dtype=np.float64), 255)], 15.0),
    "checker": (_checker(), 10.0),
}
SHAPES = tuple(_SHAPES)


@dataclass
class SynthSummary:
    out_dir: str
    classes: list[str]
    per_class: int
    size: int
    seed: int
    n_images: int
    kind: str = "shapes"


def _int(name: str, value: object) -> int:
    try:
        return operator.index(value)  # accepts numpy integers, refuses floats and strings
    except TypeError:
        raise InputError(f"--{name.replace('_', '-')} must be an integer; received {value!r}") from None


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ (0.299, 0.587, 0.114))


def render(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one uint8 (size, size, 3) RGB image of `shape` (a name in SHAPES) with random colours and placement."""
    from PIL import Image, ImageDraw

    polygons, max_turn = _SHAPES[shape]
    # Always a bright shape on a darker background: with random contrast polarity a small CNN needed about ten
    # times the images to learn the same classes, and demos train on a few dozen per class.
    dark = rng.uniform(0, 130, (2, 3))
    c1, c2 = dark[0], dark[1] if rng.random() < 0.5 else dark[0]
    fg = rng.uniform(0, 255, 3)
    short = max(_luma(c1), _luma(c2)) + 90 - _luma(fg)
    if short > 0:  # mix in white, keeping the hue, until the luma is 90 above the background's
        fg += (255 - fg) * short / (255 - _luma(fg))

    grid = (np.arange(size) + 0.5) / size - 0.5
    phi = rng.uniform(0, 2 * np.pi)
    t = np.clip(grid[None, :] * np.cos(phi) + grid[:, None] * np.sin(phi) + 0.5, 0, 1)[:, :, None]
    background = c1 * (1 - t) + c2 * t

    # The mask is drawn at `scale` times the size and box-filtered down, which antialiases the edges.
    scale = 4 if size <= 256 else 2
    radius = rng.uniform(0.35, 0.8) * size / 2
    centre = rng.uniform(radius, size - radius, 2)
    turn = np.deg2rad(rng.uniform(-max_turn, max_turn))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    mask = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(mask)
    for points, fill in polygons:
        xy = ((points @ rotation.T) * radius + centre) * scale - 0.5  # PIL puts pixel centres on integers
        draw.polygon([tuple(p) for p in xy.tolist()], fill=fill)
    alpha = np.asarray(mask.reduce(scale), dtype=np.float64)[:, :, None] / 255.0

    noise = rng.normal(0, rng.uniform(2, 8), (size, size, 3))
    image = background * (1 - alpha) + fg * alpha + noise
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# The kinds of generated set: (class names in order, renderer, what synth.json says the set is).
KINDS = {
    "shapes": (SHAPES, lambda name, size, rng: render(name, size, rng),
               "a generated data set (edgebb.synth): one procedurally drawn shape per image, one class per shape"),
    "textures": (None, None, "a generated data set (edgebb.data.textures): one fine, low-contrast texture per "
                             "class, with distractor shapes, random scale and tilt, lighting, blur and noise"),
}


def _kind(kind: str):
    if kind not in KINDS:
        from ..core.errors import unknown_name

        raise unknown_name("kind of generated set", kind, list(KINDS))
    if kind == "textures":  # imported on use: most runs draw shapes
        from .textures import TEXTURES
        from .textures import render as render_texture

        return TEXTURES, render_texture, KINDS[kind][2]
    return KINDS[kind]


def generate(out_dir: str | os.PathLike, classes: int = 4, per_class: int = 50, size: int = 64, seed: int = 0,
             progress: Progress | None = None, kind: str = "shapes") -> SynthSummary:
    """Write a generated data set of `kind` ("shapes": one bright shape per image, learnable in a few epochs;
    "textures": fine low-contrast textures under clutter, harder, see edgebb.data.textures): `per_class` PNG
    images of `size` x `size` for each of the first `classes` classes, as out_dir/<class>/<index:05d>.png, plus
    out_dir/synth.json describing it. `progress(i, n)` follows each image.

    The same arguments give byte-identical files; image i of a class depends only on (seed, class, i), so a
    smaller set is a subset of a larger one. Everything is written into a hidden sibling folder that is renamed
    to `out_dir` at the end, so an error or Ctrl-C leaves nothing behind. Raises InputError for a bad argument
    or when `out_dir` exists and is not an empty folder (nothing a user has is ever overwritten).
    """
    from PIL import Image

    names_all, draw, note = _kind(kind)
    classes, per_class, size, seed = validate(out_dir, kind, classes, per_class, size, seed)
    out_dir = os.fspath(out_dir)
    parent, base = os.path.split(os.path.abspath(out_dir))
    names = list(names_all[:classes])
    n = classes * per_class

    tmp = os.path.join(parent, f".{base}.{uuid.uuid4().hex[:8]}.partial")
    os.mkdir(tmp)  # not tempfile.mkdtemp, whose 0700 mode would stay with the renamed folder
    try:
        done = 0
        for k, name in enumerate(names):
            os.mkdir(os.path.join(tmp, name))
            for i in range(per_class):
                image = draw(name, size, np.random.default_rng([seed, k, i]))
                Image.fromarray(image).save(os.path.join(tmp, name, f"{i:05d}.png"))
                done += 1
                if progress is not None:
                    progress(done, n)
        meta = {"note": note, "kind": kind, "classes": names, "per_class": per_class, "size": size, "seed": seed,
                "n_images": n}
        with open(os.path.join(tmp, "synth.json"), "w") as f:
            f.write(json.dumps(meta, indent=2) + "\n")
        _check_free(out_dir)  # the folder may have appeared while we were writing
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)  # empty (checked above); renaming onto a folder is not portable
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SynthSummary(out_dir, names, per_class, size, seed, n, kind)


def validate(out_dir, kind: str, classes, per_class, size, seed) -> tuple[int, int, int, int]:
    """generate's checks, before any drawing (the CLI calls it before it shows progress): InputError for a bad
    argument or an output place that cannot be made; the arguments as ints."""
    names_all = _kind(kind)[0]
    classes, per_class, size, seed = (_int(k, v) for k, v in
                                      (("classes", classes), ("per_class", per_class), ("size", size), ("seed", seed)))
    if not 2 <= classes <= len(names_all):
        raise InputError(f"--classes must be between 2 and {len(names_all)} (the number of {kind}); received {classes}")
    if per_class < 2:
        raise InputError(f"--per-class must be at least 2; received {per_class}")
    if not 16 <= size <= 1024:
        raise InputError(f"--size must be between 16 and 1024 pixels; received {size}")
    if seed < 0:
        raise InputError(f"--seed must be 0 or more; received {seed}")
    out_dir = os.fspath(out_dir)
    _check_free(out_dir)
    check_can_create_dir(out_dir)
    check_writable_dir(os.path.dirname(os.path.abspath(out_dir)))
    return classes, per_class, size, seed


def _check_free(out_dir: str) -> None:
    if os.path.isdir(out_dir):
        if os.listdir(out_dir):
            raise InputError(f"{out_dir} exists and is not empty; choose another folder")
    elif os.path.exists(out_dir):
        raise InputError(f"{out_dir} exists and is a file; choose another folder")
