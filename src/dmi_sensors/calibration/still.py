"""Still-period detection and the gyroscope bias measured over still periods.

A sample is **still** when, over a centred window of ``window_s`` seconds around it,

* the standard deviation of every accelerometer axis is below ``acc_std_max_mps2``, and
* the standard deviation of every gyroscope axis is below ``gyr_std_max_rps``.

Standard deviations (not magnitudes) are used so that a gyroscope bias or a tilted
accelerometer does not count as motion. A slow rotation (a sensor settling, a hand
drifting by a degree) barely raises the standard deviation but biases the mean rate, so
in addition the centred moving mean of the angular rate (same window) must stay within
``gyr_mean_dev_max_rps`` of the run's median rate (``None`` switches this off). Runs of still samples shorter than
``min_duration_s`` are dropped; ``trim_s`` seconds are removed from both ends of each run
so that the edges of a movement never leak in. The fixed thresholds suit a sensor lying
on a table or pressed against a box by hand (MEMS noise ~0.01-0.02 m/s^2 and ~0.002
rad/s RMS; hand tremor adds a few hundredths of m/s^2). A noisier sensor would never
look still, so by default (``adaptive``) each threshold is raised to ``noise_factor``
times the recording's own noise floor (the 5th percentile of the moving std), capped at
``acc_std_cap_mps2`` / ``gyr_std_cap_rps`` so that real movement is never taken for
rest. See ``docs/calibration.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = [
    "StillParameters",
    "StillSegment",
    "detect_still",
    "effective_sample_count",
    "gyro_bias_from_still",
    "moving_std",
    "still_segments",
]


@dataclass(frozen=True)
class StillParameters:
    """Thresholds of the still detector (see the module docstring)."""

    window_s: float = 0.5
    acc_std_max_mps2: float = 0.06
    gyr_std_max_rps: float = 0.02
    min_duration_s: float = 1.0
    trim_s: float = 0.1
    gyr_mean_dev_max_rps: float | None = 0.005
    adaptive: bool = True
    noise_factor: float = 2.5
    acc_std_cap_mps2: float = 0.25
    gyr_std_cap_rps: float = 0.06

    def thresholds(self, acc_std: np.ndarray, gyr_std: np.ndarray) -> tuple[float, float]:
        """Effective (acc, gyr) std thresholds given the moving std (max over axes) of a recording.

        With ``adaptive``, each is raised to ``noise_factor`` times the recording's noise
        floor (5th percentile of the moving std), never above the caps.
        """
        acc_thr, gyr_thr = self.acc_std_max_mps2, self.gyr_std_max_rps
        if self.adaptive and acc_std.size:
            acc_thr = max(acc_thr, min(self.noise_factor * float(np.percentile(acc_std, 5)), self.acc_std_cap_mps2))
            gyr_thr = max(gyr_thr, min(self.noise_factor * float(np.percentile(gyr_std, 5)), self.gyr_std_cap_rps))
        return acc_thr, gyr_thr

    def describe(self) -> str:
        """One line for error messages."""
        text = (
            f"still = std over {self.window_s:g} s below {self.acc_std_max_mps2:g} m/s^2 (acc) and "
            f"{self.gyr_std_max_rps:g} rad/s (gyro)"
        )
        if self.adaptive:
            text += (
                f", raised to {self.noise_factor:g}x the recording's noise floor up to "
                f"{self.acc_std_cap_mps2:g} m/s^2 / {self.gyr_std_cap_rps:g} rad/s"
            )
        return text + f", for at least {self.min_duration_s:g} s"


@dataclass(frozen=True)
class StillSegment:
    """A still run ``[start, stop)`` in samples, with its mean readings (sensor frame)."""

    start: int
    stop: int
    fs_hz: float
    acc_mean_mps2: np.ndarray
    gyr_mean_rps: np.ndarray
    acc_std_mps2: np.ndarray

    @property
    def n(self) -> int:
        return self.stop - self.start

    @property
    def start_s(self) -> float:
        return self.start / self.fs_hz

    @property
    def duration_s(self) -> float:
        return self.n / self.fs_hz


def moving_std(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving standard deviation (population) of each column of ``x`` (n, k).

    The window is ``window`` samples (odd lengths centre exactly), shrunk at the ends. Uses
    cumulative sums of the mean-removed signal (float64), O(n).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n == 0:
        return np.zeros_like(x)
    window = max(1, min(int(window), n))
    xc = x - x.mean(axis=0)
    c1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(xc, axis=0)])
    c2 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(xc * xc, axis=0)])
    half = window // 2
    idx = np.arange(n)
    lo = np.clip(idx - half, 0, n)
    hi = np.clip(idx - half + window, 0, n)
    cnt = (hi - lo)[:, None].astype(np.float64)
    mean = (c1[hi] - c1[lo]) / cnt
    var = (c2[hi] - c2[lo]) / cnt - mean * mean
    return np.sqrt(np.maximum(var, 0.0))


def detect_still(
    acc_mps2: np.ndarray, gyr_rps: np.ndarray, fs_hz: float, params: StillParameters | None = None
) -> np.ndarray:
    """Boolean mask ``(n,)``: True where the sensor is still (before duration filtering)."""
    p = params or StillParameters()
    acc = np.asarray(acc_mps2, dtype=np.float64)
    gyr = np.asarray(gyr_rps, dtype=np.float64)
    if acc.shape != gyr.shape or acc.ndim != 2 or acc.shape[1] != 3:
        raise ParameterError(f"acc and gyr must both be (n, 3); got {acc.shape} and {gyr.shape}")
    w = max(3, round(p.window_s * fs_hz))
    acc_std = moving_std(acc, w).max(axis=1)
    gyr_std = moving_std(gyr, w).max(axis=1)
    acc_thr, gyr_thr = p.thresholds(acc_std, gyr_std)
    mask = (acc_std < acc_thr) & (gyr_std < gyr_thr)
    if p.gyr_mean_dev_max_rps is None:
        return mask
    # Slow rotations (a sensor settling, a hand drifting) hardly raise the std but bias the
    # mean rate: within each run the moving mean rate must stay near the run's median rate.
    mean = _moving_mean(gyr, w)
    for a, b in _runs(mask):
        dev = np.abs(mean[a:b] - np.median(gyr[a:b], axis=0)).max(axis=1)
        mask[a:b] &= dev <= p.gyr_mean_dev_max_rps
    return mask


def _moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    n = x.shape[0]
    window = max(1, min(window, n))
    c = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x - x.mean(axis=0), axis=0)])
    lo = np.clip(np.arange(n) - window // 2, 0, n)
    hi = np.clip(np.arange(n) - window // 2 + window, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)[:, None] + x.mean(axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def still_segments(
    acc_mps2: np.ndarray, gyr_rps: np.ndarray, fs_hz: float, params: StillParameters | None = None
) -> list[StillSegment]:
    """Still runs of at least ``min_duration_s`` (after trimming ``trim_s`` at both ends)."""
    p = params or StillParameters()
    acc = np.asarray(acc_mps2, dtype=np.float64)
    gyr = np.asarray(gyr_rps, dtype=np.float64)
    trim = round(p.trim_s * fs_hz)
    need = max(2, math.ceil(p.min_duration_s * fs_hz - 1e-9))
    out = []
    for a, b in _runs(detect_still(acc, gyr, fs_hz, p)):
        a, b = a + trim, b - trim
        if b - a >= need:
            out.append(
                StillSegment(a, b, fs_hz, acc[a:b].mean(axis=0), gyr[a:b].mean(axis=0), acc[a:b].std(axis=0, ddof=1))
            )
    return out


def effective_sample_count(x: np.ndarray) -> np.ndarray:
    """Effective number of independent samples of each column of ``x`` (n, k).

    AR(1) approximation: ``n_eff = n (1 - r1) / (1 + r1)`` with ``r1`` the lag-1
    autocorrelation (clipped to [0, 0.99]); white noise gives ``n_eff ~= n``, low-passed
    noise fewer. This keeps the bias uncertainty honest when the sensor's own filter
    correlates neighbouring samples.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n < 3:
        return np.full(x.shape[1], float(n))
    xc = x - x.mean(axis=0)
    den = (xc * xc).sum(axis=0)
    num = (xc[1:] * xc[:-1]).sum(axis=0)
    r1 = np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 0.99)
    return n * (1.0 - r1) / (1.0 + r1)


@dataclass(frozen=True)
class GyroBiasEstimate:
    """Result of :func:`gyro_bias_from_still`."""

    bias_rps: np.ndarray
    bias_stderr_rps: np.ndarray
    n_samples: int
    still_duration_s: float
    segments: list[StillSegment]


def gyro_bias_from_still(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    params: StillParameters | None = None,
    min_total_s: float = 2.0,
) -> GyroBiasEstimate:
    """Gyroscope bias = mean angular rate over all still samples, with its standard error.

    ``bias_stderr_rps[i] = std_i / sqrt(n_eff_i)`` where ``std_i`` is the sample standard
    deviation of axis ``i`` pooled over all still samples and ``n_eff_i`` their effective
    sample count (:func:`effective_sample_count`, computed per segment and summed), i.e.
    the uncertainty shrinks as ``1/sqrt(n)`` for white noise and slower for correlated noise.
    Raises ``ValueError`` naming the thresholds when less than ``min_total_s`` seconds
    are still.
    """
    p = params or StillParameters()
    gyr = np.asarray(gyr_rps, dtype=np.float64)
    segs = still_segments(acc_mps2, gyr, fs_hz, p)
    total = sum(s.n for s in segs)
    if total / fs_hz < min_total_s:
        longest = max((s.duration_s for s in segs), default=0.0)
        raise ParameterError(
            f"gyro bias: only {total / fs_hz:.2f} s of still data in {gyr.shape[0] / fs_hz:.1f} s "
            f"(longest still period {longest:.2f} s); need {min_total_s:g} s ({p.describe()}). "
            "Keep the sensor lying still on a table."
        )
    pooled = np.concatenate([gyr[s.start : s.stop] for s in segs])
    n_eff = np.sum([effective_sample_count(gyr[s.start : s.stop]) for s in segs], axis=0)
    bias = pooled.mean(axis=0)
    stderr = pooled.std(axis=0, ddof=1) / np.sqrt(n_eff)
    return GyroBiasEstimate(bias, stderr, int(total), total / fs_hz, segs)
