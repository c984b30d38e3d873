"""Device sample counters + host arrival times -> drift-corrected sample times.

Model
-----
The device samples at a nominal rate ``fs_hz`` from its own crystal, which runs fast or slow
by up to a few hundred ppm. Samples travel in packets; a packet leaves the sensor at the
next BLE connection event after its last sample was taken, possibly several connection
intervals later (retransmissions), and the host stamps its arrival. So for every sample
``i`` with unwrapped counter ``c_i``::

    host_time_i = offset_s + period_s * (c_i - counter_ref) + latency_i,   latency_i >= 0

The latency is positive, quantised to the connection interval and heavy-tailed. A
least-squares fit would be biased by its mean (often 10-50 ms) and dragged by stalls, so
:func:`fit_clock` fits the *lower envelope*:

1. ``y_i = host_time_i - c_i / fs_hz`` (nominal rate removed);
2. split the counter range into windows of ``window_s``; keep each window's minimum of
   ``y`` (the least-delayed sample, almost always the last sample of a packet);
3. a robust preliminary slope through the window minima by the Theil–Sen estimator (median
   of pairwise slopes), which ignores windows where every packet was late;
4. the window minima of the residual from that slope; minima lying implausibly far *below*
   the others (more than 6 robust standard deviations: a physically impossible early
   arrival, e.g. a host clock step) are discarded;
5. the final line is the lower supporting line of the remaining minima (the edge of their
   lower convex hull above the mean counter) — the minimum-delay estimate of the
   clock-synchronisation literature: it minimises the summed latency subject to every
   latency being >= 0. Its anchors are the least-delayed packets of the recording.

Accuracy: the drift is found to a few ppb over an hour; the absolute offset is as good
as the smallest latency observed. When the packet period and the connection interval are
nearly commensurate the waiting time takes only a few values, so in short recordings
(seconds) the offset can be late by up to a fraction of the connection interval; over
long recordings clock drift sweeps the phases and the error falls below 1 ms.

The result maps counters to the host-clock time at which each sample was *taken*,
assuming the fastest packets have (close to) zero latency. A constant pipeline latency
(radio + USB + OS) is not observable from the data; pass it as ``latency_floor_s`` if
known. Sample times derive from counters only, so they stay exact across lost packets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["ClockFit", "fit_clock", "lower_support_line", "theil_sen_slope"]


@dataclass(frozen=True)
class ClockFit:
    """A fitted device clock: ``time_s = offset_s + period_s * (counter - counter_ref)``.

    Attributes
    ----------
    offset_s
        Host-clock time (s since session start) at which sample ``counter_ref`` was taken.
    period_s
        Actual sample period measured on the host clock, s.
    counter_ref
        Reference counter (the first one fitted), keeps the arithmetic precise.
    fs_hz
        The device's nominal sample rate.
    drift_ppm
        ``(period_s * fs_hz - 1) * 1e6``: + when the device clock runs slow (its samples are
        further apart than nominal).
    latency_floor_s
        The constant latency subtracted (given to :func:`fit_clock`).
    window_s, n_windows
        Window used for the lower envelope and how many windows had samples.
    latency_median_s, latency_p99_s
        Median and 99th percentile of the residual host latency ``host - time_s`` over all
        samples (packet latency plus the within-packet age of each sample).
    """

    offset_s: float
    period_s: float
    counter_ref: int
    fs_hz: float
    drift_ppm: float
    latency_floor_s: float
    window_s: float
    n_windows: int
    latency_median_s: float
    latency_p99_s: float

    def time_s(self, counter: np.ndarray) -> np.ndarray:
        """Drift-corrected sample times for (unwrapped) ``counter`` values, s."""
        c = np.asarray(counter, dtype=np.int64) - self.counter_ref
        return self.offset_s + self.period_s * c.astype(np.float64)

    @property
    def fs_actual_hz(self) -> float:
        """The actual sample rate on the host clock, ``1 / period_s``."""
        return 1.0 / self.period_s


def theil_sen_slope(x: np.ndarray, y: np.ndarray, max_points: int = 400) -> float:
    """Median of the pairwise slopes ``(y_j - y_i) / (x_j - x_i)``, ``i < j``, ``x_i != x_j``.

    With more than ``max_points`` points an evenly spaced subset is used (O(max_points²)).
    Breakdown point ~29 %: up to that fraction of arbitrary outliers leaves it bounded.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] > max_points:
        idx = np.unique(np.linspace(0, x.shape[0] - 1, max_points).round().astype(np.int64))
        x, y = x[idx], y[idx]
    i, j = np.triu_indices(x.shape[0], k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return 0.0
    return float(np.median((y[j] - y[i])[ok] / dx[ok]))


def lower_support_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(slope, intercept)`` of the line below every point ``(x, y)`` minimising ``sum(y - line)``.

    That line supports the lower convex hull at ``mean(x)``: it is the hull edge spanning
    ``mean(x)`` (or the horizontal line through the single point when there is one).
    ``x`` must be strictly increasing.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] == 1:
        return 0.0, float(y[0])
    hull: list[int] = []
    for i in range(x.shape[0]):  # Andrew's monotone chain, lower hull
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    xm = float(np.mean(x))
    hx = x[hull]
    e = int(np.clip(np.searchsorted(hx, xm, side="right") - 1, 0, len(hull) - 2))
    i0, i1 = hull[e], hull[e + 1]
    slope = float((y[i1] - y[i0]) / (x[i1] - x[i0]))
    return slope, float(y[i0] - slope * x[i0])


def _window_minima(
    c: np.ndarray, h: np.ndarray, c_ref: int, fs_hz: float, width: int, slope: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per window of ``width`` counter values: ``(k, y)`` at the (first) minimum of
    ``y = h - k / fs_hz`` (minus ``slope * k`` when given), ``k = c - c_ref``.

    One pass in a kernel (:mod:`._clock_kernels`): no per-sample temporaries.
    """
    from dmi_sensors.timing._clock_kernels import window_minima

    n_windows = min(int(c.shape[0]), int((int(c[-1]) - c_ref) // width - (int(c[0]) - c_ref) // width + 1))
    out_c = np.empty(n_windows, dtype=np.int64)
    out_y = np.empty(n_windows, dtype=np.float64)
    m = window_minima(c, h, c_ref, float(fs_hz), float(slope or 0.0), slope is not None, width, out_c, out_y)
    return out_c[:m], out_y[:m]


def fit_clock(
    counter: np.ndarray,
    host_time_s: np.ndarray,
    fs_hz: float,
    window_s: float | None = None,
    latency_floor_s: float = 0.0,
    *,
    latency_stats: bool = True,
) -> ClockFit:
    """Robust drift/offset fit of device counters against host arrival times (see module doc).

    Parameters
    ----------
    counter
        Unwrapped device sample counters, strictly increasing (lost samples leave holes).
    host_time_s
        Host arrival time of the packet carrying each sample, s (same length).
    fs_hz
        Nominal sample rate.
    window_s
        Lower-envelope window; default: 1/32 of the recording, clamped to [1 s, 30 s].
    latency_floor_s
        Known constant minimum latency to subtract (default 0).
    latency_stats
        Compute ``latency_median_s`` / ``latency_p99_s`` (one float per sample); False leaves
        them NaN and the line (offset, period) unchanged: what an export needs to time the
        samples of a long recording in bounded memory.
    """
    from dmi_sensors.timing._clock_kernels import first_not_increasing, latencies

    c = np.ascontiguousarray(counter, dtype=np.int64)
    h = np.ascontiguousarray(host_time_s, dtype=np.float64)
    if c.ndim != 1 or c.shape != h.shape:
        raise ParameterError(f"counter and host_time_s must be 1-D of equal length, got {c.shape} and {h.shape}")
    if c.shape[0] < 2:
        raise ParameterError("fit_clock needs at least 2 samples")
    if not fs_hz > 0:
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    if not np.all(np.isfinite(h)):
        raise ParameterError("host_time_s contains non-finite values")
    bad = int(first_not_increasing(c))
    if bad >= 0:
        raise ParameterError(
            f"counter must be strictly increasing (unwrapped); sample {bad} has {c[bad]} after {c[bad - 1]}: "
            "a device reset or duplicate packets must be split off first"
        )
    # y = h - k / fs_hz with k = c - c_ref, evaluated sample by sample in the kernels (no
    # per-sample temporaries: a 10-hour recording's clock fits in bounded memory)
    c_ref = int(c[0])
    span_s = float(c[-1] - c_ref) / fs_hz
    if window_s is None:
        window_s = float(min(30.0, max(1.0, span_s / 32.0)))
    width = max(1, round(window_s * fs_hz))
    ck, yk = _window_minima(c, h, c_ref, fs_hz, width)
    slope0 = theil_sen_slope(ck.astype(np.float64), yk) if ck.shape[0] >= 2 else 0.0
    # minima of the detrended residual (the drift moves the minimum within a window)
    ck, rk = _window_minima(c, h, c_ref, fs_hz, width, slope=slope0)
    ck = ck.astype(np.float64)
    med = float(np.median(rk))
    mad = float(np.median(np.abs(rk - med))) * 1.4826
    plausible = rk >= med - 6.0 * max(mad, 1e-4)
    dslope, intercept = lower_support_line(ck[plausible], rk[plausible])
    slope = slope0 + dslope
    period = (1.0 + slope * fs_hz) / fs_hz
    offset = intercept - latency_floor_s
    latency_median_s = latency_p99_s = float("nan")
    if latency_stats:
        lat = np.empty(c.shape[0])
        latencies(c, h, c_ref, offset, period, lat)
        latency_median_s = float(np.median(lat, overwrite_input=True))  # order statistics: same values
        latency_p99_s = float(np.quantile(lat, 0.99, overwrite_input=True))
    return ClockFit(
        offset_s=offset,
        period_s=period,
        counter_ref=c_ref,
        fs_hz=float(fs_hz),
        drift_ppm=(period * fs_hz - 1.0) * 1e6,
        latency_floor_s=float(latency_floor_s),
        window_s=float(window_s),
        n_windows=int(ck.shape[0]),
        latency_median_s=latency_median_s,
        latency_p99_s=latency_p99_s,
    )
