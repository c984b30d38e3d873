"""Latency of the live path, per notification: arrival -> metric, -> stored, -> screen.

Every time is on the recorder's clock (``time.monotonic`` unless injected) and measured
from the moment the notification's bleak callback ran (``RawPacket.host_time_s`` + the
session start):

* **metric** — the live metrics of the batch holding it were computed
  (:class:`~dmi_sensors.live.hub.LiveHub`);
* **stored** — the transaction holding it was committed to the session store (the packet
  writer's ``on_commit``; the writer commits in arrival order);
* **screen** — a browser drew it: the page acknowledges each update after painting it
  (``requestAnimationFrame``), so this includes the push interval, the WebSocket and the
  drawing, and (slightly pessimistic) the acknowledgement's way back.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dmi_sensors.types import RawPacket

__all__ = ["LatencyRecorder", "TimingSink"]

KINDS = ("metric", "stored", "screen")


class LatencyRecorder:
    """Latency samples (seconds) of the three kinds; thread-safe (the writer thread adds too).

    Parameters
    ----------
    t0_s
        Session start on ``clock`` (packets' ``host_time_s`` are relative to it).
    clock
        Monotonic clock, seconds.
    max_samples
        Most recent samples kept per kind.
    """

    def __init__(self, t0_s: float = 0.0, clock: Callable[[], float] = time.monotonic, max_samples: int = 2_000_000):
        self.t0_s = t0_s
        self.clock = clock
        self._lock = threading.Lock()
        self._samples: dict[str, collections.deque[float]] = {k: collections.deque(maxlen=max_samples) for k in KINDS}
        self.enabled = True

    def now_s(self) -> float:
        """Seconds since the session start."""
        return self.clock() - self.t0_s

    def add(self, kind: str, arrivals_s: Iterable[float], at_s: float | None = None) -> None:
        """``kind`` happened now (or at ``at_s``) for notifications that arrived at ``arrivals_s``."""
        if not self.enabled:
            return
        now = self.now_s() if at_s is None else at_s
        ages = [now - a for a in arrivals_s]
        with self._lock:
            self._samples[kind].extend(ages)

    def add_one(self, kind: str, arrival_s: float) -> None:
        """:meth:`add` for one notification (the live path's usual batch: one packet)."""
        if self.enabled:
            age = self.now_s() - arrival_s
            with self._lock:
                self._samples[kind].append(age)

    def clear(self) -> None:
        with self._lock:
            for d in self._samples.values():
                d.clear()

    def summary(self) -> dict[str, Any]:
        """Per kind: count, p50, p90, p99 and max in milliseconds (None without samples)."""
        out: dict[str, Any] = {}
        with self._lock:
            data = {k: np.asarray(v, dtype=np.float64) for k, v in self._samples.items()}
        for kind, x in data.items():
            if x.size == 0:
                out[kind] = {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
                continue
            p50, p90, p99 = (float(v) * 1e3 for v in np.percentile(x, [50, 90, 99]))
            out[kind] = {
                "n": int(x.size),
                "p50_ms": round(p50, 3),
                "p90_ms": round(p90, 3),
                "p99_ms": round(p99, 3),
                "max_ms": round(float(x.max()) * 1e3, 3),
            }
        return out


class TimingSink:
    """A packet sink in front of the store's writer that notes arrival times, so the
    writer's ``on_commit`` can tell how long each notification waited (``stored`` latency).

    Parameters
    ----------
    latency
        Where the latencies go.
    """

    def __init__(self, latency: LatencyRecorder) -> None:
        self.latency = latency
        self.sink: Any = None
        self._arrivals: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._committed = 0

    def wrap(self, sink: Any) -> TimingSink:
        """Forward appends to ``sink`` (a :class:`~dmi_sensors.store.PacketWriter`)."""
        self.sink = sink
        return self

    def append(self, packet: RawPacket) -> None:
        # deque.append is atomic; the lock guards on_commit's count and pops (writer thread)
        self._arrivals.append(packet.host_time_s)
        self.sink.append(packet)

    def on_commit(self, committed: int, _last: RawPacket) -> None:
        """The writer's commit callback (writer thread): ``committed`` packets are on disk so far."""
        now = self.latency.now_s()
        with self._lock:
            k = committed - self._committed
            self._committed = committed
            arrivals = [self._arrivals.popleft() for _ in range(min(k, len(self._arrivals)))]
        self.latency.add("stored", arrivals, now)
