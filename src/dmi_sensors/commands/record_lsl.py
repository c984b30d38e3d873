"""``dmi-sensors record --lsl-source NAME_OR_TYPE[=PLACEMENT] ...``: record LSL streams into a session.

The streams are resolved and recorded by :mod:`dmi_sensors.live.lsl_inlet`. The recording
ends after ``--duration-s`` (on this computer's LSL clock), on Ctrl-C, or when every IMU
stream's outlet has gone. It prints one row per sensor (samples expected, received, lost)
and exits 0, or 3 when samples were lost (gaps, or a stream that stopped before the others;
the session is then ``incomplete`` with the reason), like the Bluetooth recorder.

pylsl and the store are imported when the command runs (``dmi-sensors --help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dmi_sensors.errors import ParameterError

#: Exit status when samples were lost (as ``record``'s, docs/ble.md).
EXIT_DATA_LOST = 3


def lsl_source_arg(text: str) -> tuple[str, str]:
    """``NAME_OR_TYPE[=PLACEMENT]`` split."""
    name, _, placement = text.partition("=")
    return name.strip(), placement.strip()


def check_lsl_args(args: argparse.Namespace) -> None:
    """What ``--lsl-source`` does not combine with, in one line each."""
    from dmi_sensors import contract

    if args.no_store:
        raise ParameterError("--no-store: not with --lsl-source (an LSL recording is stored; drop --no-store)")
    if args.tag:
        raise ParameterError(
            "--tag: not with --lsl-source (the source's marker streams are the tags: add --lsl-source Markers)"
        )
    for name, placement in args.lsl_source:
        if not name:
            raise ParameterError(f"--lsl-source {name}={placement}: expected a stream name or type before '='")
        if placement and placement not in contract.PLACEMENTS:
            raise ParameterError(
                f"--lsl-source {name}={placement}: expected a placement out of {', '.join(contract.PLACEMENTS)}"
            )


def run_lsl_source(args: argparse.Namespace) -> int:
    from dmi_sensors.live.lsl_inlet import LslRecorder, require_pylsl, resolve_lsl_sources
    from dmi_sensors.store import SessionStore

    check_lsl_args(args)
    require_pylsl()
    streams = resolve_lsl_sources(args.lsl_source, timeout_s=args.lsl_timeout_s)
    imus = [s for s in streams if s.layout is not None]
    store = SessionStore(args.db)
    sid = store.create_session(
        args.subject,
        args.plan_obj,
        {s.sensor_id: s.placement for s in imus},
        therapist_id=args.therapist_id,
        origin="import",
    )
    recorder = LslRecorder(store, sid, streams)
    names = ", ".join(f"{s.desc.name!r} ({'markers' if s.layout is None else s.sensor_id})" for s in streams)
    print(f"lsl: recording {names} into session {sid}", file=sys.stderr, flush=True)
    stopped_by = "duration"
    try:
        while True:
            if recorder.clock() - recorder.started >= args.duration_s:
                break
            if not recorder.active:
                stopped_by = "streams ended"
                break
            recorder.poll(timeout_s=0.05)
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        recorder.drain()
        recorder.close()
    rows = recorder.summary()
    lost = {k: r for k, r in rows.items() if r["samples_lost"] > 0}
    reasons = [
        f"LSL stream {r['stream']!r}: {r['samples_lost']} of {r['samples_expected']} samples lost"
        + (f" ({r['samples_lost_after_stop']} after it stopped)" if r["samples_lost_after_stop"] else "")
        for r in lost.values()
    ]
    summary: dict[str, Any] = {
        "source": "lsl",
        "session_id": sid,
        "db": str(store.path),
        "duration_s": args.duration_s,
        "recorded_s": round(recorder.clock() - recorder.started, 3),
        "stopped_by": stopped_by,
        "streams_lost": recorder.lost_streams(),
        "events": recorder.events_stored,
        "commits": recorder.commits,
        "exit_status": EXIT_DATA_LOST if lost else 0,
        "status": "data_lost" if lost else "ok",
        "sensors": rows,
    }
    store.save_recording(sid, {k: v for k, v in summary.items() if k != "db"})
    if reasons:
        store.mark_incomplete(sid, "; ".join(reasons))
    else:
        store.finalise(sid)
    summary["session_status"] = "incomplete" if reasons else "finalised"
    _print(summary, reasons)
    if args.json:
        from dmi_sensors.store.paths import open_private

        with open_private(args.json, "w") as fh:  # 0600: it names the subject's session
            fh.write(json.dumps(summary, indent=2) + "\n")
    return int(summary["exit_status"])


def _print(summary: dict[str, Any], reasons: list[str]) -> None:
    rows = summary["sensors"]
    width = max([10, *(len(k) for k in rows)])
    cols = ("samples_expected", "samples_received", "samples_lost", "gaps")
    print(f"{'sensor':{width}s} {'placement':10s} {'state':10s} " + " ".join(f"{c.split('_')[-1]:>9s}" for c in cols))
    for sensor_id, r in rows.items():
        cells = " ".join(f"{r[c]:>9}" for c in cols)
        print(f"{sensor_id:{width}s} {r['placement'] or '-':10s} {r['state']:10s} {cells}")
    print(
        f"recorded {summary['recorded_s']:.1f} s of {summary['duration_s']:g} s planned ({summary['stopped_by']}),"
        f" {summary['events']} events: {summary['status'].replace('_', ' ')} (exit status {summary['exit_status']})"
    )
    print(f"session {summary['session_id']} ({summary['session_status']}) in {summary['db']}")
    for line in reasons:
        print(f"dmi-sensors record: {line}", file=sys.stderr)
