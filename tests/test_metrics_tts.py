"""Time to stabilise: each method on step responses and exponentials with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmi_sensors.metrics import TtsParams, detect_events, time_to_stabilise
from dmi_sensors.metrics.tts import NOT_STABLE

FS = 100.0
RAW = TtsParams(lowpass_hz=None)  # analytic magnitudes: no filter
DT = 1 / FS


def _series(after, event_s=10.0, total_s=30.0, quiet=1.0):
    """Magnitude signal: ``quiet`` before the event, ``after(τ)`` from the event on."""
    t = np.arange(round(total_s * FS)) / FS
    y = np.full_like(t, quiet)
    m = t >= event_s
    y[m] = after(t[m] - event_s)
    return y


CENTRED = TtsParams(lowpass_hz=None, rms_alignment="centred")


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
    assert not r.stable and r.status == NOT_STABLE and math.isnan(r.tts_s)
    assert r.to_dict()["tts_s"] is None


def test_moving_rms_needs_a_quiet_baseline():
    y = _series(lambda tau: 1.0 + 0 * tau, event_s=0.5)
    r = time_to_stabilise(y, FS, 0.5, params=RAW)
    assert not r.stable and "baseline" in r.status


def test_stop_limits_the_interval_and_is_recorded():
    # a second burst at 25 s: with the whole trial TTS waits for it; stopping at 24 s does not
    t = np.arange(3000) / FS
    y = np.ones_like(t)
    y[(t >= 10) & (t < 11)] = 4.0
    y[(t >= 25) & (t < 26)] = 4.0
    whole = time_to_stabilise(y, FS, 10.0, params=RAW)
    cut = time_to_stabilise(y, FS, 10.0, params=RAW, stop_s=24.0)
    assert whole.tts_s > 15.0
    assert cut.tts_s < 2.0 and cut.trial_after_s == pytest.approx(14.0)


@pytest.mark.parametrize(("total_after", "expected"), [(20.0, 1 / (0.05 + 0.25 * math.sqrt(0.05 * 0.95)))])
def test_colby_step_analytic_and_its_trial_length_dependence(total_after, expected):
    """Step A for D = 1 s, then 0, interval L: S(τ) = A·D/τ, band mean ± 0.25·SD with
    mean = A·p, SD = A·sqrt(p(1-p)), p = D/L: TTS = D/(p + 0.25·sqrt(p(1-p)))."""
    a, d = 2.0, 1.0

    def run(length):
        y = _series(lambda tau: np.where(tau < d, a, 0.0), total_s=10.0 + length)
        return time_to_stabilise(y, FS, 10.0, method="colby", params=RAW)

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
    params = TtsParams(lowpass_hz=None, profile="magnitude")
    r = time_to_stabilise(y, FS, 10.0, method="polynomial", params=params)
    assert r.stable and r.tts_s == pytest.approx(tau_star, abs=1.5 * DT)
    c = r.fit["coefficients"]
    # p(τ) = thr + s(τ* - τ) + 0.1s(τ* - τ)³ expanded
    expected = [thr + s * tau_star + 0.1 * s * tau_star**3, -s - 0.3 * s * tau_star**2, 0.3 * s * tau_star, -0.1 * s]
    np.testing.assert_allclose(c, expected, rtol=1e-6, atol=1e-9)


def test_polynomial_no_stable_state():
    y = _series(lambda tau: 5.0 + 0.1 * tau)
    r = time_to_stabilise(y, FS, 10.0, method="polynomial", params=RAW)
    assert not r.stable and r.status == NOT_STABLE


@pytest.mark.parametrize(("y_inf", "y0", "tau_c"), [(0.01, 0.137, 0.51), (0.010, 0.081, 0.95), (0.008, 0.057, 1.0)])
def test_exponential_fit_recovers_rabuffetti_parameters(y_inf, y0, tau_c):
    # Rabuffetti 2011 group means (sit-to-stand, step, bend) as test values
    y = _series(lambda tau: y_inf + (y0 - y_inf) * np.exp(-tau / tau_c), quiet=y_inf)
    params = TtsParams(lowpass_hz=None, profile="magnitude")
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=params)
    assert r.fit["y_inf_mps2"] == pytest.approx(y_inf, rel=1e-4)
    assert r.fit["y0_mps2"] == pytest.approx(y0, rel=1e-4)
    assert r.fit["time_constant_s"] == pytest.approx(tau_c, rel=1e-4)
    assert r.tts_s == pytest.approx(tau_c * math.log(20), rel=1e-4)


def test_exponential_on_moving_rms_keeps_the_time_constant_when_y_inf_is_zero():
    # RMS over a centred window of Y0·e^(-τ/T) is the same exponential times a constant
    y = _series(lambda tau: 0.2 * np.exp(-tau / 0.8), quiet=0.0, total_s=20.0)
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=RAW)
    assert r.fit["time_constant_s"] == pytest.approx(0.8, rel=0.03)


def test_exponential_reports_growth_as_no_stable_state():
    y = _series(lambda tau: 0.1 + 0.01 * tau, quiet=0.1)
    r = time_to_stabilise(y, FS, 10.0, method="exponential", params=RAW)
    assert not r.stable and NOT_STABLE in r.status


def test_two_component_input_uses_the_horizontal_magnitude():
    t = np.arange(2000) / FS
    ap = np.where((t >= 10) & (t < 12), 3.0, 0.6)
    ml = np.where((t >= 10) & (t < 12), 4.0, 0.8)  # |a| = 5 then 1
    r2 = time_to_stabilise(np.column_stack([ap, ml]), FS, 10.0, params=RAW)
    r1 = time_to_stabilise(np.hypot(ap, ml), FS, 10.0, params=RAW)
    assert r2.tts_s == r1.tts_s


def test_lowpass_keeps_tts_close_to_the_noise_free_value():
    """IMU white noise (0.07 m/s² RMS per axis) over a damped response and quiet sway below
    1 Hz: filtering at 2 Hz keeps the TTS near the noise-free one; without a filter the noise
    inflates the quiet RMS (and the threshold) and shortens the TTS."""
    t = np.arange(3000) / FS
    rng = np.random.default_rng(3)
    a = np.zeros((3000, 2))
    for f in (0.3, 0.45, 0.7, 1.0):
        a += 0.02 * np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, 2))
    tau = t - 10.0
    m = tau >= 0
    a[m, 0] += 0.6 * np.exp(-tau[m] / 0.6) * np.sin(2 * np.pi * 1.2 * tau[m])
    noisy = a + rng.normal(size=a.shape) * 0.07
    two_hz = TtsParams(lowpass_hz=2.0)
    truth = time_to_stabilise(a, FS, 10.0, params=RAW)
    filtered = time_to_stabilise(noisy, FS, 10.0, params=two_hz)
    unfiltered = time_to_stabilise(noisy, FS, 10.0, params=RAW)
    assert truth.stable and filtered.stable
    assert abs(filtered.tts_s - truth.tts_s) < 0.1
    assert unfiltered.fit["quiet_rms_mps2"] > 2 * filtered.fit["quiet_rms_mps2"]
    assert truth.tts_s - unfiltered.tts_s > 1.0


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


def test_quiet_sway_alone_can_delay_the_default_rule_but_not_the_exponential_fit():
    """The sensitivity documented in docs/metrics.md (same seeds, same numbers)."""
    default = [time_to_stabilise(_quiet_plus_response(s), FS, 15.0).tts_s for s in range(5)]
    expo = [time_to_stabilise(_quiet_plus_response(s), FS, 15.0, method="exponential").tts_s for s in range(5)]
    np.testing.assert_allclose(default, [22.45, 2.03, 14.64, 2.91, 2.01], atol=0.01)
    assert max(expo) < 2.5 and min(expo) > 1.0
