"""Event records and the events table: THE validator and THE events-CSV reader.

One row per tagged interval (``duration_s > 0``) or instant (``duration_s == 0``); times in
seconds since the session start. Columns (``contract.EVENT_COLUMNS`` + ``kind, posture,
note``) and the one rule set every reader, writer and analysis applies:

==============  ==========  ==============================================================
column          dtype       rule (what a valid cell holds)
==============  ==========  ==============================================================
``onset_s``     float64     required; a finite number >= 0 (s since the session start)
``duration_s``  float64     required; a finite number >= 0 (0 for an instant, e.g. a note)
``exercise``    str         an exercise id (a catalogue id or a free id: lower-case
                            letters, digits, ``_``); empty = not in an exercise
``repetition``  int64       1, 2, ... within the exercise; empty or 0 = not a repetition
                            (a row of kind ``repetition`` needs 1 or more)
``support``     str         a support point (``vocab.SUPPORT_POINTS``); empty = unknown
``source``      str         required; one of ``contract.EVENT_SOURCES``
``kind``        str         one of ``vocab.EVENT_KINDS``; empty = inferred (below)
``posture``     str         a trunk posture (``vocab.POSTURES``, or one of the simulator's
                            names in ``vocab.POSTURE_ALIASES``, mapped); empty = none
``note``        str         free text (notes only; never names)
==============  ==========  ==============================================================

:func:`check_events` is THE validator: it checks a table against these rules and returns
it as given (numbers parsed; what a store keeps). :func:`normalise_events` checks the same
way and returns the table for analysis: every column, the dtypes above, posture aliases
mapped and ``kind`` inferred where empty (a row with ``repetition > 0`` is a repetition, a
row with only a posture is a posture, a zero-length row with a note is a note, anything
else an exercise), sorted by onset. Both report **every** bad row in one error, each with
its place and what was expected:

* a table read from a file (``source=path``) raises :class:`~dmi_sensors.errors.DataFileError`
  naming the file and, when ``lines`` are given, the **line as the file shows it** (header
  = line 1); without lines (e.g. Parquet) the row's index label;
* an in-memory table raises :class:`~dmi_sensors.errors.ParameterError` naming each row by
  its index label (``row 3`` is ``events.loc[3]``).

:func:`read_events_csv` is the one events-CSV reader (the CLI's ``analyse --events``, the
store's CSV import): it also reports rows with too few or too many fields.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dmi_sensors import contract
from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.session import vocab
from dmi_sensors.session.model import EXERCISE_ID_RULE, is_exercise_id

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALL_EVENT_COLUMNS",
    "EventProblem",
    "EventRecord",
    "check_events",
    "empty_events",
    "events_frame",
    "normalise_events",
    "notes_of",
    "read_events_csv",
]

#: Required then optional columns, in this order.
ALL_EVENT_COLUMNS: tuple[str, ...] = (*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS)

_STR_COLUMNS = ("exercise", "support", "source", "kind", "posture", "note")


class EventProblem(NamedTuple):
    """One bad cell (or row) of an events table: where, which column, what was expected and found."""

    place: str
    column: str
    expected: str
    found: str

    def text(self) -> str:
        where = f"{self.place}, column {self.column!r}" if self.column else self.place
        return f"{where}: expected {self.expected}, found {self.found}"


# --- the rule set: one check per column, applied to records and tables alike ----------------


class _Bad(ValueError):
    """A cell that breaks its column's rule."""


def _is_missing(value: object) -> bool:
    """None, NaN or a blank string (tables reach the checks with pandas' NA already None)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return math.isnan(float(value))
    return False


def _number(value: object) -> float | None:
    """A cell as a float (None when empty); raises _Bad when it is not a number."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Bad from None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise _Bad


def _seconds(value: object) -> float:
    x = _number(value)
    if x is None or not math.isfinite(x) or x < 0:
        raise _Bad
    return x


#: The largest repetition number a table may hold (a DMI exercise is repeated ~5 times).
MAX_REPETITION = 10_000


def _repetition(value: object) -> int:
    x = _number(value)
    if x is None:
        return 0
    if not math.isfinite(x) or x < 0 or x != math.floor(x) or x > MAX_REPETITION:
        raise _Bad
    return int(x)


def _text(value: object) -> str:
    if _is_missing(value):
        return ""
    if not isinstance(value, str):
        raise _Bad
    return value


def _token(value: object) -> str:
    """A vocabulary or id cell: text without surrounding blanks."""
    return _text(value).strip()


def _choice(choices: Iterable[str], *, allow_empty: bool) -> Callable[[object], str]:
    allowed = frozenset(choices)

    def check(value: object) -> str:
        text = _token(value)
        if (text == "" and allow_empty) or text in allowed:
            return text
        raise _Bad

    return check


def _exercise(value: object) -> str:
    text = _token(value)
    if text == "" or is_exercise_id(text):
        return text
    raise _Bad


def _posture(value: object) -> str:
    text = _choice((*vocab.POSTURES, *vocab.POSTURE_ALIASES), allow_empty=True)(value)
    return vocab.POSTURE_ALIASES.get(text, text)


def _one_of(choices: Sequence[str], empty: str | None = None) -> str:
    text = "one of " + ", ".join(choices)
    return text + (f", or empty ({empty})" if empty else "")


#: column -> (check returning the normalised value or raising _Bad, what a valid cell holds)
_RULES: dict[str, tuple[Callable[[object], Any], str]] = {
    "onset_s": (_seconds, "a finite number >= 0 (seconds since the session start)"),
    "duration_s": (_seconds, "a finite number >= 0 (seconds, 0 for an instant)"),
    "exercise": (_exercise, f"an exercise id (a catalogue id or a free id: {EXERCISE_ID_RULE}), or empty"),
    "repetition": (_repetition, "a whole number >= 1, or empty or 0 (not a repetition)"),
    "support": (_choice(vocab.SUPPORT_POINTS, allow_empty=True), _one_of(vocab.SUPPORT_POINTS, "unknown")),
    "source": (_choice(contract.EVENT_SOURCES, allow_empty=False), _one_of(contract.EVENT_SOURCES)),
    "kind": (_choice(vocab.EVENT_KINDS, allow_empty=True), _one_of(vocab.EVENT_KINDS, "inferred")),
    "posture": (_posture, _one_of(vocab.POSTURES, "none")),
    "note": (_text, "text"),
}
_REPETITION_ROW = "a whole number >= 1 in a row of kind 'repetition'"


def _found(value: object) -> str:
    return "an empty cell" if _is_missing(value) else repr(value)


def _check_row(values: dict[str, object], place: str) -> tuple[dict[str, Any], list[EventProblem]]:
    """Normalised values of one row and the problems found in it (the one rule set)."""
    out: dict[str, Any] = {}
    problems: list[EventProblem] = []
    for column, (check, expected) in _RULES.items():
        raw = values.get(column)
        try:
            out[column] = check(raw)
        except _Bad:
            problems.append(EventProblem(place, column, expected, _found(raw)))
    if out.get("kind") == "repetition" and out.get("repetition") == 0:
        problems.append(EventProblem(place, "repetition", _REPETITION_ROW, _found(values.get("repetition"))))
    return out, problems


def _raise(problems: Sequence[EventProblem], source: str | Path | None, what: str = "events table") -> None:
    """One error listing every problem (DataFileError for a file, ParameterError in memory)."""
    if not problems:
        return
    body = "; ".join(p.text() for p in problems)
    count = f"{len(problems)} problems: " if len(problems) > 1 else ""
    if source is None:
        exc: DataFileError | ParameterError = ParameterError(f"{what}: {count}{body}")
    else:
        first = problems[0]
        where = first.place + (f", column {first.column!r}" if first.column else "")
        exc = DataFileError(source, where, first.expected, first.found)
        exc.args = (f"{source}: {count}{body}",)
    raise exc


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of an events table (see the module docstring for the rule of each field).

    Checked on construction by the same rules as a table, and stored as a table normalises
    it (numbers as float / int, posture aliases mapped); ``kind`` may not be empty.
    """

    onset_s: float
    duration_s: float
    exercise: str = ""
    repetition: int = 0
    support: str = ""
    source: str = "manual"
    kind: str = "exercise"
    posture: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        values, problems = _check_row({f: getattr(self, f) for f in ALL_EVENT_COLUMNS}, "EventRecord")
        if not self.kind:
            problems.append(EventProblem("EventRecord", "kind", _one_of(vocab.EVENT_KINDS), "an empty cell"))
        _raise(problems, None, "event")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def end_s(self) -> float:
        """``onset_s + duration_s``."""
        return self.onset_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the columns of :data:`ALL_EVENT_COLUMNS`."""
        return asdict(self)


def empty_events() -> pd.DataFrame:
    """An events table with no rows and the right columns and dtypes."""
    return events_frame([])


def events_frame(records: Iterable[EventRecord]) -> pd.DataFrame:
    """Events table from records, sorted by ``onset_s`` (stable), with the documented dtypes."""
    import pandas as pd

    rows = [r.to_dict() for r in records]
    df = pd.DataFrame(rows, columns=list(ALL_EVENT_COLUMNS))
    return _set_dtypes(df).sort_values("onset_s", kind="stable").reset_index(drop=True)


def _set_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    df["onset_s"] = df["onset_s"].astype("float64")
    df["duration_s"] = df["duration_s"].astype("float64")
    df["repetition"] = df["repetition"].astype("int64")
    for col in _STR_COLUMNS:
        df[col] = df[col].astype(object)
    return df


# --- tables -------------------------------------------------------------------------------


def _places(events: pd.DataFrame, lines: Sequence[int] | None) -> list[str]:
    if lines is None:
        return [f"row {label}" for label in events.index]
    if len(lines) != len(events):
        raise ParameterError(f"lines: expected one line number per row ({len(events)}), got {len(lines)}")
    return [f"line {int(n)}" for n in lines]


def _missing_columns(columns: Iterable[object]) -> list[str]:
    present = {str(c) for c in columns}
    return [c for c in contract.EVENT_COLUMNS if c not in present]


def _header_problem(missing: Sequence[str], has_lines: bool) -> EventProblem:
    return EventProblem(
        "line 1 (header)" if has_lines else "header",
        "",
        "columns " + ",".join(contract.EVENT_COLUMNS),
        "no column " + ", ".join(repr(m) for m in missing),
    )


class _Checked(NamedTuple):
    """Result of checking a table: each column's normalised values (one list per column of
    :data:`ALL_EVENT_COLUMNS`), the columns present, and the problems."""

    values: dict[str, list[Any]]
    present: list[str]
    problems: list[EventProblem]


def _check_table(events: pd.DataFrame, lines: Sequence[int] | None) -> _Checked:
    """Check every row of a table by the one rule set (a missing required column alone stops it)."""
    missing = _missing_columns(events.columns)
    if missing:
        return _Checked({}, [], [_header_problem(missing, lines is not None)])
    import pandas as pd

    places = _places(events, lines)
    present = [c for c in ALL_EVENT_COLUMNS if c in events.columns]
    # the cells as Python objects, pandas' NA / NaN / NaT -> None (one numpy pass: the
    # table is small and called per trial, so pandas' per-call overhead was the cost)
    cells = events[present].to_numpy(dtype=object, copy=True)
    cells[pd.isna(cells)] = None
    values: dict[str, list[Any]] = {c: [] for c in ALL_EVENT_COLUMNS}
    problems: list[EventProblem] = []
    for place, row in zip(places, cells.tolist(), strict=True):
        checked, bad = _check_row(dict(zip(present, row, strict=True)), place)
        problems.extend(bad)
        for c in ALL_EVENT_COLUMNS:
            values[c].append(checked.get(c))
    return _Checked(values, present, problems)


def _as_given(events: pd.DataFrame, checked: _Checked) -> pd.DataFrame:
    """The checked table with what it says kept: numbers parsed, empty cells None (or <NA>)."""
    import pandas as pd

    out = events.astype(object).where(events.notna(), None)
    out["onset_s"] = pd.array(checked.values["onset_s"], dtype="float64")
    out["duration_s"] = pd.array(checked.values["duration_s"], dtype="float64")
    given = out["repetition"].tolist()
    reps = [None if _is_missing(g) else n for g, n in zip(given, checked.values["repetition"], strict=True)]
    out["repetition"] = pd.array(reps, dtype="Int64")
    for c in ("exercise", "support", "source", "kind", "posture"):
        if c in checked.present:
            out[c] = [v if v != "" else None for v in checked.values[c]]
    if "note" in checked.present:
        out["note"] = [None if v == "" else v for v in out["note"].tolist()]  # an empty cell is no note
    return out


def _normalised(events: pd.DataFrame, checked: _Checked) -> pd.DataFrame:
    """Every column, documented dtypes, ``kind`` inferred where empty, extra columns after; sorted by onset."""
    import numpy as np
    import pandas as pd

    v = checked.values
    cols: dict[str, np.ndarray] = {}
    for c in ALL_EVENT_COLUMNS:  # the documented dtypes, built as arrays
        if c in ("onset_s", "duration_s"):
            cols[c] = np.array(v[c], dtype=np.float64)
        elif c == "repetition":
            cols[c] = np.array(v[c], dtype=np.int64)
        else:
            cols[c] = np.empty(len(v[c]), dtype=object)
            cols[c][:] = v[c]
    inferred = np.where(
        cols["repetition"] > 0,
        "repetition",
        np.where(
            (cols["exercise"] == "") & (cols["posture"] != ""),
            "posture",
            np.where((cols["duration_s"] == 0) & (cols["note"] != ""), "note", "exercise"),
        ),
    )
    cols["kind"] = np.where(cols["kind"] == "", inferred, cols["kind"]).astype(object)
    # Series with their dtype given: text columns stay object (an object array alone would be
    # inferred as pandas' str dtype, and an astype back costs 1 ms a call)
    index = events.index
    df = pd.DataFrame(
        {c: pd.Series(a, index=index, dtype=a.dtype, copy=False) for c, a in cols.items()}, index=index, copy=False
    )
    for c in events.columns:
        if c not in ALL_EVENT_COLUMNS:
            df[c] = events[c]
    return df.sort_values("onset_s", kind="stable").reset_index(drop=True)


def check_events(
    events: pd.DataFrame, *, source: str | Path | None = None, lines: Sequence[int] | None = None
) -> pd.DataFrame:
    """THE events validator: check every row by the one rule set; return the table as given.

    Parameters
    ----------
    events
        A table with at least ``contract.EVENT_COLUMNS``; the optional columns may be
        absent; other columns are kept.
    source
        The file the table was read from: problems then raise
        :class:`~dmi_sensors.errors.DataFileError` naming it; else
        :class:`~dmi_sensors.errors.ParameterError`.
    lines
        Each row's line number in ``source`` (header = line 1), used to name bad rows;
        without it rows are named by their index label.

    Every bad row is reported, in one error. The returned copy keeps what the table says
    (row order, empty cells as None, notes verbatim) with the numbers parsed (``onset_s``,
    ``duration_s`` float64, ``repetition`` nullable Int64), surrounding blanks removed from
    the id and vocabulary cells and posture aliases mapped: what a store should keep. For analysis use
    :func:`normalise_events`.
    """
    checked = _check_table(events, lines)
    _raise(checked.problems, source)
    return _as_given(events, checked)


def normalise_events(
    events: pd.DataFrame, *, source: str | Path | None = None, lines: Sequence[int] | None = None
) -> pd.DataFrame:
    """:func:`check_events`, then the table complete, typed and sorted by onset (for analysis).

    Every column of :data:`ALL_EVENT_COLUMNS` (empty text ``""``, empty repetition 0),
    the documented dtypes, posture aliases mapped, ``kind`` inferred where empty (module
    docstring); other columns follow. Parameters and errors as :func:`check_events`.
    """
    checked = _check_table(events, lines)
    _raise(checked.problems, source)
    return _normalised(events, checked)


def notes_of(events: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The therapist's notes of an events table (rows of kind ``note``, inferred as
    :func:`normalise_events` does), in time order: ``onset_s, note, exercise, repetition``
    (the exercise and repetition open at the note, as tagged)."""
    if events is None or len(events) == 0:
        return []
    ev = normalise_events(events)
    ev = ev[(ev["kind"] == "note") & (ev["note"] != "")]
    return [
        {"onset_s": float(onset), "note": str(note), "exercise": str(exercise), "repetition": int(rep)}
        for onset, note, exercise, rep in zip(
            ev["onset_s"].tolist(), ev["note"].tolist(), ev["exercise"].tolist(), ev["repetition"].tolist(), strict=True
        )
    ]


def read_events_csv(path: str | Path, *, normalise: bool = True) -> pd.DataFrame:
    """THE events-CSV reader: a header line naming the columns, then one row per event.

    Returns :func:`normalise_events` of the rows (``normalise=False``:
    :func:`check_events`, the rows as the file has them, e.g. for a store import). Raises
    :class:`~dmi_sensors.errors.DataFileError` naming the file and every bad line (as the
    file numbers it, header = line 1): rows with a different number of fields than the
    header, and every cell that breaks the rules of the module docstring. Blank lines (and
    rows of empty cells) are skipped.
    """
    import pandas as pd

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataFileError(path, "", "an existing events CSV file", "no such file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"byte {exc.start}", "UTF-8 text", "undecodable bytes") from None
    except OSError as exc:
        raise DataFileError(path, "", "a readable events CSV file", exc.strerror or str(exc)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[EventProblem] = []
    next_line = 1
    try:
        for record in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # a blank line, or a row of empty cells
            if header is None:
                header = [cell.strip() for cell in record]
                continue
            if len(record) != len(header):
                problems.append(
                    EventProblem(
                        f"line {line}",
                        "",
                        f"{len(header)} comma-separated fields as in the header",
                        f"{len(record)} ({','.join(record)!r})",
                    )
                )
                continue
            rows.append(record)
            lines.append(line)
    except csv.Error as exc:
        raise DataFileError(path, f"line {reader.line_num}", "CSV text", str(exc)) from None
    if header is None:
        raise DataFileError(path, "line 1", "a header line with columns " + ",".join(contract.EVENT_COLUMNS), "nothing")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataFileError(path, "line 1 (header)", "each column once", "repeated " + ", ".join(duplicated))
    missing = _missing_columns(header)
    if missing:
        _raise([_header_problem(missing, True)], path)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    checked = _check_table(frame, lines)
    _raise(sorted([*problems, *checked.problems], key=lambda p: int(p.place.split()[1])), path)
    return _normalised(frame, checked) if normalise else _as_given(frame, checked)
