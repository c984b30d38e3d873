"""Clock runs: one drift-corrected clock fit per run between counter resets (timing's one path)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timing_helpers import restarted_sensor

from dmi_sensors.timing import (
    clock_runs,
    fit_clock,
    fit_clock_runs,
    resample_batch,
    sample_times,
    timed_samples,
)
from dmi_sensors.types import SampleBatch

# two 2-minute runs of one sensor; the restart sets the counter back to 0
RUN_S = 120.0


def _batch(counter, host, gap, fs_hz=100.0, time_s=None) -> SampleBatch:
    n = len(counter)
    return SampleBatch("S", fs_hz, counter, host, host, np.zeros((n, 3)), np.zeros((n, 3)), gap, time_s)


@pytest.mark.parametrize("pause_s", [0.3, 4.0])
def test_a_restart_starts_a_new_clock_run_and_each_run_keeps_its_own_clock(pause_s):
    """A quick restart (0.3 s, below the 1 s jump threshold) splits as well as a long one."""
    packets, t_true = restarted_sensor([(5000, 0.5, RUN_S), (0, 0.5 + RUN_S + pause_s, RUN_S)], seed=3)
    timed = timed_samples(packets, "S1")
    b = timed.batch
    n1 = int(RUN_S * 100)
    assert timed.counter_resets == 1 and timed.samples_lost == 0 and len(b) == 2 * n1
    assert [(r.start, r.stop) for r in timed.runs] == [(0, n1), (n1, 2 * n1)]
    # the decoder keeps the counter increasing through the reset and flags it
    assert b.counter[n1] - b.counter[n1 - 1] == 1 and b.gap_before[n1]
    # each run's times are exactly its own fit (nothing from the other run leaks in)
    for run in timed.runs:
        c, h = b.counter[run.samples], b.host_time_s[run.samples]
        np.testing.assert_array_equal(b.time_s[run.samples], fit_clock(c, h, 100.0).time_s(c))
        assert run.fit is not None
    # against the truth: per-run fits are within the latency model's offset floor (tens of ms at
    # the most for 2-minute runs, see docs/dsp.md); one fit over both runs is off by the pause
    err_runs = np.abs(b.time_s - t_true).max()
    one_clock = fit_clock(b.counter, b.host_time_s, 100.0).time_s(b.counter)
    err_one = np.abs(one_clock - t_true).max()
    assert err_runs < 0.02
    assert err_one > min(0.2, 0.5 * pause_s) and err_one > 10 * err_runs
    assert np.all(np.diff(b.time_s) > 0)  # the second run starts after the first ended
    assert [c["n_samples"] for c in timed.clock()] == [n1, n1]


def test_clock_runs_split_at_resets_and_jumps_never_at_lost_samples():
    counter = np.concatenate([np.arange(100), 100 + np.arange(100), 250 + np.arange(100), 20_000 + np.arange(100)])
    host = np.concatenate(
        [
            np.arange(100) / 100,
            1.3 + np.arange(100) / 100,  # restarted after 0.3 s: counter continues (+1), gap flagged
            1.3 + (150 + np.arange(100)) / 100,  # 50 samples lost in 0.5 s: a loss, same clock
            4.3 + np.arange(100) / 100,  # counter jumped by 19 750 in 1.5 s: not a loss, a jump
        ]
    )
    gap = np.zeros(400, dtype=bool)
    gap[[100, 200, 300]] = True
    batch = _batch(counter, host, gap)
    assert clock_runs(batch) == [slice(0, 100), slice(100, 300), slice(300, 400)]
    # a counter step of 1 without a gap flag is just the next sample
    assert clock_runs(_batch(np.arange(10), np.arange(10) / 100, np.zeros(10, bool))) == [slice(0, 10)]
    assert clock_runs(_batch(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))) == []
    with pytest.raises(ValueError, match="reset_jump_s"):
        clock_runs(batch, reset_jump_s=0.0)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=6),
    losses=st.lists(st.integers(min_value=0, max_value=5), min_size=6, max_size=6),
    offsets=st.lists(st.floats(min_value=-50.0, max_value=50.0), min_size=6, max_size=6),
)
def test_every_reset_and_only_resets_start_a_run(lengths, losses, offsets):
    """Runs of any length with lost samples inside; a run of one sample gets NaN times."""
    counters, hosts, gaps, starts = [], [], [], []
    c, t = 0, 10.0
    for k, n in enumerate(lengths):
        starts.append(sum(len(x) for x in counters))
        run_c = c + np.arange(n)
        # lose samples inside the run (counter steps > 1, gap flagged)
        loss_at = min(losses[k], n - 1)
        run_c[loss_at:] += losses[k] if loss_at > 0 else 0
        run_gap = np.zeros(n, dtype=bool)
        if loss_at > 0 and losses[k]:
            run_gap[loss_at] = True
        run_gap[0] = k > 0  # the decoder flags the reset
        counters.append(run_c)
        hosts.append(t + offsets[k] + (run_c - run_c[0]) / 100.0 + 0.002)
        gaps.append(run_gap)
        c = int(run_c[-1]) + 1  # a reset continues the counter by one
        t = float(hosts[-1][-1]) + 60.0
    batch = _batch(np.concatenate(counters), np.concatenate(hosts), np.concatenate(gaps))
    runs = fit_clock_runs(batch)
    assert [r.start for r in runs] == starts
    times = sample_times(batch)
    for r in runs:
        if r.n_samples == 1:
            assert r.fit is None and np.isnan(times[r.samples]).all()
            assert np.isnan(r.summary()["drift_ppm"])
        else:
            assert r.fit is not None and np.isfinite(times[r.samples]).all()
            # samples of a run are whole periods apart on the run's own clock
            steps = np.diff(times[r.samples]) / np.diff(batch.counter[r.samples])
            np.testing.assert_allclose(steps, r.fit.period_s, rtol=1e-9)


def _ramp_batch(t: np.ndarray, gap: np.ndarray) -> SampleBatch:
    """Sample i has acc = (i, i, i) and gyr = -acc."""
    n = t.shape[0]
    acc = np.tile(np.arange(float(n))[:, None], (1, 3))
    return SampleBatch("S", 100.0, np.arange(n), t, t, acc, -acc, gap, t)


def test_resample_batch_leaves_out_untimed_samples_and_never_bridges_them():
    # run 1 at 0.00..0.99 s, one untimed sample (a run of one), run 2 from 1.004 s: 14 ms
    # after run 1 is close enough to interpolate by time, but a sample is missing there
    t = np.concatenate([np.arange(100) / 100, [np.nan], 1.004 + np.arange(100) / 100])
    grid, acc, gyr, valid = resample_batch(_ramp_batch(t, np.zeros(201, dtype=bool)))
    np.testing.assert_allclose(grid, np.arange(200) / 100, atol=1e-12)
    np.testing.assert_array_equal(acc[:100, 0], np.arange(100.0))  # run 1 exactly
    assert not valid[100] and np.isnan(acc[100]).all()  # 1.00 s is not interpolated across
    assert valid[101:].all() and valid[:100].all()
    np.testing.assert_allclose(acc[101:, 0], 101 + (grid[101:] - 1.004) * 100)  # run 2: its own samples
    np.testing.assert_array_equal(gyr[valid], -acc[valid])


def test_resample_batch_keeps_times_increasing_when_a_run_starts_before_the_last_ended():
    # run 2's clock starts 36 ms before run 1's last sample: its samples up to 0.99 s are left out
    t = np.concatenate([np.arange(100) / 100, 0.954 + np.arange(100) / 100])
    gap = np.zeros(200, dtype=bool)
    gap[100] = True
    grid, acc, _, valid = resample_batch(_ramp_batch(t, gap))
    np.testing.assert_allclose(grid, np.arange(195) / 100, atol=1e-12)
    assert valid.all()
    # 1.00 s lies between run 2's samples 104 (0.994 s) and 105 (1.004 s)
    assert acc[100, 0] == pytest.approx(104.6)
    # fewer than 2 timed samples: nothing on the grid
    assert resample_batch(_ramp_batch(np.array([0.0, np.nan]), np.zeros(2, dtype=bool)))[0].shape == (0,)
