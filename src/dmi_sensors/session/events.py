"""Event records and the events table (``contract.EVENT_COLUMNS`` + ``kind, posture, note``).

One row per tagged interval (``duration_s > 0``) or instant (``duration_s == 0``); times in
seconds since the session start. Conventions used throughout ``dmi_sensors.session``:

==============  ==========  ==============================================================
column          dtype       meaning
==============  ==========  ==============================================================
``onset_s``     float64     start, s since session start
``duration_s``  float64     length, s (0 for an instant such as a note)
``exercise``    str         ``exercise_id`` of the plan; ``""`` = not in an exercise
``repetition``  int64       1, 2, ... within the exercise; 0 = not a repetition
``support``     str         support point (``contract.SUPPORT_POINTS``); ``""`` = unknown
``source``      str         ``plan``, ``manual``, ``auto`` or ``import``
``kind``        str         ``exercise``, ``repetition``, ``pause``, ``note``, ``posture``,
                            ``perturbation``
``posture``     str         trunk posture (``vocab.POSTURES``) or ``""``
``note``        str         free text (notes only; never names)
==============  ==========  ==============================================================

An events table read from elsewhere may lack the optional columns: :func:`normalise_events`
adds them, maps the simulator's posture names (``supported_standing`` -> ``standing``,
``sit_to_stand`` -> ``transition``; ``vocab.POSTURE_ALIASES``) and infers ``kind`` (a row
with ``repetition > 0`` is a repetition, a row with only a posture is a posture, a
zero-length row with a note is a note, anything else an exercise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.session import vocab

__all__ = ["ALL_EVENT_COLUMNS", "EventRecord", "empty_events", "events_frame", "normalise_events"]

#: Required then optional columns, in this order.
ALL_EVENT_COLUMNS: tuple[str, ...] = (*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS)

_STR_COLUMNS = ("exercise", "support", "source", "kind", "posture", "note")


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of an events table (see the module docstring for the meaning of each field)."""

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
        if not math.isfinite(self.onset_s):
            raise ParameterError(f"onset_s must be finite, got {self.onset_s}")
        if not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise ParameterError(f"duration_s must be finite and >= 0, got {self.duration_s}")
        if self.repetition < 0:
            raise ParameterError(f"repetition must be >= 0, got {self.repetition}")
        vocab.check_choice(self.source, contract.EVENT_SOURCES, "source")
        vocab.check_choice(self.kind, vocab.EVENT_KINDS, "kind")
        if self.support:
            vocab.check_choice(self.support, vocab.SUPPORT_POINTS, "support")
        if self.posture:
            vocab.check_choice(self.posture, vocab.POSTURES, "posture")

    @property
    def end_s(self) -> float:
        """``onset_s + duration_s``."""
        return self.onset_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the columns of :data:`ALL_EVENT_COLUMNS`."""
        return asdict(self)


def empty_events():  # -> pandas.DataFrame
    """An events table with no rows and the right columns and dtypes."""
    return events_frame([])


def events_frame(records: Iterable[EventRecord]):  # -> pandas.DataFrame
    """Events table from records, sorted by ``onset_s`` (stable), with the documented dtypes."""
    import pandas as pd

    rows = [r.to_dict() for r in records]
    df = pd.DataFrame(rows, columns=list(ALL_EVENT_COLUMNS))
    return _set_dtypes(df).sort_values("onset_s", kind="stable").reset_index(drop=True)


def _set_dtypes(df):
    df["onset_s"] = df["onset_s"].astype("float64")
    df["duration_s"] = df["duration_s"].astype("float64")
    df["repetition"] = df["repetition"].astype("int64")
    for col in _STR_COLUMNS:
        df[col] = df[col].astype(object)
    return df


def _bad(row: int, col: str, expected: str, found: object) -> ValueError:
    return ValueError(f"events table: row {row}, column {col!r}: expected {expected}, found {found!r}")


def normalise_events(events):  # (pandas.DataFrame) -> pandas.DataFrame
    """Check an events table and return a copy with all columns, dtypes and ``kind`` filled in.

    Raises ``ValueError`` naming the column (and row) when a required column is missing or a
    value is out of range. Missing strings become ``""``, a missing repetition 0.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in contract.EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ParameterError(
            f"events table: missing column(s) {', '.join(missing)}; expected {', '.join(ALL_EVENT_COLUMNS)}"
        )
    df = events.copy()
    for col in ("onset_s", "duration_s"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | ((values < 0) if col == "duration_s" else False)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise _bad(row, col, "a finite number" + (" >= 0" if col == "duration_s" else ""), df[col].iloc[row])
        df[col] = values
    rep = pd.to_numeric(df["repetition"], errors="coerce")
    rep = rep.fillna(0)
    if (rep < 0).any() or (rep != np.floor(rep)).any():
        row = int(np.flatnonzero(((rep < 0) | (rep != np.floor(rep))).to_numpy())[0])
        raise _bad(row, "repetition", "an integer >= 0", df["repetition"].iloc[row])
    df["repetition"] = rep.astype("int64")
    for col in _STR_COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].where(df[col].notna(), "").astype(str)
    df["posture"] = df["posture"].replace(vocab.POSTURE_ALIASES)
    inferred = np.where(
        df["repetition"] > 0,
        "repetition",
        np.where(
            (df["exercise"] == "") & (df["posture"] != ""),
            "posture",
            np.where((df["duration_s"] == 0) & (df["note"] != ""), "note", "exercise"),
        ),
    )
    df["kind"] = np.where(df["kind"] == "", inferred, df["kind"])
    for col, allowed in (
        ("source", contract.EVENT_SOURCES),
        ("kind", vocab.EVENT_KINDS),
        ("support", ("", *vocab.SUPPORT_POINTS)),
        ("posture", ("", *vocab.POSTURES)),
    ):
        bad = ~df[col].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise _bad(row, col, "one of " + ", ".join(a or repr(a) for a in allowed), df[col].iloc[row])
    extra = [c for c in df.columns if c not in ALL_EVENT_COLUMNS]
    df = df[list(ALL_EVENT_COLUMNS) + extra]
    return _set_dtypes(df).sort_values("onset_s", kind="stable").reset_index(drop=True)
