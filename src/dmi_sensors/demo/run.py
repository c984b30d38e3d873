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
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEMO_SUBJECT", "DemoResult", "demo_plans", "run_demo"]

#: Pseudonymous demo child: born 2021, COM 0.45 m above the ankles.
DEMO_SUBJECT = {"subject_id": "DEMO01", "birth_year": 2021, "com_height_m": 0.45, "diagnosis_category": "hypotonia"}
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
    exercise_table: object
    timings_s: dict[str, float] = field(default_factory=dict)


def demo_plans(quick: bool = False):
    """``(earlier, current)`` plans; ``quick`` shortens every exercise (2 repetitions of 6 s)."""
    from dmi_sensors.session import CATALOGUE, Plan, example_plan

    current = example_plan()
    earlier_ex = [dataclasses.replace(CATALOGUE[k], target_repetitions=3, hold_s=8.0) for k in EARLIER_EXERCISES]
    earlier = Plan("Earlier session: standing with support at hips, thighs and knees", earlier_ex)
    if quick:
        current = Plan(current.name, [dataclasses.replace(e, target_repetitions=2, hold_s=6.0) for e in current])
        earlier = Plan(earlier.name, [dataclasses.replace(e, target_repetitions=2, hold_s=6.0) for e in earlier])
    return earlier, current


def _record(store, subject, plan, *, seed, start_utc, body, via_bluez: bool):
    if via_bluez:
        from dmi_sensors.demo.bluez import record_via_bluez

        return record_via_bluez(store, subject, plan, seed=seed, start_utc=start_utc, body=body)
    from dmi_sensors.sim.session import record_simulated_session

    session_id, _ = record_simulated_session(store, subject, plan, seed=seed, start_utc=start_utc, body=body)
    return session_id


def run_demo(
    out_dir: str | Path = "dmi-sensors-demo",
    *,
    db_path: str | Path | None = None,
    via_bluez: bool = False,
    quick: bool = False,
    seed: int = 7,
    log=print,
) -> DemoResult:
    """Run the demo; returns where everything went.

    ``db_path`` None: ``<out_dir>/demo.sqlite``, recreated on every run. A given database
    is appended to (never cleared).
    """
    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.report.progress import build_progress_report
    from dmi_sensors.report.session import build_session_report
    from dmi_sensors.session import Subject
    from dmi_sensors.sim import BodyParams
    from dmi_sensors.store import SessionStore

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
        sessions = []
        for label, plan, start, noise in (
            ("earlier", earlier_plan, EARLIER_START_UTC, 1.6),
            ("current", current_plan, CURRENT_START_UTC, 1.0),
        ):
            body = BodyParams(com_height_m=subject.com_height_m, noise_scale=noise)
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
        previous = None
        from dmi_sensors.analysis.stored_run import latest_run

        for sid in sessions:
            rep = build_session_report(store, sid, out, previous_exercises=previous)
            reports.append(rep.html_path)
            run = latest_run(store, sid)
            previous = run.exercises[run.exercises["sensor_id"] == run.primary_sensor_id]
        prog = build_progress_report(store, subject.subject_id, out)
        timings["reports_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return DemoResult(out, db, sessions, reports, prog.html_path, previous, timings)


def short_table(exercises) -> str:
    """A plain-text table of the current session's exercises (for the terminal)."""
    head = f"{'exercise':24s} {'support':8s} {'reps':>4s} {'ellipse mm2':>11s} {'COM RMS AP mm':>13s} {'TTS s':>6s}"
    lines = [head, "-" * len(head)]
    for r in exercises.itertuples(index=False):

        def f(v, d):
            return "-" if v is None or v != v else f"{v:.{d}f}"

        lines.append(
            f"{r.exercise:24s} {r.support:8s} {int(r.repetitions):4d} {f(r.com_ellipse_area_mm2, 0):>11s} "
            f"{f(r.com_rms_ap_mm, 1):>13s} {f(r.time_to_stabilise_s, 2):>6s}"
        )
    return "\n".join(lines)
