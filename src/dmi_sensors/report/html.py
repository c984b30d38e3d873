"""A small builder for self-contained HTML reports.

The document has no external resource: CSS is inline, figures are embedded as base64 PNG
(``data:`` URIs) and also written beside the HTML as PNG files. Every piece of text goes
through :func:`html.escape`. Numbers in tables are written twice: rounded for reading in
the cell's text and exactly (``repr`` of the float) in its ``data-value`` attribute, so a
test (or a script) can check the page against the stored results without rounding
ambiguity.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.noise import below_noise_floor
from dmi_sensors.metrics.registry import REGISTRY, floor_name, has_noise_floor, noise_corrected, spec

__all__ = ["CSS", "Column", "HtmlReport", "format_number", "metric_column", "slug"]

CSS = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 11pt; line-height: 1.45;
       color: #1a1a1a; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #0072B2; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; color: #0b3d5c; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05rem; margin-top: 1.2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: .2rem .45rem; vertical-align: top; }
th { background: #eef3f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: #888; text-align: center; }
figure { margin: 1rem 0; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 9.5pt; color: #444; margin-top: .3rem; }
.summary { background: #f4f9f4; border-left: 4px solid #009E73; padding: .6rem 1rem; }
.note { font-size: 9.5pt; color: #555; }
.warning { background: #fff6e6; border-left: 4px solid #E69F00; padding: .4rem .8rem; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
@media print { body { max-width: none; margin: 0; } h2 { page-break-after: avoid; } }
"""


def slug(text: str) -> str:
    """A lowercase ``[a-z0-9-]`` identifier for ids and file names."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "section"


def format_number(value, decimals: int) -> str:
    """Fixed-decimal text of a number; ``"–"`` for None/NaN (missing)."""
    if value is None:
        return "–"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not math.isfinite(f):
        return "–"
    return f"{f:.{decimals}f}"


def _exact(value) -> str | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if isinstance(value, bool):
        return None
    return repr(f) if math.isfinite(f) else None


@dataclass(frozen=True)
class Column:
    """How a table column is shown: its header text, and decimals when numeric (None: text)."""

    key: str
    header: str
    decimals: int | None = None


def _below_floor(key: str, value: object, row: Mapping[str, object]) -> bool:
    """Whether a registry metric's value is under its noise floor given in the same row."""
    if key not in REGISTRY or not has_noise_floor(key):
        return False
    floor = row.get(floor_name(key))
    if not isinstance(value, (int, float)) or not isinstance(floor, (int, float)):
        return False
    return below_noise_floor(value, floor, squared="²" in REGISTRY[key].unit, corrected=noise_corrected(key))


def metric_column(name: str, decimals: int) -> Column:
    """The column of registry metric ``name``: its header is the registry's ``"label [unit]"``
    (:attr:`dmi_sensors.metrics.MetricSpec.header`), never typed again in a report."""
    return Column(name, spec(name).header, decimals)


@dataclass
class _Figure:
    filename: str
    png: bytes
    alt: str
    caption: str


@dataclass
class HtmlReport:
    """An HTML document built section by section; every method escapes its text."""

    title: str
    parts: list[str] = field(default_factory=list)
    figures: list[_Figure] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)

    def section(self, heading: str, section_id: str | None = None) -> HtmlReport:
        """Start a section (``<h2 id=...>``); its id is also listed in :attr:`sections`."""
        sid = section_id or slug(heading)
        if self.sections:
            self.parts.append("</section>")
        self.sections.append(sid)
        self.parts.append(f'<section id="{html.escape(sid)}">\n<h2>{html.escape(heading)}</h2>')
        return self

    def heading(self, text: str) -> HtmlReport:
        self.parts.append(f"<h3>{html.escape(text)}</h3>")
        return self

    def paragraph(self, text: str, css_class: str | None = None) -> HtmlReport:
        cls = f' class="{html.escape(css_class)}"' if css_class else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def bullets(self, items: Sequence[str], css_class: str | None = None) -> HtmlReport:
        cls = f' class="{html.escape(css_class)}"' if css_class else ""
        body = "".join(f"<li>{html.escape(i)}</li>" for i in items)
        self.parts.append(f"<ul{cls}>{body}</ul>")
        return self

    def facts(self, items: Mapping[str, object]) -> HtmlReport:
        """A definition list of ``label: value`` pairs."""
        rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items.items())
        self.parts.append(f'<dl class="facts">{rows}</dl>')
        return self

    def table(
        self,
        rows: Sequence[Mapping[str, object]],
        columns: Sequence[Column],
        table_id: str,
        caption: str = "",
    ) -> HtmlReport:
        """A table; numeric cells carry ``data-value`` (exact) and ``data-key`` (column key), and
        so does every header cell (``data-key``)."""
        out = [f'<table id="{html.escape(table_id)}">']
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        heads = "".join(f'<th data-key="{html.escape(c.key)}">{html.escape(c.header)}</th>' for c in columns)
        out.append(f"<thead><tr>{heads}</tr></thead>")
        out.append("<tbody>")
        for row in rows:
            cells = []
            for c in columns:
                v = row.get(c.key)
                key = html.escape(c.key)
                if c.decimals is None:
                    text = "–" if v is None else str(v)
                    cells.append(f'<td data-key="{key}">{html.escape(text)}</td>')
                    continue
                exact = _exact(v)
                if exact is None:
                    cells.append(f'<td class="num missing" data-key="{key}" data-value="">–</td>')
                elif _below_floor(c.key, v, row):
                    text = f"below noise floor ({format_number(v, c.decimals)})"
                    cells.append(f'<td class="num below-floor" data-key="{key}" data-value="{exact}">{text}</td>')
                else:
                    text = format_number(v, c.decimals)
                    cells.append(f'<td class="num" data-key="{key}" data-value="{exact}">{text}</td>')
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        self.parts.append("\n".join(out))
        return self

    def figure(self, png: bytes, filename: str, alt: str, caption: str = "") -> HtmlReport:
        """Embed a PNG (base64) and remember it to be written as ``filename``."""
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ParameterError(f"figure {filename!r} is not a PNG")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.png", filename):
            raise ParameterError(f"figure file name {filename!r} must be [A-Za-z0-9_.-]+.png")
        self.figures.append(_Figure(filename, png, alt, caption))
        data = base64.b64encode(png).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(
            f'<figure data-file="{html.escape(filename)}"><img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>'
        )
        return self

    def raw_note(self, text: str) -> HtmlReport:
        return self.paragraph(text, "note")

    def render(self) -> str:
        """The whole document as a string."""
        body = "\n".join(self.parts)
        if self.sections:
            body += "\n</section>"
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n"
            '<meta name="generator" content="dmi-sensors">\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<h1>{html.escape(self.title)}</h1>\n{body}\n</body>\n</html>\n"
        )

    def write(self, out_dir: str | Path, stem: str) -> Path:
        """Write ``<out_dir>/<stem>.html`` and every figure as ``<out_dir>/<filename>``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for f in self.figures:
            (out / f.filename).write_bytes(f.png)
        path = out / f"{stem}.html"
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        tmp.replace(path)
        return path
