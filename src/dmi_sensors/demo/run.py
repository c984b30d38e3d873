"""``dmi-sensors demo``: two simulated DMI sessions of one child, end to end.

1. An *earlier* session (more sway: ``noise_scale`` 1.6; more proximal support: the
   standing exercises stop at the knees) and the *current* session (the package's example
   plan: support trunk -> hips -> knees -> ankles -> none), each recorded from two virtual
   sensors (trunk, pelvis) into a SQLite store as the recorder would
   (:mod:`dmi_sensors.sim.session`, or through bleak and the emulated BlueZ with
   ``via_bluez``), with the therapist's tags.
2. Each session is analysed from its stored raw packets (:func:`dmi_sensors.analysis.analyse_session`).
3. An HTML report per session and a progress report for the child.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dmi_sensors.analysis import analyse_session
from dmi_sensors.analysis.stored_run import latest_run
from dmi_sensors.errors import StateError
from dmi_sensors.report.progress import build_progress_report
from dmi_sensors.report.session import build_session_report
from dmi_sensors.session import CATALOGUE, Plan, Subject, example_plan
from dmi_sensors.sim.body import BodyParams
from dmi_sensors.sim.session import record_simulated_session
from dmi_sensors.store import SessionStore

__all__ = ["DEMO_SUBJECT", "DemoResult", "demo_plans", "run_demo"]

#: Pseudonymous demo child: born 2021, COM 0.45 m above the ankles.
DEMO_SUBJECT: dict[str, Any] = {
    "subject_id": "DEMO01",
    "birth_year": 2021,
    "com_height_m": 0.45,
    "diagnosis_category": "hypotonia",
}
EARLIER_START_UTC = "2026-02-10T09:30:00Z"
CURRENT_START_UTC = "2026-03-10T09:30:00Z"
EARLIER_EXERCISES = (
    "sit_table_trunk",
    "four_point_floor_hips",
    "stand_box_hips",
    "stand_box_thighs",
    "stand_box_knees",
)


@dataclass
class DemoResult:
    """Paths and ids produced by :func:`run_demo`."""

    out_dir: Path
    db_path: Path
    session_ids: list[int]
    reports: list[Path]
    progress: Path
    exercise_table: pd.DataFrame
    timings_s: dict[str, float] = field(default_factory=dict)


def demo_plans(quick: bool = False) -> tuple[Plan, Plan]:
    """``(earlier, current)`` plans; ``quick`` shortens every exercise (2 repetitions of 6 s)."""
    current = example_plan()
    earlier_ex = [dataclasses.replace(CATALOGUE[k], target_repetitions=3, hold_s=8.0) for k in EARLIER_EXERCISES]
    earlier = Plan("Earlier session: standing with support at hips, thighs and knees", earlier_ex)
    if quick:
        current = Plan(current.name, [dataclasses.replace(e, target_repetitions=2, hold_s=6.0) for e in current])
        earlier = Plan(earlier.name, [dataclasses.replace(e, target_repetitions=2, hold_s=6.0) for e in earlier])
    return earlier, current


def _record(
    store: SessionStore,
    subject: Subject,
    plan: Plan,
    *,
    seed: int,
    start_utc: str,
    body: BodyParams,
    via_bluez: bool,
) -> int:
    if via_bluez:
        # bleak, the BLE layer and the emulator harness are loaded only when asked for
        from dmi_sensors.demo.bluez import record_via_bluez

        return record_via_bluez(store, subject, plan, seed=seed, start_utc=start_utc, body=body)
    session_id, _ = record_simulated_session(store, subject, plan, seed=seed, start_utc=start_utc, body=body)
    return session_id


def run_demo(
    out_dir: str | Path = "dmi-sensors-demo",
    *,
    db_path: str | Path | None = None,
    via_bluez: bool = False,
    quick: bool = False,
    seed: int = 7,
    log: Callable[[str], object] = print,
) -> DemoResult:
    """Run the demo; returns where everything went.

    ``db_path`` None: ``<out_dir>/demo.sqlite``, recreated on every run. A given database
    is appended to (never cleared).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if db_path is None:
        db = out / "demo.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    else:
        db = Path(db_path)
    timings: dict[str, float] = {}
    subject = Subject(**DEMO_SUBJECT)
    earlier_plan, current_plan = demo_plans(quick)
    t0 = time.perf_counter()
    with SessionStore(db) as store:
        sessions: list[int] = []
        for label, plan, start, noise in (
            ("earlier", earlier_plan, EARLIER_START_UTC, 1.6),
            ("current", current_plan, CURRENT_START_UTC, 1.0),
        ):
            body = BodyParams(com_height_m=float(DEMO_SUBJECT["com_height_m"]), noise_scale=noise)
            t = time.perf_counter()
            sid = _record(
                store, subject, plan, seed=seed + len(sessions), start_utc=start, body=body, via_bluez=via_bluez
            )
            timings[f"record_{label}_s"] = time.perf_counter() - t
            log(
                f"recorded {label} session {sid} ({'bleak + emulated BlueZ' if via_bluez else 'virtual sensors'}) "
                f"-> {db}"
            )
            t = time.perf_counter()
            analyse_session(store, sid)
            timings[f"analyse_{label}_s"] = time.perf_counter() - t
            sessions.append(sid)
        t = time.perf_counter()
        reports = []
        previous: pd.DataFrame | None = None
        for sid in sessions:
            rep = build_session_report(store, sid, out, previous_exercises=previous)
            reports.append(rep.html_path)
            run = latest_run(store, sid)
            if run is None or not isinstance(run.exercises, pd.DataFrame):
                raise StateError(f"session {sid} was analysed but {store.path} holds no analysis run of it")
            previous = run.exercises[run.exercises["sensor_id"] == run.primary_sensor_id]
        prog = build_progress_report(store, subject.subject_id, out)
        timings["reports_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    assert previous is not None  # two sessions were recorded and analysed
    return DemoResult(out, db, sessions, reports, prog.html_path, previous, timings)


def short_table(exercises: pd.DataFrame) -> str:
    """A plain-text table of the current session's exercises (for the terminal)."""
    head = f"{'exercise':24s} {'support':8s} {'reps':>4s} {'ellipse mm2':>11s} {'COM RMS AP mm':>13s} {'TTS s':>6s}"
    lines = [head, "-" * len(head)]
    for r in exercises.to_dict("records"):

        def f(v: Any, d: int) -> str:
            return "-" if v is None or v != v else f"{v:.{d}f}"

        lines.append(
            f"{r['exercise']:24s} {r['support']:8s} {int(r['repetitions']):4d} {f(r['com_ellipse_area_mm2'], 0):>11s} "
            f"{f(r['com_rms_ap_mm'], 1):>13s} {f(r['time_to_stabilise_s'], 2):>6s}"
        )
    return "\n".join(lines)
