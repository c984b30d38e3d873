"""Timing: the one path from packets to timed samples; clock fits, gaps, uniform resampling.

* :func:`timed_samples` / :class:`TimedSamples` — one sensor's packets -> decoded samples
  with drift-corrected ``time_s`` and gap flags, one clock fit per run between counter
  resets. Exports and analysis of a stored session both use it, so they agree.
* :func:`sample_times` / :func:`fit_clock_runs` / :func:`clock_runs` / :class:`ClockRun` —
  a decoded batch -> clock runs -> per-run fits -> sample times.
* :func:`fit_clock` / :class:`ClockFit` — one run's counters + host arrival times -> sample
  times on the host clock (robust lower-envelope regression).
* :class:`StreamingClock` — the causal counterpart for live use: each sample's time from
  what has arrived so far (running lower envelope), chunk invariant.
* :class:`LookaheadClock` — the same model with a bounded look-ahead (a consumer that
  synchronises by explicit timestamps, the LSL outlet): each sample timed once
  ``lookahead_s`` of later arrivals are in, chunk invariant.
* :func:`find_gaps` / :class:`Gaps` — where samples were lost.
* :func:`resample_uniform` / :func:`resample_batch` — onto ``k / fs_hz``, NaN (and
  ``valid_mask = False``) inside gaps.

Behaviour at gaps: times come from counters, so they stay exact across lost samples;
nothing is interpolated across a gap; streaming DSP stages reset at ``gap_before``
(:func:`dmi_sensors.dsp.segments.process_with_resets`).
"""

from dmi_sensors.timing.clock import ClockFit, fit_clock, theil_sen_slope
from dmi_sensors.timing.gaps import Gaps, find_gaps
from dmi_sensors.timing.resample import resample_batch, resample_uniform
from dmi_sensors.timing.runs import RESET_JUMP_S, ClockRun, clock_runs, fit_clock_runs, sample_times, times_from_runs
from dmi_sensors.timing.samples import TimedSamples, timed_samples
from dmi_sensors.timing.streaming import LookaheadClock, LookaheadClockState, StreamingClock, StreamingClockState

__all__ = [
    "RESET_JUMP_S",
    "ClockFit",
    "ClockRun",
    "Gaps",
    "LookaheadClock",
    "LookaheadClockState",
    "StreamingClock",
    "StreamingClockState",
    "TimedSamples",
    "clock_runs",
    "find_gaps",
    "fit_clock",
    "fit_clock_runs",
    "resample_batch",
    "resample_uniform",
    "sample_times",
    "theil_sen_slope",
    "timed_samples",
    "times_from_runs",
]
