"""The repetition and exercise tables after indexing the segment windows once per sensor
(issue 20: ``_Segments``, numpy masks instead of a pandas filter per call) are the tables
the per-call pandas lookup gave, value for value, on a simulated session with holds."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dmi_sensors.analysis import analyse_session
from dmi_sensors.analysis import session as S
from dmi_sensors.demo.run import DEMO_SUBJECT
from dmi_sensors.session import CATALOGUE, Plan, Subject
from dmi_sensors.sim.session import record_simulated_session
from dmi_sensors.store import SessionStore


def _reference_segment_row(seg, exercise: str, repetition: int, onset_s: float, end_s: float):
    """The previous lookup (a pandas filter of the whole table per call), kept as the reference."""
    rep_no = pd.to_numeric(seg["repetition"], errors="coerce").fillna(0).astype(int)
    match = seg[
        (seg["exercise"].astype(str) == exercise)
        & (rep_no == repetition)
        & (seg["end_s"] > onset_s)
        & (seg["start_s"] < end_s)
    ]
    if len(match) == 0:
        return None
    score = (match["start_s"] - onset_s).abs() - 1e-6 * (match["end_s"] - match["start_s"])
    return match.loc[score.idxmin()]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    plan = Plan(
        "two",
        [
            dataclasses.replace(CATALOGUE["sit_box_hips"], target_repetitions=3, hold_s=12.0),
            dataclasses.replace(CATALOGUE["stand_box_knees"], target_repetitions=2, hold_s=10.0),
        ],
    )
    with SessionStore(tmp_path_factory.mktemp("tables") / "s.sqlite") as st:
        sid, _ = record_simulated_session(st, Subject(**DEMO_SUBJECT), plan, seed=5, start_utc="2026-01-01T10:00:00Z")
        return analyse_session(st, sid, save=False)


def test_segment_lookup_equals_the_pandas_filter(analysis):
    looked_up = 0
    for sensor in analysis.sensors.values():
        w = sensor.windows
        seg_frame = w[w["window_kind"] == "segment"]
        seg = S._Segments(seg_frame)
        ev = analysis.events
        for row in ev[ev["kind"].isin(["exercise", "repetition", "hold"])].itertuples(index=False):
            for rep in {0, int(row.repetition)}:
                for onset, end in ((row.onset_s, row.onset_s + row.duration_s), (row.onset_s + 1.0, row.onset_s + 2.0)):
                    want = _reference_segment_row(seg_frame, str(row.exercise), rep, float(onset), float(end))
                    got = seg.row(str(row.exercise), rep, float(onset), float(end))
                    if want is None:
                        assert got is None
                    else:
                        looked_up += 1
                        pd.testing.assert_series_equal(got, want, check_exact=True)
    assert looked_up > 20  # the session has holds, repetitions and whole exercises to find


def test_tables_equal_those_of_the_pandas_filter(analysis, monkeypatch):
    postures = analysis.postures if len(analysis.postures) else None
    new = {sid: (S.repetition_table(r, analysis.events, postures), None) for sid, r in analysis.sensors.items()}
    monkeypatch.setattr(S._Segments, "row", lambda self, *a: _reference_segment_row(self.frame, *a))
    for sid, r in analysis.sensors.items():
        reps_ref = S.repetition_table(r, analysis.events, postures)
        pd.testing.assert_frame_equal(new[sid][0], reps_ref, check_exact=True)
        assert len(reps_ref) and reps_ref["hold_start_s"].notna().any()
        monkeypatch.undo()
        exs_new = S.exercise_table(r, analysis.events, postures, reps_ref)
        monkeypatch.setattr(S._Segments, "row", lambda self, *a: _reference_segment_row(self.frame, *a))
        exs_ref = S.exercise_table(r, analysis.events, postures, reps_ref)
        pd.testing.assert_frame_equal(exs_new, exs_ref, check_exact=True)
        assert len(exs_ref)
