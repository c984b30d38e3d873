"""``dmi-sensors progress SUBJECT``: sway, stabilisation and support across a child's sessions."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from dmi_sensors.errors import ParameterError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="pseudonymous subject id")
    parser.add_argument(
        "--db", type=Path, default=None, help="session database (default: $DMI_SENSORS_DB or the user's)"
    )
    parser.add_argument("--out", type=Path, default=Path("dmi-sensors-reports"), help="output directory")
    parser.add_argument(
        "--no-analyse", action="store_true", help="do not analyse sessions that have no stored results (skip them)"
    )


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.analysis.stored_run import latest_run
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.report.progress import build_progress_report
    from dmi_sensors.store import SessionStore

    with SessionStore(args.db, create=False) as store:
        mine = [s for s in store.sessions() if s.subject_id == args.subject]
        if not mine:
            raise ParameterError(f"{store.path}: no session of subject {args.subject!r}")
        if not args.no_analyse:
            todo = [s.session_id for s in mine if latest_run(store, s.session_id) is None and s.packets]
            if todo:
                with ProgressBar(len(todo), "analysing sessions", "session") as bar:
                    for sid in todo:
                        analyse_session(store, sid)
                        bar.advance()
                print("analysed session" + ("s " if len(todo) > 1 else " ") + ", ".join(map(str, todo)))
        rep = build_progress_report(store, args.subject, args.out)
    print(f"progress report: {rep.html_path}")
    for row in rep.trends.to_dict("records"):
        pct = row["area_change_pct"]
        change = "-" if pct is None or not math.isfinite(pct) else f"{pct:+.0f} %"
        print(f"  {row['exercise']:24s} {row['support']:8s} sway area {change} over {row['sessions']} sessions")
    return 0
