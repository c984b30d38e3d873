"""``dmi-sensors sessions list|show|import``: what the session database holds, and imports into it.

The store and the session model are imported when the command runs (``dmi-sensors --help``
stays fast).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    from dmi_sensors.store import SessionStore


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="session database (default: $DMI_SENSORS_DB or the platform data dir, e.g. "
        "~/.local/share/dmi-sensors/sessions.sqlite)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="one line per session (id, subject, start, status, sensors, packets)")
    p.add_argument("--json", action="store_true", help="print the sessions as JSON")
    _add_db(p)
    p = sub.add_parser("show", help="everything stored about one session")
    p.add_argument("session", type=int, metavar="SESSION", help="session id (see 'sessions list')")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _add_db(p)
    _add_import(sub)


def _add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import a CSV/Parquet export directory, a BIDS-Motion dataset, a trial CSV or a vendor recording"
        " (Movella DOT CSV, MetaBase CSV, APDM .h5) as a new session",
    )
    p.add_argument(
        "path", metavar="PATH", help="export directory, BIDS dataset root, trial CSV file or vendor recording file"
    )
    p.add_argument("--subject-id", help="trial CSV: pseudonymous subject id (letters and digits, no names)")
    p.add_argument("--birth-year", type=int, help="trial CSV: subject's birth year")
    p.add_argument("--com-height-m", type=float, help="trial CSV: centre-of-mass height, m")
    p.add_argument("--diagnosis-category", help="trial CSV: diagnosis category")
    p.add_argument(
        "--sensor-id",
        help="trial CSV or single-sensor vendor file: sensor id to store the samples under (default: trial,"
        " or the vendor's name)",
    )
    p.add_argument("--placement", default="trunk", help="trial CSV: where the sensor was worn")
    p.add_argument("--bids-subject", help="BIDS: subject label when the dataset has several")
    p.add_argument("--bids-session", help="BIDS: session label when the subject has several")
    _add_db(p)


def _run_import(store: SessionStore, args: argparse.Namespace) -> int:
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.store.export import import_path

    path = Path(args.path)
    kwargs: dict[str, Any] = {}
    if path.is_file():
        from dmi_sensors.session import Subject

        if not (args.subject_id and args.birth_year is not None and args.com_height_m is not None):
            raise ParameterError(
                "a trial CSV or a vendor recording needs --subject-id, --birth-year and --com-height-m"
            )
        subject = Subject(args.subject_id, args.birth_year, args.com_height_m, args.diagnosis_category)
        kwargs = {"subject": subject, "placement": args.placement}
        from dmi_sensors.store.export.vendor import is_vendor_file

        if args.sensor_id or not is_vendor_file(path):
            kwargs["sensor_id"] = args.sensor_id or "trial"
    elif args.bids_subject or args.bids_session:
        kwargs = {"subject": args.bids_subject, "session": args.bids_session}
    with ProgressBar(desc="import", unit="step") as bar:
        sid = import_path(store, path, progress=bar, **kwargs)
    print(f"imported {path} as session {sid}")
    return 0


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.session import Plan
    from dmi_sensors.store import SessionStore, UnknownSessionError, default_db_path

    path = Path(args.db) if args.db else default_db_path()
    if args.action == "list" and not path.exists():
        print("[]" if args.json else f"no sessions: {path} does not exist yet")
        return 0
    with SessionStore(path, create=args.action == "import") as store:
        if args.action == "import":
            return _run_import(store, args)
        if args.action == "list":
            infos = store.sessions()
            if args.json:
                print(json.dumps([i.to_dict() for i in infos], indent=2))
                return 0
            print(f"{'id':>4}  {'subject':10} {'start_utc':27} {'status':10} {'origin':8} {'sensors':>7} "
                  f"{'packets':>8} {'dur':>6} {'events':>6}")  # fmt: skip
            for i in infos:
                print(
                    f"{i.session_id:>4}  {i.subject_id:10} {i.start_utc:27} {i.status:10} {i.origin:8} "
                    f"{len(i.sensors):>7} {i.packets:>8} {_fmt_duration(i.duration_s):>6} {i.events:>6}"
                )
            return 0
        try:
            info = store.session_info(args.session)
        except UnknownSessionError as exc:
            raise ParameterError(str(exc)) from None
        results = store.results(args.session)
        if args.json:
            d = info.to_dict()
            keys = ("result_id", "sensor_id", "name", "package_version", "created_utc", "parameters", "summary")
            d["results"] = [{k: getattr(r, k) for k in keys} for r in results]
            print(json.dumps(d, indent=2))
            return 0
        plan = Plan.from_toml(info.plan_toml) if info.plan_toml else None
        print(f"session {info.session_id} ({info.status}, {info.origin}) in {store.path}")
        print(f"  subject      {info.subject_id}  born {info.birth_year}  COM height {info.com_height_m} m"
              f"  diagnosis {info.diagnosis_category or '-'}")  # fmt: skip
        print(f"  therapist    {info.therapist_id or '-'}")
        print(f"  start        {info.start_utc}   duration {_fmt_duration(info.duration_s)} (last packet)")
        print(f"  plan         {plan.name + f' ({len(plan.exercises)} exercises)' if plan else '-'}")
        print(f"  recorded by  dmi-sensors {info.package_version}")
        for s in info.sensors:
            cal = f"calibrations {', '.join(map(str, s.calibration_ids))}" if s.calibration_ids else "no calibration"
            count = f"{s.packets:>8} packets" if info.origin != "import" else f"{s.samples:>8} samples"
            print(f"  sensor       {s.sensor_id:16} {s.placement or '-':12} {count}  {cal}")
        print(f"  events       {info.events}")
        for r in results:
            who = f"{r.sensor_id or 'all sensors'}, dmi-sensors {r.package_version}"
            print(f"  result {r.result_id:<5} {r.name} ({who}, {len(r.summary)} metrics)")
    return 0
