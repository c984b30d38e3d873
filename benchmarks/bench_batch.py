"""Cohort analysis on Dask: 100 simulated 5-minute sessions.

A session database of 100 children (one session each: the example plan's six exercises, four
repetitions of 12 s; 298 s; one trunk sensor at 100 Hz, recorded by the virtual sensors) is
analysed three ways in the same run, after one warm-up analysis in this process:

* ``serial``: a loop of ``analyse_session(store, id, save=False)`` in this process;
* ``batch_1_worker`` / ``batch_2_workers``: ``dmi_sensors.batch`` on a LocalCluster of 1 and
  2 worker processes, end to end (cluster start, discovery, parts, the joined Parquet).

The numbers of the three must agree bit for bit (checked). The scheduler's overhead per
session is measured two ways: ``(wall * workers - sum of the workers' analysis seconds) /
sessions`` for each batch run (cluster start, worker warm-up, transfer, writing the parts
included), and the round trip of 200 no-op tasks on the running 2-worker cluster (Dask's own
cost per task).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

N_SESSIONS = 100


def _noop(x: int) -> int:
    return x


def _cohort(db: Path) -> float:
    from dmi_sensors.session import Plan, example_plan
    from dmi_sensors.sim.cohort import record_cohort, simulated_children
    from dmi_sensors.sim.session import default_sensors
    from dmi_sensors.store import SessionStore

    plan = Plan("5-minute session", [e.replace(target_repetitions=4, hold_s=12.0) for e in example_plan()])
    children = simulated_children(N_SESSIONS, {"typical_development": 1.0, "cerebral_palsy": 1.6}, seed=19)
    t0 = time.perf_counter()
    with SessionStore(db) as store:
        record_cohort(store, children, plan, seed=19, sensors=default_sensors(0.45)[:1])
    return time.perf_counter() - t0


def _serial(db: Path):
    import pandas as pd

    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.store import SessionStore

    with SessionStore(db, create=False) as store:
        ids = store.session_ids()
        analyse_session(store, ids[0], save=False)  # warm-up (numba caches) outside the timing
        t0 = time.perf_counter()
        tables = [analyse_session(store, sid, save=False).repetitions for sid in ids]
        wall = time.perf_counter() - t0
    return wall, pd.concat(tables, ignore_index=True)


def _dask_roundtrip_ms(n_tasks: int = 200) -> float:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(_noop, range(10)))  # connections up
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(n_tasks), pure=False))
        return (time.perf_counter() - t0) / n_tasks * 1e3


def run() -> dict[str, object]:
    import numpy as np

    from dmi_sensors.analysis.batch import analyse_batch

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dmi-bench-batch-") as tmp:
        db = Path(tmp) / "cohort.sqlite"
        record_s = _cohort(db)
        serial_s, serial = _serial(db)
        runs = {}
        for workers in (1, 2):
            result = analyse_batch([db], Path(tmp) / f"w{workers}.parquet", workers=workers, progress=False)
            assert result.complete and result.failed == 0 and result.sessions == N_SESSIONS
            lines = Path(f"{result.parts}/manifest.jsonl").read_text().splitlines()[1:]
            busy = sum(json.loads(line)["seconds"] for line in lines)
            runs[workers] = (result, busy)
        t1, t2 = runs[1][0].table, runs[2][0].table
        for col in ("com_rms_ap_mm", "com_ellipse_area_mm2", "time_to_stabilise_s", "acc_rms_ap_mps2"):
            a = serial[col].to_numpy(dtype=np.float64)
            for t in (t1, t2):
                assert np.array_equal(a.view(np.int64), t[col].to_numpy(dtype=np.float64).view(np.int64)), col
        roundtrip_ms = _dask_roundtrip_ms()
    out: dict[str, object] = {
        "sessions": N_SESSIONS,
        "session_s": 298.0,
        "sensors_per_session": 1,
        "rows": len(t1),
        "record_cohort_s": round(record_s, 1),
        "serial_loop_s": round(serial_s, 2),
        "serial_per_session_s": round(serial_s / N_SESSIONS, 4),
    }
    for workers, (result, busy) in runs.items():
        name = f"batch_{workers}_worker{'s' if workers > 1 else ''}"
        out[f"{name}_s"] = round(result.wall_s, 2)
        out[f"{name}_speedup_vs_serial"] = round(serial_s / result.wall_s, 2)
        out[f"{name}_worker_analysis_s"] = round(busy, 2)
        out[f"{name}_overhead_per_session_s"] = round((result.wall_s * workers - busy) / N_SESSIONS, 4)
    out["dask_roundtrip_per_task_ms"] = round(roundtrip_ms, 2)
    out["identical_to_serial"] = True
    # other processes on the machine slow the workers down: the 1-minute load average around the run
    out["load_average_1min_start"] = round(load_start, 2)
    out["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return out
