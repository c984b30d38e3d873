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

__all__ = [
    "RESET_JUMP_S",
    "ClockRun",
    "clock_run_slices",
    "clock_runs",
    "fit_clock_run_arrays",
    "fit_clock_runs",
    "sample_times",
    "times_from_runs",
]

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


def clock_run_slices(
    counter: np.ndarray, host_time_s: np.ndarray, gap_before: np.ndarray, fs_hz: float, reset_jump_s: float
) -> list[slice]:
    """:func:`clock_runs` on plain arrays (one sensor's samples in arrival order)."""
    from dmi_sensors.timing._clock_kernels import run_starts

    if not reset_jump_s > 0:
        raise ParameterError(f"reset_jump_s must be positive, got {reset_jump_s}")
    n = int(counter.shape[0])
    if n == 0:
        return []
    out = np.empty(n, dtype=np.int64)
    m = run_starts(
        np.ascontiguousarray(counter, dtype=np.int64),
        np.ascontiguousarray(host_time_s, dtype=np.float64),
        np.ascontiguousarray(gap_before, dtype=np.bool_),
        float(fs_hz),
        float(reset_jump_s),
        out,
    )
    starts = [0, *out[:m].tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(starts) if b > a]


def clock_runs(batch: SampleBatch, reset_jump_s: float = RESET_JUMP_S) -> list[slice]:
    """Slices of ``batch`` between counter resets and clock jumps (see the module docstring)."""
    return clock_run_slices(batch.counter, batch.host_time_s, batch.gap_before, batch.fs_hz, reset_jump_s)


def fit_clock_run_arrays(
    counter: np.ndarray,
    host_time_s: np.ndarray,
    gap_before: np.ndarray,
    fs_hz: float,
    reset_jump_s: float = RESET_JUMP_S,
    *,
    window_s: float | None = None,
    latency_floor_s: float = 0.0,
    latency_stats: bool = True,
) -> list[ClockRun]:
    """:func:`fit_clock_runs` on plain arrays: what the fits need of a sensor's samples
    (counters, arrival times, gap flags) and nothing more, so an export can fit a long
    recording without holding its sensor values (``dmi_sensors.store.samples``;
    ``latency_stats=False`` skips the fits' latency percentiles, see :func:`fit_clock`)."""
    runs = []
    for run in clock_run_slices(counter, host_time_s, gap_before, fs_hz, reset_jump_s):
        c = counter[run]
        fit = None
        if c.shape[0] >= 2:
            fit = fit_clock(
                c,
                host_time_s[run],
                fs_hz,
                window_s=window_s,
                latency_floor_s=latency_floor_s,
                latency_stats=latency_stats,
            )
        runs.append(ClockRun(int(run.start), int(run.stop), fit))
    return runs


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
    return fit_clock_run_arrays(
        batch.counter,
        batch.host_time_s,
        batch.gap_before,
        batch.fs_hz,
        reset_jump_s,
        window_s=window_s,
        latency_floor_s=latency_floor_s,
    )


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
