"""Windows and their tags: exercise, repetition, support, posture by overlap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import contract
from dmi_sensors.session import (
    CATALOGUE,
    EventRecord,
    Plan,
    Tagger,
    events_frame,
    make_windows,
    segments_from_events,
    tag_windows,
)

PLAN = Plan("p", [CATALOGUE["sit_box_hips"], CATALOGUE["stand_box_knees"]])


def _tagged_session():
    tg = Tagger(PLAN, clock=lambda: 0.0)
    tg.next_exercise(at_s=10.0)  # sit_box_hips rep 1: 10-20
    tg.next_repetition(at_s=20.0)  # rep 2: 20-30, paused 24-28
    tg.pause(at_s=24.0)
    tg.resume(at_s=28.0)
    tg.next_exercise(at_s=30.0)  # stand_box_knees rep 1: 30-45
    tg.note("fine", at_s=31.0)
    return tg.stop(at_s=45.0)


def test_make_windows():
    w = make_windows(0.0, 10.0, 2.0)
    assert w.start_s.tolist() == [0, 2, 4, 6, 8] and w.end_s.tolist() == [2, 4, 6, 8, 10]
    w = make_windows(1.0, 10.0, 4.0, 1.5, sensor_id="S1")
    assert list(w.columns) == ["sensor_id", "start_s", "end_s"]
    assert w.start_s.tolist() == [1.0, 2.5, 4.0, 5.5]
    assert len(make_windows(0.0, 1.0, 2.0)) == 0
    # no floating-point drift over a long session: 45 min in 0.1-s steps
    w = make_windows(0.0, 2700.0, 1.0, 0.1)
    assert len(w) == 26991 and w.end_s.iloc[-1] == pytest.approx(2700.0)
    with pytest.raises(ValueError, match="step_s"):
        make_windows(0.0, 10.0, 1.0, 0.0)


def test_tags_with_pause_and_posture():
    events = _tagged_session()
    auto = events_frame(
        [
            EventRecord(0.0, 29.0, source="auto", kind="posture", posture="upright"),
            EventRecord(29.0, 16.0, source="auto", kind="posture", posture="upright"),
        ]
    )
    w = tag_windows(make_windows(0.0, 46.0, 2.0), pd.concat([events, auto], ignore_index=True))
    assert list(w.columns[:6]) == [c for c in contract.WINDOW_COLUMNS if c != "sensor_id"]
    by_start = w.set_index("start_s")
    assert by_start.loc[0.0, "exercise"] == "" and by_start.loc[0.0, "posture"] == "upright"  # no plan: no refinement
    assert tuple(by_start.loc[10.0, ["exercise", "repetition", "support", "posture"]]) == (
        "sit_box_hips",
        1,
        "hips",
        "sitting",
    )
    assert tuple(by_start.loc[20.0, ["exercise", "repetition"]]) == ("sit_box_hips", 2)
    # 24-26 and 26-28 are paused: no exercise tags; posture stays (it is physical)
    assert tuple(by_start.loc[24.0, ["exercise", "repetition", "support", "posture"]]) == ("", 0, "", "upright")
    assert by_start.loc[26.0, "exercise"] == ""
    assert tuple(by_start.loc[30.0, ["exercise", "repetition", "support", "posture"]]) == (
        "stand_box_knees",
        1,
        "knees",
        "standing",
    )
    assert by_start.loc[44.0, "exercise"] == "stand_box_knees"  # exactly half of 44-46 is inside: counts


def test_majority_rule_at_boundaries():
    ev = events_frame([EventRecord(0.0, 10.3, exercise="a", support="hips", kind="exercise", posture="sitting")])
    w = tag_windows(make_windows(0.0, 12.0, 1.0), ev)
    # window 10-11 has 0.3 s of the exercise: untagged; window 9-10 fully inside
    assert w.exercise.tolist() == ["a"] * 10 + ["", ""]
    w = tag_windows(make_windows(0.0, 12.0, 1.0), ev, min_coverage=0.25)
    assert w.exercise.tolist() == ["a"] * 11 + [""]
    # exactly half counts with the default 0.5
    ev2 = events_frame([EventRecord(0.0, 10.5, exercise="a", support="hips", kind="exercise")])
    assert tag_windows(make_windows(10.0, 11.0, 1.0), ev2).exercise.tolist() == ["a"]


def test_manual_posture_wins_and_auto_repetitions_only_without_manual():
    ev = events_frame(
        [
            EventRecord(0.0, 20.0, exercise="a", support="knees", kind="exercise", posture="standing"),
            EventRecord(0.0, 20.0, source="auto", kind="posture", posture="prone"),
            EventRecord(10.0, 10.0, source="manual", kind="posture", posture="four_point"),
            EventRecord(0.0, 10.0, exercise="a", repetition=1, source="auto", kind="repetition"),
            EventRecord(10.0, 10.0, exercise="a", repetition=2, source="auto", kind="repetition"),
            EventRecord(20.0, 10.0, exercise="b", support="none", kind="exercise"),
            EventRecord(20.0, 5.0, exercise="b", repetition=1, source="auto", kind="repetition"),
            EventRecord(20.0, 10.0, exercise="b", repetition=1, source="manual", kind="repetition"),
        ]
    )
    w = tag_windows(make_windows(0.0, 30.0, 5.0), ev)
    assert w.posture.tolist() == ["prone", "prone", "four_point", "four_point", "", ""]
    assert w.repetition.tolist() == [1, 1, 2, 2, 1, 1]  # b: the manual row (10 s), not the auto one
    assert w.support.tolist() == ["knees"] * 4 + ["none"] * 2


def test_events_without_kind_column_are_accepted():
    ev = pd.DataFrame(
        {
            "onset_s": [0.0, 0.0, 5.0],
            "duration_s": [10.0, 5.0, 5.0],
            "exercise": ["a", "a", "a"],
            "repetition": [0, 1, 2],
            "support": ["hips"] * 3,
            "source": ["import"] * 3,
        }
    )
    w = tag_windows(make_windows(0.0, 10.0, 2.5), ev)
    assert w.repetition.tolist() == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="start_s"):
        tag_windows(pd.DataFrame({"end_s": [1.0]}), ev)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("nrp"), st.integers(1, 40)), min_size=1, max_size=25))
def test_windows_inside_an_interval_get_its_tags(actions):
    """Property: a window lying wholly inside one (un-paused) repetition carries its tags."""
    tg = Tagger(Plan("p", list(CATALOGUE.values())[:8]), clock=lambda: 0.0)
    t = 0.0
    for key, dt in actions:
        t += dt / 4
        if key == "n":
            tg.next_exercise(at_s=t)
        elif key == "r" and tg.current is not None:
            tg.next_repetition(at_s=t)
        elif key == "p":
            tg.toggle_pause(at_s=t)
    ev = tg.stop(at_s=t + 1.0)
    windows = make_windows(0.0, t + 1.0, 0.5, 0.25)
    w = tag_windows(windows, ev)
    reps = ev[ev.kind == "repetition"]
    r_on = reps.onset_s.to_numpy()
    r_end = r_on + reps.duration_s.to_numpy()
    p_on = ev[ev.kind == "pause"].onset_s.to_numpy()
    p_end = p_on + ev[ev.kind == "pause"].duration_s.to_numpy()
    ws, we = w.start_s.to_numpy()[:, None], w.end_s.to_numpy()[:, None]
    in_pause = ((p_on < we) & (p_end > ws)).any(axis=1)
    inside = (r_on <= ws) & (r_end >= we)
    covered = ((r_on < we) & (r_end > ws)).any(axis=1)
    for i in np.flatnonzero(inside.any(axis=1) & ~in_pause):
        r = reps.iloc[int(np.argmax(inside[i]))]
        row = w.iloc[i]
        assert (row.exercise, row.repetition, row.support) == (r.exercise, r.repetition, r.support)
        assert row.posture == CATALOGUE[r.exercise].expected_posture
    untagged = w[~covered]
    assert (untagged.exercise == "").all() and (untagged.repetition == 0).all() and (untagged.support == "").all()
    assert np.isin(w.repetition, [0, *reps.repetition.unique()]).all()


# --- the one tagging, where the analysis used to tag by window midpoint -----------------------


def _events():
    """An exercise block 0-10 s with two repetitions (4.2 s apart), a note and a push; no kind on
    most rows (inferred)."""
    return pd.DataFrame(
        [
            {"onset_s": 0.0, "duration_s": 10.0, "exercise": "sit", "repetition": None, "support": "hips"},
            {"onset_s": 1.0, "duration_s": 3.0, "exercise": "sit", "repetition": 1, "support": None},
            {"onset_s": 4.2, "duration_s": 3.8, "exercise": "sit", "repetition": 2, "support": "knees"},
            {"onset_s": 6.0, "duration_s": 0.0, "exercise": None, "repetition": None, "support": None, "kind": "note"},
            {
                "onset_s": 9.0,
                "duration_s": 0.5,
                "exercise": None,
                "repetition": None,
                "support": None,
                "kind": "perturbation",
            },
        ]
    ).assign(source="manual")


def test_windows_take_the_majority_side_not_the_midpoint():
    """The trial analysis used to tag a sliding window by its midpoint while the session docs
    promised majority overlap; both now use majority overlap (pauses removed). Where they differ:

    * [3, 5): its midpoint 4.0 s fell in the 0.2-s gap between the repetitions (no repetition);
      repetition 1 covers half of it -> 1;
    * [9, 11): its midpoint 10.0 s lies just after the exercise (untagged); the exercise
      covers exactly half of it -> tagged;
    * windows inside repetition 2 took the repetition row's support (knees); support now
      comes from the exercise (hips).
    """
    starts = np.array([0.0, 2.0, 3.0, 4.0, 6.0, 9.0, 9.2, 10.0])
    w = tag_windows(pd.DataFrame({"start_s": starts, "end_s": starts + 2.0}), _events())
    assert w.exercise.tolist() == ["sit"] * 6 + ["", ""]
    assert w.repetition.tolist() == [1, 1, 1, 2, 2, 0, 0, 0]
    assert w.support.tolist() == ["hips"] * 6 + ["", ""]
    assert w.posture.tolist() == [""] * 8


def test_a_table_of_repetitions_only_tags_its_exercise():
    reps = pd.DataFrame(
        {
            "onset_s": [0.0, 5.0],
            "duration_s": [5.0, 5.0],
            "exercise": ["reach", "reach"],
            "repetition": [1, 2],
            "support": ["hips", "hips"],
            "source": ["import", "import"],
        }
    )
    w = tag_windows(make_windows(0.0, 12.0, 2.0), reps)
    # [4, 6) straddles the two repetitions: the exercise covers all of it (summed over its rows)
    assert w.exercise.tolist() == ["reach"] * 5 + [""]
    assert w.repetition.tolist() == [1, 1, 1, 2, 2, 0]  # [4, 6): 1 s each, a tie -> the earlier
    assert w.support.tolist() == ["hips"] * 5 + [""]


def test_posture_majority_sums_the_rows_of_one_label():
    """An interval upright 25 s, transition 5 s, upright 30 s is upright (55 of 60 s), although
    no single upright row covers half of it."""
    post = events_frame(
        [
            EventRecord(0.0, 25.0, source="auto", kind="posture", posture="upright"),
            EventRecord(25.0, 5.0, source="auto", kind="posture", posture="transition"),
            EventRecord(30.0, 20.0, source="auto", kind="posture", posture="upright"),
            EventRecord(50.0, 10.0, source="auto", kind="posture", posture="prone"),
        ]
    )
    w = tag_windows(pd.DataFrame({"start_s": [0.0, 20.0, 45.0], "end_s": [60.0, 35.0, 60.0]}), post)
    assert w.posture.tolist() == ["upright", "upright", "prone"]


def test_segments_skip_notes_and_pushes_clip_to_the_signal_and_say_what_was_not_analysed():
    seg = segments_from_events(_events(), 100.0, 900)
    np.testing.assert_array_equal(seg.starts, [0, 100, 420])
    np.testing.assert_array_equal(seg.stops, [900, 400, 800])  # 0-10 s clipped to the 9 s of signal
    assert seg.tags.repetition.tolist() == [0, 1, 2] and seg.tags.exercise.tolist() == ["sit"] * 3
    assert seg.skipped[["onset_s", "reason"]].values.tolist() == [[0.0, "clipped to the signal"]]
    late = pd.concat([_events(), _events().iloc[[1]].assign(onset_s=12.0)], ignore_index=True)
    seg = segments_from_events(late, 100.0, 900, t0_s=0.5)
    assert seg.skipped.reason.tolist() == ["clipped to the signal", "after the end"]
    assert seg.warnings(0.5, 9.5)[1] == (
        "repetition event 'sit' repetition 1 at 12.000-15.000 s: after the end of the signal (0.500-9.500 s): "
        "not analysed"
    )
