"""Checks of option values at the boundary, with the one-line messages users see (Keras' style:
"--calib-samples must be at least 1; received 0"). Never `assert` on user input; never rewrite a value silently."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from .errors import InputError, unknown_name


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int within [minimum, maximum]; InputError otherwise (a bool or a float is not an int)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer; received {value!r}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be at least {minimum}; received {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum}; received {value}")
    return int(value)


def check_number(name: str, value, minimum: float | None = None, maximum: float | None = None, *,
                 positive: bool = False) -> float:
    """`value` as a finite float within [minimum, maximum] (> 0 with `positive`); InputError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{name} must be a number; received {value!r}")
    if positive and not value > 0:
        raise InputError(f"{name} must be positive; received {value:g}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be at least {minimum:g}; received {value:g}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum:g}; received {value:g}")
    return float(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`; InputError listing them otherwise."""
    choices = list(choices)
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; received {value}")
    return value


def parse_list(text, allowed, kind: str) -> list[str]:
    """Split a comma-separated option (or take a list), check each item against `allowed`, keep order, drop
    repeats. Raises InputError for an empty list or an unknown item (with close matches)."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
    if not items:
        raise InputError(f"no {kind} given")
    for item in items:
        if item not in allowed:
            raise unknown_name(kind, item, list(allowed))
    return list(dict.fromkeys(items))


def parse_ints(text, name: str, minimum: int = 1, maximum: int | None = None) -> list[int]:
    """"1,2,4" (or a list of ints) as a list of ints in [minimum, maximum]; InputError naming `name` otherwise."""
    if isinstance(text, str):
        try:
            values = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise InputError(f"{name} must be comma-separated integers; received {text}") from None
    else:
        values = list(text)
    if not values:
        raise InputError(f"{name} must list at least one value")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum for v in values):
        raise InputError(f"{name} must be {'positive' if minimum == 1 else f'at least {minimum}'}; "
                         f"received {','.join(map(str, values))}")
    if maximum is not None and any(v > maximum for v in values):
        raise InputError(f"{name} must be at most {maximum}; received {','.join(map(str, values))}")
    return [int(v) for v in values]


def parse_floats(value, name: str) -> tuple[float, ...]:
    """"0.5,1.0" (or a list of numbers) as a tuple of floats in order, repeats dropped; InputError naming `name` for
    an item that is not a number or an empty list."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(float(str(v).strip()) for v in items if str(v).strip())
    except ValueError:
        raise InputError(f"{name} must be comma-separated numbers; received {value}") from None
    if not out:
        raise InputError(f"{name} must list at least one value")
    return tuple(dict.fromkeys(out))


def split_width(item: str) -> tuple[str, str | None]:
    """A backbone as `edgebb sweep` and `edgebb bench` take one: "mobilenet_v2", or "mobilenet_v2@0.35" pinning its
    width (several joined by "+": "mobilenet_v2@0.35+0.5"). Returns (name, the text after "@", None without one);
    `parse_widths` reads that text. Neither is checked against the registry here."""
    name, at, widths = item.partition("@")
    return name.strip(), (widths if at else None)


def parse_widths(item: str, text: str) -> tuple[float, ...]:
    """The widths `text` (split_width's, for `item`) pins, in order; InputError naming `item` for one that is not a
    number, or none."""
    return parse_floats(text.replace("+", ","), f"the width of {item}")
