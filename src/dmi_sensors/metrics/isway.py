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
Martinez-Mendez's max(A) - min(A) of the resultant. MV (``acc_mean_velocity_m_s``)
integrates the acceleration; the paper's drift handling is unknown [R], we remove a
straight line from each velocity component per window. Spectral measures are on AP and ML.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.metrics import _kernels as K
from dmi_sensors.metrics.prieto import _check, _spectral_named, prieto_from_stats
from dmi_sensors.metrics.spectral import DEFAULT_SPECTRAL, SpectralParams

__all__ = ["isway_from_stats", "isway_measures"]


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

    Returns
    -------
    dict
        Registered metric names (``acc_*``, ``jerk_*``, ``duration_s``, ``n_samples``) -> float.
    """
    ap, ml = _check(acc_ap_mps2, acc_ml_mps2, fs_hz)
    n = ap.shape[0]
    starts, stops = np.array([0]), np.array([n])
    stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((1, K.N_STATS)))
    speed = K.integrated_speed_mean(ap, ml, starts, stops, float(fs_hz), np.empty(1))
    out = {"duration_s": n / fs_hz, "n_samples": float(n)}
    out.update({k: float(v[0]) for k, v in isway_from_stats(stats, speed, fs_hz).items()})
    out.update(_spectral_named("acc", ("_ap", "_ml"), (ap, ml), fs_hz, spectral, "m2_s4"))
    return out
