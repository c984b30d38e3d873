"""The emulator's air: one peripheral's notifications through the one packet scheduler.

:class:`Air` sits between a :class:`~dmi_sensors.sim.bluez.model.Peripheral` and the
emulated BlueZ's D-Bus signals. It knows no D-Bus, so tests drive it with any clock:

* **what goes on the air** -- the notifications the peripheral finished (:meth:`Air.poll`,
  when the peripheral says something is ready: its ``next_ready_s()``, else at every
  connection event) and its answers to writes (:meth:`Air.send`), in that FIFO order.
  While the link is down (:attr:`Air.up` false) nothing goes on the air: what the
  peripheral finishes then is lost (returned to the caller for the truth), though it still
  takes its turn in the scheduler's draws, so data packet ``j`` of the peripheral's life
  always gets loss draw ``j``;
* **when the host gets it** -- every notification goes through the peripheral's
  :class:`~dmi_sensors.sim.link.LinkScheduler` (``peripheral.link_scheduler()``, else
  ``LinkModel(connection_interval_s=tick_s)`` without losses), whose rule (connection
  event, per-event limit, losses, latency and jitter) is in :mod:`dmi_sensors.sim.link`;
  :meth:`Air.arrived` returns what reached the host by a time, :meth:`Air.next_wake_s` when
  to look again.

The emulator emits each notification when its clock reaches the arrival time, so a virtual
sensor reaches bleak on the same schedule as it reaches an in-process host
(:class:`dmi_sensors.sim.stream.SensorLink`) for the same link and seed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

from dmi_sensors.sim.bluez.model import Notification, Peripheral
from dmi_sensors.sim.link import Delivery, LinkModel, LinkScheduler

__all__ = ["Air"]


class Air:
    """One peripheral's link to the host (see the module docstring).

    Parameters
    ----------
    peripheral
        The device.
    tick_s
        Connection interval of a peripheral that brings no link of its own, s.
    seed
        Seeds such a default link (with the peripheral's address).
    """

    def __init__(self, peripheral: Peripheral, tick_s: float = 0.015, seed: int = 0) -> None:
        self.peripheral = peripheral
        own = getattr(peripheral, "link_scheduler", None)
        if own is not None:
            self.scheduler: LinkScheduler[Notification] = own()
        else:
            link_seed = zlib.crc32(f"{seed}:{peripheral.address.upper()}".encode())
            self.scheduler = LinkScheduler(LinkModel(connection_interval_s=tick_s), None, link_seed)
        self.tick_s = float(tick_s)
        self._hint = getattr(peripheral, "next_ready_s", None)
        self._next_poll_s = -math.inf  # poll at the first chance
        #: whether a connection exists (the emulator sets it)
        self.up = False

    def send(self, notes: Sequence[Notification], now_s: float) -> list[Notification]:
        """Put notifications on the air in order (a notification without ``done_s`` is done now).

        Returns the data notifications that were lost because the link is down.
        """
        down = []
        for note in notes:
            done = now_s if note.done_s is None else note.done_s
            data = note.samples > 0
            if self.up:
                self.scheduler.send(note, done, data=data)
            elif data:
                self.scheduler.schedule([done], data=True)  # its turn in the draws, never sent
                down.append(note)
        return down

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        """A GATT write to the peripheral; its answer joins the queue behind what it sent
        before (a STOP's response follows the flushed data). Returns the data lost (link down)."""
        down = self.send(self.peripheral.write(char_uuid, data, now_s), now_s)
        self.invalidate()
        return down

    def step(self, now_s: float) -> tuple[list[Notification], list[Delivery[Notification]]]:
        """What the emulator does when a device's timer fires: :meth:`poll` (data lost because
        the link is down) and :meth:`arrived` (what reached the host)."""
        return self.poll(now_s), self.arrived(now_s)

    def poll(self, now_s: float) -> list[Notification]:
        """Collect what the peripheral finished, if it is time to ask (see :meth:`next_wake_s`);
        returns the data notifications lost because the link is down."""
        if now_s < self._next_poll_s:
            return []
        try:
            notes = self.peripheral.poll(now_s)
        except Exception:
            self._next_poll_s = self._next_event_after(now_s)  # a broken peripheral: try again later
            raise
        down = self.send(notes, now_s)
        self._next_poll_s = self._poll_after(now_s)
        return down

    def invalidate(self) -> None:
        """The peripheral's state changed (a write, a connection): ask it again at the next chance."""
        self._next_poll_s = -math.inf

    def _poll_after(self, now_s: float) -> float:
        if self._hint is not None:
            t = self._hint()
            if t is None:
                return math.inf  # nothing until a write or a (dis)connection
            if t > now_s:
                return float(t)
        return self._next_event_after(now_s)

    def _next_event_after(self, now_s: float) -> float:
        if self.scheduler.link.is_ideal:
            return now_s + self.tick_s
        return self.scheduler.next_event_s(now_s)

    def arrived(self, now_s: float) -> list[Delivery[Notification]]:
        """Notifications that reached the host by ``now_s``, in order (lost ones flagged)."""
        return self.scheduler.arrived(now_s)

    def next_wake_s(self) -> float | None:
        """The next poll or arrival (device clock), ``None`` if nothing is pending."""
        arrival = self.scheduler.next_arrival_s()
        t = min(self._next_poll_s, math.inf if arrival is None else arrival)
        return None if t == math.inf else t  # -inf: as soon as possible

    def clear(self) -> list[Delivery[Notification]]:
        """The link went down: the notifications in flight never arrive (returned for the truth)."""
        return self.scheduler.clear()
