"""Gap handling: no filter runs across a gap silently.

Samples lost on the air leave a hole in time. A recursive filter, an orientation filter or an
integrator fed across the hole would treat the samples on either side as neighbours. The
rule in this package is therefore:

* **offline**: split the recording at gaps (:func:`gap_segments`) and process each gap-free
  segment on its own (:func:`map_segments`), e.g. ``filtfilt`` per segment;
* **streaming**: reset the stage at the first sample after a gap (:func:`process_with_resets`):
  the filter restarts from its initial condition, the orientation filter re-initialises
  from the accelerometer, the integrator restarts at zero.

``gap_before`` is the per-sample flag of :class:`dmi_sensors.types.SampleBatch` (True where
samples were lost immediately before this sample); :func:`dmi_sensors.timing.find_gaps`
computes it from device counters and/or times. Alternatively, resample to a uniform grid
with :func:`dmi_sensors.timing.resample_uniform` and split at the invalid stretches it
reports (``valid_mask``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import StreamingAlgorithm

__all__ = ["gap_segments", "map_segments", "process_with_resets", "segments_from_mask"]


def gap_segments(gap_before: np.ndarray) -> list[slice]:
    """Slices of the gap-free runs: a new segment starts at every ``gap_before[i]`` (i > 0)."""
    gap = np.asarray(gap_before, dtype=bool)
    n = gap.shape[0]
    if n == 0:
        return []
    starts = np.flatnonzero(gap[1:]) + 1
    bounds = [0, *starts.tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def segments_from_mask(valid: np.ndarray, min_length: int = 1) -> list[slice]:
    """Slices of the runs where ``valid`` is True (e.g. the ``valid_mask`` of ``resample_uniform``)."""
    v = np.concatenate([[False], np.asarray(valid, dtype=bool), [False]])
    d = np.diff(v.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= min_length]


def map_segments(func: Callable[..., np.ndarray], *arrays: np.ndarray, gap_before: np.ndarray) -> np.ndarray:
    """Apply an offline ``func(*segment_arrays) -> array`` to each gap-free segment, concatenated.

    ``func`` must return one row per input row (e.g. ``lambda x: filtfilt(sos, x)``).
    """
    parts = [func(*(a[s] for a in arrays)) for s in gap_segments(gap_before)]
    if not parts:
        return np.asarray(func(*arrays))
    return np.concatenate(parts, axis=0)


def process_with_resets(stage: StreamingAlgorithm, *arrays: np.ndarray, gap_before: np.ndarray) -> np.ndarray:
    """Feed ``arrays`` through a streaming ``stage``, calling ``stage.reset()`` before every gap.

    A gap flagged at the very first sample resets too, so packet-by-packet use is the same
    as one call on the whole recording. Returns the concatenated outputs (single-array
    outputs only, e.g. :class:`~dmi_sensors.dsp.filters.SosFilter`, or
    :class:`~dmi_sensors.dsp.orientation.Madgwick` fed ``acc, gyr``).
    """
    gap = np.asarray(gap_before, dtype=bool)
    n = gap.shape[0]
    for a in arrays:
        if len(a) != n:
            raise ParameterError(f"every array needs {n} rows (as gap_before), got {len(a)}")
    outs = []
    for s in gap_segments(gap):
        if gap[s.start]:
            stage.reset()
        outs.append(stage.process(*(a[s] for a in arrays)))
    if not outs:
        return stage.process(*arrays)
    return np.concatenate(outs, axis=0)
