"""Principal sway direction and sample entropy (issue 14.4) against analytic and hand values.

Check values: science notes §7.1-7.2 (hand-counted SampEn examples, the analytic SampEn of
Gaussian white noise, a covariance turned by a known angle); the Numba kernel against the
definition written out in Python.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit
from scipy.stats import norm

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics._structure_kernels import sampen_windows
from dmi_sensors.metrics.registry import REGISTRY, valid_in
from dmi_sensors.metrics.structure import SampEnParams, principal_direction_deg, sample_entropy, structure_windows


def sampen_reference(y, m: int, tol: float) -> float:
    """Richman & Moorman 2000 written out: N - m templates, Chebyshev distance, no self-matches."""
    y = list(map(float, y))
    n_t = len(y) - m
    b = a = 0
    for i in range(n_t):
        for j in range(i + 1, n_t):
            if max(abs(y[i + k] - y[j + k]) for k in range(m)) <= tol:
                b += 1
                if abs(y[i + m] - y[j + m]) <= tol:
                    a += 1
    return -math.log(a / b) if a and b else math.nan


@njit
def _all_pairs_sampen(y, m, r):
    """``-ln(A/B)`` over all pairs i < j of the N - m templates (tolerance r × the population
    SD summed in order, as the kernel does): the kernel before it visited the pairs in sorted
    order."""
    n = y.shape[0]
    mean = 0.0
    for i in range(n):
        mean += y[i]
    mean /= n
    var = 0.0
    for i in range(n):
        var += (y[i] - mean) ** 2
    tol = r * math.sqrt(var / n)
    n_t = n - m
    b = a = 0
    for i in range(n_t):
        for j in range(i + 1, n_t):
            ok = True
            for k in range(m):
                if abs(y[i + k] - y[j + k]) > tol:
                    ok = False
                    break
            if ok:
                b += 1
                if abs(y[i + m] - y[j + m]) <= tol:
                    a += 1
    return -math.log(a / b) if a > 0 and b > 0 and tol > 0 else np.nan


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["gauss", "walk", "ties", "smooth"]),
    st.integers(1, 4),
    st.floats(0.05, 1.0),
    st.integers(1, 4),
    st.booleans(),
)
def test_sorted_pair_search_equals_all_pairs_bit_for_bit(seed, kind, m, r, step, increments):
    """The kernel visits only the pairs whose first values are within tol (in sorted order):
    the same counts as all pairs, hence the same float, bit for bit, window by window."""
    rng = np.random.default_rng(seed)
    n = 3000
    if kind == "gauss":
        x = rng.standard_normal(n)
    elif kind == "walk":
        x = np.cumsum(rng.standard_normal(n))
    elif kind == "ties":
        x = rng.integers(-4, 5, n).astype(float) * 0.25  # many equal values and equal distances
    else:
        x = np.sin(np.arange(n) * 0.05) + 1e-3 * rng.standard_normal(n)
    starts = np.sort(rng.integers(0, n - 50, 6))
    stops = np.minimum(starts + rng.integers(40, 2000, 6), n)
    out = np.empty(6)
    sampen_windows(x, starts, stops, step, increments, m, r, m + 2, out)
    for w in range(6):
        dec = np.ascontiguousarray(x[starts[w] : stops[w] : step])
        y = np.diff(dec) if increments else dec
        want = _all_pairs_sampen(y, m, r) if len(y) >= m + 2 else np.nan
        assert (np.isnan(out[w]) and np.isnan(want)) or out[w] == want


def test_hand_counted_examples():
    # periodic: every template that matches for m matches for m + 1
    assert sample_entropy([1, 2, 3, 1, 2, 3, 1, 2, 3, 1], m=2, r_absolute=0.5) == 0.0
    # 1,2,1,2,1,3,1,2,1,2 with m = 1, r = 0.5: B = 13, A = 9
    x = [1, 2, 1, 2, 1, 3, 1, 2, 1, 2]
    assert sample_entropy(x, m=1, r_absolute=0.5) == pytest.approx(math.log(13 / 9))
    assert sampen_reference(x, 1, 0.5) == pytest.approx(math.log(13 / 9))
    # no match of length m + 1: undefined, not an upper bound
    assert math.isnan(sample_entropy([1, 2, 3, 4, 5, 6, 7, 8], m=2, r_absolute=0.1))


@pytest.mark.parametrize("r", [0.15, 0.2, 0.25])
def test_gaussian_white_noise_is_the_analytic_value(r):
    expected = -math.log(2 * norm.cdf(r / math.sqrt(2)) - 1)  # 2.1851 at r = 0.2
    x = np.random.default_rng(0).standard_normal(3000)
    assert sample_entropy(x, m=2, r=r) == pytest.approx(expected, abs=0.06)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=5, max_size=60),
    st.integers(1, 3),
    st.floats(0.2, 2.5),
)
@example(values=[0, 0, 0, 1, 1], m=1, tol=1.0)  # distances exactly at tol: r_absolute/SD·SD rounded below it
def test_kernel_equals_the_definition(values, m, tol):
    y = np.asarray(values, dtype=float)
    if len(y) < m + 2 or np.std(y) == 0:
        return
    got = sample_entropy(y, m=m, r_absolute=tol)
    want = sampen_reference(y, m, tol)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_windows_decimate_difference_and_refuse_short_or_gappy_series():
    rng = np.random.default_rng(1)
    fs = 100.0
    x = np.cumsum(rng.standard_normal(6000))  # a random walk: its increments are white noise
    y = rng.standard_normal(6000)
    p = SampEnParams()  # increments at 25 Hz, m 2, r 0.2
    starts, stops = np.array([0, 1000, 0]), np.array([6000, 1200, 200])
    out = structure_windows(x, y, fs, starts, stops, np.ones(3), np.ones(3), np.zeros(3), p)
    inc = np.diff(x[0:6000:4])
    assert out["com_sampen_ap"][0] == pytest.approx(sample_entropy(inc, 2, 0.2))
    assert out["com_sampen_ap"][0] == pytest.approx(2.1851, abs=0.1)  # white increments
    assert np.isnan(out["com_sampen_ap"][1]) and np.isnan(out["com_sampen_ap"][2])  # 50 values < 100
    pos = structure_windows(x, y, fs, starts[:1], stops[:1], [1.0], [1.0], [0.0], SampEnParams(signal="position"))
    assert pos["com_sampen_ap"][0] == pytest.approx(sample_entropy(x[0:6000:4], 2, 0.2))
    assert pos["com_sampen_ap"][0] < 0.5  # a random walk's position is far more regular than its steps
    gappy = x.copy()
    gappy[3000] = np.nan
    assert np.isnan(structure_windows(gappy, y, fs, starts[:1], stops[:1], [1.0], [1.0], [0.0])["com_sampen_ap"][0])
    capped = structure_windows(x, y, fs, starts[:1], stops[:1], [1.0], [1.0], [0.0], max_values=1000)
    assert np.isnan(capped["com_sampen_ap"][0])
    with pytest.raises(ParameterError):
        SampEnParams(signal="velocity")
    with pytest.raises(ParameterError):
        SampEnParams(m=0)


@pytest.mark.parametrize("angle_deg", [30.0, -30.0, 0.0, 89.0, -60.0])
def test_principal_direction_of_a_turned_covariance(angle_deg):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    cov = rot @ np.diag([4.0, 1.0]) @ rot.T  # major axis at angle_deg from AP towards ML
    got = principal_direction_deg(cov[0, 0], cov[1, 1], cov[0, 1])
    assert float(got) == pytest.approx(angle_deg, abs=1e-9)
    if angle_deg == 30.0:
        assert (cov[0, 0], cov[1, 1], cov[0, 1]) == pytest.approx((3.25, 1.75, 1.299), abs=1e-3)
    # sampled: an elongated cloud turned by the angle
    rng = np.random.default_rng(3)
    pts = rng.standard_normal((20000, 2)) * [2.0, 1.0] @ rot.T
    c = np.cov(pts.T)
    assert float(principal_direction_deg(c[0, 0], c[1, 1], c[0, 1])) == pytest.approx(angle_deg, abs=2.0)
    assert math.isnan(float(principal_direction_deg(1.0, 1.0, 0.0)))  # circular: no direction


def test_registered_with_unit_reference_and_postures():
    for name in ("com_sway_direction_deg", "com_sampen_ap", "com_sampen_ml"):
        s = REGISTRY[name]
        assert s.reference and s.label and s.formula
        assert valid_in(name, "standing") and valid_in(name, "sitting") and not valid_in(name, "supine")
    assert REGISTRY["com_sway_direction_deg"].unit == "deg"
    assert REGISTRY["com_sampen_ap"].unit == "1"
    assert {"sampen.m", "sampen.r", "sampen.fs_hz", "sampen.signal"} <= set(REGISTRY["com_sampen_ap"].parameters)
