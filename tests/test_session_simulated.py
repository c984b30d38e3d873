"""A simulated DMI session, tagged as a therapist would, against the simulator's truth.

The simulator (``dmi_sensors.sim``) knows which exercise, support, repetition and posture
every sample belongs to. The "therapist" presses ``n`` at each exercise start and ``r`` at
each repetition start the simulator made; posture comes from automatic detection on the
simulated trunk sensor. Every window's tags must then match the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dmi_sensors.session import (
    CATALOGUE,
    POSTURES,
    Plan,
    Tagger,
    detect_postures,
    detect_repetitions,
    example_plan,
    make_windows,
    normalise_events,
    tag_windows,
)
from dmi_sensors.session.vocab import POSTURE_ALIASES
from dmi_sensors.sim import Segment, simulate
from dmi_sensors.sim.plan import plan_to_segments, sim_posture

FS = 50.0
MIXED = Plan(
    "mixed",
    [
        CATALOGUE[k].replace(target_repetitions=3, hold_s=8.0)
        for k in (
            "prone_head_lift",
            "side_lying_trunk",
            "roll_supine_to_prone_hips",
            "kneel_box_hips",
            "sit_to_stand_box_knees",
            "four_point_none",
        )
    ],
)
UPRIGHT = Plan(
    "upright",
    [
        CATALOGUE[k].replace(target_repetitions=4, hold_s=7.0)
        for k in (
            "sit_box_hips",
            "stand_box_hips",
            "kneel_box_hips",
            "stand_box_knees",
            "stand_box_ankles",
            "stand_floor_none",
        )
    ],
)
#: what a trunk sensor alone can say about each posture
RAW_CLASS = {
    "sitting": {"upright"},
    "standing": {"upright"},
    "kneeling": {"upright"},
    "transition": {"upright"},
    "supine": {"supine"},
    "side_lying": {"side_lying"},
    "prone": {"prone", "four_point"},
    "four_point": {"prone", "four_point"},
}


def test_plan_to_segments():
    plan = example_plan()
    segs = plan_to_segments(plan)
    assert all(isinstance(s, Segment) for s in segs)
    assert [s.label for s in segs] == [ex.exercise_id for ex in plan]
    assert [s.support for s in segs] == [ex.support for ex in plan]
    assert [s.repetitions for s in segs] == [ex.target_repetitions for ex in plan]
    assert [s.duration_s for s in segs] == [ex.target_repetitions * ex.hold_s for ex in plan]
    assert [s.posture for s in segs] == [
        "sitting",
        "four_point",
        "supported_standing",
        "supported_standing",
        "supported_standing",
        "standing",
    ]
    rested = plan_to_segments(plan, rest_s=5.0)
    assert len(rested) == 2 * len(plan) - 1
    assert [s.label for s in rested[1::2]] == [""] * (len(plan) - 1)
    assert all(s.repetitions == 0 and s.duration_s == 5.0 for s in rested[1::2])
    with pytest.raises(ValueError, match="rest_s"):
        plan_to_segments(plan, rest_s=-1.0)
    # every position maps onto a simulator posture consistent with what the plan expects
    for ex in CATALOGUE.values():
        p = POSTURE_ALIASES.get(sim_posture(ex), sim_posture(ex))
        assert p in POSTURES
        assert p == ex.expected_posture or (ex.expected_posture == "kneeling" and p == "standing")


def _simulated_session(plan: Plan, seed: int):
    res = simulate(plan_to_segments(plan), fs_hz=FS, seed=seed, com_height_m=0.45)
    truth_events = normalise_events(res.truth.events)
    tagger = Tagger(plan, clock=lambda: 0.0, auto_first_repetition=False)
    for row in truth_events.itertuples():  # sorted by onset; an exercise before its repetition 1
        if row.kind == "exercise":
            assert tagger.next_exercise(at_s=row.onset_s).exercise_id == row.exercise
        elif row.kind == "repetition":
            assert tagger.next_repetition(at_s=row.onset_s) == row.repetition
    events = tagger.stop(at_s=res.duration_s)
    return res, truth_events, events


def _truth_per_window(res, truth_events, windows, plan):
    t = res.truth.time_s
    seg_of_sample = res.truth.segment_index
    segs = res.truth.segments
    reps = truth_events[truth_events.kind == "repetition"]
    out = {"exercise": [], "support": [], "repetition": [], "posture": [], "steady": []}
    transitions = [(r.start_s, r.start_s + r.settle_s) for r in segs.itertuples() if r.settle_s > 0]
    for w in windows.itertuples():
        inside = (t >= w.start_s) & (t < w.end_s)
        seg = int(np.bincount(seg_of_sample[inside]).argmax())  # the segment holding most samples
        ex = segs.exercise.iloc[seg]
        out["exercise"].append(ex)
        out["support"].append(segs.support.iloc[seg])
        mid = 0.5 * (w.start_s + w.end_s)
        hit = reps[(reps.onset_s <= mid) & (reps.onset_s + reps.duration_s > mid)]
        out["repetition"].append(int(hit.repetition.iloc[0]) if len(hit) else 0)
        out["posture"].append(plan.exercise(ex).expected_posture)
        out["steady"].append(not any(a < w.end_s and w.start_s < b for a, b in transitions))
    return pd.DataFrame(out)


@pytest.mark.parametrize(("plan", "seed"), [(example_plan(), 3), (MIXED, 4)], ids=["example", "mixed"])
def test_every_window_carries_the_true_tags(plan, seed):
    res, truth_events, events = _simulated_session(plan, seed)
    trial = res.to_trial()
    postures = detect_postures(trial.time_s, trial.acc_mps2, trial.gyr_rps, fs_hz=FS, events=events)
    # windows of 2 s every 1 s; their midpoints (x.25 s) never fall on a boundary of the truth
    windows = make_windows(0.25, res.duration_s, 2.0, 1.0, sensor_id="SIM1")
    tagged = tag_windows(windows, pd.concat([events, postures], ignore_index=True))
    truth = _truth_per_window(res, truth_events, windows, plan)

    assert tagged.exercise.tolist() == truth.exercise.tolist()
    assert tagged.support.tolist() == truth.support.tolist()
    assert tagged.repetition.tolist() == truth.repetition.tolist()
    assert set(tagged.repetition) == {0, 1, 2, 3}
    # posture: every window outside the simulator's posture transitions (the change of
    # posture between exercises, 1-3 s) carries the true posture
    steady = truth.steady.to_numpy()
    assert steady.mean() > 0.8
    assert tagged.posture[steady].tolist() == truth.posture[steady].tolist()

    # the detector alone (no plan) gives what a trunk sensor can tell
    raw = tag_windows(windows, detect_postures(trial.time_s, trial.acc_mps2, trial.gyr_rps, fs_hz=FS))
    for got, want in zip(raw.posture[steady], truth.posture[steady], strict=True):
        assert got in RAW_CLASS[want], (got, want)


def test_automatic_repetitions_on_simulated_upright_exercises():
    """Measured over 4 seeds x 6 exercises x 4 repetitions (smooth voluntary leans)."""
    found = total = exact = 0
    errors = []
    for seed in range(4):
        res = simulate(plan_to_segments(UPRIGHT), fs_hz=FS, seed=seed, com_height_m=0.45)
        truth = normalise_events(res.truth.events)
        exercises = truth[truth.kind == "exercise"]
        trial = res.to_trial()
        reps = detect_repetitions(trial.time_s, gyr_rps=trial.gyr_rps, fs_hz=FS, events=exercises)
        assert (reps.source == "auto").all()
        for ex in exercises.exercise:
            got = reps.loc[reps.exercise == ex, "onset_s"].to_numpy()
            want = truth.loc[(truth.kind == "repetition") & (truth.exercise == ex), "onset_s"].to_numpy()
            exact += len(got) == len(want)
            for onset in want:
                total += 1
                if len(got) and np.min(np.abs(got - onset)) < 1.0:
                    found += 1
                    errors.append(got[np.argmin(np.abs(got - onset))] - onset)
    assert total == 96
    assert found >= 0.9 * total
    assert exact >= 20
    assert abs(np.mean(errors)) < 0.5
