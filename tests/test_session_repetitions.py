"""Repetition detection on synthetic movement bursts with known onsets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_helpers import G, burst_recording

from dmi_sensors.session import CATALOGUE, Plan, Tagger
from dmi_sensors.session.repetitions import RepetitionParams, detect_bursts, detect_repetitions, movement_envelope

FS = 50.0
TOL_S = RepetitionParams().envelope_s / 2 + 0.05


def test_known_onsets_are_found():
    onsets = [3.0, 11.5, 19.0, 28.3, 36.0]
    t, gyr = burst_recording(onsets, 45.0, FS, seed=4)
    ev = detect_repetitions(t, gyr_rps=gyr, fs_hz=FS)
    assert (ev.kind == "repetition").all() and (ev.source == "auto").all()
    assert ev.repetition.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(ev.onset_s, onsets, atol=TOL_S)
    # repetitions tile the stretch from the first onset to the end of the recording
    ends = (ev.onset_s + ev.duration_s).to_numpy()
    np.testing.assert_allclose(ends[:-1], ev.onset_s.to_numpy()[1:])
    assert ends[-1] == pytest.approx(t[-1] + 1 / FS)


def test_quiet_recording_has_no_repetitions():
    t, gyr = burst_recording([], 30.0, FS, seed=5)
    assert len(detect_repetitions(t, gyr_rps=gyr, fs_hz=FS)) == 0


def test_numbering_restarts_per_exercise():
    onsets = [2.0, 8.0, 14.0, 22.0, 28.0]
    t, gyr = burst_recording(onsets, 34.0, FS, seed=6)
    plan = Plan("p", [CATALOGUE["stand_box_hips"], CATALOGUE["stand_box_knees"]])
    tg = Tagger(plan, clock=lambda: 0.0)
    tg.next_exercise(at_s=1.0)
    tg.next_exercise(at_s=20.0)
    events = tg.stop(at_s=34.0)
    ev = detect_repetitions(t, gyr_rps=gyr, fs_hz=FS, events=events)
    assert ev.exercise.tolist() == ["stand_box_hips"] * 3 + ["stand_box_knees"] * 2
    assert ev.repetition.tolist() == [1, 2, 3, 1, 2]
    assert ev.support.tolist() == ["hips"] * 3 + ["knees"] * 2
    np.testing.assert_allclose(ev.onset_s, onsets, atol=TOL_S)
    # a repetition ends at its exercise's end
    assert (ev.onset_s + ev.duration_s).iloc[2] == pytest.approx(20.0)


def test_accelerometer_bursts():
    onsets = [2.0, 9.0, 16.0]
    t, gyr = burst_recording(onsets, 22.0, FS, amp_rps=1.0, seed=7)
    # linear acceleration bursts on top of gravity (the band-pass removes gravity)
    acc = np.tile([0.0, 0.0, G], (t.size, 1)) + np.random.default_rng(1).normal(0, 0.03, (t.size, 3))
    acc[:, 0] += 1.5 * gyr[:, 0] - 1.5 * gyr[:, 0].mean()
    ev = detect_repetitions(t, acc, fs_hz=FS, params=RepetitionParams(min_rise=0.3))
    np.testing.assert_allclose(ev.onset_s, onsets, atol=TOL_S)
    with pytest.raises(ValueError, match="needs gyr_rps or acc_mps2"):
        detect_repetitions(t, fs_hz=FS)


def test_short_gaps_join_and_short_bursts_drop():
    env = np.zeros(1000)
    env[100:150] = 1.0  # 1 s burst
    env[170:220] = 1.0  # 0.4-s gap: joined with the previous one
    env[500:510] = 1.0  # 0.2 s: too short
    env[700:760] = 1.0
    env[760:800] = 0.12  # a tail below half the burst's peak is not part of it
    env[900:950] = 0.2  # a weaker burst (above the on threshold)
    env[950:960] = 0.12  # the same tail level is above half its own peak: part of it
    p = RepetitionParams(min_rise=0.15)  # baseline 0: on = 0.15, off = 0.06
    assert detect_bursts(env, FS, p) == [(100, 220), (700, 760), (900, 960)]
    # a weak burst soon after a strong one is its echo; later, or stronger, it is a burst
    env = np.zeros(1000)
    env[100:150] = 1.0
    env[200:230] = 0.2  # 1 s after, peak 20 %: echo
    env[400:430] = 0.2  # 3.4 s after: a burst
    env[500:530] = 0.5  # 1.4 s after a burst of 0.2: a burst
    assert detect_bursts(env, FS, p) == [(100, 150), (400, 430), (500, 530)]
    # one core holding two bursts joined by a plateau above `on` (ringing) gives two bursts
    env = np.zeros(600)
    env[100:150] = 1.0
    env[150:200] = 0.2
    env[200:250] = 0.9
    assert detect_bursts(env, FS, p) == [(100, 150), (200, 250)]
    assert detect_bursts(np.zeros(0), FS) == []
    assert movement_envelope(np.zeros((1, 3)), FS).shape == (1,)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 4.0), min_size=1, max_size=6),
    st.floats(0.4, 2.0),
    st.floats(1.0, 2.5),
    st.integers(0, 2**31 - 1),
)
def test_random_bursts(extra_gaps, amp, burst_s, seed):
    """Bursts of 0.4-2 rad/s, 1-2.5 s long, separated by at least 1.5 s of quiet."""
    onsets = list(1.0 + np.cumsum([burst_s + 1.5 + g for g in extra_gaps]))
    t, gyr = burst_recording(onsets, onsets[-1] + 4.0, FS, burst_s=burst_s, amp_rps=amp, seed=seed)
    ev = detect_repetitions(t, gyr_rps=gyr, fs_hz=FS)
    np.testing.assert_allclose(ev.onset_s, onsets, atol=TOL_S)
