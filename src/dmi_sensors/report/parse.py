"""Read the tables and figures back out of a report written by :class:`~dmi_sensors.report.html.HtmlReport`.

Used by the tests (numbers in the HTML equal the stored results) and handy for scripts
that want the numbers of an old report. Standard library only (``html.parser``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["ParsedReport", "parse_report"]


@dataclass
class ParsedReport:
    """What :func:`parse_report` found.

    ``tables``: table id -> rows, each row a dict column key -> ``(text, exact)`` where
    ``exact`` is the float of ``data-value`` (None for text cells or missing values).
    ``headers``: table id -> column key -> the header text shown for it.
    ``sections``: ids of the ``<section>`` elements in order. ``images``: decoded PNG bytes
    of every embedded figure, in order, with the ``data-file`` name. ``text``: all visible
    text joined by spaces. ``external``: URLs of any external resource (should be empty).
    """

    title: str = ""
    sections: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, tuple[str, float | None]]]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    text: str = ""
    external: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = ParsedReport()
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: dict | None = None
        self._head: dict | None = None
        self._figure_file = ""
        self._in_title = False
        self._text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "title":
            self._in_title = True
        elif tag == "section":
            self.out.sections.append(a.get("id", ""))
        elif tag == "table":
            self._table = a.get("id", f"table{len(self.out.tables)}")
            self.out.tables[self._table] = []
            self.out.headers[self._table] = {}
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "th" and self._table is not None:
            self._head = {"key": a.get("data-key", str(len(self.out.headers[self._table]))), "text": ""}
        elif tag == "td" and self._row is not None:
            self._cell = {"key": a.get("data-key", str(len(self._row))), "value": a.get("data-value"), "text": ""}
        elif tag == "figure":
            self._figure_file = a.get("data-file", "")
        elif tag == "img":
            src = a.get("src", "") or ""
            prefix = "data:image/png;base64,"
            if src.startswith(prefix):
                self.out.images.append((self._figure_file, base64.b64decode(src[len(prefix) :])))
            else:
                self.out.external.append(src)
        elif tag in ("link", "script", "iframe") and (a.get("href") or a.get("src")):
            self.out.external.append(a.get("href") or a.get("src"))

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        if tag == "title":
            self._in_title = False
        elif tag == "td" and self._cell is not None and self._row is not None:
            v = self._cell["value"]
            exact = float(v) if v not in (None, "") else None
            self._row[self._cell["key"]] = (self._cell["text"].strip(), exact)
            self._cell = None
        elif tag == "th" and self._head is not None and self._table is not None:
            self.out.headers[self._table][self._head["key"]] = self._head["text"].strip()
            self._head = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self.out.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_title:
            self.out.title += data
        if self._cell is not None:
            self._cell["text"] += data
        if self._head is not None:
            self._head["text"] += data
        if not self._skip and data.strip():
            self._text.append(data.strip())


def parse_report(source: str | Path) -> ParsedReport:
    """Parse a report file (path) or HTML text."""
    text = (
        Path(source).read_text(encoding="utf-8")
        if isinstance(source, Path) or not str(source).lstrip().startswith("<")
        else str(source)
    )
    p = _Parser()
    p.feed(text)
    p.close()
    p.out.text = " ".join(p._text)
    return p.out
