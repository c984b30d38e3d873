"""Timing: drift-corrected sample times, gap detection, uniform resampling.

* :func:`fit_clock` / :class:`ClockFit` / :func:`sample_times` — device counters + host
  arrival times -> sample times on the host clock (robust lower-envelope regression).
* :func:`find_gaps` / :class:`Gaps` — where samples were lost.
* :func:`resample_uniform` — onto ``k / fs_hz``, NaN (and ``valid_mask = False``) inside gaps.

Behaviour at gaps: times come from counters, so they stay exact across lost samples;
nothing is interpolated across a gap; streaming DSP stages reset at ``gap_before``
(:func:`dmi_sensors.dsp.segments.process_with_resets`).
"""

from dmi_sensors.timing.clock import ClockFit, fit_clock, sample_times, theil_sen_slope
from dmi_sensors.timing.gaps import Gaps, find_gaps
from dmi_sensors.timing.resample import resample_uniform

__all__ = ["ClockFit", "Gaps", "find_gaps", "fit_clock", "resample_uniform", "sample_times", "theil_sen_slope"]
