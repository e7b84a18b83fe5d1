"""A report as a list of blocks, rendered twice: Markdown beside its PNGs, and one HTML file.

Report builders (vatrack.reporting.analysis, .sweep) only append blocks — headings, text,
tables, images — and never format Markdown or HTML themselves. ``write_report`` then writes

    OUT/report.md      images linked as plots/NAME.png
    OUT/report.html    self-contained: every image embedded as a base64 data URI, inline CSS,
                       no script and no external resource (it opens offline, from e-mail, ...)

Plots are written into OUT/plots/ by vatrack.reporting.plots before the report is rendered.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vatrack.io import write_text


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str            # plain text; `code` spans and **bold** are the only markup
    kind: str = "p"      # "p", "note" (smaller, muted) or "code" (a command block)


@dataclass
class Table:
    frame: pd.DataFrame  # cells are shown as str(value); format numbers before adding
    caption: str = ""


@dataclass
class Image:
    path: Path           # a PNG under OUT/plots/
    caption: str = ""


@dataclass
class Report:
    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> "Report":
        self.blocks.append(Heading(text, level))
        return self

    def text(self, text: str, kind: str = "p") -> "Report":
        self.blocks.append(Text(text, kind))
        return self

    def table(self, frame: pd.DataFrame, caption: str = "") -> "Report":
        self.blocks.append(Table(frame, caption))
        return self

    def image(self, path, caption: str = "") -> "Report":
        if path is not None:
            self.blocks.append(Image(Path(path), caption))
        return self

    def images(self) -> list[Path]:
        return [b.path for b in self.blocks if isinstance(b, Image)]


# --- number formatting shared by every report ------------------------------------------------


def fmt(value, digits: int = 3) -> str:
    """A number for a table cell: '—' for missing, fixed digits otherwise."""
    if value is None:
        return "—"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return "—"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def fmt_mean_std(mean, std, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def fmt_ci(low, high, digits: int = 3) -> str:
    if low is None or high is None or math.isnan(float(low)) or math.isnan(float(high)):
        return "—"
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def fmt_signed(value, digits: int = 3) -> str:
    text = fmt(value, digits)
    return text if text == "—" or text.startswith("-") else f"+{text}"


# --- Markdown --------------------------------------------------------------------------------


def _md_cell(value) -> str:
    # A pipe would end the cell; a newline would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def to_markdown(report: Report, out_dir: Path) -> str:
    parts = [f"# {report.title}"]
    for block in report.blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Text):
            if block.kind == "code":
                parts.append("```\n" + block.text + "\n```")
            elif block.kind == "note":
                parts.append("> " + block.text)
            else:
                parts.append(block.text)
        elif isinstance(block, Table):
            if block.caption:
                parts.append(f"*{block.caption}*")
            parts.append(markdown_table(block.frame) if len(block.frame.columns) else "(empty)")
        elif isinstance(block, Image):
            parts.append(f"![{block.caption}]({_relative(block.path, out_dir)})")
            if block.caption:
                parts.append(f"*{block.caption}*")
    return "\n\n".join(parts) + "\n"


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #eef; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #dde; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f5f5f8; padding: .6em; overflow-x: auto; }
.note { color: #555; font-size: .92em; border-left: 3px solid #ccd; padding-left: .6em; }
.significant { color: #a40; font-weight: bold; }
.pass { color: #070; font-weight: bold; }
.miss { color: #a00; font-weight: bold; }
"""


def _inline(text: str) -> str:
    """Escape, then turn `code` and **bold** into tags (the only markup reports use)."""
    out = html.escape(text)
    pieces = out.split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
    pieces = out.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(pieces))


def _cell_class(value: str) -> str:
    # Verdicts stand out so a reader scanning the table sees them first.
    text = str(value)
    if text.startswith("significant"):
        return ' class="significant"'
    if text == "pass":
        return ' class="pass"'
    if text == "miss":
        return ' class="miss"'
    return ""


def html_table(frame: pd.DataFrame, caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td{_cell_class(v)}>{html.escape(str(v))}</td>" for v in row)
        rows.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(report: Report) -> str:
    body = [f"<h1>{html.escape(report.title)}</h1>"]
    for block in report.blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 2), 6)
            body.append(f"<h{level}>{html.escape(block.text)}</h{level}>")
        elif isinstance(block, Text):
            if block.kind == "code":
                body.append(f"<pre>{html.escape(block.text)}</pre>")
            elif block.kind == "note":
                body.append(f'<p class="note">{_inline(block.text)}</p>')
            else:
                body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(html_table(block.frame, block.caption))
        elif isinstance(block, Image):
            alt = html.escape(block.caption or block.path.stem)
            caption = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
            body.append(f'<figure><img alt="{alt}" src="{_data_uri(block.path)}">{caption}</figure>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(report: Report, out_dir) -> dict[str, Path]:
    """Write report.md and report.html into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    md = write_text(out_dir / "report.md", to_markdown(report, out_dir))
    page = write_text(out_dir / "report.html", to_html(report))
    return {"markdown": md, "html": page}
