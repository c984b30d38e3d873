"""THE packet scheduler of every simulated path: one BLE link from a sensor to the host.

Every simulated packet reaches the host through a :class:`LinkScheduler`: the offline
packets of a simulation (:meth:`dmi_sensors.sim.SimResult.packets`), the virtual sensors of a
simulated session or of the crash-test recorder (:class:`dmi_sensors.sim.stream.SensorLink`,
with a simulated clock or paced in real time) and the emulated BlueZ peripherals (the
emulator's device keeps one per peripheral; the guided calibration sensor is one of them).

The rule
--------
Items are sent in order (FIFO): data packets and, on the emulated BlueZ, the other
notifications (command responses, status packets). Times are true seconds on the sensor's
timeline (for a simulation: since its first sample; for a virtual sensor: since it was
created).

1. **Ready.** An item is ready ``processing_s`` after the firmware finished it:
   ``t_ready = t_done + processing_s``, where ``t_done`` is the instant its last sample was
   taken (a STOP_STREAMING flush or a command response: the instant of the command).
2. **Connection event.** It goes out at the first connection event
   ``t_e = phase_s + e connection_interval_s`` with ``t_e >= t_ready``
   (``e = ceil((t_ready - phase_s) / interval)``), never before the previous item's event
   (FIFO), at most ``max_packets_per_event`` items per event (later ones wait for the next
   event). ``phase_s = None`` draws the phase uniformly in ``[0, interval)``.
   ``connection_interval_s = 0`` is an ideal link: every item goes out the instant it is
   ready (no events, no per-event limit).
3. **Loss.** Data packet ``j`` (counted over the link's life, from 0) is lost with
   :class:`~dmi_sensors.sim.imu.PacketLoss` (independent + geometric bursts), drawn in
   blocks of 4096 packets from ``SeedSequence([seed, LOSS_SEED_KEY])``
   (:class:`LossDraw`), so the answer for packet ``j`` does not depend on how the packets
   were scheduled. A lost packet still takes its place in its connection event. Other
   notifications are never lost.
4. **Arrival.** The host receives a data packet at ``t_e + latency_s + J`` with
   ``J ~ Exp(jitter_s)`` (data packets only, one draw each in order from
   ``SeedSequence([seed, LINK_SEED_KEY])``, after the phase draw), other notifications at
   ``t_e + latency_s``; arrivals are made non-decreasing (the host stack delivers in order)
   and shifted by ``host_offset_s`` (host clock = true time + offset).

The scheduler is stateful and chunk-invariant: scheduling items one at a time (as a
real-time driver does) or all at once (offline) gives bit-identical results.

Real-time pacing is not a second scheduler: a real-time driver (the recorder, the
emulator) hands each item over when its clock reaches the item's arrival time; the
simulated-clock driver hands it over at exactly that time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.imu import PacketLoss

__all__ = [
    "LINK_SEED_KEY",
    "LOSS_BLOCK_PACKETS",
    "LOSS_SEED_KEY",
    "Delivery",
    "LinkModel",
    "LinkScheduler",
    "LossDraw",
    "Schedule",
]

#: Extra entropy mixed into the link seed for the packet-loss draw.
LOSS_SEED_KEY = 0x10557
#: Extra entropy mixed into the link seed for the connection phase and the arrival jitter.
LINK_SEED_KEY = 0x11A7
#: Losses are drawn in blocks of this many packets.
LOSS_BLOCK_PACKETS = 4096

T = TypeVar("T")


class LossDraw:
    """Which data packets of a link's life are lost (rule 3 of the module docstring).

    Drawn in blocks of :data:`LOSS_BLOCK_PACKETS` packets from
    ``SeedSequence([seed, LOSS_SEED_KEY])``, so the answer for packet ``j`` does not depend
    on how the packets were requested (bursts do not cross block boundaries).
    """

    def __init__(self, loss: PacketLoss, seed: int) -> None:
        self.loss = loss
        self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), LOSS_SEED_KEY]))
        self._mask = np.zeros(0, dtype=bool)

    def mask(self, n_packets: int) -> np.ndarray:
        """Lost flags of packets ``0 .. n_packets - 1``."""
        if not self.loss.active:
            return np.zeros(n_packets, dtype=bool)
        while self._mask.shape[0] < n_packets:
            self._mask = np.concatenate([self._mask, self.loss.lost_mask(LOSS_BLOCK_PACKETS, self._rng)])
        return self._mask[:n_packets].copy()

    def lost(self, packet_index: int) -> bool:
        """Whether packet ``packet_index`` is lost."""
        return bool(self.mask(packet_index + 1)[packet_index])


@dataclass(frozen=True, slots=True)
class LinkModel:
    """Timing of a BLE link as seen by the host (see the module docstring). Times in s.

    Attributes
    ----------
    connection_interval_s
        BLE connection interval, in [7.5 ms, 4 s]; 0 = an ideal link (no connection events).
    max_packets_per_event
        Items one connection event carries at most.
    processing_s
        Firmware time from the last sample to the packet being ready to send.
    latency_s, jitter_s
        Fixed host-side latency and the mean of its exponential jitter (data packets).
    phase_s
        Time of connection event 0 on the sensor's timeline; ``None``: drawn in ``[0, interval)``.
    host_offset_s
        Host clock minus true time.
    """

    connection_interval_s: float = 0.015
    max_packets_per_event: int = 4
    processing_s: float = 0.0005
    latency_s: float = 0.002
    jitter_s: float = 0.003
    phase_s: float | None = None
    host_offset_s: float = 0.0

    def __post_init__(self) -> None:
        ci = self.connection_interval_s
        if not (ci == 0.0 or 0.0075 <= ci <= 4.0):
            raise ParameterError(f"connection_interval_s must be 0 (ideal) or in [7.5 ms, 4 s], got {ci}")
        if self.max_packets_per_event < 1:
            raise ParameterError(f"max_packets_per_event must be >= 1, got {self.max_packets_per_event}")
        for name in ("processing_s", "latency_s", "jitter_s"):
            if not getattr(self, name) >= 0.0:
                raise ParameterError(f"LinkModel.{name} must be >= 0, got {getattr(self, name)}")
        if self.phase_s is not None and not math.isfinite(self.phase_s):
            raise ParameterError(f"LinkModel.phase_s must be finite or None, got {self.phase_s}")
        if not math.isfinite(self.host_offset_s):
            raise ParameterError(f"LinkModel.host_offset_s must be finite, got {self.host_offset_s}")

    @classmethod
    def ideal(cls) -> LinkModel:
        """Every packet arrives the instant its last sample is taken (no events, latency or jitter)."""
        return cls(connection_interval_s=0.0, processing_s=0.0, latency_s=0.0, jitter_s=0.0, phase_s=0.0)

    @property
    def is_ideal(self) -> bool:
        """True when there are no connection events (``connection_interval_s == 0``)."""
        return self.connection_interval_s == 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (keyword arguments of the constructor)."""
        return {
            "connection_interval_s": self.connection_interval_s,
            "max_packets_per_event": self.max_packets_per_event,
            "processing_s": self.processing_s,
            "latency_s": self.latency_s,
            "jitter_s": self.jitter_s,
            "phase_s": self.phase_s,
            "host_offset_s": self.host_offset_s,
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    """What :meth:`LinkScheduler.schedule` decided for a run of items (arrays of equal length).

    ``lost``: lost on the air; ``event``: connection event index (-1 on an ideal link);
    ``event_s``: when the item went out, s (true time); ``arrival_s``: when the host received
    it (host clock; a lost item's would-be arrival).
    """

    lost: np.ndarray
    event: np.ndarray
    event_s: np.ndarray
    arrival_s: np.ndarray


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    """One item through the link: ``item`` as sent, when it was done (``done_s``), when it
    reaches the host (``arrival_s``, host clock), whether it is lost and whether it is data."""

    item: T
    done_s: float
    arrival_s: float
    lost: bool
    data: bool


class LinkScheduler(Generic[T]):
    """One BLE link: the rule of the module docstring, with the items in flight.

    Parameters
    ----------
    link
        Timing (:class:`LinkModel`); default ``LinkModel()``.
    loss
        Air losses of data packets (:class:`~dmi_sensors.sim.imu.PacketLoss`); default none.
    seed
        Seed of the loss, phase and jitter draws (a simulation uses its own seed).

    :meth:`schedule` is the rule for a run of items (the offline path uses it directly);
    :meth:`send` schedules one item and keeps it in flight until :meth:`arrived` hands it
    over. Both advance the same state.
    """

    def __init__(self, link: LinkModel | None = None, loss: PacketLoss | None = None, seed: int = 0) -> None:
        self.link = link if link is not None else LinkModel()
        self.loss = loss if loss is not None else PacketLoss()
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh link (same phase, same draws)."""
        link = self.link
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, LINK_SEED_KEY]))
        if link.is_ideal:
            self.phase_s = 0.0
        else:
            phase = self._rng.uniform(0.0, link.connection_interval_s) if link.phase_s is None else link.phase_s
            self.phase_s = float(phase)
        self._loss = LossDraw(self.loss, self.seed)
        self.data_packets = 0  # data packets scheduled so far (the loss index of the next one)
        self.items = 0  # items scheduled so far
        self._event = -(1 << 62)  # last event used (index)
        self._event_s = -math.inf  # its time (ideal link: the last send time)
        self._used = 0  # items in that event
        self._arrival = -math.inf  # last arrival (true time, before the host offset)
        self._in_flight: deque[Delivery[T]] = deque()

    # -- the rule -------------------------------------------------------------------------
    def schedule(self, done_s: np.ndarray | list[float], data: bool = True) -> Schedule:
        """Schedule the next ``len(done_s)`` items (in order; see the module docstring)."""
        done = np.asarray(done_s, dtype=np.float64).reshape(-1)
        n = done.shape[0]
        link = self.link
        ready = done + link.processing_s
        if data:
            lost = self._loss.mask(self.data_packets + n)[self.data_packets :]
            self.data_packets += n
        else:
            lost = np.zeros(n, dtype=bool)
        self.items += n
        if link.is_ideal:
            event = np.full(n, -1, dtype=np.int64)
            event_s = np.maximum.accumulate(np.concatenate([[self._event_s], ready]))[1:]
            if n:
                self._event_s = float(event_s[-1])
        else:
            ci = link.connection_interval_s
            first = np.ceil((ready - self.phase_s) / ci - 1e-12).astype(np.int64)
            event = np.empty_like(first)
            last, used = self._event, self._used
            for j, e in enumerate(first):  # one step per item
                if e > last:
                    last, used = int(e), 1
                elif used < link.max_packets_per_event:
                    used += 1
                else:
                    last, used = last + 1, 1
                event[j] = last
            self._event, self._used = last, used
            event_s = self.phase_s + event * ci
        jitter = self._rng.exponential(link.jitter_s, n) if data and link.jitter_s > 0 else np.zeros(n)
        arrival = np.maximum.accumulate(np.concatenate([[self._arrival], event_s + link.latency_s + jitter]))[1:]
        if n:
            self._arrival = float(arrival[-1])
        return Schedule(lost, event, event_s, arrival + link.host_offset_s)

    def next_event_s(self, after_s: float) -> float:
        """The first connection event strictly after ``after_s`` (ideal link: ``after_s``)."""
        if self.link.is_ideal:
            return float(after_s)
        ci = self.link.connection_interval_s
        e = math.floor((after_s - self.phase_s) / ci) + 1
        return self.phase_s + e * ci

    # -- items in flight ------------------------------------------------------------------
    def send(self, item: T, done_s: float, data: bool = True) -> Delivery[T]:
        """Schedule one item and keep it in flight until :meth:`arrived` hands it over."""
        s = self.schedule([done_s], data)
        d = Delivery(item, float(done_s), float(s.arrival_s[0]), bool(s.lost[0]), data)
        self._in_flight.append(d)
        return d

    def arrived(self, now_s: float) -> list[Delivery[T]]:
        """Items in flight whose arrival is at or before ``now_s`` (host clock), in order
        (lost ones included, flagged: the caller counts them)."""
        out = []
        q = self._in_flight
        while q and q[0].arrival_s <= now_s:
            out.append(q.popleft())
        return out

    def next_arrival_s(self) -> float | None:
        """Arrival time of the first item in flight (host clock), ``None`` if none."""
        return self._in_flight[0].arrival_s if self._in_flight else None

    @property
    def in_flight(self) -> int:
        """Items sent but not yet handed over."""
        return len(self._in_flight)

    def clear(self) -> list[Delivery[T]]:
        """Take every item still in flight out (the link went down: they never arrive)."""
        out = list(self._in_flight)
        self._in_flight.clear()
        return out
