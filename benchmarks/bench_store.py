"""Session store: packet append cost in the recorder's thread, commit throughput, read/replay, exports.

A 45-minute two-sensor session at 100 Hz with 5 samples per notification (108,000
firmware-exact packets from two ``dmi_sensors.sim.VirtualSensor``) is written through the
threaded PacketWriter as fast as possible, read back, replayed at speed 0, and one
sensor's 45 minutes of samples (270,000) are exported as CSV, Parquet and BIDS-Motion.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

SESSION_S = 45 * 60
FS_HZ = 100.0
SPP = 5


def _replay_all(store, sid) -> int:
    async def go() -> int:
        n = 0
        async for _ in store.replay(sid, speed=0):
            n += 1
        return n

    return asyncio.run(go())


def run() -> dict[str, float]:
    from dmi_sensors.session import Subject
    from dmi_sensors.sim.recorder import packet_schedule
    from dmi_sensors.store import SessionStore
    from dmi_sensors.store.export import export_session
    from dmi_sensors.store.export.ingest import ingest_session
    from dmi_sensors.store.samples import read_sample_blocks
    from dmi_sensors.types import SampleBatch

    packets = packet_schedule(2, int(FS_HZ), SESSION_S, SPP, seed=0)
    out: dict[str, float] = {"packets": len(packets), "session_s": SESSION_S}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        with SessionStore(db) as store:
            sid = store.create_session(Subject("B001", 2019, 0.4), None)
            writer = store.packet_writer(sid)
            costs = []
            t0 = time.perf_counter()
            for p in packets:
                a = time.perf_counter_ns()
                writer.append(p)
                costs.append(time.perf_counter_ns() - a)
            t_appended = time.perf_counter() - t0
            writer.close()
            t_total = time.perf_counter() - t0
            out["append_median_us"] = round(statistics.median(costs) / 1000, 2)
            out["append_p99_us"] = round(sorted(costs)[int(0.99 * len(costs))] / 1000, 2)
            out["append_all_s"] = round(t_appended, 3)
            out["write_throughput_packets_per_s"] = round(len(packets) / t_total)
            out["realtime_factor_write"] = round(SESSION_S / t_total, 1)
            out["commits"] = writer.commits
            for suffix in ("", "-wal"):
                f = Path(str(db) + suffix)
                out[f"db_bytes{suffix.replace('-', '_')}"] = f.stat().st_size if f.exists() else 0
            t0 = time.perf_counter()
            n = len(store.raw_packets(sid))
            out["read_all_packets_s"] = round(time.perf_counter() - t0, 3)
            assert n == len(packets)
            t0 = time.perf_counter()
            assert _replay_all(store, sid) == len(packets)
            out["replay_speed0_s"] = round(time.perf_counter() - t0, 3)

            from dmi_sensors import protocol

            first = packets[0].sensor_id
            dec = protocol.decode_stream(store.raw_packets(sid, first), first).batch
            batch = SampleBatch(
                first, FS_HZ, dec.counter, dec.device_time_s, dec.host_time_s, dec.acc_mps2, dec.gyr_rps,
                dec.gap_before, dec.counter / FS_HZ,
            )  # fmt: skip
            t0 = time.perf_counter()
            imp = ingest_session(
                store,
                subject=Subject("B001", 2019, 0.4),
                start_utc="2026-01-01T00:00:00Z",
                batches={first: batch},
                placements={first: "trunk"},
            )
            out["store_270k_samples_s"] = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
            read_sample_blocks(store, imp)
            out["read_270k_samples_s"] = round(time.perf_counter() - t0, 3)
            for fmt in ("csv", "parquet", "bids"):
                t0 = time.perf_counter()
                export_session(store, imp, Path(tmp) / fmt, fmt)
                out[f"export_{fmt}_270k_samples_s"] = round(time.perf_counter() - t0, 3)
    return out
