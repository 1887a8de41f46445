"""How a figure and a difference of figures are printed, one rule for recommend's lines, its JSON reasons and the
report: latencies under 1 ms keep three significant digits (0.04 against a 0.01 budget read as 400%, not 417%), and
a difference keeps the decimals of the figure it changes ("+0.00 ms" was a 5% trade of 0.08 ms)."""

from __future__ import annotations

import math


def num(x: float) -> str:
    """Two decimals, or three significant digits under 1, never in scientific notation (a margin read "3e-05")."""
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.{decimals(x)}f}".rstrip("0").rstrip(".") if x else "0"


def decimals(x: float | None) -> int:
    """The decimals that show `x` as `num` does: two, or as many as three significant digits need under 1."""
    return 2 if not x or abs(x) >= 1 else max(2, 2 - math.floor(math.log10(abs(x))))


def between(a: float | None, difference: float) -> int:
    """The decimals of a difference from `a` to `a + difference`: those of the finer of the two figures (-0.047 had
    been said of 0.104 - 0.0574)."""
    return max(decimals(a), decimals(None if a is None else a + difference))


def signed(value: float, digits: int) -> str:
    """`value` with its sign at `digits` decimals; a difference that rounds to zero reads +0.00, never -0.00."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


def size(n_bytes: float) -> str:
    """A size in decimal MB, or kB under 0.1 MB ("0.00 MB" and "total 0.0 MB" had been said of 7.5 kB)."""
    return f"{n_bytes / 1e6:,.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:,.1f} kB"


def apart(value: float, limit: float) -> str:
    """`value` as `num` shows it, with as many more significant digits as it takes to read on its own side of
    `limit` ("p90 0.12 ms exceeds 0.12 ms" was 0.120461; "accuracy 0.438 is below 0.4376" was 0.4375)."""
    text, digits = num(value), 3
    while (float(text) - limit) * (value - limit) <= 0 and value != limit and digits < 9:
        digits += 1
        text = f"{value:.{digits}g}"
    return text


def in_unit(value: float, unit: str) -> str:
    """A figure as the choice's own line shows it: MB with one decimal, anything else by `num` (the binding line said
    "peak memory 101 MB" of the line's "peak 101.2 MB"); one that would read 0 and is not, by `num`."""
    text = num(value) if unit == "ms" else f"{value:.1f}" if unit == "MB" else num(value)
    return num(value) if value and not float(text) else text  # a margin of 0.008 MB read "0.0 MB"
