"""A causal clock for live use: sample times from counters and arrival times, as they arrive.

:func:`dmi_sensors.timing.fit_clock` fits a whole clock run at once (the lower envelope
over the recording, drift included): the right answer offline, but it looks into the
future. A live view needs each sample's time when it arrives. :class:`StreamingClock`
gives it from the same model (``host = offset + counter / fs_hz + latency``, latency >= 0)
with the past only:

    ``y_i = host_i - c_i / fs_hz``                    (offset + latency of sample i)
    ``offset_i = min over j <= i of (y_j + r · (host_i - host_j))``
    ``time_i = c_i / fs_hz + offset_i``

i.e. the lowest ``y`` seen so far (the fastest delivery), allowed to rise by at most
``r = drift_tolerance_ppm · 1e-6`` seconds per second so that a device clock running slow
(its ``y`` grows) is followed. Equivalently ``offset_i = r · host_i + min_{j<=i}(y_j - r · host_j)``:
one running minimum, so the result is the same however the input is split into calls
(chunk invariance) and a whole recording is timed in one vectorised pass.

Accuracy: late by the latency of the fastest packet seen recently plus at most ``r`` times
the time since it (500 ppm × 2 s = 1 ms). The samples of the very first packet of a run
share its arrival time (nothing earlier is known). A counter that does not increase
starts a new run (the device restarted): the minimum starts again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["StreamingClock", "StreamingClockState"]


@dataclass(frozen=True)
class StreamingClockState:
    """Full state of a :class:`StreamingClock`.

    Attributes
    ----------
    min_s
        Running minimum of ``y - r · host`` in the current run, s (``inf`` before the first sample).
    last_counter
        Counter of the last sample (``-inf`` before the first).
    """

    min_s: float
    last_counter: float


class StreamingClock:
    """Causal sample times from counters and host arrival times (see the module docstring).

    Parameters
    ----------
    fs_hz
        The device's nominal sample rate, Hz.
    drift_tolerance_ppm
        How fast the offset estimate may rise, ppm (a device clock may run slow by less
        than this); 500 ppm covers every crystal we know of.

    Attributes
    ----------
    state
        :class:`StreamingClockState`.
    """

    def __init__(self, fs_hz: float, *, drift_tolerance_ppm: float = 500.0) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        if not 0 <= drift_tolerance_ppm < 1e5:
            raise ParameterError(f"drift_tolerance_ppm must be in [0, 1e5), got {drift_tolerance_ppm}")
        self._fs_hz = float(fs_hz)
        self._drift_tolerance_ppm = float(drift_tolerance_ppm)
        self._r = self._drift_tolerance_ppm * 1e-6
        self.reset()

    @property
    def fs_hz(self) -> float:
        """Nominal sample rate, Hz."""
        return self._fs_hz

    @property
    def drift_tolerance_ppm(self) -> float:
        """Largest rise rate of the offset estimate, ppm."""
        return self._drift_tolerance_ppm

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {"fs_hz": self._fs_hz, "drift_tolerance_ppm": self._drift_tolerance_ppm}

    @property
    def state(self) -> StreamingClockState:
        """Snapshot of the full state; assign a :class:`StreamingClockState` to continue from it."""
        return StreamingClockState(min_s=self._min, last_counter=self._last)

    @state.setter
    def state(self, value: StreamingClockState) -> None:
        if not isinstance(value, StreamingClockState):
            raise ParameterError(f"StreamingClock.state must be a StreamingClockState, got {type(value).__name__}")
        self._min = float(value.min_s)
        self._last = float(value.last_counter)

    def reset(self) -> None:
        """Back to the freshly constructed state (no sample seen)."""
        self._min = np.inf
        self._last = -np.inf

    def process(self, counter: np.ndarray, host_time_s: np.ndarray) -> np.ndarray:
        """Times (s, host clock) of the next samples: unwrapped ``counter`` and ``host_time_s`` per sample."""
        c = np.asarray(counter, dtype=np.float64)
        h = np.asarray(host_time_s, dtype=np.float64)
        if c.ndim != 1 or c.shape != h.shape:
            raise ParameterError(f"counter and host_time_s must be 1-D of equal length, got {c.shape} and {h.shape}")
        n = c.shape[0]
        out = np.empty(n)
        if n == 0:
            return out
        base = c / self._fs_hz
        z = (h - base) - self._r * h
        if c[0] > self._last and (n == 1 or bool((c[1:] > c[:-1]).all())):  # one run (the usual case)
            m = np.minimum.accumulate(z)
            np.minimum(m, self._min, out=m)
            out[:] = base + self._r * h + m
            self._min = float(m[-1])
            self._last = float(c[-1])
            return out
        # runs: a counter that does not increase starts a new one
        prev = np.concatenate(([self._last], c[:-1]))
        restarts = set(np.flatnonzero(c <= prev).tolist())
        cuts = [*sorted(restarts | {0}), n]
        running = self._min
        for a, b in itertools.pairwise(cuts):
            if a in restarts:
                running = np.inf
            m = np.minimum.accumulate(z[a:b])
            np.minimum(m, running, out=m)
            out[a:b] = base[a:b] + self._r * h[a:b] + m
            running = float(m[-1])
        self._min = running
        self._last = float(c[-1])
        return out
