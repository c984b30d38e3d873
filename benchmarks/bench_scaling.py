"""Session analysis, report and exports at three session lengths (issue 20's scaling table).

Simulated DMI sessions with two sensors (trunk, pelvis) at 100 Hz, recorded through the
virtual sensors and the store's packet writer (``sim.session.record_simulated_session``):
2, 18 and 72 exercises of 5 repetitions of 28 s (5 min, 45 min and 3 h; 0.16, 1.42 and
5.68 sensor-hours). Every stage runs in a **fresh interpreter** (as a user runs the
command) that times its imports, then the stage twice on fresh copies of the inputs: the
first call (``cold``: Numba cache loads and first-use costs of scipy, matplotlib, ...
included) and the second (``warm``: the cost of the work itself, what grows with the
session). The parent adds the child's whole CPU time; the child reports its peak RSS
(``VmHWM``) after its imports, after the first call (one analysis, as a command does) and at
the end; a separate child reports the peak RSS of importing the third-party libraries alone
(``libraries_rss_mb``: what no session length changes).

* ``analyse``: ``analyse_session(store, id)`` with saving (all metrics and tables);
* ``report``: ``build_session_report`` of the analysed session (no re-analysis);
* ``csv``, ``parquet``, ``bids``: ``export_session`` of the analysed session; MB/s are the
  bytes written over the call's CPU time.

Rounds interleave the stages and lengths (``DMI_BENCH_SCALING_ROUNDS``, default 3;
``DMI_BENCH_SCALING_EXERCISES``, default ``2,18,72``). Correctness in the same run: the
analysis has one repetition row per planned repetition and sensor; the exports hold every
stored sample. Targets (issue 20): analysis <= 1 CPU-s per sensor-hour, linear in length,
peak RSS <= 200 MB + 50 MB per sensor-hour; report of 45 minutes <= 2 s; CSV >= 50 MB/s,
BIDS >= 30 MB/s.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import child_run, load_average

SENSORS = 2
FS_HZ = 100
REPETITIONS = 5
HOLD_S = 28.0
STAGES = ("analyse", "report", "csv", "parquet", "bids")
_EXERCISE_CYCLE = (
    "sit_table_trunk",
    "sit_box_hips",
    "four_point_floor_hips",
    "stand_box_hips",
    "stand_box_thighs",
    "stand_box_knees",
    "stand_box_shanks",
    "stand_box_ankles",
    "stand_floor_none",
)


def plan(n_exercises: int):
    """The benchmark's plan: the cycle of nine catalogue exercises, ``n_exercises`` long."""
    import dataclasses

    from dmi_sensors.session import CATALOGUE, Plan

    ids = [_EXERCISE_CYCLE[i % len(_EXERCISE_CYCLE)] for i in range(n_exercises)]
    exercises = [
        dataclasses.replace(CATALOGUE[k], exercise_id=f"{k}_{i}", target_repetitions=REPETITIONS, hold_s=HOLD_S)
        for i, k in enumerate(ids)
    ]
    return Plan(f"{n_exercises} exercises", exercises)


def record(db: Path, n_exercises: int) -> float:
    """Record the simulated session into ``db``; returns its duration, s."""
    from dmi_sensors.demo.run import DEMO_SUBJECT
    from dmi_sensors.session import Subject
    from dmi_sensors.sim.session import record_simulated_session
    from dmi_sensors.store import SessionStore

    with SessionStore(db) as store:
        sid, _ = record_simulated_session(
            store, Subject(**DEMO_SUBJECT), plan(n_exercises), seed=1, start_utc="2026-03-10T09:00:00Z"
        )
        return float(store.session_info(sid).duration_s)


# ----------------------------------------------------------------------------- the child
_CHILD = "import sys; from benchmarks.bench_scaling import child; child(*sys.argv[1:])"


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _rows_written(stage: str, out: Path) -> int:
    """Sample rows in an export (BIDS: motion.tsv rows, lost samples included as n/a)."""
    if stage == "parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(out / "samples.parquet").num_rows)
    files = [out / "samples.csv"] if stage == "csv" else sorted(out.rglob("*_motion.tsv"))
    lines = 0
    for f in files:
        with f.open("rb") as fh:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""))
    return lines - (1 if stage == "csv" else 0)


def _peak_rss_mb() -> float:
    """This process's peak resident memory, MB: ``VmHWM`` of its own address space.

    (``getrusage(RUSAGE_SELF).ru_maxrss`` survives ``exec`` on Linux: a child started by a
    large parent reports the parent's peak.)"""
    with Path("/proc/self/status").open(encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(stage: str, db: str, work: str) -> None:
    """Run one stage twice in this (fresh) process; print a JSON line with the figures."""
    c0 = time.process_time()
    from dmi_sensors.store import SessionStore

    if stage == "analyse":
        from dmi_sensors.analysis import analyse_session

        def call(k: int) -> dict[str, Any]:
            copy = Path(work) / f"analysed-{k}.sqlite"
            shutil.copyfile(db, copy)
            with SessionStore(copy) as store:
                t0 = time.process_time()
                result = analyse_session(store, 1)
                cpu = time.process_time() - t0
            return {"cpu_s": cpu, "repetition_rows": len(result.repetitions), "exercise_rows": len(result.exercises)}

    elif stage == "report":
        from dmi_sensors.report.session import build_session_report

        def call(k: int) -> dict[str, Any]:
            out = Path(work) / f"report-{k}"
            with SessionStore(db) as store:
                t0 = time.process_time()
                build_session_report(store, 1, out)
                cpu = time.process_time() - t0
            return {"cpu_s": cpu, "bytes": _tree_bytes(out)}

    else:
        from dmi_sensors.store.export import export_session

        def call(k: int) -> dict[str, Any]:
            out = Path(work) / f"{stage}-{k}"
            with SessionStore(db) as store:
                t0 = time.process_time()
                export_session(store, 1, out, stage)
                cpu = time.process_time() - t0
                samples = sum(s.samples for s in store.session_info(1).sensors)
            size = _tree_bytes(out)
            return {
                "cpu_s": cpu,
                "bytes": size,
                "mb_per_cpu_s": size / 1e6 / cpu,
                "stored_samples": samples,
                "rows_written": _rows_written(stage, out),
            }

    imports = time.process_time() - c0
    rss_imports = _peak_rss_mb()
    cold = call(0)
    rss_cold = _peak_rss_mb()
    warm = call(1)
    rss_mb = _peak_rss_mb()
    print(
        json.dumps(
            {
                "import_cpu_s": imports,
                "cold": cold,
                "warm": warm,
                "peak_rss_mb": rss_mb,
                "peak_rss_imports_mb": rss_imports,
                "peak_rss_one_call_mb": rss_cold,
            }
        )
    )


_LIBRARIES = (
    "import json, sys; from benchmarks.bench_scaling import _peak_rss_mb; out = {}\n"
    "for name in ('numpy', 'pyarrow', 'pandas', 'scipy.special', 'scipy.fft', 'scipy.ndimage', 'llvmlite.binding',\n"
    "             'numba', 'scipy.signal', 'matplotlib.pyplot'):\n"
    "    __import__(name); out[name] = _peak_rss_mb()\n"
    "print(json.dumps(out))"
)


def libraries_rss() -> dict[str, float]:
    """Peak RSS (MB) of a fresh interpreter after importing, one after the other, the
    third-party libraries the analysis loads (up to ``numba``), then ``scipy.signal`` (which
    loads ``scipy.stats``; the analysis no longer imports it, the report's figures do not
    need it either) and ``matplotlib.pyplot`` (the report): the memory no session length changes."""
    res = child_run(_LIBRARIES)
    return {k: round(float(v), 1) for k, v in res.items() if not k.startswith("child_")}


# ----------------------------------------------------------------------------- the parent
def _median(values: list[float], digits: int = 3) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}  # fmt: skip


def run() -> dict[str, object]:
    rounds = int(os.environ.get("DMI_BENCH_SCALING_ROUNDS", "3"))
    lengths = [int(x) for x in os.environ.get("DMI_BENCH_SCALING_EXERCISES", "2,18,72").split(",")]
    out: dict[str, object] = {"load_average_1min_start": load_average(), "rounds": rounds}
    out["libraries_rss_mb"] = libraries_rss()
    with tempfile.TemporaryDirectory(prefix="dmi-bench-scaling-") as tmp:
        root = Path(tmp)
        sessions: dict[int, dict[str, Any]] = {}
        for n in lengths:
            db = root / f"recorded-{n}.sqlite"
            t0 = time.perf_counter()
            duration = record(db, n)
            sessions[n] = {"db": db, "duration_s": duration, "record_wall_s": time.perf_counter() - t0}
        runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for r in range(rounds):
            for n in lengths:
                for stage in STAGES:
                    work = root / f"work-{n}-{stage}-{r}"
                    work.mkdir()
                    src = sessions[n]["db"] if stage == "analyse" else sessions[n]["analysed"]
                    res = child_run(_CHILD, [stage, str(src), str(work)])
                    if stage == "analyse" and "analysed" not in sessions[n]:
                        sessions[n]["analysed"] = root / f"analysed-{n}.sqlite"
                        shutil.copyfile(work / "analysed-0.sqlite", sessions[n]["analysed"])
                    runs.setdefault((n, stage), []).append(res)
                    shutil.rmtree(work)
        table = []
        for n in lengths:
            hours = sessions[n]["duration_s"] / 3600.0
            sensor_hours = SENSORS * hours
            row: dict[str, Any] = {
                "exercises": n,
                "session_s": round(sessions[n]["duration_s"], 1),
                "sensor_hours": round(sensor_hours, 3),
            }
            for stage in STAGES:
                rs = runs[(n, stage)]
                warm = [x["warm"]["cpu_s"] for x in rs]
                row[stage] = {
                    "warm_cpu_s": _median(warm),
                    "cold_cpu_s": _median([x["cold"]["cpu_s"] for x in rs]),
                    "import_cpu_s": _median([x["import_cpu_s"] for x in rs]),
                    "process_cpu_s": _median([x["child_cpu_s"] for x in rs]),
                    "peak_rss_mb": _median([x["peak_rss_mb"] for x in rs], 0),
                    "peak_rss_imports_mb": _median([x["peak_rss_imports_mb"] for x in rs], 0),
                    "peak_rss_one_call_mb": _median([x["peak_rss_one_call_mb"] for x in rs], 0),
                }
                if stage == "analyse":
                    reps = {x["warm"]["repetition_rows"] for x in rs} | {x["cold"]["repetition_rows"] for x in rs}
                    assert reps == {SENSORS * REPETITIONS * n}, f"repetition rows {reps}"  # correctness, same run
                    row[stage]["warm_cpu_s_per_sensor_hour"] = round(statistics.median(warm) / sensor_hours, 3)
                    row[stage]["rss_target_mb"] = round(200 + 50 * sensor_hours)
                if stage in ("csv", "parquet", "bids"):
                    stored = rs[0]["warm"]["stored_samples"]  # correctness, same run: every sample written
                    assert stored > 0.99 * SENSORS * FS_HZ * sessions[n]["duration_s"], "samples missing"
                    written = {x[k]["rows_written"] for x in rs for k in ("cold", "warm")}
                    assert written == {stored} if stage != "bids" else min(written) >= stored, (stage, written, stored)
                    row[stage]["mb"] = round(rs[0]["warm"]["bytes"] / 1e6, 1)
                    row[stage]["warm_mb_per_cpu_s"] = _median([x["warm"]["mb_per_cpu_s"] for x in rs], 1)
                    row[stage]["process_mb_per_cpu_s"] = round(
                        rs[0]["warm"]["bytes"] / 1e6 / statistics.median(x["child_cpu_s"] for x in rs), 1
                    )
            table.append(row)
    out["sessions"] = table
    out.update(_targets(table))
    out["load_average_1min_end"] = load_average()
    out["note"] = (
        "fresh interpreter per stage and round; cold = first call in the process (Numba cache loads, first use "
        "of scipy/matplotlib), warm = second call on fresh copies; process = the child's whole CPU time "
        "(imports, both calls). CPU time (user+sys). MB/s: bytes written / CPU s"
    )
    return out


def _targets(table: list[dict[str, Any]]) -> dict[str, object]:
    """Issue 20's targets against the medians, and the analysis's linearity."""
    import numpy as np

    hours = np.array([row["sensor_hours"] for row in table])
    cpu = np.array([row["analyse"]["warm_cpu_s"]["median"] for row in table])
    slope, intercept = np.polyfit(hours, cpu, 1)
    one_call = np.array([row["analyse"]["peak_rss_one_call_mb"]["median"] for row in table])
    rss_slope, rss_intercept = np.polyfit(hours, one_call, 1)
    per_hour = cpu / hours
    by_len = {row["exercises"]: row for row in table}
    mid = by_len.get(18, table[len(table) // 2])
    met = {
        "analysis_cpu_s_per_sensor_hour_le_1": bool(np.all(per_hour <= 1.0)),
        "analysis_rss_le_200_plus_50_per_sensor_hour": all(
            row["analyse"]["peak_rss_mb"]["median"] <= row["analyse"]["rss_target_mb"] for row in table
        ),
        "analysis_one_call_rss_le_200_plus_50_per_sensor_hour": all(
            row["analyse"]["peak_rss_one_call_mb"]["median"] <= row["analyse"]["rss_target_mb"] for row in table
        ),
        "analysis_one_call_rss_growth_le_50_mb_per_sensor_hour": bool(rss_slope <= 50.0),
        "report_45min_warm_le_2_s": mid["report"]["warm_cpu_s"]["median"] <= 2.0,
        "report_45min_fresh_process_le_2_s": mid["report"]["process_cpu_s"]["median"] <= 2.0,
        "csv_ge_50_mb_s": all(row["csv"]["warm_mb_per_cpu_s"]["median"] >= 50 for row in table),
        "bids_ge_30_mb_s": all(row["bids"]["warm_mb_per_cpu_s"]["median"] >= 30 for row in table),
    }
    return {
        "analysis_fit_cpu_s_per_sensor_hour": round(float(slope), 3),
        "analysis_fit_intercept_cpu_s": round(float(intercept), 3),
        # peak RSS of a process that analysed once (as a command does) against sensor-hours: the
        # slope is the growth with the session's length, the intercept the libraries and the
        # per-process constant (python -m benchmarks scaling: libraries_rss_mb)
        "analysis_one_call_rss_fit_mb_per_sensor_hour": round(float(rss_slope), 1),
        "analysis_one_call_rss_fit_intercept_mb": round(float(rss_intercept), 1),
        "analysis_cpu_s_per_sensor_hour_by_length": [round(float(v), 3) for v in per_hour],
        "targets": {
            "analysis": "<= 1 CPU-s per sensor-hour (warm), linear; peak RSS <= 200 MB + 50 MB per sensor-hour",
            "report_45min": "<= 2 s",
            "csv": ">= 50 MB/s",
            "bids": ">= 30 MB/s",
        },
        "met": met,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
    sys.exit(0)
