"""Tagger: event sequences driven by an injected clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import contract
from dmi_sensors.session import (
    ALL_EVENT_COLUMNS,
    CATALOGUE,
    EventRecord,
    Plan,
    Tagger,
    example_plan,
    normalise_events,
)


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def test_plan_walk_with_repetitions_pause_and_note():
    clock = FakeClock(1000.0)
    seen: list[EventRecord] = []
    plan = example_plan()
    tg = Tagger(plan, clock, on_event=seen.append)
    assert tg.now_s() == 0.0
    clock.advance(2.0)
    ex = tg.next_exercise()  # t = 2
    assert ex is plan.exercises[0]
    assert tg.repetition == 1
    clock.advance(5.0)
    assert tg.next_repetition() == 2  # t = 7
    clock.advance(1.0)
    tg.pause()  # t = 8
    clock.advance(3.0)
    assert "PAUSED" in tg.status_line()
    tg.resume()  # t = 11
    clock.advance(1.5)
    tg.note("child looked at the window")  # t = 12.5
    clock.advance(2.5)
    assert tg.next_exercise() is plan.exercises[1]  # t = 15
    clock.advance(4.0)
    events = tg.stop()  # t = 19

    assert list(events.columns) == list(ALL_EVENT_COLUMNS)
    assert set(contract.EVENT_COLUMNS) <= set(events.columns)
    got = [(r.kind, r.onset_s, r.duration_s, r.exercise, r.repetition) for r in events.itertuples()]
    e0, e1 = plan.exercises[0].exercise_id, plan.exercises[1].exercise_id
    assert got == [
        ("repetition", 2.0, 5.0, e0, 1),
        ("exercise", 2.0, 13.0, e0, 0),
        ("repetition", 7.0, 8.0, e0, 2),
        ("pause", 8.0, 3.0, e0, 2),
        ("note", 12.5, 0.0, e0, 2),
        ("repetition", 15.0, 4.0, e1, 1),
        ("exercise", 15.0, 4.0, e1, 0),
    ]
    assert (events["source"] == "manual").all()
    ex_rows = events[events.kind.isin(["exercise", "repetition"])]
    assert (ex_rows["support"] == ex_rows["exercise"].map(lambda e: plan.exercise(e).support)).all()
    assert (ex_rows["posture"] == ex_rows["exercise"].map(lambda e: plan.exercise(e).expected_posture)).all()
    assert events.loc[events.kind == "note", "note"].tolist() == ["child looked at the window"]
    # the callback saw every row as it was closed, in closing order
    assert [r.kind for r in seen] == ["repetition", "pause", "note", "repetition", "exercise", "repetition", "exercise"]
    assert len(seen) == len(events)


def test_explicit_times_and_errors():
    tg = Tagger(clock=FakeClock(0.0))
    with pytest.raises(RuntimeError, match="no exercise"):
        tg.next_repetition(at_s=1.0)
    with pytest.raises(RuntimeError, match="name the exercise"):
        tg.start_exercise(at_s=1.0)
    tg.start_exercise("stand_box_knees", at_s=2.0)  # from the catalogue
    assert tg.current == CATALOGUE["stand_box_knees"]
    with pytest.raises(ValueError, match="backwards"):
        tg.next_repetition(at_s=1.5)
    with pytest.raises(KeyError):
        tg.start_exercise("no_such_exercise", at_s=3.0)
    tg.pause(at_s=4.0)
    tg.next_repetition(at_s=6.0)  # resumes first
    assert not tg.paused
    ev = tg.stop(at_s=9.0)
    assert ev[ev.kind == "pause"][["onset_s", "duration_s"]].values.tolist() == [[4.0, 2.0]]
    with pytest.raises(RuntimeError, match="stopped"):
        tg.note("late", at_s=10.0)
    assert tg.status_line(at_s=10.0).endswith("stopped")


def test_exercise_without_automatic_first_repetition():
    tg = Tagger(example_plan(), FakeClock(0.0), auto_first_repetition=False)
    ex = tg.next_exercise(at_s=1.0)
    assert tg.repetition == 0
    assert "rep -/" in tg.status_line(at_s=2.0)
    assert tg.next_repetition(at_s=4.0) == 1
    assert tg.next_repetition(at_s=9.0) == 2
    ev = tg.stop(at_s=12.0)
    assert [(r.kind, r.onset_s, r.duration_s, r.repetition) for r in ev.itertuples()] == [
        ("exercise", 1.0, 11.0, 0),
        ("repetition", 4.0, 5.0, 1),
        ("repetition", 9.0, 3.0, 2),
    ]
    assert (ev.exercise == ex.exercise_id).all()


def test_end_of_plan_returns_none_and_closes():
    plan = Plan("two", [CATALOGUE["sit_box_hips"], CATALOGUE["sit_box_none"]])
    tg = Tagger(plan, FakeClock(0.0))
    assert tg.next_exercise(at_s=0.0).exercise_id == "sit_box_hips"
    assert tg.next_exercise(at_s=10.0).exercise_id == "sit_box_none"
    assert tg.upcoming() is None
    assert tg.next_exercise(at_s=20.0) is None
    assert tg.current is None
    ev = tg.events()
    assert ev[ev.kind == "exercise"][["exercise", "onset_s", "duration_s"]].values.tolist() == [
        ["sit_box_hips", 0.0, 10.0],
        ["sit_box_none", 10.0, 10.0],
    ]
    assert "idle" in tg.status_line(at_s=21.0)


actions = st.lists(
    st.tuples(st.sampled_from(["next", "rep", "pause", "note", "end"]), st.floats(0.0, 5.0)), max_size=40
)


@settings(max_examples=80, deadline=None)
@given(actions)
def test_random_action_sequences_give_consistent_tables(seq):
    """Whatever the key presses, the table is well formed: repetitions tile their exercise."""
    plan = example_plan()
    clock = FakeClock(0.0)
    tg = Tagger(plan, clock)
    for action, dt in seq:
        clock.advance(dt)
        if action == "next":
            tg.next_exercise()
        elif action == "rep" and tg.current is not None:
            tg.next_repetition()
        elif action == "pause":
            tg.toggle_pause()
        elif action == "note":
            tg.note("n")
        elif action == "end":
            tg.end_exercise()
    ev = tg.stop()
    pd.testing.assert_frame_equal(normalise_events(ev), ev)
    assert (ev.duration_s >= 0).all()
    for row in ev[ev.kind == "exercise"].itertuples():
        reps = ev[
            (ev.kind == "repetition")
            & (ev.onset_s >= row.onset_s)
            & (ev.onset_s + ev.duration_s <= row.onset_s + row.duration_s + 1e-9)
        ]
        reps = reps[reps.exercise == row.exercise].sort_values("repetition")
        assert reps.repetition.tolist() == list(range(1, len(reps) + 1))
        assert reps.onset_s.iloc[0] == row.onset_s
        assert reps.duration_s.sum() == pytest.approx(row.duration_s)
        np.testing.assert_allclose(reps.onset_s.to_numpy()[1:], (reps.onset_s + reps.duration_s).to_numpy()[:-1])
    pauses = ev[ev.kind == "pause"].sort_values("onset_s")
    assert ((pauses.onset_s + pauses.duration_s).to_numpy()[:-1] <= pauses.onset_s.to_numpy()[1:] + 1e-9).all()


def test_normalise_events_infers_kind_and_rejects_bad_tables():
    df = pd.DataFrame(
        {
            "onset_s": [0.0, 0.0, 3.0, 5.0],
            "duration_s": [10.0, 5.0, 2.0, 0.0],
            "exercise": ["a", "a", None, ""],
            "repetition": [0, 1, 0, 0],
            "support": ["hips", "hips", "", ""],
            "source": ["import"] * 4,
        }
    )
    df["posture"] = ["", "", "prone", ""]
    aliased = df.assign(posture=["supported_standing", "sit_to_stand", "prone", ""])
    assert normalise_events(aliased).posture.tolist() == ["standing", "transition", "prone", ""]
    df["note"] = ["", "", "", "hello"]
    out = normalise_events(df)
    assert out.kind.tolist() == ["exercise", "repetition", "posture", "note"]
    with pytest.raises(ValueError, match=r"header: expected columns .*no column 'support'"):
        normalise_events(df.drop(columns="support"))
    bad = df.copy()
    bad.loc[2, "support"] = "elbow"
    with pytest.raises(ValueError, match="row 2, column 'support'"):
        normalise_events(bad)
    bad = df.copy()
    bad.loc[1, "duration_s"] = -1.0
    with pytest.raises(ValueError, match="row 1, column 'duration_s'"):
        normalise_events(bad)
