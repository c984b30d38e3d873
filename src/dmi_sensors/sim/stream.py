"""Virtual sensors as a host receives them in process: each on its link, merged in arrival order.

:class:`SensorLink` carries one :class:`~dmi_sensors.sim.virtual_sensor.VirtualSensor` to
the host through the sensor's :class:`~dmi_sensors.sim.link.LinkScheduler` (the one packet
scheduler; its rule is in :mod:`dmi_sensors.sim.link`): every packet the firmware finishes
goes on the link at its ``done_s``; the host gets the ones that arrived, as
:class:`~dmi_sensors.types.RawPacket` stamped with their arrival time; lost packets are
counted as truth (``packets_lost``, ``lost_counters``).

:class:`SimulatedHost` is the host of several links. The two ways to drive it differ only
in the clock, not in the scheduling:

* :meth:`SimulatedHost.packets` -- a simulated clock: every packet that arrived by
  ``until_s``, stamped with its arrival time exactly (the simulated session, tests); a
  recorder that ends with STOP_STREAMING (the firmware flushes its partial packet) then
  collects what is still in flight with :meth:`SimulatedHost.stop` and
  :meth:`SimulatedHost.drain`;
* :meth:`SimulatedHost.stream` -- real time: it sleeps until the next arrival and hands the
  packets over stamped with the host clock read at that moment (the arrival time plus
  however late the machine woke it up), as a recorder stamps notifications (the crash-test
  recorder).

Both hand over the same packets in the same order (by arrival; ties in link order).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from dmi_sensors import protocol
from dmi_sensors.sim.link import Delivery, LinkScheduler
from dmi_sensors.sim.virtual_sensor import SentPacket, VirtualSensor
from dmi_sensors.types import RawPacket

__all__ = ["SensorLink", "SimulatedHost"]


class SensorLink:
    """A virtual sensor on its radio link (see the module docstring).

    ``sensor_id``: the id its packets are stored under (default: the serial's 8 hex digits,
    as the BLE recorder names sensors). Times: the host clock, which is the sensor's
    timeline plus ``sensor.link.host_offset_s``.
    """

    def __init__(self, sensor: VirtualSensor, sensor_id: str | None = None) -> None:
        self.sensor = sensor
        self.sensor_id = sensor_id if sensor_id is not None else protocol.format_serial(sensor.serial)
        self.scheduler: LinkScheduler[SentPacket] = sensor.link_scheduler()
        #: truth: packets lost on the air and the first counter of each
        self.packets_lost = 0
        self.lost_counters: list[int] = []

    def start(self, now_s: float = 0.0, samples_per_packet: int = 0) -> None:
        """Send START_STREAMING at ``now_s`` (host clock; the full format; 0 = as many samples as fit)."""
        cmd = protocol.StartStreaming(samples_per_packet=samples_per_packet)
        self.sensor.handle_control(protocol.encode_command(cmd), now_s=now_s - self.sensor.link.host_offset_s)

    def stop(self, now_s: float) -> None:
        """Send STOP_STREAMING at ``now_s`` (host clock): the firmware flushes its partial packet."""
        cmd = protocol.StopStreaming()
        self.sensor.handle_control(protocol.encode_command(cmd), now_s=now_s - self.sensor.link.host_offset_s)

    @property
    def samples_per_packet(self) -> int:
        return self.sensor.samples_per_packet

    @property
    def samples_sent(self) -> int:
        """Samples the firmware sent (lost ones included)."""
        return self.sensor.samples_sent

    def receive_until(self, now_s: float) -> list[RawPacket]:
        """Packets that reached the host by ``now_s`` (host clock) and were not returned before."""
        for p in self.sensor.sent_until(now_s - self.sensor.link.host_offset_s):
            self.scheduler.send(p, p.done_s)
        return self._hand_over(self.scheduler.arrived(now_s))

    def drain(self) -> list[RawPacket]:
        """Everything the firmware has sent, whenever it arrives (after :meth:`stop`: the rest
        of the recording)."""
        for p in self.sensor.sent_until(self.sensor.now_s):
            self.scheduler.send(p, p.done_s)
        return self._hand_over(self.scheduler.arrived(math.inf))

    def _hand_over(self, deliveries: list[Delivery[SentPacket]]) -> list[RawPacket]:
        out = []
        for d in deliveries:
            if d.lost:
                self.packets_lost += 1
                self.lost_counters.append(d.item.counter)
            else:
                out.append(RawPacket(self.sensor_id, d.arrival_s, d.item.data))
        return out

    def next_wake_s(self) -> float | None:
        """When something next happens on this link (host clock): the next arrival, or the
        firmware finishing its next packet (whose arrival is known from then on)."""
        arrival = self.scheduler.next_arrival_s()
        due = self.sensor.next_packet_due_s()
        if due is not None:
            due += self.sensor.link.host_offset_s
        times = [t for t in (arrival, due) if t is not None]
        return min(times) if times else None


class SimulatedHost:
    """The host of several :class:`SensorLink`\\ s (see the module docstring)."""

    def __init__(self, links: Sequence[SensorLink]) -> None:
        self.links = list(links)

    def start(self, now_s: float = 0.0, samples_per_packet: int = 0) -> None:
        """START_STREAMING on every link (:meth:`SensorLink.start`)."""
        for link in self.links:
            link.start(now_s, samples_per_packet)

    def stop(self, now_s: float) -> None:
        """STOP_STREAMING on every link (:meth:`SensorLink.stop`)."""
        for link in self.links:
            link.stop(now_s)

    def receive_until(self, now_s: float) -> list[RawPacket]:
        """Packets of every link that arrived by ``now_s`` and were not returned before, by
        arrival time (ties: link order), stamped with their arrival times."""
        return _by_arrival([p for link in self.links for p in link.receive_until(now_s)])

    def drain(self) -> list[RawPacket]:
        """Everything still to arrive on every link (:meth:`SensorLink.drain`), by arrival time."""
        return _by_arrival([p for link in self.links for p in link.drain()])

    def packets(self, until_s: float) -> list[RawPacket]:
        """Simulated clock: everything that arrived by ``until_s``, stamped with its arrival."""
        return self.receive_until(until_s)

    def next_wake_s(self) -> float | None:
        """The earliest :meth:`SensorLink.next_wake_s` of the links."""
        times = [t for link in self.links if (t := link.next_wake_s()) is not None]
        return min(times) if times else None

    async def stream(
        self,
        until_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
    ) -> AsyncIterator[RawPacket]:
        """Real time: the packets that arrive by ``until_s``, each handed over once ``clock()``
        (host seconds, the links' clock) has reached its arrival and stamped with that reading.

        ``sleep(delay_s)`` waits (``asyncio.sleep``).
        """
        while (wake := self.next_wake_s()) is not None and wake <= until_s:
            delay = wake - clock()
            if delay > 0:
                await sleep(delay)
            now = min(clock(), until_s)
            for p in self.receive_until(now):
                yield RawPacket(p.sensor_id, now, p.data)


def _by_arrival(packets: list[RawPacket]) -> list[RawPacket]:
    packets.sort(key=lambda p: p.host_time_s)  # stable: link order among equal times
    return packets
