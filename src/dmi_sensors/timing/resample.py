"""Resampling onto a uniform time grid, never across a gap.

The grid is anchored at the session start: grid times are whole multiples of
``1 / fs_hz`` (``t_k = k / fs_hz``), so sensors resampled separately share one grid.
Values are interpolated linearly between the two neighbouring samples. A grid time that
falls between two samples separated by a gap — ``gap_before`` set on the later one, or a
time step longer than ``max_gap_s`` — gets NaN and ``valid_mask = False``: nothing is
interpolated across lost data. Split the output at invalid stretches
(:func:`dmi_sensors.dsp.segments.segments_from_mask`) before filtering.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import SampleBatch

__all__ = ["resample_batch", "resample_uniform"]


def resample_uniform(
    time_s: np.ndarray,
    values: np.ndarray,
    fs_hz: float,
    gap_before: np.ndarray | None = None,
    max_gap_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear resampling of ``values`` (``(n,)`` or ``(n, c)``) at sample ``time_s`` onto ``k / fs_hz``.

    Parameters
    ----------
    time_s
        Strictly increasing sample times, s (e.g. from :func:`dmi_sensors.timing.sample_times`).
    values
        Samples, one row per time.
    fs_hz
        Rate of the output grid.
    gap_before
        Optional per-sample gap flags; no interpolation between sample ``i-1`` and ``i``
        where ``gap_before[i]``.
    max_gap_s
        Longest step bridged by interpolation; default 1.5 times the median input step.

    Returns
    -------
    (t, v, valid_mask)
        Grid times ``(m,)`` covering ``[time_s[0], time_s[-1]]``, resampled values
        ``(m,)``/``(m, c)`` (NaN where invalid), and the boolean validity mask ``(m,)``.
    """
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or v.shape[0] != t.shape[0]:
        raise ParameterError(f"time_s (n,) and values (n, ...) must match, got {t.shape} and {v.shape}")
    if not fs_hz > 0:
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    n = t.shape[0]
    if n < 2:
        raise ParameterError("resample_uniform needs at least 2 samples")
    dt = np.diff(t)
    if not np.all(dt > 0):
        raise ParameterError("time_s must be strictly increasing")
    if max_gap_s is None:
        max_gap_s = 1.5 * float(np.median(dt))
    bridge_ok = dt <= max_gap_s
    if gap_before is not None:
        g = np.asarray(gap_before, dtype=bool)
        if g.shape != t.shape:
            raise ParameterError(f"gap_before must have shape {t.shape}, got {g.shape}")
        bridge_ok &= ~g[1:]
    k0 = int(np.ceil(t[0] * fs_hz - 1e-9))
    k1 = int(np.floor(t[-1] * fs_hz + 1e-9))
    grid = np.arange(k0, k1 + 1, dtype=np.float64) / fs_hz
    # Numba loaded on first use, not when the timing layer is imported (as _clock_kernels)
    from dmi_sensors.timing._resample_kernels import resample_grid

    # for each grid time the interval j with t[j] <= grid < t[j+1] (the last grid point may
    # equal t[-1]), a grid time within 1e-9 s of a sample takes that sample, no bridging of
    # a gap: one pass of the kernel (module docs of _resample_kernels)
    v2 = np.ascontiguousarray(v.reshape(n, -1))
    out = np.empty((grid.shape[0], v2.shape[1]))
    valid = np.empty(grid.shape[0], dtype=np.bool_)
    resample_grid(t, dt, bridge_ok, v2, float(fs_hz), k0, out, valid)
    return grid, out.reshape((grid.shape[0], *v.shape[1:])), valid


def resample_batch(
    batch: SampleBatch, fs_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A timed batch on the grid ``k / fs_hz``: ``(time_s, acc_mps2, gyr_rps, valid_mask)``.

    The step after :func:`dmi_sensors.timing.timed_samples` (and after calibration, which
    works sample by sample) for every consumer that needs a uniform rate. Samples without
    a time (NaN: an unfitted clock run) and samples not later than every sample before them
    (a clock run that starts before the previous one ended) are left out; the next kept
    sample then counts as following a gap. Nothing is interpolated across a gap
    (:func:`resample_uniform` with the batch's ``gap_before``). ``fs_hz`` defaults to the
    batch's nominal rate. Fewer than 2 timed samples give empty arrays.
    """
    rate = float(fs_hz or batch.fs_hz)
    t = batch.time_s
    finite = np.isfinite(t)
    # strictly later than every earlier timed sample
    latest = np.maximum.accumulate(np.where(finite, t, -np.inf))
    keep = finite.copy()
    keep[1:] &= t[1:] > latest[:-1]
    idx = np.flatnonzero(keep)
    if idx.shape[0] < 2:
        empty = np.zeros(0)
        return empty, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=bool)
    gap = batch.gap_before[idx].copy()
    gap[1:] |= np.diff(idx) > 1
    values = np.concatenate([batch.acc_mps2[idx], batch.gyr_rps[idx]], axis=1)
    grid, v, valid = resample_uniform(t[idx], values, rate, gap_before=gap)
    return grid, np.ascontiguousarray(v[:, :3]), np.ascontiguousarray(v[:, 3:]), valid
