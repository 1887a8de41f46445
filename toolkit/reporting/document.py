"""A report as data (sections of paragraphs, lists, tables and figures) and its two renderings: one
self-contained HTML page (CSS inline, plots inline as SVG, nothing fetched from anywhere) and Markdown (tables in
GitHub's syntax, plots as SVG files beside it)."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field

from .tables import cell as text_of


@dataclass
class Table:
    id: str
    columns: list[tuple[str, str]]
    rows: list[dict]
    caption: str = ""


@dataclass
class Figure:
    id: str
    svg: str
    caption: str
    kind: str
    target: str | None = None


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: list[str]
    sections: list[Section]


CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --band: #f5f7fa; --accent: #b3261e; --ok: #1b6e3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
header { padding: 22px 32px 14px; border-bottom: 3px solid var(--ink); background: var(--band); }
header h1 { margin: 0 0 6px; font-size: 24px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; position: sticky; top: 0;
      background: #fff; z-index: 2; }
nav a { color: var(--ink); margin-right: 16px; text-decoration: none; border-bottom: 1px dotted var(--muted); }
main { padding: 8px 32px 40px; max-width: 1500px; }
section { margin-top: 26px; }
h2 { font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; padding: 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff;
         flex: 1 1 640px; max-width: 760px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 6px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; font-size: 12.5px; width: 100%; }
caption { caption-side: top; text-align: left; padding: 6px 8px; color: var(--muted); }
p.caption { color: var(--muted); font-size: 12.5px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--band); position: sticky; top: 0; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.short { white-space: nowrap; }
td.long { min-width: 26em; }
tr.optimal td { background: #eef8f1; }
tr.optimal td:first-child { color: var(--ok); font-weight: 600; }
tr.failed td { color: var(--accent); }
ul { padding-left: 20px; }
li { margin: 3px 0; }
code { background: var(--band); padding: 1px 4px; border-radius: 3px; }
"""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell_html(value) -> str:
    """A table cell: numbers right-aligned; a long text (a reason) at least a readable width, a short one on one
    line (a wide table squeezed a status column to 85 px and its rows 460 px tall)."""
    text = html.escape(text_of(value))
    if _is_number(value):
        return f'<td class="num">{text}</td>'
    return f'<td class="{"long" if len(text) > 60 else "short"}">{text}</td>'


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in t.columns)
    body = []
    for row in t.rows:
        css = row.get("_class")
        cells = "".join(_cell_html(row.get(k)) for k, _ in t.columns)
        attr = f' class="{css}"' if css else ""
        body.append(f"<tr{attr}>{cells}</tr>")
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    if not t.rows:  # a header over nothing read as a table left blank: its caption says what is (not) there
        return f'<p class="caption" id="{html.escape(t.id)}">{html.escape(t.caption)}</p>' if t.caption else ""
    return (f'<div class="scroll"><table id="{html.escape(t.id)}">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _as_shown(block, figures: bool):
    """`block` as it renders (a list without its blank items), or None where it renders as nothing: a blank
    paragraph, a list of blank items, a figure when `figures` is False (Markdown without its plots)."""
    if isinstance(block, Bullets):
        items = [item for item in block.items if item.strip()]
        return Bullets(items) if items else None
    if isinstance(block, str):
        return block if block.strip() else None
    return None if isinstance(block, Figure) and not figures else block


def _shown(sections: list[Section], figures: bool = True) -> list[Section]:
    """The sections as they render, leaving out those with nothing to show: their heading would stand over nothing
    (a Markdown report ended with an empty "## Notes")."""
    out = []
    for section in sections:
        blocks = [shown for shown in (_as_shown(block, figures) for block in section.blocks) if shown is not None]
        if blocks:
            out.append(Section(section.id, section.title, blocks))
    return out


def render_html(doc: Document) -> str:
    """The whole page as one string: no external resource of any kind."""
    sections = _shown(doc.sections)
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = []
    for section in sections:
        blocks, figures = [], []
        for block in section.blocks + [None]:
            if isinstance(block, Figure):
                target = f' data-target="{html.escape(block.target)}"' if block.target else ""
                figures.append(f'<figure class="plot" id="{html.escape(block.id)}" data-plot="{block.kind}"{target}>'
                               f"{block.svg}<figcaption>{html.escape(block.caption)}</figcaption></figure>")
                continue
            if figures:
                blocks.append(f'<div class="figures">{"".join(figures)}</div>')
                figures = []
            if isinstance(block, Table):
                blocks.append(_table_html(block))
            elif isinstance(block, Bullets):
                blocks.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, str):
                blocks.append(f"<p>{html.escape(block)}</p>")
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>{"".join(blocks)}</section>')
    subtitle = "".join(f"<p>{html.escape(line)}</p>" for line in doc.subtitle)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(doc.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{html.escape(doc.title)}</h1>{subtitle}</header><nav>{nav}</nav>"
            f"<main>{''.join(parts)}</main></body></html>\n")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Document, plots_dir: str | None) -> tuple[str, dict[str, str]]:
    """The Markdown text and the SVG files it links to ({relative path: svg}), written by the caller into
    `plots_dir` (a folder beside the .md file; None: plots left out)."""
    lines = [f"# {doc.title}", ""] + [f"{line}  " for line in doc.subtitle] + [""]
    files: dict[str, str] = {}
    for section in _shown(doc.sections, figures=plots_dir is not None):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Figure):
                rel = f"{os.path.basename(plots_dir)}/{block.id}.svg"
                files[rel] = block.svg
                lines += [f"![{block.caption}]({rel})", "", f"*{block.caption}*", ""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"*{block.caption}*", ""]
                if not block.rows:
                    continue
                lines.append("| " + " | ".join(_md_escape(h) for _, h in block.columns) + " |")
                lines.append("|" + "|".join("---:" if any(_is_number(r.get(k)) for r in block.rows) else "---"
                                            for k, _ in block.columns) + "|")
                for row in block.rows:
                    lines.append("| " + " | ".join(_md_escape(text_of(row.get(k))) for k, _ in block.columns) + " |")
                lines.append("")
            elif isinstance(block, Bullets):
                lines += [f"- {item}" for item in block.items] + [""]
            elif isinstance(block, str):
                lines += [block, ""]
    return "\n".join(lines).rstrip() + "\n", files
