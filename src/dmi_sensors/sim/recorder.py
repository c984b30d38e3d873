"""A small recorder that streams virtual-sensor packets into the store at real-time pace.

Used by the crash-safety test (it is killed with SIGKILL mid-session) and handy to fill a
database for trying ``dmi-sensors sessions``/``export``::

    python -m dmi_sensors.sim.recorder --db /tmp/s.sqlite --sensors 2 --duration-s 10

It behaves like ``dmi-sensors record`` minus Bluetooth: :class:`dmi_sensors.sim.VirtualSensor`
firmware state machines (a child sitting with support at the hips, simulated once and
looped; simulated sensors 0, 1, ... of :mod:`dmi_sensors.sim.identity`) are started with a
START_STREAMING command and carried to the host by the one packet scheduler
(:class:`dmi_sensors.sim.stream.SimulatedHost`, rule in :mod:`dmi_sensors.sim.link`): an
asyncio loop sleeps until the next packet arrives and appends every packet to a
:class:`~dmi_sensors.store.writer.PacketWriter`, stamped with the loop clock when it was
handed over. :func:`packet_schedule` is the same recording on a simulated clock (each
packet stamped with its arrival time exactly, nothing waited for).

It reports on stdout, one JSON object per line (flushed), so a parent process can follow it:

``{"event": "session", "session_id": 1}``
``{"event": "append", "n": 17, "sensor_id": "...", "host_time_s": 0.85, "crc32": ...}`` after each
append (``crc32`` of the packet's bytes)
``{"event": "commit", "committed": 40, "host_time_s": 0.9}`` after each commit (writer thread)
``{"event": "done", "committed": 1200}`` when it finishes normally (then it finalises)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import zlib
from pathlib import Path

from dmi_sensors.session import Subject
from dmi_sensors.sim.identity import simulated_serial
from dmi_sensors.sim.link import LinkModel
from dmi_sensors.sim.segments import Segment
from dmi_sensors.sim.simulate import simulate
from dmi_sensors.sim.stream import SensorLink, SimulatedHost
from dmi_sensors.sim.virtual_sensor import VirtualSensor
from dmi_sensors.store import SessionStore
from dmi_sensors.types import RawPacket

__all__ = ["packet_schedule", "record", "virtual_sensors"]

#: Length of the simulated motion; longer streams loop over it (counters keep counting).
MOTION_S = 10.0
PLACEMENTS = ("trunk", "pelvis", "head", "thigh_left", "thigh_right")


def virtual_sensors(
    n_sensors: int, fs_hz: int = 100, samples_per_packet: int = 5, seed: int = 0, link: LinkModel | None = None
) -> list[SensorLink]:
    """``n_sensors`` virtual sensors on their links, streaming since t = 0 (their own timelines).

    All sensors share one simulated recording (a child sitting, held at the hips) to keep
    start-up short; sensor ``k`` is simulated sensor ``k`` (serial
    :func:`~dmi_sensors.sim.identity.simulated_serial`) with link seed ``seed + k``.
    Deterministic for the arguments.
    """
    motion = simulate([Segment("sitting", MOTION_S, support="hips")], fs_hz=fs_hz, seed=seed, com_height_m=0.40)
    links = []
    for k in range(n_sensors):
        sensor = VirtualSensor(
            simulated_serial(k),
            motion,
            fs_hz=fs_hz,
            samples_per_packet=samples_per_packet,
            link=link,
            link_seed=seed + k,
        )
        link_k = SensorLink(sensor)
        link_k.start(0.0, samples_per_packet)
        links.append(link_k)
    return links


def packet_schedule(
    n_sensors: int,
    fs_hz: int,
    duration_s: float,
    samples_per_packet: int = 5,
    seed: int = 0,
    link: LinkModel | None = None,
) -> list[RawPacket]:
    """What :func:`record` would store, without waiting: the same sensors and scheduler on a
    simulated clock, each packet stamped with its arrival time (arrival order, ties by sensor)."""
    host = SimulatedHost(virtual_sensors(n_sensors, fs_hz, samples_per_packet, seed, link))
    return host.packets(duration_s)


class _Reporter:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, **fields: object) -> None:
        with self._lock:
            sys.stdout.write(json.dumps(fields) + "\n")
            sys.stdout.flush()


async def record(
    db: Path,
    n_sensors: int = 2,
    fs_hz: int = 100,
    duration_s: float = 10.0,
    samples_per_packet: int = 5,
    seed: int = 0,
    max_latency_s: float = 0.5,
    link: LinkModel | None = None,
) -> int:
    """Record virtual sensors into ``db`` at real-time pace for ``duration_s``; returns the session id."""
    report = _Reporter()
    links = virtual_sensors(n_sensors, fs_hz, samples_per_packet, seed, link)
    placements = dict(zip((k.sensor_id for k in links), PLACEMENTS, strict=False))
    with SessionStore(db) as store:
        sid = store.create_session(Subject("DEMO01", 2019, 0.40), None, placements, therapist_id="T01")
        report(event="session", session_id=sid)

        def on_commit(committed: int, last: RawPacket) -> None:
            report(event="commit", committed=committed, host_time_s=round(last.host_time_s, 6))

        writer = store.packet_writer(sid, max_latency_s=max_latency_s, on_commit=on_commit)
        loop = asyncio.get_running_loop()
        start = loop.time()  # sensor time 0 = session start

        def clock() -> float:
            return loop.time() - start

        n = 0
        try:
            async for packet in SimulatedHost(links).stream(duration_s, clock, asyncio.sleep):
                writer.append(packet)
                n += 1
                report(
                    event="append",
                    n=n,
                    sensor_id=packet.sensor_id,
                    host_time_s=round(packet.host_time_s, 6),
                    crc32=zlib.crc32(packet.data),
                )
        finally:
            writer.close()
        store.finalise(sid)
        report(event="done", committed=writer.committed)
    return sid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dmi_sensors.sim.recorder", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--sensors", type=int, default=2)
    parser.add_argument("--fs-hz", type=int, default=100)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--samples-per-packet", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-latency-s", type=float, default=0.5)
    a = parser.parse_args(argv)
    t0 = time.monotonic()
    asyncio.run(record(a.db, a.sensors, a.fs_hz, a.duration_s, a.samples_per_packet, a.seed, a.max_latency_s))
    print(json.dumps({"event": "exit", "wall_s": round(time.monotonic() - t0, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
