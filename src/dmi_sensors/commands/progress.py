"""``dmi-sensors progress SUBJECT``: sway, stabilisation and support across a child's sessions."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dmi_sensors.errors import ParameterError, StateError


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
    from dmi_sensors.commands.report import analysis_needed
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.report.progress import build_progress_report
    from dmi_sensors.store import SessionStore

    with SessionStore(args.db, create=False) as store:
        mine = [s for s in store.sessions() if s.subject_id == args.subject]
        if not mine:
            raise ParameterError(f"{store.path}: no session of subject {args.subject!r}")
        if not args.no_analyse:
            todo = []
            for s in mine:
                reason = analysis_needed(store, s.session_id)
                if reason is not None and any(x.samples for x in s.sensors):
                    todo.append((s.session_id, reason))
            if todo:
                with ProgressBar(len(todo), "analysing sessions", "session") as bar:
                    for sid, reason in todo:
                        try:
                            analyse_session(store, sid)
                        except (ParameterError, StateError) as exc:  # one session cannot stop the others' report
                            print(f"session {sid} left out: {exc}", file=sys.stderr)
                        else:
                            print(f"analysed session {sid} ({reason})")
                        bar.advance()
        rep = build_progress_report(store, args.subject, args.out)
    print(f"progress report: {rep.html_path}")
    for row in rep.trends.to_dict("records"):
        pct = row["area_change_pct"]
        change = "-" if pct is None or not math.isfinite(pct) else f"{pct:+.0f} %"
        name = rep.names.get(row["exercise"], row["exercise"])
        if row["support"] not in name:  # catalogue names say the support; other ids get it added
            name += f" (support: {row['support']})"
        print(f"  {name}: sway area {change} over {row['sessions']} sessions")
    if not len(rep.trends):
        print("  no exercise repeated at the same support in two sessions yet: nothing to compare")
    return 0
