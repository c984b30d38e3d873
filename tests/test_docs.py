"""The documentation is true: its Python snippets run and the commands it names exist.

* Every ```python block of ``README.md`` and ``docs/*.md`` is executed. The blocks of one
  page run in order in one namespace (a page is read top to bottom), in a fresh temporary
  working directory, with top-level ``await`` allowed (the asyncio examples). The page's
  own snippets make their data (simulate a trial or a session first).
* ``<!-- not-run: REASON -->`` right before a block skips it: kept for what needs hardware,
  and few (:data:`MAX_NOT_RUN`).
* ``<!-- docs-setup ... -->`` right before a block holds code that runs first: what an
  illustrative fragment assumes but does not show (e.g. ``fs_hz`` and arrays). It is part
  of the page (visible in its source), so a reader can see what the fragment expects.
* Every ``dmi-sensors WORD`` in a code span or block names a command (or alias) of the
  CLI's command table, and every ``--option`` after it exists in that command's parser.

The conventions are described in the README ("Documentation").
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from dmi_sensors import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Other Markdown files whose ``dmi-sensors`` commands are checked too (no Python blocks).
COMMAND_PAGES = [
    *PAGES,
    *sorted((ROOT / "calibration").glob("*.md")),
    *sorted((ROOT / "firmware_protocol").glob("*.md")),
]
#: At most this many blocks of the whole documentation may be marked ``not-run``.
MAX_NOT_RUN = 3

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_COMMENT = re.compile(r"<!--\s*(not-run|docs-setup)\b:?(.*?)-->", re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    before: str  # the HTML comment right before the fence ("" if none)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def not_run(self) -> str | None:
        m = _COMMENT.fullmatch(self.before.strip())
        return m.group(2).strip() if m and m.group(1) == "not-run" else None

    @property
    def setup(self) -> str:
        m = _COMMENT.fullmatch(self.before.strip())
        return textwrap.dedent(m.group(2)).strip("\n") if m and m.group(1) == "docs-setup" else ""


def blocks(page: Path) -> list[Block]:
    """Fenced blocks of a Markdown page, each with the HTML comment just before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        code = textwrap.dedent("\n".join(lines[start + 1 : j])) if indent else "\n".join(lines[start + 1 : j])
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        before = ""
        if k >= 0 and lines[k].rstrip().endswith("-->"):
            first = k
            while first > 0 and "<!--" not in lines[first]:
                first -= 1
            before = "\n".join(lines[first : k + 1])
        out.append(Block(page, start + 1, lang, code, before))
        i = j + 1
    return out


def _python_pages() -> list[Path]:
    """Pages with at least one Python block to run."""
    return [p for p in PAGES if any(b.lang == "python" and b.not_run is None for b in blocks(p))]


def test_the_conventions_are_used_as_written():
    """Every not-run marker gives a reason, setup comments sit before Python blocks, and few blocks are skipped."""
    skipped = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for b in blocks(page):
            if b.before and _COMMENT.fullmatch(b.before.strip()):
                assert b.lang == "python", f"{b.where}: a docs comment before a {b.lang or 'plain'} block"
            if b.not_run is not None:
                assert b.not_run, f"{b.where}: not-run needs a reason"
                skipped.append(b.where)
        # a marker that is not right before a block does nothing: refuse it
        markers = len(re.findall(r"^\s*<!--\s*(?:not-run|docs-setup)\b", text, re.M))
        used = sum(1 for b in blocks(page) if b.before and _COMMENT.fullmatch(b.before.strip()))
        assert markers == used, f"{page.name}: a not-run/docs-setup comment is not right before a code block"
    assert len(skipped) <= MAX_NOT_RUN, f"too many not-run blocks: {skipped}"


@pytest.mark.parametrize("page", _python_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("DMI_SENSORS_DB", str(tmp_path / "default-sessions.sqlite"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    with asyncio.Runner() as runner:
        for b in blocks(page):
            if b.lang != "python" or b.not_run is not None:
                continue
            for part, source in (("docs-setup", b.setup), ("block", b.code)):
                if not source.strip():
                    continue
                filename = f"{b.where} ({part})"
                code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                try:
                    result = eval(code, namespace)  # exec() with top-level await: a coroutine to run
                    if inspect.iscoroutine(result):
                        runner.run(result)
                except Exception as exc:
                    pytest.fail(f"{filename} failed: {type(exc).__name__}: {exc}")
            ran += 1
    assert ran > 0


# --- commands named in the docs ----------------------------------------------------------
_INLINE = re.compile(r"`([^`\n]*\bdmi-sensors [^`\n]*)`")


def _command_lines(page: Path) -> list[tuple[str, str]]:
    """``(where, text)`` of every code text naming ``dmi-sensors``: lines of code blocks
    (continuations joined) and inline code spans."""
    out = []
    text = page.read_text(encoding="utf-8")
    for b in blocks(page):
        if b.lang == "python":
            continue
        joined = re.sub(r"\\\n\s*", " ", b.code)
        out += [(b.where, line) for line in joined.splitlines() if "dmi-sensors " in line]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in _INLINE.finditer(prose):
        line = prose.count("\n", 0, m.start()) + 1
        out.append((f"{page.relative_to(ROOT)}:~{line}", m.group(1)))
    return out


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings of a parser and of all its sub-commands."""
    opts = set()
    for action in parser._actions:
        opts.update(o for o in action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                opts |= _options(sub)
    return opts


def _invocations(text: str):
    """``(command word, [tokens after it])`` for each ``dmi-sensors WORD ...`` in a line where it
    is a command: at the start (after ``$`` or a path such as ``.venv/bin/``) or after ``;``,
    ``&&``, ``|`` (not an error message that mentions "a dmi-sensors session database")."""
    for m in re.finditer(r"(?:^\s*|[;&|(]\s*|\$\s+)(?:[\w./-]*/)?dmi-sensors (\S+)(.*)", text):
        word = m.group(1)
        rest = re.split(r"\s[#|;]|\s&&\s", m.group(2))[0]
        try:
            tokens = shlex.split(rest, comments=True)
        except ValueError:
            tokens = rest.split()
        yield word, tokens


def test_every_command_the_docs_name_exists_with_its_options():
    known = set(cli.COMMANDS) | set(cli.ALIASES)
    parsers: dict[str, set[str]] = {}
    checked = 0
    problems = []
    for page in COMMAND_PAGES:
        for where, text in _command_lines(page):
            for word, tokens in _invocations(text):
                if word.startswith("-") or not word.islower() or not word.isalpha():
                    continue  # `dmi-sensors --help`, `dmi-sensors COMMAND --help`
                if word not in known:
                    problems.append(f"{where}: `dmi-sensors {word}` is not a command ({text.strip()})")
                    continue
                name = cli.ALIASES.get(word, word)
                if name not in parsers:
                    parsers[name] = _options(cli.build_parser(name)) | {"--help", "-h"}
                for tok in tokens:
                    opt = tok.split("=")[0].strip("[]().,")
                    if re.fullmatch(r"--[a-z][a-z0-9-]*", opt) and opt not in parsers[name]:
                        problems.append(f"{where}: `dmi-sensors {word}` has no option {opt}")
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 20  # the docs do name their commands


# --- the layout and the data contract -----------------------------------------------------
def test_readme_layout_lists_every_package():
    """The README's layout block names every package of ``src/dmi_sensors`` (and no other)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout") :]
    block = next(b for b in blocks(ROOT / "README.md") if b.code.startswith("src/dmi_sensors/"))
    assert block.code in layout
    src = ROOT / "src" / "dmi_sensors"
    packages = {p.name for p in src.iterdir() if (p / "__init__.py").is_file()}
    listed = set(re.findall(r"^ {2}(\w+)/", block.code, re.M))
    assert listed == packages, f"missing: {sorted(packages - listed)}, gone: {sorted(listed - packages)}"
    for module in ("contract.py", "errors.py", "__init__.py"):
        assert module in block.code


def test_data_contract_page_names_every_column_of_contract_py():
    """``contract.py`` and ``docs/data-contract.md`` change together: every column name is on the page."""
    from dmi_sensors import contract

    page = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    names = set()
    for key in dir(contract):
        value = getattr(contract, key)
        if key.isupper() and isinstance(value, str):
            names.add(value)
        elif key.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            names.update(value)  # column tuples, frames' channel names, vocabularies
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", page))
    assert not missing, f"docs/data-contract.md does not mention {missing}"
    assert len(names) > 30


def _resolves(dotted: str) -> bool:
    """``dmi_sensors.a.b.c`` is a module, or an attribute chain of the longest importable module."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_python_name_and_file_the_docs_give_exists():
    """``dmi_sensors.x.y`` names resolve and ``path/to/file.py`` paths exist (renames leave no stale name)."""
    problems = []
    for page in COMMAND_PAGES:
        text = page.read_text(encoding="utf-8")
        for name in sorted(set(re.findall(r"\bdmi_sensors(?:\.\w+)+", text))):
            if not _resolves(name):
                problems.append(f"{page.relative_to(ROOT)}: {name} does not exist")
        for path in sorted(set(re.findall(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|json|tsv|c|h|toml))`", text))):
            if path.startswith("reference/"):
                continue  # the team's shared reference notes (literature checks), kept outside the repository
            candidates = [ROOT / path, ROOT / "src" / "dmi_sensors" / path, ROOT / "src" / path, page.parent / path]
            if not any(c.exists() for c in candidates):
                problems.append(f"{page.relative_to(ROOT)}: no file {path}")
    assert not problems, "\n".join(problems)
