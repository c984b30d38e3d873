"""Spectral measures on sinusoids and ISway measures with analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import circle, rotate

from dmi_sensors.metrics import REGISTRY, SpectralParams, isway_measures, spectral_measures

FS = 100.0


def _tone(f, n=3000, fs=FS, amp=1.0, phase=0.3):
    t = np.arange(n) / fs
    return amp * np.sin(2 * np.pi * f * t + phase)


@pytest.mark.parametrize("f0", [0.4, 1.0, 2.3])
def test_pure_tone_on_a_bin_periodogram_is_exact(f0):
    # 30 s at 100 Hz: bins every 1/30 Hz; 0.4, 1.0, 2.3 Hz lie on bins (12, 30, 69)
    x = _tone(f0)
    m = spectral_measures(x, FS, SpectralParams(psd_method="periodogram"))
    assert m["f50"] == pytest.approx(f0, abs=1e-9)
    assert m["cfreq"] == pytest.approx(f0, rel=1e-9)
    assert m["mpf"] == pytest.approx(f0, rel=1e-9)
    assert m["freqd"] == pytest.approx(0.0, abs=1e-6)
    assert m["power"] == pytest.approx(0.5, rel=1e-9)  # variance of a unit sine
    # F95 lies inside the tone's bin: f0 - Δf/2 + 0.95·Δf
    df = FS / 3000
    assert m["f95"] == pytest.approx(f0 + 0.45 * df, abs=1e-9)


@pytest.mark.parametrize("f0", [0.5, 1.0, 3.0])
def test_pure_tone_welch_within_its_resolution(f0):
    x = _tone(f0)
    m = spectral_measures(x, FS)  # Welch, nperseg = N/2 -> Δf = 1/15 Hz
    df = FS / 1500
    assert m["f50"] == pytest.approx(f0, abs=0.5 * df)
    assert m["cfreq"] == pytest.approx(f0, abs=0.5 * df)
    assert f0 <= m["f95"] <= f0 + 1.5 * df
    # Hann leakage: bins (1/4, 1, 1/4) in power -> spread σ = Δf/√3, FREQD ≈ σ/f0
    assert m["freqd"] == pytest.approx(df / math.sqrt(3) / f0, rel=0.05)
    assert m["power"] == pytest.approx(0.5, rel=0.02)


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 700), st.integers(2, 400), st.integers(0, 2**31 - 1), st.sampled_from([50.0, 100.0]))
def test_own_welch_equals_scipy(n, nper, seed, fs):
    from scipy import signal

    from dmi_sensors.metrics.spectral import welch

    nper = min(nper, n)
    x = np.random.default_rng(seed).normal(size=(3, n)) + 5.0
    f, p = welch(x, fs, nper)
    f_ref, p_ref = signal.welch(x, fs, window="hann", nperseg=nper, noverlap=nper // 2, detrend="constant", axis=-1)
    assert np.array_equal(f, f_ref)
    assert p.shape == p_ref.shape and np.array_equal(p, p_ref)  # bit for bit (metrics.spectral.welch)


def test_two_tones_split_power_and_give_the_right_moments():
    x = _tone(0.5, amp=2.0) + _tone(2.0, amp=1.0, phase=1.0)
    m = spectral_measures(x, FS, SpectralParams(psd_method="periodogram"))
    p1, p2 = 2.0, 0.5  # A²/2
    mu0, mu1, mu2 = p1 + p2, 0.5 * p1 + 2.0 * p2, 0.25 * p1 + 4.0 * p2
    assert m["power"] == pytest.approx(mu0, rel=1e-9)
    assert m["cfreq"] == pytest.approx(math.sqrt(mu2 / mu0), rel=1e-9)
    assert m["freqd"] == pytest.approx(math.sqrt(1 - mu1**2 / (mu0 * mu2)), rel=1e-9)
    assert m["f50"] == pytest.approx(0.5, abs=FS / 3000)  # 80 % of the power is at 0.5 Hz
    assert m["f95"] == pytest.approx(2.0, abs=FS / 3000)


def test_band_excludes_power_outside_it():
    x = _tone(0.1, amp=10.0) + _tone(1.0) + _tone(8.0, amp=5.0)  # all on bins: no leakage
    m = spectral_measures(x, FS, SpectralParams(psd_method="periodogram"))
    assert m["power"] == pytest.approx(0.5, rel=0.02)
    assert m["f50"] == pytest.approx(1.0, abs=0.05)


def test_white_noise_median_frequency_is_mid_band_and_dispersion_high():
    x = np.random.default_rng(0).normal(size=60000)
    m = spectral_measures(x, FS, SpectralParams(band_hz=(0.15, 5.0)))
    assert m["f50"] == pytest.approx((0.15 + 5.0) / 2, abs=0.1)
    assert m["f95"] == pytest.approx(0.15 + 0.95 * 4.85, abs=0.1)
    assert m["freqd"] > 0.4


def test_rows_are_windows_and_equal_one_at_a_time():
    rng = np.random.default_rng(1)
    block = rng.normal(size=(5, 400))
    m = spectral_measures(block, FS)
    for i in range(5):
        one = spectral_measures(block[i], FS)
        for k in one:
            assert m[k][i] == pytest.approx(one[k], rel=1e-12)


def test_short_window_without_bins_in_band_gives_nan():
    m = spectral_measures(np.random.default_rng(0).normal(size=8), FS, SpectralParams(band_hz=(0.15, 0.5)))
    assert math.isnan(m["f50"]) and math.isnan(m["power"])


def test_bad_spectral_parameters():
    with pytest.raises(ValueError, match="psd_method"):
        SpectralParams(psd_method="fft")
    with pytest.raises(ValueError, match="band_hz"):
        SpectralParams(band_hz=(5.0, 1.0))


# --- ISway ------------------------------------------------------------------------------


def test_isway_outputs_are_registered():
    ap, ml = circle(0.1, 1.0, FS, 10)
    m = isway_measures(ap, ml, FS)
    assert all(k in REGISTRY for k in m)
    isway = {n for n, s in REGISTRY.items() if s.family == "isway"}
    assert isway <= set(m)


@pytest.mark.parametrize(("a", "f", "periods"), [(0.05, 1.0, 20), (0.2, 0.4, 12), (1.0, 2.0, 60)])
def test_jerk_of_a_sinusoid(a, f, periods):
    """AP = a·sin(2πft), ML = 0: ½∫(dAP/dt)² dt = ½·a²(2πf)²·T/2 over whole periods."""
    n = round(periods * FS / f)
    ap = _tone(f, n=n, amp=a)
    ml = np.zeros(n)
    m = isway_measures(ap, ml, FS)
    t = n / FS
    # forward differences: (2 sin(πf/fs)·fs)² instead of (2πf)² and N-1 intervals instead of N
    exact_discrete = 0.5 * a**2 * (2 * math.sin(math.pi * f / FS) * FS) ** 2 / 2 * (n - 1) / FS
    assert m["jerk_isway_m2_s5"] == pytest.approx(exact_discrete, rel=2e-3)
    assert m["jerk_isway_m2_s5"] == pytest.approx(0.5 * a**2 * (2 * math.pi * f) ** 2 * t / 2, rel=5e-3)
    assert m["jerk_isway_per_s_m2_s6"] == pytest.approx(m["jerk_isway_m2_s5"] / t, rel=1e-12)
    assert m["jerk_mm2012_mps3"] == pytest.approx(m["acc_path_length_mps2"] / t, rel=1e-12)
    # mean |d/dt a sin| = 4af: path/T is the mean absolute change rate
    assert m["jerk_mm2012_mps3"] == pytest.approx(4 * a * f, rel=5e-3)
    assert m["acc_rms_ap_mps2"] == pytest.approx(a / math.sqrt(2), rel=1e-6)
    assert m["acc_rms_ml_mps2"] == 0.0


def test_isway_circle_velocity_and_frequency():
    """Acceleration on a circle a·(cos, sin)(ωt) integrates to speed a/ω (science notes §3.2:
    0.03183 m/s for a = 0.1 m/s², f = 0.5 Hz), exact but for the high-pass's start-up at the
    ends: +4.6 % over 20 s, +0.5 % over 120 s."""
    a, f = 0.1, 0.5
    m = isway_measures(*circle(a, f, FS, 60), FS)
    assert m["acc_mean_velocity_m_s"] == pytest.approx(a / (2 * math.pi * f), rel=6e-3)
    ap, ml = circle(a, f, FS, 10)
    m = isway_measures(ap, ml, FS)
    assert m["acc_mean_velocity_m_s"] == pytest.approx(a / (2 * math.pi * f), rel=0.05)
    # what is left of the noise is removed in power
    corrected = isway_measures(ap, ml, FS, mv_noise_floor_m_s=0.6 * m["acc_mean_velocity_m_s"])
    assert corrected["acc_mean_velocity_m_s"] == pytest.approx(0.8 * m["acc_mean_velocity_m_s"], rel=1e-9)
    assert m["acc_mean_freq_hz"] == pytest.approx(f, rel=5e-3)
    assert m["acc_mean_dist_mps2"] == pytest.approx(a, rel=1e-12)
    assert m["acc_range_mm2012_mps2"] == pytest.approx(0.0, abs=1e-12)  # |A| is constant on a circle
    assert m["acc_range_mps2"] == pytest.approx(2 * a, rel=1e-12)
    assert m["acc_f50_ap_hz"] == pytest.approx(f, abs=FS / 1000)


def _noise_pair(seed, n=600):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n) * 0.05, rng.normal(size=n) * 0.02


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(-math.pi, math.pi), st.floats(0.01, 100.0))
def test_isway_rotation_and_scaling(seed, angle, scale):
    ap, ml = _noise_pair(seed)
    base = isway_measures(ap, ml, FS)
    rot = isway_measures(*rotate(ap, ml, angle), FS)
    invariant = ("jerk_isway_m2_s5", "jerk_mm2012_mps3", "acc_rms_mps2", "acc_mean_velocity_m_s", "acc_sway_area_m2_s5")
    for name in invariant:
        assert rot[name] == pytest.approx(base[name], rel=1e-9), name
    sc = isway_measures(scale * ap, scale * ml, FS)
    for name in ("jerk_isway_m2_s5", "jerk_isway_per_s_m2_s6", "acc_sway_area_m2_s5", "acc_power_ap_m2_s4"):
        assert sc[name] == pytest.approx(scale**2 * base[name], rel=1e-8), name
    for name in ("jerk_mm2012_mps3", "acc_rms_mps2", "acc_range_mps2", "acc_mean_velocity_m_s"):
        assert sc[name] == pytest.approx(scale * base[name], rel=1e-8), name
    for name in ("acc_mean_freq_hz", "acc_f50_ap_hz", "acc_freqd_ml"):
        assert sc[name] == pytest.approx(base[name], rel=1e-8), name


def test_isway_jerk_grows_with_trial_length_but_per_second_form_does_not():
    rng = np.random.default_rng(5)
    ap, ml = rng.normal(size=(2, 6000)) * 0.05
    short = isway_measures(ap[:3000], ml[:3000], FS)
    long = isway_measures(ap, ml, FS)
    assert long["jerk_isway_m2_s5"] == pytest.approx(2 * short["jerk_isway_m2_s5"], rel=0.05)
    assert long["jerk_isway_per_s_m2_s6"] == pytest.approx(short["jerk_isway_per_s_m2_s6"], rel=0.05)
