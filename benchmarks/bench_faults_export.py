"""Exports of a 10-hour session in bounded memory (issue 16): peak resident memory per format.

A real simulated session: two ``dmi_sensors.sim.VirtualSensor`` firmware state machines
(trunk and pelvis, 200 Hz, 19 samples per notification, their link model with its losses
and latency) carried by the simulator's packet scheduler for 10 hours of simulated time,
stored chunk by chunk (~760,000 raw packets, 14.4 million samples). Each export (CSV,
Parquet, BIDS-Motion) then runs in a fresh process, which reports its peak resident set
size (``ru_maxrss``) and wall time, beside that of a process that only imported the export
modules and loaded the decoder's kernels (the floor every export pays).

Run: ``python -m benchmarks faults_export`` (a few minutes; ``DMI_BENCH_HOURS`` shortens it).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOURS = float(os.environ.get("DMI_BENCH_HOURS", "10"))
FS_HZ = 200
SPP = 19
STEP_S = 60.0
LIMIT_MB = 500.0


def _make_session(db: Path) -> dict[str, int | float]:
    from dmi_sensors.session import Subject
    from dmi_sensors.sim.recorder import virtual_sensors
    from dmi_sensors.sim.stream import SimulatedHost
    from dmi_sensors.store import SessionStore

    links = virtual_sensors(2, FS_HZ, SPP, seed=16)
    host = SimulatedHost(links)
    duration_s = HOURS * 3600.0
    n = 0
    with SessionStore(db) as store:
        ids = [link.sensor_id for link in links]
        sid = store.create_session(Subject("B016", 2019, 0.4), None, dict(zip(ids, ("trunk", "pelvis"), strict=True)))
        t = STEP_S
        while t <= duration_s + 1e-9:
            packets = host.receive_until(t)
            store.add_packets(sid, packets)
            n += len(packets)
            t += STEP_S
        store.finalise(sid)
    return {"session_id": sid, "packets": n, "samples_sent": sum(link.samples_sent for link in links)}


def _child(argv: list[str]) -> None:
    """In a fresh process: export (or only load, for the floor) and report the peak RSS."""
    db, sid, fmt, out = Path(argv[0]), int(argv[1]), argv[2], Path(argv[3])
    from dmi_sensors.protocol.stream import warm_up
    from dmi_sensors.store import SessionStore
    from dmi_sensors.store.export import bids, export_session, tabular  # noqa: F401  (what an export loads)

    warm_up()
    t0 = time.perf_counter()
    files = []
    if fmt != "floor":
        with SessionStore(db, create=False) as store:
            files = export_session(store, sid, out, fmt)
    wall = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in files if f.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1), "wall_s": round(wall, 1), "bytes": size}))


def run() -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {"hours": HOURS, "fs_hz": FS_HZ, "sensors": 2, "limit_mb": LIMIT_MB}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ten_hours.sqlite"
        t0 = time.perf_counter()
        made = _make_session(db)
        out.update({k: v for k, v in made.items() if k != "session_id"})
        out["make_session_s"] = round(time.perf_counter() - t0, 1)
        out["db_mb"] = round(db.stat().st_size / 1e6, 1)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path]))
        for fmt in ("floor", "csv", "parquet", "bids"):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_faults_export",
                    "child",
                    str(db),
                    str(made["session_id"]),
                    fmt,
                    str(Path(tmp) / f"out-{fmt}"),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            out[f"{fmt}_peak_rss_mb"] = result["peak_rss_mb"]
            if fmt != "floor":
                out[f"{fmt}_wall_s"] = result["wall_s"]
                out[f"{fmt}_mb_written"] = round(result["bytes"] / 1e6, 1)
            print(f"   {fmt}: {result}", flush=True)
    out["all_under_limit"] = str(all(out[f"{f}_peak_rss_mb"] < LIMIT_MB for f in ("csv", "parquet", "bids")))  # type: ignore[operator]
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _child(sys.argv[2:])
    else:
        print(json.dumps(run(), indent=2))
