"""Replay a stored session as a live stream of raw packets.

Packets come out in arrival order, each at its original host arrival time relative to the
first packet, divided by ``speed``: a packet stored at ``host_time_s = t`` is yielded at
``start + (t - t_first) / speed`` on the event loop's clock. Deadlines are absolute, so
sleep jitter does not accumulate. ``speed=0`` yields as fast as the database can be read
(the loop is still given a chance to run other tasks every ``chunk`` packets).

The same downstream code (decoding, timing, live metrics) then runs on a replay as on a
recording, which is how a stored session "plays back as a live stream".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket

__all__ = ["PacketSource", "replay"]


class PacketSource(Protocol):
    """Where stored packets come from (a :class:`~dmi_sensors.store.SessionStore`)."""

    def iter_raw_packets(
        self, session_id: int, sensor_id: str | None = None, chunk: int = 4096
    ) -> Iterator[RawPacket]: ...


async def replay(
    store: PacketSource,
    session_id: int,
    speed: float = 1.0,
    sensor_id: str | None = None,
    *,
    chunk: int = 1024,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[RawPacket]:
    """Yield the session's stored packets with their original timing (see module docstring).

    Parameters
    ----------
    speed
        Playback speed factor (2.0 = twice as fast); 0 = no waiting at all.
    sensor_id
        Only this sensor's packets (default: all, interleaved as they arrived).
    clock, sleep
        Time source (seconds) and sleep coroutine; default the running loop's ``time()``
        and ``asyncio.sleep``. Injectable so timing can be tested on a virtual clock.
    """
    if speed < 0:
        raise ParameterError(f"speed must be >= 0, got {speed}")
    if clock is None:
        clock = asyncio.get_running_loop().time
    start = clock()
    t_first: float | None = None
    for i, packet in enumerate(store.iter_raw_packets(session_id, sensor_id, chunk=chunk)):
        if speed > 0:
            if t_first is None:
                t_first = packet.host_time_s
            due = start + (packet.host_time_s - t_first) / speed
            delay = due - clock()
            if delay > 0:
                await sleep(delay)
        elif i % chunk == chunk - 1:
            await sleep(0)
        yield packet
