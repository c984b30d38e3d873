"""``dmi-sensors report SESSION``: analyse a stored session (if needed) and write its HTML report.

The session is analysed first when it has no stored analysis, when its COM height changed
since the stored one (``sessions edit``), or with ``--reanalyse``; every analysis appends a
new run (nothing stored is overwritten, and a run with nothing in it is never stored).
Recorded and imported sessions alike: the analysis reads whatever the store holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from dmi_sensors.analysis import SessionAnalysisParams
    from dmi_sensors.store import SessionStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=int, help="session id (see `dmi-sensors sessions list`)")
    parser.add_argument(
        "--db", type=Path, default=None, help="session database (default: $DMI_SENSORS_DB or the user's)"
    )
    parser.add_argument("--out", type=Path, default=Path("dmi-sensors-reports"), help="output directory")
    parser.add_argument(
        "--reanalyse", action="store_true", help="analyse again even if results are stored (a new run is appended)"
    )
    parser.add_argument("--movement-s", type=float, default=2.0, help="movement at each repetition start, s")
    parser.add_argument("--com-method", choices=("pendulum", "strapdown"), default="pendulum")
    parser.add_argument("--ellipse-method", choices=("prediction_F", "chi2", "prieto"), default="prediction_F")


def analysis_params(args: argparse.Namespace) -> SessionAnalysisParams:
    from dmi_sensors.analysis import SessionAnalysisParams

    return SessionAnalysisParams(
        repetition_movement_s=args.movement_s,
        metrics={"com_method": args.com_method, "ellipse_method": args.ellipse_method},
    )


def previous_exercises(store: SessionStore, session_id: int) -> pd.DataFrame | None:
    """The primary sensor's exercise table of the subject's latest analysed session before this one."""
    from dmi_sensors.analysis.stored_run import latest_run

    info = store.session_info(session_id)
    earlier = [s for s in store.sessions() if s.subject_id == info.subject_id and s.start_utc < info.start_utc]
    for s in sorted(earlier, key=lambda s: s.start_utc, reverse=True):
        run = latest_run(store, s.session_id, sensor_windows=False)
        if run is not None and len(run.exercises):
            return run.exercises[run.exercises["sensor_id"] == run.primary_sensor_id]
    return None


def analysis_needed(store: SessionStore, session_id: int) -> str | None:
    """Why a session must be analysed before it is reported (None: its stored run is current):
    it was never analysed, or its COM height changed since (``dmi-sensors sessions edit``)."""
    from dmi_sensors.analysis.stored_run import latest_run

    run = latest_run(store, session_id, sensor_windows=False)
    if run is None:
        return "no stored analysis"
    used = run.parameters.get("com_height_m")
    now = store.session_info(session_id).com_height_m
    if now is not None and used is not None and float(used) != float(now):
        return f"the COM height changed since the stored analysis ({used:g} m -> {now:g} m)"
    return None


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.report.session import build_session_report
    from dmi_sensors.store import SessionStore

    with SessionStore(args.db, create=False) as store:
        if args.session not in store.session_ids():
            print(f"dmi-sensors report: error: {store.path}: no session {args.session}", file=sys.stderr)
            return 1
        reason = "--reanalyse" if args.reanalyse else analysis_needed(store, args.session)
        if reason is not None:
            with ProgressBar(desc=f"analysing session {args.session}", unit="step") as bar:
                analysis = analyse_session(store, args.session, analysis_params(args), progress=bar)
            print(f"analysed session {args.session} ({reason}); results stored in {store.path}")
            for warning in analysis.warnings:
                print(f"warning: {warning}", file=sys.stderr)
        rep = build_session_report(
            store, args.session, args.out, previous_exercises=previous_exercises(store, args.session)
        )
    print(f"report: {rep.html_path}")
    for f in rep.figures:
        print(f"figure: {f}")
    return 0
