"""A small recorder that streams virtual-sensor packets into the store at real-time pace.

Used by the crash-safety test (it is killed with SIGKILL mid-session) and handy to fill a
database for trying ``dmi-sensors sessions``/``export``::

    python -m dmi_sensors.store.demo_recorder --db /tmp/s.sqlite --sensors 2 --duration-s 10

It behaves like ``dmi-sensors record``: an asyncio loop receives notifications (here from a
deterministic schedule of firmware-exact packets, produced by
:func:`dmi_sensors.protocol.packetize` from a simulated sway signal) and appends each one to
a :class:`~dmi_sensors.store.writer.PacketWriter` the moment it "arrives". It reports on
stdout, one JSON object per line (flushed), so a parent process can follow it:

``{"event": "session", "session_id": 1}``
``{"event": "append", "n": 17, "sensor_id": "...", "host_time_s": 0.85}`` after each append
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
from pathlib import Path

import numpy as np

from dmi_sensors.types import RawPacket

__all__ = ["packet_schedule", "record"]

_ACC_RANGE_G = 4
_GYR_RANGE_DPS = 500


def _sensor_counts(n: int, fs_hz: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """int16 counts of a quiet-sitting trunk: gravity on z plus a 0.3 Hz sway and sensor noise."""
    from dmi_sensors import protocol

    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs_hz
    tilt = 0.02 * np.sin(2 * np.pi * 0.3 * t + seed)  # rad
    g = 9.80665
    acc = np.column_stack([g * np.sin(tilt), np.zeros(n), g * np.cos(tilt)]) + rng.normal(0, 0.02, (n, 3))
    gyr = np.column_stack([np.zeros(n), 0.02 * 2 * np.pi * 0.3 * np.cos(2 * np.pi * 0.3 * t + seed), np.zeros(n)])
    gyr = gyr + rng.normal(0, 0.002, (n, 3))
    acc_counts = np.clip(np.round(acc / protocol.acc_scale_mps2(_ACC_RANGE_G)), -32768, 32767).astype(np.int16)
    gyr_counts = np.clip(np.round(gyr / protocol.gyr_scale_rps(_GYR_RANGE_DPS)), -32768, 32767).astype(np.int16)
    return acc_counts, gyr_counts


def packet_schedule(
    n_sensors: int, fs_hz: float, duration_s: float, samples_per_packet: int, seed: int = 0
) -> list[tuple[float, str, bytes]]:
    """Every notification of the session in arrival order: ``(due_s, sensor_id, payload)``.

    Packet j of a sensor is due when its last sample has been taken, ``(j + 1) * spp / fs``
    after the start, plus a fixed per-sensor offset (sensors are not in phase).
    Deterministic for given arguments.
    """
    from dmi_sensors import protocol

    n = round(duration_s * fs_hz)
    out = []
    for k in range(n_sensors):
        sensor_id = f"DMI-{k + 1:04d}"
        acc, gyr = _sensor_counts(n, fs_hz, seed + k)
        first_counter = (2**32 - 50 * (k + 1)) if k % 2 else 1000 * k  # odd sensors wrap the counter early
        packets = protocol.packetize(
            acc, gyr, first_counter, 123_456 * (k + 1), fs_hz, _ACC_RANGE_G, _GYR_RANGE_DPS, samples_per_packet
        )
        offset_s = 0.003 * k
        for j, data in enumerate(packets):
            out.append((offset_s + (j + 1) * samples_per_packet / fs_hz, sensor_id, data))
    out.sort(key=lambda item: (item[0], item[1]))
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
    fs_hz: float = 100.0,
    duration_s: float = 10.0,
    samples_per_packet: int = 5,
    seed: int = 0,
    max_latency_s: float = 0.5,
) -> int:
    """Record a virtual session into ``db`` at real-time pace; returns the session id."""
    from dmi_sensors.session import Subject
    from dmi_sensors.store import SessionStore

    report = _Reporter()
    schedule = packet_schedule(n_sensors, fs_hz, duration_s, samples_per_packet, seed)
    with SessionStore(db) as store:
        sensors = {f"DMI-{k + 1:04d}": ("trunk" if k == 0 else f"pelvis{k}") for k in range(n_sensors)}
        sid = store.create_session(Subject("DEMO01", 2019, 0.40), None, sensors, therapist_id="demo")
        report(event="session", session_id=sid)
        loop = asyncio.get_running_loop()
        start = loop.time()

        def on_commit(committed: int, last: RawPacket) -> None:
            report(event="commit", committed=committed, host_time_s=round(last.host_time_s, 6))

        writer = store.packet_writer(sid, max_latency_s=max_latency_s, on_commit=on_commit)
        try:
            for n, (due_s, sensor_id, data) in enumerate(schedule, start=1):
                delay = start + due_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                host_time_s = loop.time() - start
                writer.append(RawPacket(sensor_id, host_time_s, data))
                report(event="append", n=n, sensor_id=sensor_id, host_time_s=round(host_time_s, 6))
        finally:
            writer.close()
        store.finalise(sid)
        report(event="done", committed=writer.committed)
    return sid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dmi_sensors.store.demo_recorder", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--sensors", type=int, default=2)
    parser.add_argument("--fs-hz", type=float, default=100.0)
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
