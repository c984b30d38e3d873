"""Prieto 1996 measures: analytic circles, Gaussians with known covariance, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import circle, rotate
from scipy import stats

from dmi_sensors.metrics import REGISTRY, ellipse, ellipse_k, prieto_measures


def test_every_output_is_registered_with_its_unit_suffix():
    ap, ml = circle(5.0, 0.5, 100.0, 10)
    m = prieto_measures(ap, ml, 100.0)
    for name in m:
        assert name in REGISTRY, name
    com = [n for n, s in REGISTRY.items() if n.startswith("com_")]
    assert set(com) <= set(m)


CIRCLES = [(10.0, 0.5, 100.0, 15), (3.0, 1.0, 50.0, 7), (0.5, 0.25, 200.0, 4)]


@pytest.mark.parametrize(("r", "f", "fs", "periods"), CIRCLES)
def test_circle_exact(r, f, fs, periods):
    ap, ml = circle(r, f, fs, periods)
    n = len(ap)
    t = n / fs
    m = prieto_measures(ap, ml, fs)
    chord = 2 * r * math.sin(math.pi * f / fs)
    assert m["com_mean_dist_mm"] == pytest.approx(r, rel=1e-12)
    assert m["com_rms_mm"] == pytest.approx(r, rel=1e-12)
    assert m["com_path_length_mm"] == pytest.approx((n - 1) * chord, rel=1e-12)
    assert m["com_mean_velocity_mm_s"] == pytest.approx((n - 1) * chord / t, rel=1e-12)
    # ... which is the continuous 2πrf up to the chord/arc and (N-1)/N discretisation
    assert m["com_mean_velocity_mm_s"] == pytest.approx(2 * math.pi * r * f, rel=5e-3)
    assert m["com_range_mm"] == pytest.approx(2 * r, rel=1e-12)  # samples include antipodes
    assert m["com_range_ap_mm"] == pytest.approx(2 * r, rel=1e-12)
    assert m["com_circle_area_mm2"] == pytest.approx(math.pi * r**2, rel=1e-9)  # s_RD = 0
    assert m["com_sway_area_mm2_s"] == pytest.approx((n - 1) * r**2 * math.sin(2 * math.pi * f / fs) / (2 * t))
    assert m["com_mean_freq_hz"] == pytest.approx(f, rel=5e-3)
    # Prieto's per-axis MFREQ divides by 4√2·MDIST_AP; exact with the RMS (r/√2), but MDIST_AP = 2r/π,
    # so a sinusoid's frequency comes out π/(2√2) ≈ 1.11 times too high
    assert m["com_mean_freq_ap_hz"] / f == pytest.approx(math.pi / (2 * math.sqrt(2)), rel=1e-2)
    assert m["com_mean_freq_ml_hz"] / f == pytest.approx(math.pi / (2 * math.sqrt(2)), rel=1e-2)
    # covariance r²/2·I (1/N): Prieto ellipse = π·2F·r²/2
    f95 = stats.f.ppf(0.95, 2, n - 2)
    prieto = prieto_measures(ap, ml, fs, ellipse_method="prieto")
    assert prieto["com_ellipse_area_mm2"] == pytest.approx(math.pi * f95 * r**2, rel=1e-9)
    assert prieto["com_ellipse_major_mm"] == pytest.approx(prieto["com_ellipse_minor_mm"], rel=1e-9)
    assert m["com_fractal_dim_cc"] == pytest.approx(math.log(n) / math.log(n * 2 * r / ((n - 1) * chord)), rel=1e-9)


def test_ellipse_k_matches_reference_table():
    # reference/metrics.md §2.1 (scipy): n=100 prediction 6.3039, Prieto 6.1784; n=1500: 6.0115, 6.0035
    assert ellipse_k(100, "prediction_F") == pytest.approx(6.3039, abs=1e-4)
    assert ellipse_k(100, "prieto") == pytest.approx(6.1784, abs=1e-4)
    assert ellipse_k(1500, "prediction_F") == pytest.approx(6.0115, abs=1e-4)
    assert ellipse_k(1500, "prieto") == pytest.approx(6.0035, abs=1e-4)
    assert ellipse_k(500, "chi2") == pytest.approx(stats.chi2.ppf(0.95, 2), rel=1e-12)
    with pytest.raises(ValueError, match="ellipse_method"):
        ellipse_k(100, "bogus")


@pytest.mark.parametrize("method", ["prediction_F", "chi2", "prieto"])
@pytest.mark.parametrize(("s_ap", "s_ml", "rho", "seed"), [(4.0, 2.0, 0.3, 1), (1.0, 3.0, -0.7, 2), (2.5, 2.5, 0.0, 3)])
def test_gaussian_ellipse_area_within_2_percent(method, s_ap, s_ml, rho, seed):
    cov = np.array([[s_ap**2, rho * s_ap * s_ml], [rho * s_ap * s_ml, s_ml**2]])
    n = 20000
    xy = np.random.default_rng(seed).multivariate_normal([1.0, -2.0], cov, size=n)
    m = prieto_measures(xy[:, 0], xy[:, 1], 100.0, ellipse_method=method)
    expected = math.pi * float(ellipse_k(n, method)) * math.sqrt(np.linalg.det(cov))
    assert m["com_ellipse_area_mm2"] == pytest.approx(expected, rel=0.02)
    lam = np.linalg.eigvalsh(cov)
    k = float(ellipse_k(n, method))
    assert m["com_ellipse_major_mm"] == pytest.approx(math.sqrt(k * lam[1]), rel=0.02)
    assert m["com_ellipse_minor_mm"] == pytest.approx(math.sqrt(k * lam[0]), rel=0.02)


def test_prediction_ellipse_covers_95_percent_of_new_samples_chi2_does_not_at_small_n():
    """The defining property of the prediction ellipse (Chew 1966): for Gaussian data, a
    new sample falls inside with probability 0.95 exactly, whatever n; χ² under-covers."""
    rng = np.random.default_rng(7)
    n, reps = 20, 3000
    cover = {"prediction_F": 0, "chi2": 0}
    for _ in range(reps):
        xy = rng.normal(size=(n + 1, 2))
        train, new = xy[:n], xy[n]
        d = train - train.mean(axis=0)
        s = d.T @ d / (n - 1)
        q = (new - train.mean(axis=0)) @ np.linalg.solve(s, new - train.mean(axis=0))
        for method in cover:
            cover[method] += q <= float(ellipse_k(n, method))
    p_pred = cover["prediction_F"] / reps
    p_chi2 = cover["chi2"] / reps
    se = math.sqrt(0.95 * 0.05 / reps)
    assert abs(p_pred - 0.95) < 3.5 * se
    assert p_chi2 < 0.95 - 3 * se


def test_ellipse_function_vectorised_and_semi_axes_consistent():
    var_ap, var_ml, cov, n = np.array([4.0, 1.0]), np.array([1.0, 1.0]), np.zeros(2), np.array([1000, 1000])
    area, major, minor = ellipse(var_ap, var_ml, cov, n)
    np.testing.assert_allclose(area, math.pi * major * minor, rtol=1e-12)
    assert major[0] / minor[0] == pytest.approx(2.0)


RESULTANT = [
    "com_mean_dist_mm",
    "com_rms_mm",
    "com_path_length_mm",
    "com_mean_velocity_mm_s",
    "com_range_mm",
    "com_circle_area_mm2",
    "com_ellipse_area_mm2",
    "com_ellipse_major_mm",
    "com_ellipse_minor_mm",
    "com_sway_area_mm2_s",
    "com_mean_freq_hz",
    "com_fractal_dim_cc",
    "com_fractal_dim_ce",
]
LENGTHS = ["com_mean_dist_mm", "com_rms_mm", "com_path_length_mm", "com_range_mm", "com_ellipse_major_mm"]
AREAS = ["com_circle_area_mm2", "com_ellipse_area_mm2", "com_sway_area_mm2_s", "com_power_ap_mm2"]
SCALE_FREE = ["com_mean_freq_hz", "com_fractal_dim_cc", "com_fractal_dim_ce", "com_f50_ap_hz", "com_cfreq_ap_hz"]


def _sway(seed, n=400):
    rng = np.random.default_rng(seed)
    # AR(1)-like sway with different AP/ML amplitude and a correlation
    e = rng.normal(size=(n, 2)) @ np.array([[1.0, 0.3], [0.0, 0.6]])
    x = np.zeros((n, 2))
    for i in range(1, n):
        x[i] = 0.97 * x[i - 1] + e[i]
    return x[:, 0], x[:, 1]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(-math.pi, math.pi))
def test_resultant_measures_are_rotation_invariant(seed, angle):
    ap, ml = _sway(seed)
    a = prieto_measures(ap, ml, 100.0)
    b = prieto_measures(*rotate(ap, ml, angle), 100.0)
    for name in RESULTANT:
        assert b[name] == pytest.approx(a[name], rel=1e-9), name


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 100.0), st.floats(-50, 50))
def test_scaling_laws_and_translation_invariance(seed, scale, offset):
    ap, ml = _sway(seed)
    a = prieto_measures(ap, ml, 100.0)
    b = prieto_measures(scale * ap + offset, scale * ml - offset, 100.0)
    for name in LENGTHS:
        assert b[name] == pytest.approx(scale * a[name], rel=1e-8), name
    for name in AREAS:
        assert b[name] == pytest.approx(scale**2 * a[name], rel=1e-8), name
    for name in SCALE_FREE:
        assert b[name] == pytest.approx(a[name], rel=1e-8, abs=1e-12), name


def test_time_scaling_velocity_and_frequency_scale_with_rate():
    ap, ml = _sway(3)
    a = prieto_measures(ap, ml, 50.0)
    b = prieto_measures(ap, ml, 100.0)  # same samples, played twice as fast
    assert b["com_mean_velocity_mm_s"] == pytest.approx(2 * a["com_mean_velocity_mm_s"])
    assert b["com_mean_freq_hz"] == pytest.approx(2 * a["com_mean_freq_hz"])
    assert b["com_sway_area_mm2_s"] == pytest.approx(2 * a["com_sway_area_mm2_s"])
    assert b["duration_s"] == pytest.approx(a["duration_s"] / 2)
    assert b["com_rms_mm"] == a["com_rms_mm"]


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="equal length"):
        prieto_measures(np.zeros(10), np.zeros(9), 100.0)
    with pytest.raises(ValueError, match="finite"):
        prieto_measures(np.array([0.0, np.nan, 1.0]), np.zeros(3), 100.0)
    with pytest.raises(ValueError, match="ellipse_method"):
        prieto_measures(np.zeros(10), np.zeros(10), 100.0, ellipse_method="95")
