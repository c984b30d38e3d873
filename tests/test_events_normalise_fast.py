"""normalise_events / check_events after the numpy rewrite of the table pass (issue 20) give
exactly what the pandas-per-call version gave: same values, dtypes, cell types, index and
errors, on tables drawn with every kind of cell (NaN, None, pd.NA, numbers as text, extras)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.errors import ParameterError
from dmi_sensors.session import events as E


def _reference_check_table(events: pd.DataFrame, lines: Any) -> E._Checked:
    """The previous table pass (pandas astype/where/itertuples), kept as the reference."""
    missing = E._missing_columns(events.columns)
    if missing:
        return E._Checked({}, [], [E._header_problem(missing, lines is not None)])
    places = E._places(events, lines)
    present = [c for c in E.ALL_EVENT_COLUMNS if c in events.columns]
    cells = events[present].astype(object)
    cells = cells.where(cells.notna(), None)
    values: dict[str, list[Any]] = {c: [] for c in E.ALL_EVENT_COLUMNS}
    problems: list[E.EventProblem] = []
    for place, row in zip(places, cells.itertuples(index=False, name=None), strict=True):
        checked, bad = E._check_row(dict(zip(present, row, strict=True)), place)
        problems.extend(bad)
        for c in E.ALL_EVENT_COLUMNS:
            values[c].append(checked.get(c))
    return E._Checked(values, present, problems)


def _reference_normalised(events: pd.DataFrame, checked: E._Checked) -> pd.DataFrame:
    df = pd.DataFrame(checked.values, index=events.index)
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
    for c in events.columns:
        if c not in E.ALL_EVENT_COLUMNS:
            df[c] = events[c]
    return E._set_dtypes(df).sort_values("onset_s", kind="stable").reset_index(drop=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.columns) == list(b.columns) and a.index.equals(b.index) and type(a.index) is type(b.index)
    for c in a.columns:
        if a[c].dtype == object:  # the same Python objects (str stays str, not numpy str_)
            assert [type(x) for x in a[c]] == [type(x) for x in b[c]], c


_CELLS = {
    "onset_s": st.one_of(st.floats(0, 1e4), st.sampled_from([np.nan, None, "2.5", "x", -1.0])),
    "duration_s": st.one_of(st.floats(0, 100), st.sampled_from([0.0, np.nan, "3"])),
    "exercise": st.sampled_from(["", "sit_box_hips", "free_id", None, np.nan]),
    "repetition": st.one_of(st.integers(0, 6), st.sampled_from([np.nan, None, 1.0, "2", pd.NA])),
    "support": st.sampled_from(["", "hips", "none", None]),
    "source": st.sampled_from(["manual", "auto", "truth"]),
    "kind": st.sampled_from(["", "exercise", "repetition", "note", "hold", None]),
    "posture": st.sampled_from(["", "upright", "supported_standing", None]),
    "note": st.sampled_from(["", "a note", None, np.nan]),
}


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.fixed_dictionaries(_CELLS), min_size=0, max_size=12),
    drop=st.sets(st.sampled_from(["kind", "posture", "note", "support"])),
    extra=st.booleans(),
    index=st.sampled_from(["range", "reversed", "repeated"]),
)
def test_normalise_and_check_equal_the_reference(rows, drop, extra, index):
    columns = [c for c in _CELLS if c not in drop]
    table = pd.DataFrame(rows, columns=list(_CELLS))[columns]
    if extra:
        table["trial_id"] = pd.array(range(len(table)), dtype="Int64")
    if index == "reversed":
        table.index = list(range(len(table) * 2, 0, -2))
    elif index == "repeated":  # labels repeat: extra columns must still follow their rows
        table.index = [i // 2 for i in range(len(table))]
    ref_checked = _reference_check_table(table, None)
    new_checked = E._check_table(table, None)
    assert new_checked.problems == ref_checked.problems
    assert new_checked.present == ref_checked.present
    assert new_checked.values.keys() == ref_checked.values.keys()
    for c in ref_checked.values:
        assert new_checked.values[c] == ref_checked.values[c]
        assert [type(x) for x in new_checked.values[c]] == [type(x) for x in ref_checked.values[c]]
    if ref_checked.problems:
        with pytest.raises(ParameterError):
            E.normalise_events(table)
        return
    new = E.normalise_events(table)
    _same(new, _reference_normalised(table, ref_checked))
    _same(E.normalise_events(new), new)  # normalising twice changes nothing
    _same(E.check_events(table), E._as_given(table, ref_checked))


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.fixed_dictionaries(_CELLS), min_size=1, max_size=12),
    index=st.sampled_from(["range", "reversed"]),
    step_s=st.sampled_from([0.5, 2.0, 7.0]),
)
def test_tables_normalised_once_tag_and_segment_as_before(rows, index, step_s):
    """The analysis normalises its events once and passes them on (``normalised=True``):
    the windows' tags and the segments equal those of the functions normalising again."""
    from dmi_sensors.session.windows import segments_from_events, tag_windows

    table = pd.DataFrame(rows, columns=list(_CELLS))
    if index == "reversed":
        table.index = list(range(len(table) * 2, 0, -2))
    bad = {p.place for p in E._check_table(table, None).problems}
    table = table[[f"row {label}" not in bad for label in table.index]]  # the rows a table may hold
    ev = E.normalise_events(table)
    assert len(ev) == len(table)
    starts = np.arange(0.0, 1e4, step_s * 37.0)
    windows = pd.DataFrame({"start_s": starts, "end_s": starts + step_s})
    _same(tag_windows(windows, ev, normalised=True), tag_windows(windows, table))
    for t0_s in (0.0, 3.0):
        once = segments_from_events(ev, 100.0, 200_000, t0_s, normalised=True)
        again = segments_from_events(table, 100.0, 200_000, t0_s)
        assert np.array_equal(once.starts, again.starts) and np.array_equal(once.stops, again.stops)
        _same(once.tags, again.tags)
        _same(once.skipped, again.skipped)
