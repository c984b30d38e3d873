"""``dmi-sensors sessions list|show|edit|import``: what the session database holds, corrections, imports.

* ``show`` prints everything stored about a session: subject, sensors with their packets and
  samples, events, the therapist's notes, the history of edits and the stored results.
* ``edit`` sets or corrects the subject fields of a session (COM height, body height, birth
  year, diagnosis category); every change is appended to the session's history, and a value
  already set is changed only with ``--replace`` (never silently overwritten).
* ``import`` reads a CSV/Parquet export directory, a BIDS-Motion dataset or a trial CSV
  (with ``--events`` checked by THE events validator) into a new session.

The store and the session model are imported when the command runs (``dmi-sensors --help``
stays fast).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    from dmi_sensors.store import SessionStore
    from dmi_sensors.store.records import SessionInfo

#: ``sessions edit`` option -> subject field of the session (docs/sessions.md).
EDIT_OPTIONS = {
    "com_height_m": "--com-height-m",
    "body_height_m": "--body-height-m",
    "birth_year": "--birth-year",
    "diagnosis_category": "--diagnosis-category",
}
_UNITS = {"com_height_m": " m", "body_height_m": " m"}


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="session database (default: $DMI_SENSORS_DB or the platform data dir, e.g. "
        "~/.local/share/dmi-sensors/sessions.sqlite)",
    )


def _add_subject_fields(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--com-height-m", type=float, help=f"{what}centre-of-mass height above the pivot, m")
    parser.add_argument("--body-height-m", type=float, help=f"{what}standing body height, m")
    parser.add_argument("--birth-year", type=int, help=f"{what}birth year (the year only)")
    parser.add_argument("--diagnosis-category", help=f"{what}diagnosis category (closed list, docs/sessions.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="one line per session (id, subject, start, status, sensors, packets)")
    p.add_argument("--json", action="store_true", help="print the sessions as JSON")
    _add_db(p)
    p = sub.add_parser("show", help="everything stored about one session (notes and edits included)")
    p.add_argument("session", type=int, metavar="SESSION", help="session id (see 'sessions list')")
    p.add_argument("--json", action="store_true", help="print as JSON")
    _add_db(p)
    p = sub.add_parser(
        "edit",
        help="set or correct the subject fields of a session (recorded in its history)",
        description="Set or correct the subject fields of a session. Every change is appended to the "
        "session's history; a field that already holds a value is changed only with --replace.",
    )
    p.add_argument("session", type=int, metavar="SESSION", help="session id (see 'sessions list')")
    _add_subject_fields(p, "")
    p.add_argument("--replace", action="store_true", help="change a field that already holds another value")
    p.add_argument("--note", default="", help="why the change was made (kept in the history; no names)")
    _add_db(p)
    _add_import(sub)


def _add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import a CSV/Parquet export directory, a BIDS-Motion dataset, a trial CSV, a vendor recording"
        " (Movella DOT CSV, MetaBase CSV, APDM .h5) or an XDF file (IMU and marker streams) as a new session",
    )
    p.add_argument(
        "path",
        metavar="PATH",
        help="export directory, BIDS dataset root, trial CSV file, vendor recording file or XDF file",
    )
    p.add_argument(
        "--subject-id", help="trial CSV, vendor or XDF file: the subject's pseudonymous code (e.g. C001; never a name)"
    )
    _add_subject_fields(p, "trial CSV, vendor or XDF file (optional): ")
    p.add_argument(
        "--therapist-id", default="", help="trial CSV, vendor or XDF file (optional): pseudonymous therapist code"
    )
    p.add_argument("--events", type=Path, metavar="EVENTS.csv", help="trial CSV, vendor or XDF file: events to store")
    p.add_argument("--plan", type=Path, metavar="PLAN.toml", help="trial CSV, vendor or XDF file: the exercise plan")
    p.add_argument("--start-utc", help="trial CSV: when the trial started (ISO-8601, e.g. 2026-03-10T09:30:00Z)")
    p.add_argument(
        "--sensor-id",
        help="trial CSV, single-sensor vendor file or single-IMU XDF file: sensor id to store the samples under"
        " (default: trial, the vendor's name, the XDF stream's serial number or name)",
    )
    p.add_argument("--placement", default="trunk", help="trial CSV, vendor or XDF file: where the sensor was worn")
    p.add_argument("--bids-subject", help="BIDS: subject label when the dataset has several")
    p.add_argument("--bids-session", help="BIDS: session label when the subject has several")
    _add_db(p)


def _subject_values(args: argparse.Namespace) -> dict[str, Any]:
    """The subject options given, each checked by THE rules of the session model (one line
    naming the option, the value and the accepted range)."""
    from dmi_sensors.session.model import check_heights, check_subject_field

    values = {
        name: check_subject_field(name, getattr(args, name), option)
        for name, option in EDIT_OPTIONS.items()
        if getattr(args, name) is not None
    }
    check_heights(values.get("com_height_m"), values.get("body_height_m"), "--com-height-m")
    return values


def _run_import(store: SessionStore, args: argparse.Namespace) -> int:
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.store.export import import_path

    path = Path(args.path)
    kwargs: dict[str, Any] = {}
    skipped: list[str] = []  # an XDF file's streams that are neither IMU nor markers
    trial_only = ("subject_id", "events", "plan", "start_utc", "sensor_id", *EDIT_OPTIONS)
    if path.is_file():
        from dmi_sensors.session import Plan, Subject, check_pseudonymous_id, read_events_csv
        from dmi_sensors.store.trial_csv import read_trial_csv

        if args.subject_id is None:
            raise ParameterError("--subject-id: expected the pseudonymous code of the recording's subject, found none")
        check_pseudonymous_id(args.subject_id, "--subject-id")
        check_pseudonymous_id(args.therapist_id, "--therapist-id", allow_empty=True)
        subject = Subject(args.subject_id, **_subject_values(args))
        if args.start_utc is not None:
            _check_start(args.start_utc)
        events = read_events_csv(args.events, normalise=False) if args.events else None  # THE validator
        kwargs = {
            "subject": subject,
            "placement": args.placement,
            "events": events,
            "therapist_id": args.therapist_id,
            "plan": Plan.read(args.plan) if args.plan else None,
            "start_utc": args.start_utc,
        }
        from dmi_sensors.store.export.vendor import is_vendor_file
        from dmi_sensors.store.export.xdf import is_xdf_file

        if is_xdf_file(path):
            kwargs["skipped"] = skipped
            if args.sensor_id:
                kwargs["sensor_id"] = args.sensor_id
        elif not is_vendor_file(path):
            kwargs["sensor_id"] = args.sensor_id or "trial"
            kwargs["trial"] = read_trial_csv(path, sensor_id=kwargs["sensor_id"])  # checked before anything is stored
        elif args.sensor_id:
            kwargs["sensor_id"] = args.sensor_id
    else:
        given = [f"--{k.replace('_', '-')}" for k in trial_only if getattr(args, k, None) is not None]
        if given:
            raise ParameterError(
                f"{', '.join(given)}: only for a trial CSV or a vendor file; {path} is an export directory or a BIDS"
                " dataset, which carries its own subject and events (`sessions edit` corrects them after the import)"
            )
        if args.bids_subject or args.bids_session:
            kwargs = {"subject": args.bids_subject, "session": args.bids_session}
    with ProgressBar(desc="import", unit="step") as bar:
        sid = import_path(store, path, progress=bar, **kwargs)
    info = store.session_info(sid)
    samples = sum(s.samples for s in info.sensors)
    print(
        f"imported {path} as session {sid}: subject {info.subject_id}, {len(info.sensors)} sensor(s), "
        f"{samples} samples, {info.events} events"
    )
    for line in skipped:
        print(f"not imported: {line}", file=sys.stderr)
    if kwargs.get("events") is not None:
        _warn_outside(store, sid, kwargs["events"], args.events)
    if info.com_height_m is None:
        print(
            f"note: session {sid} has no COM height; the analysis needs it: "
            f"dmi-sensors sessions edit {sid} --com-height-m H",
            file=sys.stderr,
        )
    return 0


def _check_start(text: str) -> None:
    from dmi_sensors.store.timeutil import parse_utc

    try:
        parse_utc(text)
    except ValueError:
        raise ParameterError(
            f"--start-utc: expected an ISO-8601 UTC time such as 2026-03-10T09:30:00Z, found {text!r}"
        ) from None


def _warn_outside(store: SessionStore, session_id: int, events: Any, source: Path) -> None:
    """Say which tagged events lie outside the imported samples (stored, but nothing to analyse)."""
    from dmi_sensors.store.samples import read_sample_blocks

    batches = read_sample_blocks(store, session_id).values()
    if not batches:
        return
    start_s = min(float(b.time_s[0]) for b in batches if len(b))
    end_s = max(float(b.time_s[-1]) + 1.0 / b.fs_hz for b in batches if len(b))
    onset = events["onset_s"].astype(float)
    end = onset + events["duration_s"].astype(float)
    outside = events[(onset >= end_s) | (end <= start_s) & (end > onset)]
    for row in outside.itertuples(index=False):
        what = row.exercise if isinstance(row.exercise, str) and row.exercise else (row.kind or "event")
        print(
            f"warning: {source}: {what} at {row.onset_s:.3f} s lies outside the trial ({start_s:.3f}-{end_s:.3f} s): "
            "stored, but it has no samples to analyse",
            file=sys.stderr,
        )


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _fmt_value(name: str, value: object) -> str:
    return "unknown" if value is None else f"{value}{_UNITS.get(name, '')}"


def _run_edit(store: SessionStore, args: argparse.Namespace) -> int:
    changes = _subject_values(args)
    if not changes:
        raise ParameterError(
            "sessions edit: expected at least one of " + ", ".join(EDIT_OPTIONS.values()) + ", found none"
        )
    before = store.session_info(args.session)
    written = store.edit_session(args.session, changes, replace=args.replace, note=args.note)
    for h in written:
        print(
            f"session {args.session}: {h.field} {_fmt_value(h.field, h.old_value)} -> "
            f"{_fmt_value(h.field, h.new_value)} (history entry {h.history_id})"
        )
    for name in changes:
        if name not in {h.field for h in written}:
            print(f"session {args.session}: {name} is already {_fmt_value(name, getattr(before, name))}: unchanged")
    if any(h.field == "com_height_m" for h in written) and before.results:
        print(
            f"the stored analysis used the old COM height: `dmi-sensors report {args.session}` analyses again "
            "(a new run; the old one stays stored)"
        )
    return 0


def _notes(store: SessionStore, session_id: int) -> list[dict[str, Any]]:
    """The therapist's notes (``t`` while recording): onset and text, in time order."""
    from dmi_sensors.session.events import notes_of

    return notes_of(store.events(session_id))


def _vendor_samples(store: SessionStore, info: SessionInfo, *, decode: bool) -> SessionInfo:
    """``info`` with the samples of third-party sensors counted: the store counts samples from
    our own packets' headers, a vendor's notifications need their decoder. ``decode``: decode
    the stored notifications (``show``); otherwise the recorder's summary (``list``, cheap),
    decoding only where a session has none (a killed recorder)."""
    vendor = {s.sensor_id for s in info.sensors if s.decoder}
    if not vendor or info.origin == "import":
        return info
    from dataclasses import replace

    rows = (info.recording or {}).get("sensors", {})
    counts: dict[str, int] = {}
    if not decode and all(sid in rows and "samples_received" in rows[sid] for sid in vendor):
        counts = {sid: int(rows[sid]["samples_received"]) for sid in vendor}
    else:
        from dmi_sensors.store.samples import recorded_samples

        timed = recorded_samples(store, info.session_id, vendor)  # our own packets are counted already
        counts = {sid: int(timed[sid].batch.counter.shape[0]) for sid in vendor if sid in timed}
    sensors = tuple(replace(s, samples=counts[s.sensor_id]) if s.sensor_id in counts else s for s in info.sensors)
    return replace(info, sensors=sensors)


def _show(store: SessionStore, info: SessionInfo, args: argparse.Namespace) -> None:
    from dmi_sensors.session import Plan

    info = _vendor_samples(store, info, decode=True)
    results = store.results(args.session)
    history = store.history(args.session)
    notes = _notes(store, args.session)
    if args.json:
        d = info.to_dict()
        keys = ("result_id", "sensor_id", "name", "package_version", "created_utc", "parameters", "summary")
        d["results"] = [{k: getattr(r, k) for k in keys} for r in results]
        d["notes"] = notes
        d["history"] = [h.to_dict() for h in history]
        print(json.dumps(d, indent=2))
        return
    plan = Plan.from_toml(info.plan_toml) if info.plan_toml else None
    print(f"session {info.session_id} ({info.status}, {info.origin}) in {store.path}")
    print(
        f"  subject      {info.subject_id}  born {_fmt_value('birth_year', info.birth_year)}"
        f"  COM height {_fmt_value('com_height_m', info.com_height_m)}"
        f"  body height {_fmt_value('body_height_m', info.body_height_m)}"
        f"  diagnosis {info.diagnosis_category or '-'}"
    )
    print(f"  therapist    {info.therapist_id or '-'}")
    last = "last packet" if info.origin != "import" else "last sample"
    print(f"  start        {info.start_utc}   duration {_fmt_duration(info.duration_s)} ({last})")
    print(f"  plan         {plan.name + f' ({len(plan.exercises)} exercises)' if plan else '-'}")
    print(f"  recorded by  dmi-sensors {info.package_version}")
    if info.incomplete_reason:
        print(f"  incomplete   {info.incomplete_reason}")
    recorded = (info.recording or {}).get("sensors", {})
    for s in info.sensors:
        cal = f"calibrations {', '.join(map(str, s.calibration_ids))}" if s.calibration_ids else "no calibration"
        packets = f"{s.packets:>8} packets " if info.origin != "import" else ""
        frame = "" if s.frame == "sensor" else f"  ({s.frame} frame)"
        row = recorded.get(s.sensor_id)
        expected = ""
        if row:  # the recorder's summary: what the sensor should have sent
            expected = f"  ({row['samples_expected']} expected, {row['samples_lost']} lost)"
        print(
            f"  sensor       {s.sensor_id:16} {s.placement or '-':12} {packets}{s.samples:>8} samples{expected}"
            f"  {cal}{frame}"
        )
    for key, row in recorded.items():  # sensors the recording expected but never heard
        if row.get("samples_received") == 0 and key not in {s.sensor_id for s in info.sensors}:
            print(f"  sensor       {key:16} {row.get('placement') or '-':12} {row['state']}:"
                  f" {row['samples_lost']} samples missing")  # fmt: skip
    print(f"  events       {info.events}" + (f" ({len(notes)} notes)" if notes else ""))
    for n in notes:
        print(f"  note         [{_fmt_duration(n['onset_s'])}] {n['note']}")
    for h in history:
        why = f" ({h.note})" if h.note else ""
        print(
            f"  edited       {h.changed_utc}  {h.field}: {_fmt_value(h.field, h.old_value)} -> "
            f"{_fmt_value(h.field, h.new_value)}{why}"
        )
    for r in results:
        who = f"{r.sensor_id or 'all sensors'}, dmi-sensors {r.package_version}"
        print(f"  result {r.result_id:<5} {r.name} ({who}, {len(r.summary)} metrics)")


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.store import SessionStore, UnknownSessionError, default_db_path

    path = Path(args.db) if args.db else default_db_path()
    if args.action == "list" and not path.exists():
        print("[]" if args.json else f"no sessions: {path} does not exist yet")
        return 0
    with SessionStore(path, create=args.action == "import") as store:
        if args.action == "import":
            return _run_import(store, args)
        if args.action == "list":
            infos = [_vendor_samples(store, i, decode=False) for i in store.sessions()]
            if args.json:
                print(json.dumps([i.to_dict() for i in infos], indent=2))
                return 0
            print(f"{'id':>4}  {'subject':10} {'start_utc':27} {'status':10} {'origin':8} {'sensors':>7} "
                  f"{'packets':>8} {'samples':>8} {'dur':>6} {'events':>6}")  # fmt: skip
            for i in infos:
                samples = sum(s.samples for s in i.sensors)
                print(
                    f"{i.session_id:>4}  {i.subject_id:10} {i.start_utc:27} {i.status:10} {i.origin:8} "
                    f"{len(i.sensors):>7} {i.packets:>8} {samples:>8} {_fmt_duration(i.duration_s):>6} {i.events:>6}"
                )
            return 0
        try:
            info = store.session_info(args.session)
        except UnknownSessionError as exc:
            raise ParameterError(str(exc)) from None
        if args.action == "edit":
            return _run_edit(store, args)
        _show(store, info, args)
    return 0
