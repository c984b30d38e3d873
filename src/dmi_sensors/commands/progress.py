"""``dmi-sensors progress SUBJECT``: sway, stabilisation and support across a child's sessions.

``--json OUT`` also writes the change / minimal-detectable-change table (one row per exercise,
support level, metric and pair of sessions; :func:`dmi_sensors.report.progress.change_rows`)
as JSON, file mode 0600.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from dmi_sensors.errors import ParameterError, StateError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="pseudonymous subject id")
    parser.add_argument(
        "--db", type=Path, default=None, help="session database (default: $DMI_SENSORS_DB or the user's)"
    )
    parser.add_argument("--out", type=Path, default=Path("dmi-sensors-reports"), help="output directory")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write the change table (change, MDC95, verdict per exercise, support and metric) as JSON",
    )
    parser.add_argument(
        "--no-analyse", action="store_true", help="do not analyse sessions that have no stored results (skip them)"
    )


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars to Python, NaN and missing to None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def change_json(subject_id: str, changes, names: dict[str, str]) -> dict[str, Any]:
    """The ``--json`` document: the method in words and one object per row of the change table."""
    from dmi_sensors.metrics.reliability import MDC_FACTOR, MIN_REPETITIONS

    rows = [] if changes is None else changes.to_dict("records")
    out = []
    for r in rows:
        row = {str(k): _plain(v) for k, v in r.items()}
        row["exercise_name"] = names.get(str(row["exercise"]), str(row["exercise"]))
        out.append(row)
    return {
        "subject_id": subject_id,
        "method": {
            "session_value": "mean of the session's repetitions (geometric mean on the log scale)",
            "sem": "within-session SD of one repetition, pooled over the sessions (one-way ANOVA, sqrt(MS_W))",
            "mdc95": f"{MDC_FACTOR:.4f} * SEM (1.96 * sqrt(2) * SEM, Weir 2005), of one repetition",
            "verdict": "beyond measurement noise when |change| > MDC95 (on the log scale for scale 'log')",
            "min_repetitions": MIN_REPETITIONS,
        },
        "changes": out,
    }


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
    if args.json is not None:
        text = json.dumps(change_json(args.subject, rep.changes, rep.names), indent=2, allow_nan=False) + "\n"
        from dmi_sensors.store.paths import open_private

        with open_private(args.json, "w") as fh:
            fh.write(text)
    print(f"progress report: {rep.html_path}")
    if args.json is not None:
        print(f"change table: {args.json}")
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
