"""Time to stabilise: each method on step responses and exponentials with known answers,
the noise correction, the hold time and the "not determined" reasons (issue 13 findings 1-2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmi_sensors.metrics import TtsParams, detect_events, time_to_stabilise
from dmi_sensors.metrics.tts import (
    BAD_FIT,
    BELOW_NOISE,
    NO_BASELINE,
    NO_RESPONSE,
    NO_STABLE,
    NOT_DETERMINED,
    OUTSIDE,
    TtsNoise,
    fit_exponential,
    tts_noise,
    tts_signal,
)

FS = 100.0
RAW = TtsParams(lowpass_hz=None, decision_lowpass_hz=None)  # analytic magnitudes: no filter, no band split
DT = 1 / FS


def _series(after, event_s=10.0, total_s=30.0, quiet=1.0):
    """Magnitude signal: ``quiet`` before the event, ``after(τ)`` from the event on."""
    t = np.arange(round(total_s * FS)) / FS
    y = np.full_like(t, quiet)
    m = t >= event_s
    y[m] = after(t[m] - event_s)
    return y


CENTRED = TtsParams(lowpass_hz=None, decision_lowpass_hz=None, rms_alignment="centred")


@pytest.mark.parametrize("alignment", ["trailing", "centred"])
def test_moving_rms_step_analytic(alignment):
    """y = A for D s then q: the 1 s RMS² = f·A² + (1-f)q² drops under (1.5q)² when the window
    holds a fraction f < f* = 1.25q²/(A²-q²) of the step: TTS = D + 1 - f* (trailing window
    [t-1, t]) or D + 0.5 - f* (centred window [t-0.5, t+0.5])."""
    a, d, q = 4.0, 2.0, 1.0
    y = _series(lambda tau: np.where(tau < d, a, q), quiet=q)
    params = RAW if alignment == "trailing" else CENTRED
    r = time_to_stabilise(y, FS, 10.0, params=params)
    f = 1.25 * q**2 / (a**2 - q**2)
    lead = 1.0 if alignment == "trailing" else 0.5
    assert r.stable and r.status == "stable"
    assert r.tts_s == pytest.approx(d + lead - f, abs=2 * DT)
    assert r.fit["quiet_rms_mps2"] == pytest.approx(q)
    assert r.fit["threshold_mps2"] == pytest.approx(1.5 * q)
    assert r.trial_after_s == pytest.approx(20.0)
    assert r.parameters["threshold_factor"] == 1.5 and r.parameters["rms_window_s"] == 1.0
    assert r.parameters["rms_alignment"] == alignment


@pytest.mark.parametrize("alignment", ["trailing", "centred"])
@pytest.mark.parametrize(("y0", "tau_c"), [(5.0, 0.5), (10.0, 1.2), (3.0, 2.0)])
def test_moving_rms_exponential_analytic(y0, tau_c, alignment):
    """y² = q² + Y0²e^(-2τ/T): the window mean of y² is q² + Y0²e^(-2τ/T)·S with
    S = (T/2)(e^(2/T) - 1) for the trailing 1 s window and sinh(1/T)/(1/T) for the centred
    one, so TTS = (T/2)·ln(Y0²·S / (1.25 q²))."""
    q = 1.0
    y = _series(lambda tau: np.sqrt(q**2 + y0**2 * np.exp(-2 * tau / tau_c)), quiet=q)
    if alignment == "trailing":
        r = time_to_stabilise(y, FS, 10.0, params=RAW)
        s = tau_c / 2 * (math.exp(2 / tau_c) - 1)
    else:
        r = time_to_stabilise(y, FS, 10.0, params=CENTRED)
        s = math.sinh(1.0 / tau_c) / (1.0 / tau_c)
    expected = tau_c / 2 * math.log(y0**2 * s / (1.25 * q**2))
    assert r.tts_s == pytest.approx(expected, abs=2 * DT)


def test_moving_rms_reports_no_stable_state():
    y = _series(lambda tau: 3.0 + 0 * tau)
    r = time_to_stabilise(y, FS, 10.0, params=RAW)
    assert not r.stable and r.status == NO_STABLE and math.isnan(r.tts_s)
    assert r.to_dict()["tts_s"] is None


def test_moving_rms_needs_a_quiet_baseline():
    y = _series(lambda tau: 1.0 + 0 * tau, event_s=0.5)
    r = time_to_stabilise(y, FS, 0.5, params=RAW)
    assert not r.stable and r.status == NO_BASELINE
    # the baseline may be cut by the previous event's end
    y = _series(lambda tau: np.where(tau < 1.0, 4.0, 1.0))
    cut = time_to_stabilise(y, FS, 10.0, params=RAW, baseline_from_s=9.5)
    assert cut.status == NO_BASELINE and cut.fit["baseline_s"] == pytest.approx(0.5)


def test_a_later_burst_does_not_delay_the_tts_thanks_to_the_hold():
    """A second burst at 25 s: the rule needs the profile below the threshold for ``hold_s``,
    not until the end of the interval, so the burst does not matter; stopping at 24 s is
    recorded as the interval's length."""
    t = np.arange(3000) / FS
    y = np.ones_like(t)
    y[(t >= 10) & (t < 11)] = 4.0
    y[(t >= 25) & (t < 26)] = 4.0
    whole = time_to_stabilise(y, FS, 10.0, params=RAW)
    cut = time_to_stabilise(y, FS, 10.0, params=RAW, stop_s=24.0)
    assert whole.tts_s == cut.tts_s < 2.0
    assert cut.trial_after_s == pytest.approx(14.0)
    # a hold longer than the calm between the bursts moves the TTS past the second one
    y = np.concatenate([y, np.ones(3000)])
    long_hold = time_to_stabilise(y, FS, 10.0, params=TtsParams(lowpass_hz=None, decision_lowpass_hz=None, hold_s=15))
    assert long_hold.tts_s > 15.0


def test_the_hold_ends_inside_the_interval_or_there_is_no_stable_state():
    """Below the threshold only in the last 0.5 s of the interval: a 1 s hold cannot be
    verified, so no TTS (never the interval's length)."""
    y = _series(lambda tau: np.where(tau < 19.5, 3.0, 1.0), total_s=30.0)
    r = time_to_stabilise(y, FS, 10.0, params=RAW)
    assert r.status == NO_STABLE and math.isnan(r.tts_s)


def test_no_response_is_not_a_zero():
    """A 'push' the signal does not show (quiet sway only): "response below threshold", not 0 s."""
    rng = np.random.default_rng(4)
    t = np.arange(3000) / FS
    a = 0.03 * np.sin(2 * np.pi * 0.4 * t[:, None] + rng.uniform(0, 6, 2))
    for method in ("moving_rms", "colby", "polynomial", "exponential"):
        r = time_to_stabilise(a, FS, 12.0, method=method)
        assert r.status == NO_RESPONSE and not r.stable and math.isnan(r.tts_s), method


def test_event_outside_the_signal():
    y = np.ones(1000)
    r = time_to_stabilise(y, FS, 500.0, event_onset_s=500.0, params=RAW)
    assert r.status == OUTSIDE and r.status.startswith(NOT_DETERMINED)


MAGNITUDE = TtsParams(lowpass_hz=None, decision_lowpass_hz=None, profile="magnitude")


@pytest.mark.parametrize(("total_after", "expected"), [(20.0, 1 / (0.05 + 0.25 * math.sqrt(0.05 * 0.95)))])
def test_colby_step_analytic_and_its_trial_length_dependence(total_after, expected):
    """Step A for D = 1 s, then 0, interval L: S(τ) = A·D/τ, band mean ± 0.25·SD with
    mean = A·p, SD = A·sqrt(p(1-p)), p = D/L: TTS = D/(p + 0.25·sqrt(p(1-p)))."""
    a, d = 2.0, 1.0

    def run(length):
        y = _series(lambda tau: np.where(tau < d, a, 0.0), total_s=10.0 + length)
        return time_to_stabilise(y, FS, 10.0, method="colby", params=MAGNITUDE)

    r = run(total_after)
    assert r.stable and r.tts_s == pytest.approx(expected, abs=2 * DT)
    p = d / 10.0
    r10 = run(10.0)
    assert r10.tts_s == pytest.approx(d / (p + 0.25 * math.sqrt(p * (1 - p))), abs=2 * DT)
    # the same 1 s disturbance: 9.6 s vs 5.7 s stabilisation, only from the trial length
    assert r.tts_s - r10.tts_s > 3.0
    assert r.fit["mean_mps2"] == pytest.approx(a * d / total_after, rel=1e-3)


def test_polynomial_recovers_the_root_of_an_exact_cubic():
    """Profile p(τ) = thr + s·(u + 0.1u³), u = τ* - τ: a monotone cubic crossing thr at τ*."""
    q, s, tau_star = 1.0, 0.5, 2.0
    thr = 1.5 * q

    def after(tau):
        u = tau_star - tau
        return thr + s * (u + 0.1 * u**3)

    y = _series(after, quiet=q, total_s=13.0)  # τ in [0, 3): profile stays positive
    r = time_to_stabilise(y, FS, 10.0, method="polynomial", params=MAGNITUDE)
    assert r.stable and r.tts_s == pytest.approx(tau_star, abs=1.5 * DT)
    assert r.fit["r2"] == pytest.approx(1.0)
    c = r.fit["coefficients"]
    # p(τ) = thr + s(τ* - τ) + 0.1s(τ* - τ)³ expanded
    expected = [thr + s * tau_star + 0.1 * s * tau_star**3, -s - 0.3 * s * tau_star**2, 0.3 * s * tau_star, -0.1 * s]
    np.testing.assert_allclose(c, expected, rtol=1e-6, atol=1e-9)


def test_polynomial_no_stable_state():
    y = _series(lambda tau: 5.0 + 0.1 * tau)
    r = time_to_stabilise(y, FS, 10.0, method="polynomial", params=RAW)
    assert not r.stable and r.status == NO_STABLE


def test_polynomial_that_starts_below_the_threshold_is_not_a_zero():
    """Issue 13 finding 2: a cubic fitted over a long interval to a short response can stay
    below the threshold everywhere; the old rule then returned -2e-13 s ("stable at once").
    Here the response (1 s at 4 × quiet) is real but the 20 s fit starts below the threshold."""
    y = _series(lambda tau: np.where(tau < 0.3, 6.0, 1.0), total_s=40.0)
    r = time_to_stabilise(y, FS, 10.0, method="polynomial", params=RAW)
    assert r.status.startswith(BAD_FIT) and not r.stable and math.isnan(r.tts_s)
    # a poor fit (R² < 0.5) is rejected too
    rng = np.random.default_rng(1)
    noisy = _series(lambda tau: np.where(tau < 2.0, 3.0, 1.0) + rng.uniform(0, 1.5, tau.shape), total_s=14.0)
    bad = time_to_stabilise(noisy, FS, 10.0, method="polynomial", params=MAGNITUDE)
    assert bad.status.startswith(BAD_FIT) or bad.stable


@pytest.mark.parametrize(("y_inf", "y0", "tau_c"), [(0.01, 0.137, 0.51), (0.010, 0.081, 0.95), (0.008, 0.057, 1.0)])
def test_exponential_fit_recovers_rabuffetti_parameters(y_inf, y0, tau_c):
    # Rabuffetti 2011 group means (sit-to-stand, step, bend) as test values
    y = _series(lambda tau: y_inf + (y0 - y_inf) * np.exp(-tau / tau_c), quiet=y_inf)
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=MAGNITUDE)
    assert r.fit["y_inf_mps2"] == pytest.approx(y_inf, rel=1e-4)
    assert r.fit["y0_mps2"] == pytest.approx(y0, rel=1e-4)
    assert r.fit["time_constant_s"] == pytest.approx(tau_c, rel=1e-4)
    assert r.tts_s == pytest.approx(tau_c * math.log(20), rel=1e-4)


def test_exponential_on_moving_rms_keeps_the_time_constant_when_y_inf_is_zero():
    # the RMS over a trailing window of Y0·e^(-τ/T) is the same exponential times a constant
    y = _series(lambda tau: 0.01 + 0.2 * np.exp(-tau / 0.8), quiet=0.01, total_s=20.0)
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=RAW)
    assert r.fit["time_constant_s"] == pytest.approx(0.8, rel=0.03)


def test_exponential_fit_by_variable_projection_matches_the_closed_form():
    t = np.linspace(0, 12, 1201)
    y = 0.05 + 0.4 * np.exp(-t / 1.7)
    y_inf, y0, tc, r2 = fit_exponential(t, y)
    assert (y_inf, y0, tc, r2) == pytest.approx((0.05, 0.45, 1.7, 1.0), rel=1e-6)
    assert fit_exponential(t[:3], y[:3]) is None


def test_exponential_reports_growth_as_not_determined():
    y = _series(lambda tau: 0.1 + 0.01 * tau, quiet=0.1)
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=RAW)
    assert not r.stable and r.status.startswith(NOT_DETERMINED)


def test_two_component_input_uses_the_horizontal_magnitude():
    t = np.arange(2000) / FS
    ap = np.where((t >= 10) & (t < 12), 3.0, 0.6)
    ml = np.where((t >= 10) & (t < 12), 4.0, 0.8)  # |a| = 5 then 1
    r2 = time_to_stabilise(np.column_stack([ap, ml]), FS, 10.0, params=RAW)
    r1 = time_to_stabilise(np.hypot(ap, ml), FS, 10.0, params=RAW)
    assert r2.tts_s == r1.tts_s


def _damped_response(n=3000, event_s=10.0, seed=3):
    """Quiet sway below 1 Hz (0.02 m/s² per sinusoid, per axis) plus a damped 1.2 Hz response."""
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    a = np.zeros((n, 2))
    for f in (0.3, 0.45, 0.7, 1.0):
        a += 0.02 * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
    tau = t - event_s
    m = tau >= 0
    a[m, 0] += 0.6 * np.exp(-tau[m] / 0.6) * np.sin(2 * np.pi * 1.2 * tau[m])
    return a


def _broadband_sway_plus_response(n=6000, event_s=10.0):
    """Quiet sway (12 sinusoids 1-2.5 Hz, 0.012 m/s² each, per axis) plus a damped 1.2 Hz response."""
    t = np.arange(n) / FS
    rng = np.random.default_rng(3)
    a = np.zeros((n, 2))
    for f in np.linspace(1.0, 2.5, 12):
        a += 0.012 * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
    tau = t - event_s
    m = tau >= 0
    a[m, 0] += 0.6 * np.exp(-tau[m] / 0.5) * np.sin(2 * np.pi * 1.2 * tau[m])
    return a


def test_noise_correction_removes_the_early_bias():
    """Issue 13 finding 1 in miniature (science notes §2.4.3): white noise of an IMU's size
    (0.07 m/s² per axis) raises the quiet RMS and the uncorrected TTS comes out early (by
    ~0.9 s here, in 18 of 20 noise realisations); with the noise powers measured on an
    independent noise-only realisation (:func:`tts_noise`) and the high band's quiet level
    from the quiet parts of the recording (as the analysis does), the median error is ~0.
    A single realisation can still miss: where the profile hovers near the threshold a
    ±8 % threshold error (the noise's own fluctuation over a 5 s baseline) moves the crossing
    by up to ~1 s."""
    a = _broadband_sway_plus_response()
    params = TtsParams()
    truth = time_to_stabilise(a, FS, 10.0, params=RAW)
    corrected, uncorrected = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        noisy = a + rng.normal(size=a.shape) * 0.07
        noise = tts_noise(rng.normal(size=(6000, 2)) * 0.07, FS, params)
        ref = tts_signal(noisy, FS, params).quiet_reference([(10.0, 10.0)], noise)
        assert ref["extended_to_hz"] is None  # nothing but noise above 10 Hz
        c = time_to_stabilise(noisy, FS, 10.0, params=params, noise=noise, quiet_high_m2_s4=ref["quiet_high_m2_s4"])
        u = time_to_stabilise(noisy, FS, 10.0, params=params)
        assert c.fit["quiet_rms_mps2"] == pytest.approx(truth.fit["quiet_rms_mps2"], rel=0.2)
        assert u.fit["quiet_rms_mps2"] > 1.3 * truth.fit["quiet_rms_mps2"]
        corrected.append(c.tts_s - truth.tts_s)
        uncorrected.append(u.tts_s - truth.tts_s)
    assert abs(np.median(corrected)) < 0.1, corrected
    assert np.median(uncorrected) < -0.5, uncorrected
    # an all-noise quiet level is said, not turned into a threshold of zero
    pure = np.random.default_rng(0).normal(size=a.shape) * 0.07
    assert time_to_stabilise(pure, FS, 10.0, params=params, noise=TtsNoise(1.0, 1.0)).status == BELOW_NOISE


def test_the_band_split_is_exact_without_noise():
    """With no noise and the high band as quiet after the event as before, judging the low band
    against ``k²q² - q_H²`` gives the broadband rule's TTS (here within 0.05 s)."""
    a = _damped_response(seed=5)
    rng = np.random.default_rng(2)
    a = a + 0.02 * np.sin(2 * np.pi * 6.0 * np.arange(a.shape[0])[:, None] / FS + rng.uniform(0, 6, 2))
    broadband = time_to_stabilise(a, FS, 10.0, params=TtsParams(decision_lowpass_hz=None))
    split = time_to_stabilise(a, FS, 10.0, params=TtsParams(decision_lowpass_hz=3.0))
    assert split.stable and abs(split.tts_s - broadband.tts_s) < 0.05
    s = tts_signal(a, FS, TtsParams())
    assert s.low.shape == s.high.shape == (a.shape[0],)
    assert np.mean(s.high) > 0.1 * np.mean(s.low)


def test_detect_events_finds_bursts_and_their_peaks():
    t = np.arange(6000) / FS
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6000, 2)) * 0.02
    for onset in (12.0, 35.0):
        tau = t - onset
        m = tau >= 0
        a[m, 0] += 0.5 * np.exp(-tau[m] / 0.5) * np.sin(2 * np.pi * 1.0 * tau[m])
    events = detect_events(a, FS)
    assert events.shape == (2, 2)
    np.testing.assert_allclose(events[:, 0], [12.0, 35.0], atol=0.3)
    assert np.all(events[:, 1] >= events[:, 0]) and np.all(events[:, 1] - events[:, 0] < 1.0)
    assert detect_events(rng.normal(size=(3000, 2)) * 0.02, FS).shape == (0, 2)


def test_bad_arguments():
    y = np.ones(1000)
    with pytest.raises(ValueError, match="method"):
        time_to_stabilise(y, FS, 5.0, method="fastest")
    with pytest.raises(ValueError, match="onset"):
        time_to_stabilise(y, FS, 5.0, event_onset_s=6.0)
    with pytest.raises(ValueError, match="profile"):
        TtsParams(profile="peak")
    with pytest.raises(ValueError, match="decision_lowpass_hz"):
        TtsParams(decision_lowpass_hz=12.0)
    with pytest.raises(ValueError, match="hold_s"):
        TtsParams(hold_s=-1)
    with pytest.raises(ValueError, match="acc or prepared"):
        time_to_stabilise(None, FS, 5.0)


def _quiet_plus_response(seed, n=4000, event_s=15.0):
    """Quiet sway (four sinusoids 0.3-1 Hz, 0.025 m/s² each, per axis) plus a damped response."""
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    a = np.zeros((n, 2))
    for f in (0.3, 0.45, 0.7, 1.0):
        a += 0.025 * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
    tau = t - event_s
    m = tau >= 0
    a[m, 0] += 0.6 * np.exp(-tau[m] / 0.8) * np.sin(2 * np.pi * 1.2 * tau[m])
    a[m, 1] += 0.3 * np.exp(-tau[m] / 0.8) * np.sin(2 * np.pi * 1.0 * tau[m])
    return a


def test_quiet_sway_crossing_the_threshold_no_longer_delays_the_default_rule():
    """Quiet sway's own 1 s RMS crosses 1.5 × now and then. The rule "below until the end"
    gave 22.45, 2.03, 14.64, 2.91, 2.01 s on these five seeds (docs/metrics.md before issue 13);
    with the 1 s hold all five are 2-3 s, and the exponential fit agrees in size."""
    default = [time_to_stabilise(_quiet_plus_response(s), FS, 15.0).tts_s for s in range(5)]
    expo = [time_to_stabilise(_quiet_plus_response(s), FS, 15.0, method="exponential").tts_s for s in range(5)]
    assert max(default) < 3.2 and min(default) > 1.5, default
    assert all(math.isfinite(x) for x in expo) and max(expo) < 6.0, expo
