"""Clock runs: the stretches of one sensor's samples that share one device clock.

:func:`~dmi_sensors.timing.fit_clock` assumes one straight line ``counter -> time``. That
holds only while the sensor streams without a restart. The decoder
(:mod:`dmi_sensors.protocol.stream`) keeps the unwrapped counter increasing across a
*counter reset* (the counter went back because streaming restarted, or the rate or the
packet format changed): the first sample after it gets the previous counter + 1 and
``gap_before``, and nothing is counted lost. A lost packet, in contrast, leaves the counter
step larger than 1. So a new clock run starts at sample ``i > 0`` when

* the decoder flagged a reset there: ``gap_before[i]`` and ``counter[i] - counter[i-1] == 1``; or
* at a flagged gap the residual ``host_time_s - counter / fs_hz`` jumps by more than
  ``reset_jump_s`` (a discontinuity the counter did not show, e.g. wrap-arounds the decoder
  could not count during a long outage).

Each run gets its own :func:`~dmi_sensors.timing.fit_clock`; its samples' times come from
that fit alone. A run of fewer than 2 samples cannot be fitted: its times are NaN.
Within a run lost samples change nothing (times come from counters), so only real
discontinuities split the clock.

:func:`sample_times` is the one way to time a decoded batch: exports of a stored session,
its analysis and notebooks all go through it (via
:func:`~dmi_sensors.timing.samples.timed_samples` for stored packets).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.timing.clock import ClockFit, fit_clock
from dmi_sensors.types import SampleBatch

__all__ = ["RESET_JUMP_S", "ClockRun", "clock_runs", "fit_clock_runs", "sample_times", "times_from_runs"]

#: Default jump of ``host_time_s - counter / fs_hz`` at a gap that starts a new clock run, s.
RESET_JUMP_S = 1.0


@dataclass(frozen=True)
class ClockRun:
    """Samples ``start:stop`` of a batch and the clock fitted to them.

    Attributes
    ----------
    start, stop
        Sample indices of the run in the batch (``stop`` exclusive).
    fit
        The run's :class:`~dmi_sensors.timing.ClockFit`; None when the run has fewer than
        2 samples (its times are NaN).
    """

    start: int
    stop: int
    fit: ClockFit | None

    @property
    def samples(self) -> slice:
        """The run as a slice of the batch."""
        return slice(self.start, self.stop)

    @property
    def n_samples(self) -> int:
        return self.stop - self.start

    def summary(self) -> dict[str, float | int]:
        """``drift_ppm, offset_s, latency_median_s, latency_p99_s, n_samples`` (NaN without a fit)."""
        fit = self.fit
        nan = float("nan")
        return {
            "drift_ppm": nan if fit is None else float(fit.drift_ppm),
            "offset_s": nan if fit is None else float(fit.offset_s),
            "latency_median_s": nan if fit is None else float(fit.latency_median_s),
            "latency_p99_s": nan if fit is None else float(fit.latency_p99_s),
            "n_samples": self.n_samples,
        }


def clock_runs(batch: SampleBatch, reset_jump_s: float = RESET_JUMP_S) -> list[slice]:
    """Slices of ``batch`` between counter resets and clock jumps (see the module docstring)."""
    if not reset_jump_s > 0:
        raise ParameterError(f"reset_jump_s must be positive, got {reset_jump_s}")
    n = len(batch)
    if n == 0:
        return []
    step = np.diff(batch.counter)
    resid = batch.host_time_s - (batch.counter - batch.counter[0]) / batch.fs_hz
    gap = batch.gap_before[1:]
    new_run = gap & ((step == 1) | (np.abs(np.diff(resid)) > reset_jump_s))
    starts = [0, *(np.flatnonzero(new_run) + 1).tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(starts) if b > a]


def fit_clock_runs(
    batch: SampleBatch,
    reset_jump_s: float = RESET_JUMP_S,
    *,
    window_s: float | None = None,
    latency_floor_s: float = 0.0,
) -> list[ClockRun]:
    """One :func:`~dmi_sensors.timing.fit_clock` per clock run of ``batch`` (module docstring).

    ``window_s`` and ``latency_floor_s`` go to every fit.
    """
    runs = []
    for run in clock_runs(batch, reset_jump_s):
        c = batch.counter[run]
        fit = None
        if c.shape[0] >= 2:
            fit = fit_clock(c, batch.host_time_s[run], batch.fs_hz, window_s=window_s, latency_floor_s=latency_floor_s)
        runs.append(ClockRun(int(run.start), int(run.stop), fit))
    return runs


def times_from_runs(batch: SampleBatch, runs: list[ClockRun]) -> np.ndarray:
    """Each sample's time from its run's fit, s since session start (NaN in unfitted runs)."""
    time_s = np.full(len(batch), np.nan)
    for run in runs:
        if run.fit is not None:
            time_s[run.samples] = run.fit.time_s(batch.counter[run.samples])
    return time_s


def sample_times(
    batch: SampleBatch,
    latency_floor_s: float = 0.0,
    window_s: float | None = None,
    reset_jump_s: float = RESET_JUMP_S,
) -> np.ndarray:
    """Drift-corrected times (s since session start) of every sample in ``batch``.

    Splits the batch into clock runs, fits each one (:func:`fit_clock_runs`) and evaluates
    each fit at its run's counters. Assign the result to ``batch.time_s``.
    """
    runs = fit_clock_runs(batch, reset_jump_s, window_s=window_s, latency_floor_s=latency_floor_s)
    return times_from_runs(batch, runs)
