"""ISway measures (Mancini et al. 2012) of horizontal trunk acceleration.

Input: AP (+ forward) and ML (+ left) horizontal acceleration in m/s² on a uniform grid,
already filtered (Mancini: zero-lag low-pass ~3.5 Hz [R]; :func:`analyse_trial` records
what it used). Each signal (or window) is de-meaned here. T = N/fs.

Two different "jerks" exist and get different names:

``jerk_isway_m2_s5``       ½ ∫ (dAP/dt)² + (dML/dt)² dt, not divided by T (Mancini 2012
                           Table 2, [V-src]); it grows with trial length, so
``jerk_isway_per_s_m2_s6`` = jerk_isway_m2_s5 / T is given too. Derivatives are forward
                           differences, the integral a sum over the N-1 intervals:
                           ½·fs·Σ(ΔAP² + ΔML²). (Picerno's code omits the ½.)
``jerk_mm2012_mps3``       Martinez-Mendez et al. 2012 eq. A8, "average change in
                           acceleration" = Σ sqrt(ΔAP² + ΔML²) / T = PATH/T [V-impl].

DIST, RMS, PATH, RANGE, MF, AREA are Prieto's formulas applied to acceleration
(``acc_mean_dist_mps2``, ``acc_rms_mps2``, ``acc_path_length_mps2``, ``acc_range_mps2``,
``acc_mean_freq_hz``, ``acc_sway_area_m2_s5``); ``acc_range_mm2012_mps2`` is
Martinez-Mendez's max(A) - min(A) of the resultant. Spectral measures are on AP and ML.

MV (``acc_mean_velocity_m_s``) is the mean speed of the integrated acceleration. The paper's
drift handling is unknown [R]; integrated noise and any residual tilt error (g·δθ) drift
as a random walk, so without control MV is mostly integrated noise (4.7× the true sensor
speed in an independent check). Here (:func:`sway_velocity`): zero-phase 2nd-order
Butterworth high-pass at ``velocity_highpass_hz`` (0.1 Hz) on the acceleration, trapezoid
integral, the same high-pass on the velocity (``dsp.integrate_drift_controlled``); sway
slower than 0.1 Hz is lost by design. What noise is left is removed in power when its
floor is known (``mv_noise_floor_m_s``: the same MV of a noise-only replica of the
recording, as the analysis computes it): ``MV = sqrt(max(MV_raw² - floor², 0))``, because
the noise's velocity is independent of the sway's. Without a floor the raw value is
returned.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.metrics import _kernels as K
from dmi_sensors.metrics.prieto import _check, _spectral_named, prieto_from_stats
from dmi_sensors.metrics.spectral import DEFAULT_SPECTRAL, SpectralParams

__all__ = ["VELOCITY_HIGHPASS_HZ", "isway_from_stats", "isway_measures", "noise_corrected_speed", "sway_velocity"]

#: High-pass of the ISway mean velocity's integration, Hz.
VELOCITY_HIGHPASS_HZ = 0.1


def sway_velocity(
    acc_ap_mps2: np.ndarray, acc_ml_mps2: np.ndarray, fs_hz: float, highpass_hz: float = VELOCITY_HIGHPASS_HZ
) -> tuple[np.ndarray, np.ndarray]:
    """Drift-free horizontal velocity (m/s) of a horizontal acceleration (module docs): zero-phase
    2nd-order Butterworth high-pass, trapezoid integral (its mean removed), the same high-pass;
    both filters mirror-extend the signal by ``1/highpass_hz`` s (at most its length - 1), which
    keeps the ends free of the ringing an odd extension about a wandering velocity causes.
    Returns ``(v_ap, v_ml)``; NaN for fewer than 4 samples."""
    from dmi_sensors.dsp import butter_highpass, filtfilt

    acc = np.column_stack([np.asarray(acc_ap_mps2, dtype=np.float64), np.asarray(acc_ml_mps2, dtype=np.float64)])
    n = acc.shape[0]
    if n < 4:
        nan = np.full(n, np.nan)
        return nan, nan.copy()
    sos = butter_highpass(highpass_hz, fs_hz, 2)
    pad = min(n - 1, round(fs_hz / highpass_hz))
    a = filtfilt(sos, acc, padlen=pad, padtype="even")
    v = np.zeros_like(a)
    v[1:] = np.cumsum(0.5 * (a[1:] + a[:-1]), axis=0) / fs_hz
    v = filtfilt(sos, v - v.mean(axis=0), padlen=pad, padtype="even")
    return np.ascontiguousarray(v[:, 0]), np.ascontiguousarray(v[:, 1])


def noise_corrected_speed(value, floor):
    """``sqrt(max(value² - floor², 0))`` elementwise (NaN floor: ``value`` unchanged)."""
    v = np.asarray(value, dtype=np.float64)
    f = np.asarray(floor, dtype=np.float64)
    corrected = np.sqrt(np.maximum(v * v - f * f, 0.0))
    return np.where(np.isfinite(f), corrected, v)


def isway_from_stats(stats: np.ndarray, speed_mean: np.ndarray, fs_hz: float) -> dict[str, np.ndarray]:
    """ISway time-domain measures from kernel statistics (see module docs)."""
    s = np.atleast_2d(stats)
    n = s[:, K.S_N]
    t = n / fs_hz
    out = prieto_from_stats(s, fs_hz, prefix="acc", unit="mps2")
    with np.errstate(invalid="ignore", divide="ignore"):
        jerk = 0.5 * fs_hz * s[:, K.S_DIFF2]
        out["jerk_isway_m2_s5"] = jerk
        out["jerk_isway_per_s_m2_s6"] = jerk / t
        out["jerk_mm2012_mps3"] = s[:, K.S_TOTEX] / t
        out["acc_range_mm2012_mps2"] = s[:, K.S_RD_MAX] - s[:, K.S_RD_MIN]
        out["acc_mean_velocity_m_s"] = np.asarray(speed_mean, dtype=np.float64)
        out["acc_mean_freq_hz"] = s[:, K.S_TOTEX] / (2 * np.pi * s[:, K.S_MDIST] * t)
        out["acc_sway_area_m2_s5"] = s[:, K.S_CROSS] / (2.0 * t)
    return out


def isway_measures(
    acc_ap_mps2: np.ndarray,
    acc_ml_mps2: np.ndarray,
    fs_hz: float,
    spectral: SpectralParams = DEFAULT_SPECTRAL,
    velocity_highpass_hz: float = VELOCITY_HIGHPASS_HZ,
    mv_noise_floor_m_s: float | None = None,
) -> dict[str, float]:
    """All ISway measures of one horizontal-acceleration recording.

    Parameters
    ----------
    acc_ap_mps2, acc_ml_mps2
        Horizontal trunk acceleration, m/s², AP (+ forward) and ML (+ left); filter
        before calling. The mean is removed here.
    fs_hz
        Sample rate, Hz.
    spectral
        Band and PSD estimator of the frequency measures (AP and ML).
    velocity_highpass_hz
        High-pass of the mean velocity's integration, Hz (module docs).
    mv_noise_floor_m_s
        The mean velocity of the noise alone; when given MV is corrected for it in power.

    Returns
    -------
    dict
        Registered metric names (``acc_*``, ``jerk_*``, ``duration_s``, ``n_samples``) -> float.
    """
    ap, ml = _check(acc_ap_mps2, acc_ml_mps2, fs_hz)
    n = ap.shape[0]
    starts, stops = np.array([0]), np.array([n])
    stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((1, K.N_STATS)))
    v_ap, v_ml = sway_velocity(ap, ml, fs_hz, velocity_highpass_hz)
    speed = K.speed_mean(v_ap, v_ml, starts, stops, np.empty(1))
    if mv_noise_floor_m_s is not None:
        speed = noise_corrected_speed(speed, mv_noise_floor_m_s)
    out = {"duration_s": n / fs_hz, "n_samples": float(n)}
    out.update({k: float(v[0]) for k, v in isway_from_stats(stats, speed, fs_hz).items()})
    out.update(_spectral_named("acc", ("_ap", "_ml"), (ap, ml), fs_hz, spectral, "m2_s4"))
    return out
