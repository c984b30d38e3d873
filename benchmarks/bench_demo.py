"""``dmi-sensors demo`` end to end (target: under 60 s on 2 cores), and a 45-minute session's analysis.

* ``demo_*``: the demo as a user runs it, in a fresh process (cold start: imports and the
  Numba cache included), wall time, plus the stage timings it reports.
* ``long_session_*``: a simulated 45-minute DMI session (two sensors, 100 Hz, 18 exercises
  of 5 repetitions) recorded into a store, then analysed and reported.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _demo_cold(out: Path, quick: bool) -> float:
    t0 = time.perf_counter()
    args = [sys.executable, "-m", "dmi_sensors", "demo", "--out", str(out)] + (["--quick"] if quick else [])
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def _long_session(tmp: Path) -> dict[str, float]:
    import dataclasses
    import importlib

    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.demo.run import DEMO_SUBJECT
    from dmi_sensors.report.session import build_session_report
    from dmi_sensors.session import CATALOGUE, Plan, Subject
    from dmi_sensors.sim.session import record_simulated_session

    ids = [
        "sit_table_trunk",
        "sit_box_hips",
        "four_point_floor_hips",
        "stand_box_hips",
        "stand_box_thighs",
        "stand_box_knees",
        "stand_box_shanks",
        "stand_box_ankles",
        "stand_floor_none",
    ] * 2
    exercises = [
        dataclasses.replace(CATALOGUE[k], exercise_id=f"{k}_{i}", target_repetitions=5, hold_s=28.0)
        for i, k in enumerate(ids)
    ]
    plan = Plan("45-minute session", exercises)
    SessionStore = importlib.import_module("dmi_sensors.store").SessionStore
    with SessionStore(tmp / "long.sqlite") as store:
        t0 = time.perf_counter()
        sid, _ = record_simulated_session(
            store, Subject(**DEMO_SUBJECT), plan, seed=1, start_utc="2026-03-10T09:00:00Z"
        )
        t1 = time.perf_counter()
        analyse_session(store, sid)
        t2 = time.perf_counter()
        build_session_report(store, sid, tmp)
        t3 = time.perf_counter()
        duration = float(store.session_info(sid).duration_s)
    return {
        "long_session_duration_s": round(duration, 1),
        "long_session_record_s": round(t1 - t0, 2),
        "long_session_analyse_s": round(t2 - t1, 2),
        "long_session_report_s": round(t3 - t2, 2),
    }


def run() -> dict[str, float]:
    out: dict[str, float] = {"target_demo_s": 60.0}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out["demo_cold_wall_s"] = round(_demo_cold(tmp / "demo", quick=False), 2)
        out["demo_warm_wall_s"] = round(_demo_cold(tmp / "demo2", quick=False), 2)
        out["demo_quick_wall_s"] = round(_demo_cold(tmp / "demo3", quick=True), 2)
        from dmi_sensors.demo.run import run_demo

        res = run_demo(tmp / "demo4", log=lambda *_: None)
        out.update({f"demo_stage_{k}": round(v, 2) for k, v in res.timings_s.items()})
        out.update(_long_session(tmp))
    return out
