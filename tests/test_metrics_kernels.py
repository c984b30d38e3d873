"""Numba kernels of the metrics layer against pure-Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import ref_hull_diameter, ref_planar_stats

from dmi_sensors.metrics import _kernels as K

STAT_KEYS = {
    K.S_N: "n",
    K.S_MDIST: "mdist",
    K.S_MDIST_AP: "mdist_ap",
    K.S_MDIST_ML: "mdist_ml",
    K.S_RDIST: "rdist",
    K.S_VAR_AP: "var_ap",
    K.S_VAR_ML: "var_ml",
    K.S_COV: "cov",
    K.S_TOTEX: "totex",
    K.S_TOTEX_AP: "totex_ap",
    K.S_TOTEX_ML: "totex_ml",
    K.S_RANGE: "range",
    K.S_RANGE_AP: "range_ap",
    K.S_RANGE_ML: "range_ml",
    K.S_CROSS: "cross",
    K.S_DIFF2: "diff2",
    K.S_RD_MAX: "rd_max",
    K.S_RD_MIN: "rd_min",
}


def test_every_stat_has_a_reference():
    assert sorted(STAT_KEYS) == list(range(K.N_STATS))


points = st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(points)
def test_hull_diameter_equals_brute_force_on_degenerate_point_sets(pts):
    # small integer grids: many duplicates, collinear runs, single points
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    assert K.hull_diameter(x, y) == pytest.approx(ref_hull_diameter(x, y), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 300), st.integers(0, 2**31 - 1))
def test_hull_diameter_random_clouds(n, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, n)) * rng.uniform(0.01, 100)
    assert K.hull_diameter(x, y) == pytest.approx(ref_hull_diameter(x, y), rel=1e-12)


def _hull_cases(rng: np.random.Generator):
    for n in (16, 17, 100, 2800):
        t = np.arange(n) / 100.0
        yield np.cumsum(rng.normal(size=n)), np.cumsum(rng.normal(size=n))  # sway-like random walk
        yield rng.normal(size=n), rng.normal(size=n)  # cloud
        yield rng.integers(-4, 5, n).astype(float), rng.integers(-4, 5, n).astype(float)  # grid, duplicates
        u = rng.normal(size=n)
        yield u, 2.0 * u + 1.0  # all on a line: degenerate octagon
        a = rng.uniform(0, 2 * np.pi, n)
        yield np.cos(a), np.sin(a)  # every point on the hull
        yield 1e-6 * np.sin(0.3 * t) + 1e-12 * rng.normal(size=n), 1e-6 * np.cos(0.2 * t)  # tiny scale
        yield np.full(n, 3.0), np.full(n, -1.0)  # one point repeated


def test_hull_prefilter_gives_the_diameter_of_all_points_bit_for_bit():
    """The octagon pre-filter only drops points that cannot be hull vertices."""
    rng = np.random.default_rng(20)
    for x, y in _hull_cases(rng):
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        assert K.hull_diameter(x, y) == K._hull_diameter_sorted(x, y)


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 250), st.integers(0, 2**31 - 1), st.floats(1e-3, 1e3))
def test_planar_stats_match_reference(n, seed, scale):
    rng = np.random.default_rng(seed)
    ap = np.cumsum(rng.normal(size=n)) * scale + 7.0
    ml = np.cumsum(rng.normal(size=n)) * scale - 3.0
    out = K.planar_window_stats(ap, ml, np.array([0]), np.array([n]), np.empty((1, K.N_STATS)))[0]
    ref = ref_planar_stats(ap, ml)
    for col, key in STAT_KEYS.items():
        assert out[col] == pytest.approx(ref[key], rel=1e-9, abs=1e-12 * scale), key


def test_windows_equal_slices_and_short_windows_are_nan():
    rng = np.random.default_rng(1)
    ap, ml = np.cumsum(rng.normal(size=(2, 500)), axis=1)
    starts = np.array([0, 100, 250, 499, 10])
    stops = np.array([100, 300, 500, 500, 10])
    out = K.planar_window_stats(ap, ml, starts, stops, np.empty((5, K.N_STATS)))
    for w in range(3):
        one = K.planar_window_stats(
            ap[starts[w] : stops[w]].copy(),
            ml[starts[w] : stops[w]].copy(),
            np.array([0]),
            np.array([stops[w] - starts[w]]),
            np.empty((1, K.N_STATS)),
        )[0]
        np.testing.assert_array_equal(out[w], one)
    assert np.isnan(out[3, 1:]).all() and out[3, K.S_N] == 1
    assert np.isnan(out[4, 1:]).all() and out[4, K.S_N] == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(0, 2**31 - 1))
def test_speed_mean_matches_reference(n, seed):
    rng = np.random.default_rng(seed)
    vx, vy = rng.normal(size=(2, n))
    starts = np.array([0, n // 3, n])
    stops = np.array([n, n, n])
    out = K.speed_mean(vx, vy, starts, stops, np.empty(3))
    assert out[0] == pytest.approx(np.mean(np.hypot(vx, vy)), rel=1e-12)
    assert out[1] == pytest.approx(np.mean(np.hypot(vx[n // 3 :], vy[n // 3 :])), rel=1e-12)
    assert np.isnan(out[2])
