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
share its arrival time (nothing earlier is known; :class:`LookaheadClock` below, for a
consumer that can wait, times them from the packets that follow). A counter that does not increase
starts a new run (the device restarted): the minimum starts again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["LookaheadClock", "LookaheadClockState", "StreamingClock", "StreamingClockState"]


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
        # Numba is loaded when a clock is made, not when the timing layer is imported
        from dmi_sensors.timing._clock_kernels import streaming_times_into

        self._kernel = streaming_times_into
        #: [running minimum of ``y - r · host`` in the current run (s), last counter]: the
        #: kernel's state (:func:`~dmi_sensors.timing._clock_kernels.streaming_times_into`),
        #: updated in place
        self._state = np.empty(2)
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
        return StreamingClockState(min_s=float(self._state[0]), last_counter=float(self._state[1]))

    @state.setter
    def state(self, value: StreamingClockState) -> None:
        if not isinstance(value, StreamingClockState):
            raise ParameterError(f"StreamingClock.state must be a StreamingClockState, got {type(value).__name__}")
        self._state[0] = float(value.min_s)
        self._state[1] = float(value.last_counter)

    def reset(self) -> None:
        """Back to the freshly constructed state (no sample seen)."""
        self._state[0] = np.inf
        self._state[1] = -np.inf

    def kernel_arrays(self) -> tuple[float, float, np.ndarray]:
        """``(fs_hz, r, state)`` for a caller's Numba kernel that runs
        :func:`~dmi_sensors.timing._clock_kernels.streaming_times_into` itself (the live
        path's one call per packet): ``state`` is this clock's, updated in place by it."""
        return self._fs_hz, self._r, self._state

    def process(self, counter: np.ndarray, host_time_s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Times (s, host clock) of the next samples: unwrapped ``counter`` and ``host_time_s`` per sample.

        ``out``: an optional float64 ``(n,)`` array (any stride) to write the times into.
        """
        c = np.asarray(counter, dtype=np.float64)
        h = np.asarray(host_time_s, dtype=np.float64)
        if c.ndim != 1 or c.shape != h.shape:
            raise ParameterError(f"counter and host_time_s must be 1-D of equal length, got {c.shape} and {h.shape}")
        if out is None:
            out = np.empty(c.shape[0])
        elif out.shape != c.shape or out.dtype != np.float64:
            raise ParameterError(f"out must be a float64 array of shape {c.shape}")
        if c.shape[0]:
            self._kernel(c, h, self._fs_hz, self._r, self._state, out)
        return out


@dataclass(frozen=True)
class LookaheadClockState:
    """Full state of a :class:`LookaheadClock`.

    Attributes
    ----------
    clock
        State of the causal :class:`StreamingClock` inside (its running minimum).
    counter, host_time_s, causal_s
        The samples not yet timed (arrival order): counter, host arrival time, causal time.
    run
        Clock run number of each of those samples (a counter that does not increase starts
        a new run); ``next_run`` the number the next run gets.
    """

    clock: StreamingClockState
    counter: tuple[float, ...]
    host_time_s: tuple[float, ...]
    causal_s: tuple[float, ...]
    run: tuple[int, ...]
    next_run: int


class LookaheadClock:
    """Sample times with a bounded look-ahead: the causal clock improved by what arrives next.

    :class:`StreamingClock` times a sample from the past only, so the samples of a run's
    first packet get that packet's arrival time and the estimate settles over the first
    seconds. A consumer that synchronises by explicit timestamps (the Lab Streaming Layer)
    can wait a little: this clock holds each sample until ``lookahead_s`` of later arrivals
    have been seen and bounds its offset from both sides of the same model
    (``host = offset + counter / fs_hz + latency``, latency >= 0, the offset changing by at
    most ``r = drift_tolerance_ppm · 1e-6`` s per s in either direction)::

        y_j = host_j - c_j / fs_hz
        offset_i = min over j in the run, j <= i, or j > i with host_j <= host_i + lookahead_s,
                   of (y_j + r · |host_i - host_j|)
        time_i = c_i / fs_hz + offset_i

    The past part is exactly :class:`StreamingClock` (same ``r``); the later samples of the
    same packet back-date a packet's early samples from its last one (the least delayed),
    and the next ``lookahead_s`` of packets give a run's first packets the fastest delivery
    seen shortly after them. So ``time_i <=`` the :class:`StreamingClock` time, and with
    ``lookahead_s = 0`` only the within-packet back-dating differs.

    A sample is timed (returned) once a later sample arrived more than ``lookahead_s``
    after it, or a later sample starts a new run; :meth:`flush` times the rest at the end
    of the stream (with the later samples there are). Its time depends only on the samples
    up to that point, so any split of the input into :meth:`process` calls returns the same
    times (chunk invariance; concatenate the outputs). The delay before a sample is returned
    is ``lookahead_s`` plus the time to the next packet after that.

    Parameters
    ----------
    fs_hz
        The device's nominal sample rate, Hz.
    lookahead_s
        How much later arrival time a sample waits for, s (>= 0).
    drift_tolerance_ppm
        Largest rate of change of the offset, ppm (:class:`StreamingClock`).

    Attributes
    ----------
    state
        :class:`LookaheadClockState`.
    pending
        Number of samples received but not yet timed.
    """

    def __init__(self, fs_hz: float, *, lookahead_s: float = 2.0, drift_tolerance_ppm: float = 500.0) -> None:
        if not (0.0 <= lookahead_s < 3600.0):
            raise ParameterError(f"lookahead_s must be in [0, 3600) s, got {lookahead_s}")
        self._clock = StreamingClock(fs_hz, drift_tolerance_ppm=drift_tolerance_ppm)
        self._lookahead_s = float(lookahead_s)
        self.reset()

    @property
    def fs_hz(self) -> float:
        """Nominal sample rate, Hz."""
        return self._clock.fs_hz

    @property
    def lookahead_s(self) -> float:
        """Look-ahead in arrival time, s."""
        return self._lookahead_s

    @property
    def drift_tolerance_ppm(self) -> float:
        """Largest rate of change of the offset estimate, ppm."""
        return self._clock.drift_tolerance_ppm

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {"fs_hz": self.fs_hz, "lookahead_s": self._lookahead_s, "drift_tolerance_ppm": self.drift_tolerance_ppm}

    @property
    def pending(self) -> int:
        """Samples received but not yet timed."""
        return int(self._c.shape[0])

    @property
    def state(self) -> LookaheadClockState:
        """Snapshot of the full state; assign a :class:`LookaheadClockState` to continue from it."""
        return LookaheadClockState(
            clock=self._clock.state,
            counter=tuple(self._c.tolist()),
            host_time_s=tuple(self._h.tolist()),
            causal_s=tuple(self._t.tolist()),
            run=tuple(self._run.tolist()),
            next_run=self._next_run,
        )

    @state.setter
    def state(self, value: LookaheadClockState) -> None:
        if not isinstance(value, LookaheadClockState):
            raise ParameterError(f"LookaheadClock.state must be a LookaheadClockState, got {type(value).__name__}")
        self._clock.state = value.clock
        self._c = np.asarray(value.counter, dtype=np.float64)
        self._h = np.asarray(value.host_time_s, dtype=np.float64)
        self._t = np.asarray(value.causal_s, dtype=np.float64)
        self._run = np.asarray(value.run, dtype=np.int64)
        self._next_run = int(value.next_run)

    def reset(self) -> None:
        """Back to the freshly constructed state (no sample seen)."""
        self._clock.reset()
        self._c = np.empty(0)
        self._h = np.empty(0)
        self._t = np.empty(0)
        self._run = np.empty(0, dtype=np.int64)
        self._next_run = 1  # the first run is number 0

    def process(self, counter: np.ndarray, host_time_s: np.ndarray) -> np.ndarray:
        """Add the next samples (unwrapped ``counter``, ``host_time_s`` per sample); return the
        times (s, host clock) of the oldest held samples that are now final, in order."""
        c = np.asarray(counter, dtype=np.float64)
        h = np.asarray(host_time_s, dtype=np.float64)
        last = self._clock.state.last_counter
        causal = self._clock.process(c, h)  # validates the shapes
        prev = np.concatenate(([last], c[:-1]))
        run = self._next_run - 1 + np.cumsum(c <= prev)
        self._next_run = int(run[-1]) + 1 if run.shape[0] else self._next_run
        self._c = np.concatenate([self._c, c])
        self._h = np.concatenate([self._h, h])
        self._t = np.concatenate([self._t, causal])
        self._run = np.concatenate([self._run, run])
        # sample i is final when a later sample is in another run or arrived more than
        # lookahead_s after it; the final ones are timed in order (a prefix of the held samples)
        h = self._h
        later = np.append(np.maximum.accumulate(h[::-1])[::-1][1:], -np.inf)  # latest arrival after i
        final = (self._run != self._run[-1]) | (later > h + self._lookahead_s) if h.shape[0] else np.empty(0, bool)
        k = int(np.argmin(final)) if not final.all() else int(final.shape[0])
        return self._emit(k)

    def flush(self) -> np.ndarray:
        """End of the stream: the times of every held sample (with the later samples there are)."""
        return self._emit(self._c.shape[0])

    def _emit(self, k: int) -> np.ndarray:
        """Times of the first ``k`` held samples; drop them from the buffer."""
        c, h, run = self._c, self._h, self._run
        base = c / self.fs_hz
        r = self._clock.drift_tolerance_ppm * 1e-6
        w = (h - base) + r * h  # y_j + r · host_j
        out = self._t[:k] - base[:k]  # the causal offsets (past part)
        if k:  # packets: runs of equal arrival time within a clock run
            edge = np.flatnonzero((h[1:k] != h[: k - 1]) | (run[1:k] != run[: k - 1])) + 1
            for a, b in itertools.pairwise([0, *edge.tolist(), k]):
                run_end = int(np.searchsorted(run, run[a], side="right"))
                beyond = np.flatnonzero(h[b:run_end] > h[a] + self._lookahead_s)
                e = b + int(beyond[0]) if beyond.shape[0] else run_end
                rest = float(w[b:e].min()) if e > b else np.inf
                # later samples of the same packet (suffix minima), then the later packets
                suffix = np.minimum.accumulate(np.append(w[a + 1 : b], rest)[::-1])[::-1]
                np.minimum(out[a:b], suffix - r * h[a:b], out=out[a:b])
        times = base[:k] + out
        self._c, self._h, self._t, self._run = c[k:], h[k:], self._t[k:], run[k:]
        return times
