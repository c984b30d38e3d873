"""LiveSignals' one-call kernel equals the dsp stages run one after the other, bit for bit;
StreamingClock's kernel equals its defining formula."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.dsp import Madgwick, Mahony, SosFilter, body_frame
from dmi_sensors.dsp.filters import butter_lowpass
from dmi_sensors.dsp.segments import gap_segments
from dmi_sensors.live.signals import LiveSignals
from dmi_sensors.timing import StreamingClock

FS = 200.0


class _Stages:
    """The live chain built from the public dsp classes, stage by stage (the reference)."""

    def __init__(self, filt: str, com_height_m: float | None, lowpass_hz: float | None) -> None:
        self.orientation = Mahony(FS, k_p=0.3, k_i=0.05) if filt == "mahony" else Madgwick(FS, gain=0.01)
        self.h = com_height_m
        self.lowpass = (
            None if lowpass_hz is None else SosFilter(butter_lowpass(lowpass_hz, FS, 4), n_channels=2, initial="steady")
        )

    def process(self, acc: np.ndarray, gyr: np.ndarray, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = acc.shape[0]
        q = np.empty((n, 4))
        for s in gap_segments(gaps):
            if gaps[s.start]:
                self.orientation.reset()
            self.orientation.process(acc[s], gyr[s], out=q[s])
        bf = body_frame(q, acc)
        tilt = np.column_stack([bf.tilt_ap_rad, bf.tilt_ml_rad])
        if self.h is None:
            return tilt, np.full((n, 2), np.nan)
        com = 1000.0 * self.h * np.sin(tilt)
        if self.lowpass is not None:
            for s in gap_segments(gaps):
                if gaps[s.start]:
                    self.lowpass.reset()
                com[s] = self.lowpass.process(np.ascontiguousarray(com[s]))
        return tilt, com


def _imu(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    sway = 0.05 * np.sin(2 * np.pi * 0.4 * t)[:, None]
    acc = np.column_stack([9.80665 * np.sin(sway[:, 0]), 0.3 * np.ones(n), 9.80665 * np.cos(sway[:, 0])])
    acc += rng.normal(0, 0.05, (n, 3))
    gyr = rng.normal(0, 0.01, (n, 3)) + np.array([0.0, 1.0, 0.0]) * np.gradient(sway[:, 0], 1 / FS)[:, None]
    gyr[rng.random(n) < 0.01] = 0.0  # exact zero rates: the filters' skip branch
    return acc, gyr


@settings(max_examples=40)
@given(
    filt=st.sampled_from(["mahony", "madgwick"]),
    com=st.sampled_from([None, 0.55]),
    lowpass=st.sampled_from([None, 5.0]),
    cuts=st.lists(st.integers(1, 399), max_size=12),
    gaps_at=st.lists(st.integers(0, 399), max_size=4),
    seed=st.integers(0, 3),
)
def test_the_one_call_kernel_equals_the_stages_bit_for_bit(filt, com, lowpass, cuts, gaps_at, seed):
    n = 400
    acc, gyr = _imu(n, seed)
    gaps = np.zeros(n, dtype=bool)
    gaps[gaps_at] = True
    live = LiveSignals(
        FS,
        com_height_m=com,
        orientation_filter=filt,
        mahony_kp=0.3,
        mahony_ki=0.05,
        madgwick_gain=0.01,
        com_lowpass_hz=lowpass,
    )
    ref = _Stages(filt, com, lowpass)
    bounds = [0, *sorted(set(cuts)), n]
    for a, b in itertools.pairwise(bounds):
        got = live.process(acc[a:b], gyr[a:b], gaps[a:b])
        tilt, com_mm = ref.process(acc[a:b], gyr[a:b], gaps[a:b])
        np.testing.assert_array_equal(got.tilt_ap_rad, tilt[:, 0])
        np.testing.assert_array_equal(got.tilt_ml_rad, tilt[:, 1])
        np.testing.assert_array_equal(got.com_ap_mm, com_mm[:, 0])
        np.testing.assert_array_equal(got.com_ml_mm, com_mm[:, 1])


def test_process_into_writes_a_callers_strided_columns():
    acc, gyr = _imu(300, 0)
    gaps = np.zeros(300, dtype=bool)
    gaps[120] = True
    a = LiveSignals(FS, com_height_m=0.5)
    b = LiveSignals(FS, com_height_m=0.5)
    buf = np.full((300, 6), -1.0)
    a.process_into(acc, gyr, gaps, buf[:, 1:3], buf[:, 3:5])
    want = b.process(acc, gyr, gaps)
    np.testing.assert_array_equal(buf[:, 1], want.tilt_ap_rad)
    np.testing.assert_array_equal(buf[:, 4], want.com_ml_mm)
    assert (buf[:, [0, 5]] == -1.0).all()  # nothing else touched


def _clock_reference(c: np.ndarray, h: np.ndarray, fs_hz: float, r: float) -> np.ndarray:
    """The module docstring's definition, sample by sample in Python: the running minimum of
    ``y - r·host`` over the current run (a counter not above the last starts a new one)."""
    out = np.empty(c.shape[0])
    m, last = np.inf, -np.inf
    for i in range(c.shape[0]):
        if c[i] <= last:
            m = np.inf
        base = c[i] / fs_hz
        m = min(m, (h[i] - base) - r * h[i])
        out[i] = (base + r * h[i]) + m
        last = c[i]
    return out


@settings(max_examples=60)
@given(
    lat=st.lists(st.floats(0.0, 0.05), min_size=1, max_size=120),
    restarts=st.lists(st.integers(1, 119), max_size=3),
    cuts=st.lists(st.integers(1, 119), max_size=8),
)
def test_the_streaming_clock_kernel_equals_its_definition(lat, restarts, cuts):
    n = len(lat)
    c = np.arange(n, dtype=np.float64)
    for k in restarts:
        if k < n:
            c[k:] -= c[k] + 3  # the device restarted: the counter falls
    h = 10.0 + np.arange(n) / FS * (1 + 200e-6) + np.asarray(lat)
    want = _clock_reference(c, h, FS, 500e-6)
    clock = StreamingClock(FS)
    bounds = [0, *sorted({k for k in cuts if k < n}), n]
    got = np.concatenate([clock.process(c[a:b], h[a:b]) for a, b in itertools.pairwise(bounds)])
    np.testing.assert_array_equal(got, want)


def test_a_live_updates_signals_are_read_only_views_of_the_sensors_buffer():
    from dmi_sensors.live.metrics import LiveParams, LiveSensor
    from dmi_sensors.types import SampleBatch

    acc, gyr = _imu(50, 1)
    sensor = LiveSensor("S1", "trunk", FS, LiveParams(com_height_m=0.5))
    batch = SampleBatch("S1", FS, np.arange(50), np.arange(50) / FS, 1.0 + np.arange(50) / FS, acc, gyr)
    update = sensor.add_batch(batch)
    assert update.signals is not None and update.time_s is not None
    for view in (update.time_s, update.signals.tilt_ap_rad, update.signals.com_ml_mm):
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 0.0
    # the buffer itself takes the next batch (rows are written in place)
    batch2 = SampleBatch("S1", FS, 50 + np.arange(50), 50 + np.arange(50) / FS, 1.25 + np.arange(50) / FS, acc, gyr)
    assert sensor.add_batch(batch2).n_samples == 50
    assert sensor.samples == 100
