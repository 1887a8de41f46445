"""Tables for the terminal: the same rows as a rich table on a terminal, as plain aligned text in a log or a pipe.

`columns` are (key, header) pairs; numbers are right-aligned and printed with thousands separators and two
decimals, None as "-", sequences as 96x96x3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Columns = Sequence[tuple[str, str]]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def cell(value) -> str:
    """One value as table text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)


def _numeric(rows, key) -> bool:
    return all(_is_number(row.get(key)) for row in rows if row.get(key) is not None)


def table(rows: Sequence[dict[str, Any]], columns: Columns, *, title: str | None = None) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned, columns two spaces apart."""
    cells = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    numeric = [_numeric(rows, key) for key, _ in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])] + [line(c) for c in cells]
    return "\n".join(out)


def rich_table(rows: Sequence[dict[str, Any]], columns: Columns, *, title: str | None = None,
               styles: dict[str, str] | None = None):
    """The same table as a rich Table (imported here: rich is only needed on a terminal). `styles` maps a column
    key to a rich style; a row's "_style" key styles the whole row. See `fits`."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", header_style="bold")
    for key, header in columns:
        t.add_column(header, justify="right" if _numeric(rows, key) else "left", style=(styles or {}).get(key),
                     overflow="fold")
    for row in rows:
        t.add_row(*(cell(row.get(key)) for key, _ in columns), style=row.get("_style"))
    return t


def fits(rich, console) -> bool:
    """Whether a rich table fits `console` at its natural width. Narrower, rich folds cells to fit: a latency
    "372.04" becomes "372" over ".04" (at 80 columns the bench table read like that), so the caller prints the
    plain table instead, whose lines the terminal wraps whole."""
    return console.measure(rich, options=console.options.update_width(10**6)).maximum <= console.width
