"""A harder generated image-classification set: fine textures under clutter, scale, lighting and noise.

Every image is one texture (the class) filling the frame: a periodic pattern of lines, dots or cells at a random
period (scale, 12-20 px at 64 px), phase and a small random tilt, printed at moderate to low contrast on a tinted
ground, then spoiled by a slight defocus, one to three distractor shapes drawn over it (opaque or translucent blobs,
boxes, triangles and strokes, much brighter or darker than the texture), a lighting gradient and vignette, a
random exposure and sensor noise. Some classes differ only in fine detail: straight or wavy lines, one line or
two, dots on a square or a hexagonal lattice, filled dots or rings, grids at 90 or 60 degrees, bars or dashes.
The distractors and the lighting carry much of each image's contrast, so the class is in small, low-contrast
activation differences: the kind of signal int8 quantization can lose (on one bright shape per image it cannot).

Orientation: each texture is drawn about one fixed axis with a +-20 degree tilt (ORIENT_JITTER), and every
pattern but grid60 is symmetric under a horizontal mirror about that axis, so the augmentations `edgebb train`
applies (horizontal flips, +-15 degree rotations, 60-100% crops) never turn one class into another (a mirrored
grid60 is a grid60 turned by 60 degrees: still no other class, but an orientation the set never shows). With
the orientation uniformly random instead (ORIENT_JITTER = None) a small CNN trained from scratch learned about half
as fast.

numpy and Pillow only; written by `edgebb data synth OUT --kind textures` (edgebb.data.synth.generate), where image
i of a class depends only on (seed, class index, i): the same arguments give byte-identical files on one machine
(numpy's vectorised sin/cos may differ in the last bit between CPUs) and a smaller set is a subset of a larger one.
`classes=k` uses the first k TEXTURES; the default 10 leave out checks and grid60.

Tuned with real training runs (64 px, 400 images per class, random initial weights, default augmentations):
MobileNetV3-Small 0.75 reached 88% validation top-1 in 10 epochs and 92% in 15; MobileNetV2 0.35 needs about
30 epochs for 84% (68-81% at 15, depending on when it starts to learn). The errors fall on the intended fine
pairs (dots and hex_dots, lines and wavy_lines).
"""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------------------------------ the knobs
# Period (pixels per repeat of the pattern, at 64 px; scaled with `size`) and the other nuisances. The task's
# difficulty was tuned with these for MobileNetV2 0.35 at 64 px from random weights (15 epochs, 400 images per
# class: about 80% top-1): contrast and noise set how visible the detail is, blur how much of the finest detail
# survives, the distractors how much of the frame is hidden. Finer periods (6-10 px) or the full nuisance ranges
# noted in the report left that model at chance after 10 epochs.
PERIOD = (12.0, 20.0)         # texture period in pixels at size 64 (random scale: the range is 1.67x)
CONTRAST = (25.0, 70.0)       # texture amplitude, grey levels (the ground is 70-200)
NOISE = (1.5, 6.0)            # Gaussian sensor noise sigma, grey levels
BLUR = (0.0, 0.6)             # Gaussian defocus sigma in pixels at size 64
GRADIENT = (0.0, 0.6)         # lighting: gain varies by this fraction across the frame
DISTRACTORS = (1, 3)          # distractor shapes per image, inclusive
LINE = (1.6, 2.4)             # width of thin lines and rings, pixels at size 64
DIM = 0.0                     # fraction of images taken in dim light: exposure 0.3-0.55 instead of 0.75-1.2
ORIENT_JITTER = 20.0          # None: orientation uniform over the pattern's symmetry; else +-degrees about 0


# ------------------------------------------------------------------------------------------ texture helpers
# Each texture returns "ink coverage" in [0, 1] per pixel, antialiased analytically: a feature of half-width h at
# distance d (pixels) from the pixel centre covers clip(h + 0.5 - d, 0, 1) of it (a box-filter approximation).


def _cover(d: np.ndarray, half: float) -> np.ndarray:
    return np.clip(half + 0.5 - d, 0.0, 1.0)


def _dist_to_lines(u: np.ndarray, period: float) -> np.ndarray:
    """Distance in pixels to the nearest of the lines u = integer (u in periods)."""
    return np.abs(u - np.round(u)) * period


def _line_width(rng, s: float) -> float:
    return rng.uniform(*LINE) * s


def _stripes(u, v, p, s, rng):  # thick bars, half of each period ink
    return _cover(_dist_to_lines(u, p), p * rng.uniform(0.22, 0.28))


def _lines(u, v, p, s, rng):  # thin single lines
    return _cover(_dist_to_lines(u, p), _line_width(rng, s) / 2)


def _double_lines(u, v, p, s, rng):  # pairs of thin lines a small gap apart
    w = _line_width(rng, s) / 2
    gap = max(2.6 * s, rng.uniform(0.26, 0.32) * p) / p / 2
    return np.maximum(_cover(_dist_to_lines(u - gap, p), w), _cover(_dist_to_lines(u + gap, p), w))


def _wavy_lines(u, v, p, s, rng):  # thin lines bent into a sine
    amp, wavelength = rng.uniform(0.22, 0.32), rng.uniform(2.0, 3.2)
    phase = rng.uniform(0, 2 * np.pi)
    return _cover(_dist_to_lines(u + amp * np.sin(2 * np.pi * v / wavelength + phase), p), _line_width(rng, s) / 2)


def _grid(u, v, p, s, rng):  # thin lines in two directions at 90 degrees
    w = _line_width(rng, s) / 2
    return np.maximum(_cover(_dist_to_lines(u, p), w), _cover(_dist_to_lines(v, p), w))


def _grid60(u, v, p, s, rng):  # thin lines in two directions at 60 degrees (a rhombic net)
    w = _line_width(rng, s) / 2
    u2 = 0.5 * u + np.sqrt(3) / 2 * v
    return np.maximum(_cover(_dist_to_lines(u, p), w), _cover(_dist_to_lines(u2, p), w))


def _checks(u, v, p, s, rng):  # a checkerboard: two thick-bar gratings combined by XOR
    a = _cover(_dist_to_lines(u, p), p / 4)
    b = _cover(_dist_to_lines(v, p), p / 4)
    return a + b - 2 * a * b


def _dist_square(u, v, p):
    return np.hypot(u - np.round(u), v - np.round(v)) * p


def _dist_hex(u, v, p):
    r3 = np.sqrt(3)
    a = np.hypot(u - np.round(u), (v / r3 - np.round(v / r3)) * r3)
    ub, vb = u - 0.5, v / r3 - 0.5
    b = np.hypot(ub - np.round(ub), (vb - np.round(vb)) * r3)
    return np.minimum(a, b) * p


def _dots(u, v, p, s, rng):  # filled dots on a square lattice
    return _cover(_dist_square(u, v, p), p * rng.uniform(0.2, 0.26))


def _hex_dots(u, v, p, s, rng):  # filled dots on a hexagonal lattice (same spacing)
    return _cover(_dist_hex(u, v, p), p * rng.uniform(0.2, 0.26))


def _rings(u, v, p, s, rng):  # rings (hollow dots) on a square lattice
    r = p * rng.uniform(0.26, 0.32)
    return _cover(np.abs(_dist_square(u, v, p) - r), _line_width(rng, s) / 2)


def _dashes(u, v, p, s, rng):  # thick bars broken into dashes, alternate rows offset by half a dash
    row = np.round(u)
    along = v / 1.6 + 0.5 * (row % 2)
    return _cover(_dist_to_lines(u, p), p * rng.uniform(0.18, 0.24)) * _cover(
        _dist_to_lines(along, p * 1.6), p * 1.6 * rng.uniform(0.3, 0.36))


def _blobs(u, v, p, s, rng):  # band-limited isotropic noise at the same scale: no lattice, no orientation
    n = 10
    angles = rng.uniform(0, np.pi, n)
    freqs = rng.uniform(0.8, 1.25, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    # sum of n plane waves cos(2 pi f (u cos a + v sin a) + phase); u and v are affine in the pixel grid, so each
    # wave is an outer product of a column and a row of complex exponentials: one small matrix product
    ku, kv = 2 * np.pi * freqs * np.cos(angles), 2 * np.pi * freqs * np.sin(angles)
    dx = ku * (u[0, 1] - u[0, 0]) + kv * (v[0, 1] - v[0, 0])
    dy = ku * (u[1, 0] - u[0, 0]) + kv * (v[1, 0] - v[0, 0])
    c = ku * u[0, 0] + kv * v[0, 0] + phases
    h, w = u.shape
    field = (np.exp(1j * (np.arange(h)[:, None] * dy + c)) @ np.exp(1j * np.arange(w)[None, :] * dx[:, None])).real
    return np.clip(0.5 + field / np.sqrt(2 * n) * 1.2, 0, 1)


# name -> (texture function, rotational symmetry in degrees: the orientation is uniform in [0, symmetry)).
# The order is fixed: `generate(classes=k)` uses the first k.
_TEXTURES = {
    "stripes": (_stripes, 180.0),
    "rings": (_rings, 90.0),
    "grid": (_grid, 90.0),
    "blobs": (_blobs, 180.0),
    "dashes": (_dashes, 180.0),
    "double_lines": (_double_lines, 180.0),
    "lines": (_lines, 180.0),
    "wavy_lines": (_wavy_lines, 360.0),
    "dots": (_dots, 90.0),
    "hex_dots": (_hex_dots, 60.0),
    "checks": (_checks, 90.0),
    "grid60": (_grid60, 180.0),
}
TEXTURES = tuple(_TEXTURES)


# ----------------------------------------------------------------------------------------------- rendering


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W) float image, reflecting at the borders."""
    if sigma < 0.15:
        return img
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    h, w = img.shape
    x = np.pad(img, radius, mode="reflect")
    x = sum(k[j] * x[j:j + h] for j in range(2 * radius + 1))
    return sum(k[j] * x[:, j:j + w] for j in range(2 * radius + 1))


_ANY = [0] + [255] * 255  # a lookup table: any coverage -> full


def _distractors(size: int, rng: np.random.Generator):
    """(colour, alpha) of a few flat shapes over the texture: blobs, boxes, triangles and strokes, each opaque or
    translucent, far brighter or darker than the texture. colour is (size, size, 3), alpha (size, size, 1)."""
    from PIL import Image, ImageDraw

    ss = 2  # drawn at twice the size and box-filtered down: antialiased edges
    paint = Image.new("RGB", (size * ss, size * ss), 0)
    cover = Image.new("L", (size * ss, size * ss), 0)
    draws = ImageDraw.Draw(paint), ImageDraw.Draw(cover)
    for _ in range(int(rng.integers(DISTRACTORS[0], DISTRACTORS[1] + 1))):
        kind = rng.integers(4)
        cx, cy = rng.uniform(0, size * ss, 2)
        r = rng.uniform(0.06, 0.18) * size * ss
        dark = rng.random() < 0.5
        # far brighter or darker than the texture: the distractors, not the class, set the image's range
        colour = tuple(int(c) for c in (rng.uniform(0, 60, 3) if dark else rng.uniform(190, 255, 3)))
        opacity = int(rng.uniform(0.5, 1.0) * 255)  # some are translucent
        if kind == 0:  # ellipse
            ratio = rng.uniform(0.5, 1.0)
            box = [cx - r, cy - r * ratio, cx + r, cy + r * ratio]
            for draw, fill in zip(draws, (colour, opacity)):
                draw.ellipse(box, fill=fill)
        elif kind in (1, 2):  # rotated box, triangle
            if kind == 1:
                t, h = rng.uniform(0, np.pi), r * rng.uniform(0.4, 1.0)
                pts = [(cx + x * np.cos(t) - y * np.sin(t), cy + x * np.sin(t) + y * np.cos(t))
                       for x, y in ((-r, -h), (r, -h), (r, h), (-r, h))]
            else:
                a = rng.uniform(0, 2 * np.pi) + np.array([0, 2.1, 4.2]) + rng.uniform(-0.3, 0.3, 3)
                pts = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in a]
            for draw, fill in zip(draws, (colour, opacity)):
                draw.polygon(pts, fill=fill)
        else:  # a long stroke across part of the frame
            t, length = rng.uniform(0, np.pi), rng.uniform(0.3, 0.8) * size * ss
            dx, dy = np.cos(t) * length / 2, np.sin(t) * length / 2
            width = max(1, int(rng.uniform(1.5, 4.0) * size / 64 * ss))
            for draw, fill in zip(draws, (colour, opacity)):
                draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=width)
    colour = np.asarray(paint.reduce(ss), dtype=np.float64)
    alpha = np.asarray(cover.reduce(ss), dtype=np.float64)[..., None] / 255.0
    # reduce() averaged colour with black where the shape only partly covers a pixel: undo that at the edges
    coverage = np.asarray(cover.point(_ANY).reduce(ss), dtype=np.float64)[..., None] / 255.0
    return np.where(coverage > 0, colour / np.maximum(coverage, 1e-6), 0.0), alpha


def render(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (size, size, 3) RGB image of `texture` (a name in TEXTURES)."""
    fn, symmetry = _TEXTURES[texture]
    s = size / 64.0
    period = rng.uniform(*PERIOD) * s
    theta = np.deg2rad(rng.uniform(0, symmetry) if ORIENT_JITTER is None else rng.uniform(-1, 1) * ORIENT_JITTER)
    grid = np.arange(size) + 0.5 - size / 2
    x, y = grid[None, :], grid[:, None]
    u = (x * np.cos(theta) + y * np.sin(theta)) / period + rng.uniform(0, 1)
    v = (-x * np.sin(theta) + y * np.cos(theta)) / period + rng.uniform(0, 1)
    ink = fn(u, v, period, s, rng)

    ink = _blur(ink, rng.uniform(*BLUR) * s)  # defocus (blurring the coverage = blurring the printed texture)

    # the ground: a tinted grey; the ink: darker by `contrast`, with a slightly different tint
    ground = rng.uniform(70, 200) + rng.uniform(-25, 25, 3)
    contrast = rng.uniform(*CONTRAST)
    ink_colour = ground - contrast * (1 + rng.uniform(-0.25, 0.25, 3))
    img = ground + (ink_colour - ground) * ink[..., None]

    colour, alpha = _distractors(size, rng)
    img = img * (1 - alpha) + colour * alpha

    # lighting: a linear gain gradient in a random direction and a vignette, then a global exposure
    phi = rng.uniform(0, 2 * np.pi)
    ramp = (x * np.cos(phi) + y * np.sin(phi)) / size  # -0.5 .. 0.5
    gain = 1 + rng.uniform(*GRADIENT) * ramp
    cx, cy = rng.uniform(-0.3, 0.3, 2) * size
    gain = gain * (1 - rng.uniform(0, 0.35) * (((x - cx) ** 2 + (y - cy) ** 2) / (size * size / 2)))
    exposure = rng.uniform(0.3, 0.55) if rng.random() < DIM else rng.uniform(0.75, 1.2)
    img = img * gain[..., None] * exposure

    # sensor noise, weaker in dim light as shot noise is (but stronger relative to the dimmed texture)
    img = img + rng.uniform(*NOISE) * np.sqrt(min(exposure, 1.0)) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
