"""Gap detection from device counters (and optionally sample times).

A *gap* is a place where samples are missing: the counter jumps by more than one, or
(when times are given) consecutive sample times are further apart than ``max_step_factor``
nominal periods. Lost samples are never invented: downstream stages either split the
recording at gaps or reset their state there (see :mod:`dmi_sensors.dsp.segments`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["Gaps", "find_gaps"]


@dataclass(frozen=True)
class Gaps:
    """Where samples were lost.

    Attributes
    ----------
    gap_before
        ``(n,)`` bool, True where samples were lost immediately before this sample
        (the ``gap_before`` column of the data contract).
    missing_samples
        ``(n,)`` int64, how many samples are missing before each sample (0 when none;
        from the counter, or from the time step when only times flagged it).
    """

    gap_before: np.ndarray
    missing_samples: np.ndarray

    @property
    def n_gaps(self) -> int:
        """Number of gaps."""
        return int(self.gap_before.sum())

    @property
    def samples_lost(self) -> int:
        """Total number of missing samples."""
        return int(self.missing_samples.sum())

    def segments(self) -> list[slice]:
        """Gap-free runs as slices (a new one starts at every gap)."""
        starts = np.flatnonzero(self.gap_before[1:]) + 1
        bounds = [0, *starts.tolist(), self.gap_before.shape[0]]
        return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def find_gaps(
    counter: np.ndarray,
    time_s: np.ndarray | None = None,
    fs_hz: float | None = None,
    max_step_factor: float = 1.5,
    gap_before_first: bool = False,
) -> Gaps:
    """Flag lost samples from an unwrapped ``counter`` (and optionally ``time_s``).

    ``counter[i] - counter[i-1] > 1`` flags a gap of ``counter[i] - counter[i-1] - 1``
    samples. With ``time_s`` and ``fs_hz``, a step longer than ``max_step_factor / fs_hz``
    is flagged too (e.g. when counters are unavailable), with
    ``round(step * fs_hz) - 1`` missing samples. ``gap_before_first`` marks sample 0
    (useful when a stream resumes after a known interruption).
    """
    c = np.asarray(counter, dtype=np.int64)
    if c.ndim != 1:
        raise ParameterError(f"counter must be 1-D, got shape {c.shape}")
    n = c.shape[0]
    missing = np.zeros(n, dtype=np.int64)
    if n > 1:
        step = np.diff(c)
        if np.any(step <= 0):
            bad = int(np.flatnonzero(step <= 0)[0]) + 1
            raise ParameterError(f"counter must be strictly increasing; sample {bad} has {c[bad]} after {c[bad - 1]}")
        missing[1:] = step - 1
    if time_s is not None:
        if fs_hz is None or not fs_hz > 0:
            raise ParameterError("find_gaps with time_s needs a positive fs_hz")
        t = np.asarray(time_s, dtype=np.float64)
        if t.shape != c.shape:
            raise ParameterError(f"time_s must have the counter's shape {c.shape}, got {t.shape}")
        if n > 1:
            dt = np.diff(t)
            long = dt > max_step_factor / fs_hz
            by_time = np.maximum(np.round(dt * fs_hz).astype(np.int64) - 1, 1)
            missing[1:] = np.where(long & (missing[1:] == 0), by_time, missing[1:])
    gap = missing > 0
    if gap_before_first and n:
        gap[0] = True
    return Gaps(gap_before=gap, missing_samples=missing)
