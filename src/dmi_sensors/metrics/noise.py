"""Sensor noise and noise floors: how much of a number is the sensor's own noise.

Every IMU reading is ``signal + noise``. Noise adds in power (it is independent of the
motion), so a metric computed on pure noise — the same pipeline run on a noise-only replica
of the recording — is that metric's **noise floor**: a measured value near it says
"indistinguishable from noise", whatever the formula.

* :func:`sensor_noise_rms` — per-axis white-noise RMS per sample of a raw channel, from the
  median Welch PSD of its **high band** (``band_frac`` of Nyquist, default 0.6-0.95), where
  body motion has no power left (quiet sway and reaching lie below ~10 Hz). For white noise
  of RMS σ at rate fs the one-sided PSD is ``2σ²/fs``, so ``σ = sqrt(median PSD · fs / 2)``.
  The median ignores a few movement bursts. A still bench recording or the calibration
  gives the same number; a recording sampled below ~40 Hz has no motion-free band and the
  estimate is then an upper bound.
* :func:`below_noise_floor` — the rule used everywhere a value is compared with its floor.

The analysis layer builds the replica (it knows the pipeline): see
:func:`dmi_sensors.analysis.trial.noise_floors`.
"""

from __future__ import annotations

import math

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.spectral import welch

__all__ = ["NOISE_FLOOR_MARGIN", "below_noise_floor", "sensor_noise_rms"]

#: A value is "below the noise floor" when it is less than this × the floor. Noise adds in
#: power: a measured RMS of 1.25 × the noise's RMS leaves a signal of 0.75 × it.
NOISE_FLOOR_MARGIN = 1.25


def sensor_noise_rms(x: np.ndarray, fs_hz: float, band_frac: tuple[float, float] = (0.6, 0.95)) -> np.ndarray:
    """White-noise RMS per sample of each column of ``x`` ``(n, k)`` (unit of ``x``), shape ``(k,)``.

    From the median one-sided Welch PSD (Hann, 50 % overlap, segments of up to 4 s) over
    ``band_frac`` × Nyquist (module docs). NaN rows are not allowed (pass a gap-free piece).
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 16:
        raise ParameterError(f"sensor_noise_rms needs (n >= 16, k) samples, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError("sensor_noise_rms: the signal contains NaN or inf (pass a gap-free piece)")
    lo, hi = band_frac
    if not (0.0 < lo < hi <= 1.0):
        raise ParameterError(f"band_frac must satisfy 0 < lo < hi <= 1, got {band_frac}")
    nperseg = int(min(a.shape[0], max(16, round(4.0 * fs_hz))))
    f, p = welch(np.ascontiguousarray((a - a.mean(axis=0)).T), fs_hz, nperseg, detrend=False)
    p = p.T  # (frequency, column)
    nyq = fs_hz / 2.0
    band = (f >= lo * nyq) & (f <= hi * nyq)
    if np.count_nonzero(band) < 2:
        raise ParameterError(f"too few PSD bins in {lo}-{hi} × Nyquist at {fs_hz} Hz with {a.shape[0]} samples")
    dens = np.median(p[band], axis=0)
    return np.sqrt(np.maximum(dens, 0.0) * fs_hz / 2.0)


def below_noise_floor(value: float | None, floor: float | None, squared: bool = False, corrected: bool = False) -> bool:
    """True when ``value < NOISE_FLOOR_MARGIN × floor`` (both finite, floor > 0).

    ``squared``: the measure grows with the square of the signal (powers, areas, JERK: unit
    with a ²), so noise adds to it linearly; the margin is then ``NOISE_FLOOR_MARGIN²``, the
    same signal-to-noise ratio. ``corrected``: ``value`` was already corrected for the floor
    in power (``sqrt(raw² - floor²)``); the same test is then ``value < sqrt(margin² - 1) × floor``.
    """
    if value is None or floor is None:
        return False
    v, f = float(value), float(floor)
    if not (math.isfinite(v) and math.isfinite(f)) or f <= 0.0:
        return False
    if corrected:
        return abs(v) < math.sqrt(NOISE_FLOOR_MARGIN**2 - 1.0) * f
    margin = NOISE_FLOOR_MARGIN**2 if squared else NOISE_FLOOR_MARGIN
    return abs(v) < margin * f
