"""resample_uniform through its Numba grid walk (issue 20) gives, bit for bit, what the numpy
version gave (kept here as the reference): values, NaNs, validity, grid; on jittered,
gappy, exactly-on-grid and irregular sample times, with gap flags and a max_gap_s."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.timing import resample_uniform


def _reference(time_s, values, fs_hz, gap_before=None, max_gap_s=None):
    """The numpy version before the kernel (checks of the arguments left out)."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n = t.shape[0]
    dt = np.diff(t)
    if max_gap_s is None:
        max_gap_s = 1.5 * float(np.median(dt))
    bridge_ok = dt <= max_gap_s
    if gap_before is not None:
        bridge_ok &= ~np.asarray(gap_before, dtype=bool)[1:]
    k0 = int(np.ceil(t[0] * fs_hz - 1e-9))
    k1 = int(np.floor(t[-1] * fs_hz + 1e-9))
    grid = np.arange(k0, k1 + 1, dtype=np.float64) / fs_hz
    j = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, n - 2)
    frac = (grid - t[j]) / dt[j]
    exact_left = np.isclose(grid, t[j], rtol=0, atol=1e-9)
    exact_right = np.isclose(grid, t[j + 1], rtol=0, atol=1e-9)
    valid = bridge_ok[j] | exact_left | exact_right
    v2 = v.reshape(n, -1)
    out = v2[j] + (v2[j + 1] - v2[j]) * frac[:, None]
    out[exact_left] = v2[j[exact_left]]
    out[exact_right & ~exact_left] = v2[j[exact_right & ~exact_left] + 1]
    out[~valid] = np.nan
    return grid, out.reshape((grid.shape[0], *v.shape[1:])), valid


def _same(got, want):
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True)
        if a.dtype.kind == "f":  # NaNs in the same places, the same bits elsewhere (-0.0 too)
            nan = np.isnan(a)
            assert np.array_equal(nan, np.isnan(b))
            assert np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 400),
    fs_hz=st.sampled_from([25.0, 50.0, 52.0, 100.0, 104.0, 1000.0]),
    layout=st.sampled_from(["jitter", "on_grid", "irregular", "near_grid", "offset"]),
    columns=st.sampled_from([(), (1,), (3,), (6,)]),
    gaps=st.booleans(),
    max_gap=st.sampled_from([None, 0.001, 0.05]),
)
def test_kernel_equals_the_numpy_reference(seed, n, fs_hz, layout, columns, gaps, max_gap):
    rng = np.random.default_rng(seed)
    step = 1.0 / fs_hz
    if layout == "jitter":
        t = 3.0 + np.arange(n) * step + rng.uniform(-0.3, 0.3, n) * step
    elif layout == "on_grid":
        t = (1234 + np.arange(n)) / fs_hz
    elif layout == "near_grid":  # within 1e-9 s of the grid, either side: the "exact" rule
        t = (77 + np.arange(n)) / fs_hz + rng.choice([-9e-10, 0.0, 9e-10, 2e-9], n)
    elif layout == "offset":
        t = 0.37 * step + np.arange(n) * step * rng.uniform(0.9, 1.1)
    else:
        t = np.cumsum(rng.exponential(step, n)) + 10.0
    t = np.sort(t)
    keep = np.concatenate([[True], np.diff(t) > 0])
    t = t[keep]
    if t.shape[0] < 2:
        return
    values = rng.standard_normal((t.shape[0], *columns)) * 10.0
    gap_before = rng.random(t.shape[0]) < 0.05 if gaps else None
    got = resample_uniform(t, values, fs_hz, gap_before=gap_before, max_gap_s=max_gap)
    want = _reference(t, values, fs_hz, gap_before=gap_before, max_gap_s=max_gap)
    _same(got, want)


def test_a_long_recording_equals_the_reference():
    rng = np.random.default_rng(7)
    fs_hz = 100.0
    t = np.arange(255_400) / fs_hz * (1 + 40e-6) + 0.013 + rng.normal(0, 1e-4, 255_400)
    t = np.sort(t)
    t = t[np.concatenate([[True], np.diff(t) > 0])]
    drop = np.ones(t.shape[0], dtype=bool)
    drop[100_000:100_050] = False  # 0.5 s lost
    t = t[drop]
    values = rng.standard_normal((t.shape[0], 6))
    _same(resample_uniform(t, values, fs_hz), _reference(t, values, fs_hz))
