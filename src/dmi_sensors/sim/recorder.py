"""A small recorder that streams virtual-sensor packets into the store at real-time pace.

Used by the crash-safety test (it is killed with SIGKILL mid-session) and handy to fill a
database for trying ``dmi-sensors sessions``/``export``::

    python -m dmi_sensors.sim.recorder --db /tmp/s.sqlite --sensors 2 --duration-s 10

It behaves like ``dmi-sensors record`` minus Bluetooth: :class:`dmi_sensors.sim.VirtualSensor`
firmware state machines (a child sitting with support at the hips, simulated once and
looped) are started with a START_STREAMING command; an asyncio loop wakes when the next
packet is due, collects the packets each sensor has ready (``packets_until(now)``) and
appends every one to a :class:`~dmi_sensors.store.writer.PacketWriter` with its host arrival
time. It reports on stdout, one JSON object per line (flushed), so a parent process can
follow it:

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

from dmi_sensors.types import RawPacket

__all__ = ["packet_schedule", "record", "virtual_sensors"]

#: Length of the simulated motion; longer streams loop over it (counters keep counting).
MOTION_S = 10.0


def virtual_sensors(n_sensors: int, fs_hz: int = 100, samples_per_packet: int = 5, seed: int = 0) -> dict:
    """``{sensor_id: VirtualSensor}``, streaming since t = 0 (their own timelines).

    All sensors share one simulated recording (a child sitting, held at the hips) to keep
    start-up short; each has its own serial number. Deterministic for the arguments.
    """
    from dmi_sensors import protocol
    from dmi_sensors.sim import Segment, VirtualSensor, simulate

    motion = simulate([Segment("sitting", MOTION_S, support="hips")], fs_hz=fs_hz, seed=seed, com_height_m=0.40)
    sensors = {}
    for k in range(n_sensors):
        sensor = VirtualSensor(0x0D000001 + k, motion, samples_per_packet=samples_per_packet)
        start = protocol.StartStreaming(samples_per_packet=samples_per_packet)
        sensor.handle_control(protocol.encode_command(start), 0.0)
        sensors[sensor.name] = sensor
    return sensors


def packet_schedule(
    n_sensors: int, fs_hz: int, duration_s: float, samples_per_packet: int = 5, seed: int = 0
) -> list[RawPacket]:
    """What :func:`record` would store, without waiting: each sensor's packets stamped with
    the time they are due (arrival order, ties by sensor id). For tests and benchmarks."""
    out = []
    for sensor_id, sensor in virtual_sensors(n_sensors, fs_hz, samples_per_packet, seed).items():
        for j, data in enumerate(sensor.packets_until(duration_s)):
            out.append(RawPacket(sensor_id, (j + 1) * samples_per_packet / fs_hz - 1 / fs_hz, data))
    out.sort(key=lambda p: (p.host_time_s, p.sensor_id))
    return out


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
) -> int:
    """Record virtual sensors into ``db`` at real-time pace for ``duration_s``; returns the session id."""
    from dmi_sensors.session import Subject
    from dmi_sensors.store import SessionStore

    report = _Reporter()
    sensors = virtual_sensors(n_sensors, fs_hz, samples_per_packet, seed)
    placements = dict(zip(sensors, ("trunk", "pelvis", "head", "thigh_left", "thigh_right"), strict=False))
    with SessionStore(db) as store:
        sid = store.create_session(Subject("DEMO01", 2019, 0.40), None, placements, therapist_id="demo")
        report(event="session", session_id=sid)

        def on_commit(committed: int, last: RawPacket) -> None:
            report(event="commit", committed=committed, host_time_s=round(last.host_time_s, 6))

        writer = store.packet_writer(sid, max_latency_s=max_latency_s, on_commit=on_commit)
        loop = asyncio.get_running_loop()
        start = loop.time()  # sensor time 0 = session start
        n = 0
        try:
            while True:
                due = min(s.next_packet_due_s() for s in sensors.values())
                if due > duration_s:
                    break
                delay = start + due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = loop.time() - start
                for sensor_id, sensor in sensors.items():
                    for data in sensor.packets_until(min(now, duration_s)):
                        writer.append(RawPacket(sensor_id, now, data))
                        n += 1
                        report(
                            event="append", n=n, sensor_id=sensor_id, host_time_s=round(now, 6), crc32=zlib.crc32(data)
                        )
        finally:
            writer.close()
        store.finalise(sid)
        report(event="done", committed=writer.committed)
    return sid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmi_sensors.sim.recorder", description=__doc__.split("\n")[0])
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
