"""The report's plots, drawn with matplotlib and returned as SVG text to inline in a page (no file, no font or
script fetched): accuracy against latency and against peak memory with the Pareto frontier, latency against MACs
with the target's achieved GMAC/s as guide lines, and the int8-vs-fp32 speed-up.

Cells are dicts with the sweep store's columns (edgebb.selection.store); `marks` are edgebb.selection.pareto's.
matplotlib is imported here only (pip install 'edgebb[report]').
"""

from __future__ import annotations

import io
import math
import re

MARKERS = "o^DsvPX*"  # by the recipe's place in the registry
FRONTIER = "black"  # no backbone's colour (it was tab10's red, shufflenet_v2's in a four-backbone report)
MACS_LINES = ("lines: constant GMAC/s, the best this target achieved and fractions of it. Distance below the best "
              "line is throughput a family leaves unused.")
HOLLOW = "; hollow: no candidate (failed its check, not judged or at chance: see Every cell)"


def marker(recipe: str) -> str:
    from ..conversion.recipes import RECIPES

    return MARKERS[list(RECIPES).index(recipe) % len(MARKERS)] if recipe in RECIPES else "o"


def recipe_roles() -> tuple[str, list[str]]:
    """(the float reference recipe, the full-integer recipes), as the recipe registry describes them."""
    from ..conversion.recipes import RECIPES

    reference = next(name for name, r in RECIPES.items() if r.is_float)
    return reference, [name for name, r in RECIPES.items() if r.activations == "int8"]


def available() -> str | None:
    """None when matplotlib can draw here, else the one-line reason."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "the report's plots need matplotlib: pip install 'edgebb[report]'"
    return None


def short(c: dict, runtime: bool = True, size: bool = False) -> str:
    """A point's label: "mobilenet_v2 .35 int8 litert", with "@128" where the plot has more than one input size."""
    width = "" if c.get("width") in (None, 1.0) else f" {c['width']:g}".replace(" 0.", " .")
    px = f" @{c['size']}" if size and c.get("size") else ""
    rt = f" {c['runtime']}" if runtime and c.get("runtime") else ""
    return f"{c['backbone']}{width}{px} {c['recipe']}{rt}"


def _figure(width: float = 7.6, height: float = 4.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "edgebb"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = re.sub(r"<\?xml[^>]*>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # No fixed size: the page's CSS scales the plot to its box (the viewBox keeps its proportions).
    text = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", text, count=1)
    return text.strip()


def _colors(cells: list[dict]) -> dict[str, str]:
    """A colour per backbone (by family, MobileNet V1, V2 and V3 had been one blue)."""
    from matplotlib import colormaps

    backbones = sorted({c["backbone"] for c in cells})
    palette = colormaps["tab10"] if len(backbones) <= 10 else colormaps["tab20"]
    return {b: palette(i % palette.N) for i, b in enumerate(backbones)}


def no_candidate(cell: dict) -> bool:
    """Whether the cell is no candidate whatever its figures (failed its check, not judged, at chance: the rule of
    edgebb.selection.pareto.excluded); a plot draws it hollow, so it is not read as a choice."""
    from ..selection.pareto import excluded

    return excluded(cell) is not None


CROWDED = 12  # more points than this on a plot: only the ones that matter get a label, the rest their colour
LABELLED = ("; labelled: the frontier's cells", "; labelled: each backbone's fastest cell")  # then, as captions say


def crowded(cells: list[dict]) -> bool:
    """Whether a target's plots have too many measured cells to label each."""
    return sum(c.get("status") == "ok" for c in cells) > CROWDED


def _scatter(ax, cells, x, y, colors, labels=True):
    for c in cells:
        color = colors[c["backbone"]]
        if no_candidate(c):  # hollow, in the backbone's colour: measured, but no choice
            ax.scatter(c[x], c[y], marker=marker(c["recipe"]), s=46, facecolors="none", edgecolors=color,
                       linewidth=1.2, zorder=3)
        else:
            ax.scatter(c[x], c[y], marker=marker(c["recipe"]), color=color, s=46, edgecolor="black",
                       linewidth=0.5, zorder=3)
    if labels is True:
        labels = cells
    if labels:
        sizes = len({c.get("size") for c in cells}) > 1  # labels without it named two cells alike
        _place_labels(ax, [(c[x], c[y], short(c, size=sizes)) for c in labels])


# Where a label may go around its point (offset in points, horizontal alignment), in order of preference.
_SPOTS = [((5, 3), "left"), ((5, -10), "left"), ((-5, 3), "right"), ((-5, -10), "right"), ((5, 12), "left"),
          ((5, -19), "left"), ((-5, 12), "right"), ((-5, -19), "right"), ((5, 21), "left"), ((-5, 21), "right"),
          ((5, -28), "left"), ((-5, -28), "right")]


def _overlap(a: tuple, b: tuple) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _place_labels(ax, points: list[tuple[float, float, str]], fontsize: float = 7) -> None:
    """Label each point at the spot around it that overlaps least with the labels placed before, the points and
    the outside of the axes (where the legend and the title are): the first free spot when there is one, so labels
    of near points do not print over each other (sizes estimated from the font size, in display units)."""
    ax.autoscale_view()
    ax.figure.draw_without_rendering()  # lay the figure out first, so display coordinates are the final ones
    to_px = ax.transData.transform
    scale = ax.figure.dpi / 72
    dots = [to_px((px, py)) for px, py, _ in points]
    frame = ax.get_window_extent()
    placed: list[tuple[float, float, float, float]] = []
    for (px, py, text), (dx0, dy0) in sorted(zip(points, dots), key=lambda p: (p[1][0], p[1][1])):
        w, h = 0.56 * fontsize * len(text) * scale, fontsize * 1.25 * scale
        best = None
        for rank, ((ox, oy), ha) in enumerate(_SPOTS):
            x0 = dx0 + ox * scale - (w if ha == "right" else 0)
            box = (x0, dy0 + oy * scale, x0 + w, dy0 + oy * scale + h)
            outside = w * h - _overlap(box, (frame.x0, frame.y0, frame.x1, frame.y1))
            cost = 4 * outside + sum(_overlap(box, b) for b in placed) + \
                sum(_overlap(box, (d[0] - 4, d[1] - 4, d[0] + 4, d[1] + 4)) for d in dots)
            if best is None or cost < best[0]:
                best = (cost, rank, (ox, oy), ha, box)
            if cost == 0:
                break
        _, _, (ox, oy), ha, box = best
        placed.append(box)
        ax.annotate(text, (px, py), textcoords="offset points", xytext=(ox, oy), fontsize=fontsize, ha=ha,
                    va="bottom", color="#333333", zorder=4).set_in_layout(False)


def _legend(ax, cells, colors, frontier: bool = False):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=FRONTIER, linewidth=1.6, marker="o", markersize=9, markerfacecolor="none",
                      label="Pareto frontier")] if frontier else []
    handles += [Line2D([], [], marker="o", linestyle="", color=color, markeredgecolor="black", label=backbone)
               for backbone, color in colors.items()]
    handles += [Line2D([], [], marker=marker(r), linestyle="", color="#bbbbbb",
                       markeredgecolor="black", label=r) for r in sorted({c["recipe"] for c in cells})]
    if any(no_candidate(c) for c in cells):
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="#555555",
                              label="hollow: no candidate\n(failed check, not\njudged or at chance)"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              frameon=False)


def _log_if_wide(ax, values, axis="x"):
    values = [v for v in values if v and v > 0]
    if values and max(values) / min(values) > 8:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def accuracy_vs(cells: list[dict], marks: dict, *, x: str, xlabel: str, title: str, frontier: str) -> str | None:
    """Accuracy (%) against `x` for one target's cells, the `frontier` ("latency" or "memory") marks drawn as a
    staircase through the optimal cells; None when no cell has both figures."""
    points = [c for c in cells if c.get("status") == "ok" and c.get("accuracy") is not None and c.get(x)]
    if not points:
        return None
    points = [{**c, "accuracy_pct": 100 * c["accuracy"]} for c in points]
    colors = _colors(points)
    fig, ax = _figure()
    _log_if_wide(ax, [c[x] for c in points])
    best = sorted((c for c in points if marks.get(c["key"], {}).get(frontier, {}).get("optimal")), key=lambda c: c[x])
    if best:
        xs, ys = [c[x] for c in best], [c["accuracy_pct"] for c in best]
        ax.step(xs, ys, where="post", color=FRONTIER, linewidth=1.6, zorder=2, label="Pareto frontier")
        ax.plot(xs, ys, linestyle="", marker="o", markersize=13, markerfacecolor="none", markeredgecolor=FRONTIER,
                zorder=2)
    # crowded, the frontier's cells are labelled (40 labels had printed over each other)
    _scatter(ax, points, x, "accuracy_pct", colors, labels=best if crowded(cells) else True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    _legend(ax, points, colors, frontier=bool(best))
    return _svg(fig)


def latency_vs_macs(cells: list[dict], title: str) -> str | None:
    """p50 latency against MACs on log axes, with the target's best achieved GMAC/s (and 1/2, 1/4, 1/8, 1/16 of
    it) as lines of constant throughput: a family far below the best line computes fewer MACs per second (depthwise
    convolutions, memory traffic, missing int8 kernels); MACs alone do not predict latency."""
    import numpy as np

    points = [c for c in cells if c.get("status") == "ok" and c.get("macs") and c.get("p50_ms")]
    if not points:
        return None
    colors = _colors(points)
    fig, ax = _figure()
    ax.set_xscale("log")
    ax.set_yscale("log")
    rates = [c["macs"] / (c["p50_ms"] / 1e3) for c in points]
    peak = max(rates)
    lo, hi = min(c["macs"] for c in points) / 1.6, max(c["macs"] for c in points) * 1.6
    xs = np.geomspace(lo, hi, 20)
    for k, frac in enumerate((1, 2, 4, 8, 16)):
        rate = peak / frac
        ax.plot(xs, xs / rate * 1e3, color="#555555", linewidth=1.0 if k == 0 else 0.7,
                linestyle="-" if k == 0 else ":", zorder=1)
        ax.annotate(f"{rate / 1e9:.1f} GMAC/s" + (" (best achieved)" if k == 0 else ""),
                    (xs[-1], xs[-1] / rate * 1e3), fontsize=7, color="#555555", ha="right", va="bottom")
    fastest = {}  # crowded, each backbone's fastest cell is labelled
    for c in sorted(points, key=lambda c: c["p50_ms"]):
        fastest.setdefault(c["backbone"], c)
    _scatter(ax, points, "macs", "p50_ms", colors, labels=list(fastest.values()) if crowded(cells) else True)
    ax.set_xlabel("MACs per image (log)")
    ax.set_ylabel("p50 latency, ms (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    _legend(ax, points, colors)
    return _svg(fig)


def int8_speedup(cells: list[dict], title: str | None = None) -> str | None:
    """Grouped bars: per backbone configuration, one bar per (target, runtime, integer recipe) where both it and
    the float reference recipe were measured; a line at 1 (below it, the integer model is slower)."""
    import numpy as np

    reference, integer = recipe_roles()
    shown = [r for r in integer if any(c.get("recipe") == r for c in cells)] or integer
    title = title or f"{'/'.join(shown)} speed-up over {reference} (p50 {reference} / p50 quantized)"
    measured = {(c["backbone"], c.get("width"), c.get("size"), c["target"], c["runtime"], c["recipe"]): c
                for c in cells if c.get("status") == "ok" and c.get("p50_ms")}
    p50 = {k: c["p50_ms"] for k, c in measured.items()}
    pairs: dict[tuple, dict[tuple, float]] = {}
    hollow: set[tuple] = set()  # (config, series) whose quantized cell is no candidate: its bar is hatched
    for (b, w, s, t, r, recipe), value in p50.items():
        if recipe in integer and (b, w, s, t, r, reference) in p50:
            key = (t, r) + ((recipe,) if len(integer) > 1 and any(k[-1] != recipe and k[-1] in integer
                                                                  for k in p50) else ())
            pairs.setdefault((b, w, s), {})[key] = p50[(b, w, s, t, r, reference)] / value
            if no_candidate(measured[(b, w, s, t, r, recipe)]):
                hollow.add(((b, w, s), key))
    if not pairs:
        return None
    series = sorted({k for v in pairs.values() for k in v})
    configs = list(pairs)
    fig, ax = _figure(max(7.6, 1.1 * len(configs) + 2), 4.4)
    width = 0.8 / len(series)
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    for i, key in enumerate(series):
        values = [pairs[c].get(key, math.nan) for c in configs]
        pos = np.arange(len(configs)) + (i - (len(series) - 1) / 2) * width
        bars = ax.bar(pos, values, width * 0.92, color=palette(i % 10), label=" ".join(key), edgecolor="black",
                      linewidth=0.4)
        for bar, config in zip(bars, configs):
            if (config, key) in hollow:  # "1.55x" of an int8 model that failed its check read as one to ship
                bar.set_hatch("////")
                bar.set_alpha(0.55)
        for p, v in zip(pos, values):
            if not math.isnan(v):
                ax.annotate(f"{v:.2f}x", (p, v), ha="center", va="bottom", fontsize=6.5, textcoords="offset points",
                            xytext=(0, 1))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(configs)), [f"{b} {w:g}\n@{s}" if w is not None else f"{b}\n@{s}"
                                        for b, w, s in configs], fontsize=7)
    ax.set_ylabel("speed-up (x)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.25)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=palette(i % 10), edgecolor="black", label=" ".join(key)) for i, key in enumerate(series)]
    if hollow:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="////",
                             label="hatched: the quantized cell is no candidate"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    return _svg(fig)
