"""``dmi-sensors record``: stream from several sensors into the session store.

Real sensors: ``--sensor AA:BB:CC:DD:EE:01=trunk --sensor AA:BB:CC:DD:EE:02=pelvis``.
Simulated: ``--simulate-sensors 4 [--fault-profile flaky]`` starts an emulated BlueZ (a
private dbus-daemon serving virtual sensors) and records through bleak exactly as with
hardware. Raw packets go to the session store (``--db``, default location otherwise);
a summary per sensor is printed and, with ``--json PATH``, written.

With ``--tag`` the therapist tags exercises with single keys in the terminal (``n`` next
exercise of ``--plan``, ``r`` next repetition, space pause, ``t`` note, ``q`` stop;
``dmi_sensors.session.KeyTagger``); ``--duration-s`` is then the longest recording. The
events go to the session store with the packets.

With ``--live`` a web page shows the recording live (printed URL; ``dmi_sensors.live``):
per sensor its state, battery, loss and a trace, the exercise with a hold timer, each
repetition's result, and buttons that tag through the same key tagger. ``--live-host
0.0.0.0`` serves it to a tablet on the clinic network, with a random token in the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TextIO

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from dmi_sensors.ble import RecordingContext, SensorAdvert
    from dmi_sensors.live.recording import LiveRecording
    from dmi_sensors.session import Plan
    from dmi_sensors.sim.bluez import EmulatedBluez
    from dmi_sensors.store import PacketWriter, SessionStore


def _sensor_arg(text: str) -> tuple[str, str]:
    address, _, placement = text.partition("=")
    if not address.strip():
        raise argparse.ArgumentTypeError(f"expected ADDRESS=placement, got {text!r}")
    return address.strip(), placement.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--sensor",
        action="append",
        type=_sensor_arg,
        metavar="ADDRESS=PLACEMENT",
        help="a sensor and where it sits (trunk, pelvis, head, ...); repeat for several",
    )
    src.add_argument(
        "--simulate-sensors",
        type=int,
        metavar="N",
        help="record N virtual sensors through an emulated BlueZ (Linux, needs dbus-daemon)",
    )
    parser.add_argument(
        "--fault-profile",
        choices=("none", "flaky", "hostile"),
        default="none",
        help="faults injected by the emulated BlueZ (with --simulate-sensors)",
    )
    parser.add_argument("--duration-s", type=float, default=30.0, help="streaming time to record, seconds (default 30)")
    parser.add_argument("--fs-hz", type=int, default=200, help="sample rate to request, Hz (default 200)")
    parser.add_argument("--db", type=Path, help="session database (default: DMI_SENSORS_DB or the per-user data dir)")
    parser.add_argument("--no-store", action="store_true", help="do not store packets (link test only)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the summary as JSON")
    parser.add_argument("--subject-id", default="anonymous", help="pseudonymous subject id (never a name)")
    parser.add_argument("--birth-year", type=int, help="subject's birth year (optional)")
    parser.add_argument("--com-height-m", type=float, help="subject's centre-of-mass height, m (optional)")
    parser.add_argument("--therapist-id", default="", help="pseudonymous therapist id")
    parser.add_argument("--scan-timeout-s", type=float, default=5.0, help="initial scan, seconds (default 5)")
    parser.add_argument("--connect-timeout-s", type=float, default=30.0, help="wait for all sensors, seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated sensors and faults")
    parser.add_argument("--adapter", help="BlueZ adapter, e.g. hci1 (Linux)")
    parser.add_argument("--plan", type=Path, help="exercise plan (TOML) for --tag and the session record")
    parser.add_argument(
        "--tag", action="store_true", help="tag exercises with single keys in this terminal (q stops the recording)"
    )
    parser.add_argument(
        "--calibration-dir",
        type=Path,
        default=os.environ.get("DMI_SENSORS_CALIBRATION_DIR") or None,
        help="directory of calibration JSON files (default: $DMI_SENSORS_CALIBRATION_DIR); the latest accel, gyro"
        " and alignment calibration of each sensor's serial is linked to the session and applied at analysis",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="serve a live view (per-sensor traces, hold timer, repetition results, tagging buttons); implies --tag",
    )
    parser.add_argument(
        "--live-host",
        default="127.0.0.1",
        help="address of the live view (default 127.0.0.1: this computer only; 0.0.0.0: the local network, with a"
        " random token in the URL)",
    )
    parser.add_argument(
        "--live-port", type=int, default=8765, help="port of the live view (default 8765; 0: any free port)"
    )
    parser.add_argument(
        "--notify-method",
        choices=("auto", "start_notify"),
        default="auto",
        help="Linux: notifications through BlueZ's AcquireNotify where offered (auto, default) or always StartNotify",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log link statistics every 5 s")


def _targets(args: argparse.Namespace, adverts: list[SensorAdvert]) -> list[tuple[SensorAdvert | str, str]]:
    if args.simulate_sensors:
        found = sorted(adverts, key=lambda a: a.address)[: args.simulate_sensors]
        if len(found) < args.simulate_sensors:
            raise ParameterError(
                f"only {len(found)} of {args.simulate_sensors} simulated sensors were found by the scan"
            )
        placements = contract.PLACEMENTS
        return [(a, placements[i % len(placements)]) for i, a in enumerate(found)]
    by_address = {a.address.upper(): a for a in adverts}
    by_serial = {(a.serial or "").upper(): a for a in adverts}
    out: list[tuple[SensorAdvert | str, str]] = []
    for address, placement in args.sensor:
        key = address.upper()
        out.append((by_address.get(key) or by_serial.get(key.removeprefix("DMI-")) or key, placement))
    return out


def key_tagging(
    plan: Plan | None = None,
    stdin: TextIO | None = None,
    output: TextIO | str = "stderr",
    live: LiveRecording | None = None,
) -> Callable[[RecordingContext], Coroutine[Any, Any, pd.DataFrame]]:
    """A :func:`dmi_sensors.ble.record` companion: single-key exercise tagging in a terminal.

    Tags on the packets' clock (session start = the hub's ``t0_s``); ``q`` stops the
    recording. Without a terminal it only waits for the recording to end. Returns the
    events table (``contract.EVENT_COLUMNS`` + kind/posture/note). With ``live`` the live
    view's buttons drive the same key tagger (so also without a terminal).
    """
    from dmi_sensors.session import KeyTagger, Tagger

    async def tagging(ctx: RecordingContext) -> pd.DataFrame:
        tagger = Tagger(plan, clock=ctx.clock, start_s=ctx.hub.t0_s)
        with KeyTagger(tagger, stdin=stdin, output=output) as keys:
            if live is not None:
                live.attach_keys(keys)
            if keys.active or live is not None:
                quit_ = asyncio.ensure_future(keys.wait_quit())
                stop = asyncio.ensure_future(ctx.stop.wait())
                await asyncio.wait({quit_, stop}, return_when=asyncio.FIRST_COMPLETED)
                quit_.cancel()
                stop.cancel()
                ctx.stop.set()
            else:
                await ctx.stop.wait()
        return tagger.events() if tagger.stopped else tagger.stop()

    return tagging


def _link_calibrations(
    args: argparse.Namespace, store: SessionStore, session_id: int, sensor_ids: Iterable[str]
) -> dict[str, Any]:
    """Link each sensor's latest calibrations (from ``--calibration-dir``) to the session, once."""
    from dmi_sensors.analysis.calibrations import save_calibration

    linked = args.calibrations_linked
    for sensor_id in sensor_ids:
        if args.calibration_set is None or sensor_id in linked:
            continue
        cal = args.calibration_set.for_sensor(sensor_id)
        if cal.parts():
            save_calibration(store, session_id, cal)
        linked[sensor_id] = cal.provenance()
    return linked


def _open_store(args: argparse.Namespace, sensors: dict[str, str]) -> tuple[SessionStore, int]:
    from dmi_sensors.store import SessionStore

    # Unknown demographics stay unknown (None); nothing here identifies the child.
    subject = SimpleNamespace(
        subject_id=args.subject_id,
        birth_year=args.birth_year,
        com_height_m=args.com_height_m,
        diagnosis_category=None,
    )
    store = SessionStore(args.db)
    session_id = store.create_session(subject, args.plan_obj, sensors, therapist_id=args.therapist_id)
    # sensors known from the scan get their calibration linked before any data arrives
    _link_calibrations(args, store, session_id, sensors)
    return store, session_id


async def _record(args: argparse.Namespace, emu: EmulatedBluez | None) -> dict[str, Any]:
    from dmi_sensors.ble import StreamConfig, discover, record
    from dmi_sensors.ble.link import decoder_warm_up

    decoder_warm_up()  # the decoder's kernels load in a worker thread during the scan
    live = await _start_live(args) if args.live else None
    adverts = await discover(args.scan_timeout_s, adapter=args.adapter)
    targets = _targets(args, adverts)
    # Sensors found by the scan are known by serial now; the others are registered after the
    # recording under the serial their Device Information reported.
    sensors = {t.sensor_id: p for t, p in targets if not isinstance(t, str)}
    opened: tuple[SessionStore, int] | None = None if args.no_store else _open_store(args, sensors)
    if live is not None:
        live.know_sensors(sensors, _live_calibrations(args, sensors))
    writer: PacketWriter | None = None
    sink: Any = None
    if opened is not None:
        # commits every 0.25 s: a notification is on disk well within 0.5 s of its arrival
        writer = opened[0].packet_writer(
            opened[1],
            max_latency_s=0.25,
            on_commit=live.timing.on_commit if live else None,
        )
        sink = live.timing.wrap(writer) if live else writer
    companions = [key_tagging(args.plan_obj, live=live)] if args.tag or args.live else []
    live_kwargs: dict[str, Any] = {"on_batch": live.hub.on_batch, "on_hub": live.on_hub} if live else {}
    try:
        stats, ctx = await record(
            targets,
            args.duration_s,
            sink=sink,
            config=StreamConfig(fs_hz=args.fs_hz),
            connect_timeout_s=args.connect_timeout_s,
            log_interval_s=5.0 if args.verbose else None,
            adapter=args.adapter,
            companions=companions,
            notify_method=args.notify_method,
            **live_kwargs,
        )
    except BaseException:
        if live is not None:
            await live.stop()
        raise
    finally:
        if writer is not None:
            await asyncio.to_thread(writer.close)
    events = ctx.results.get("tagging")
    if opened is not None:
        store, session_id = opened
        for sensor_id, s in stats.items():
            store.add_sensor(session_id, sensor_id, s.placement)
        _link_calibrations(args, store, session_id, stats)
        if events is not None and len(events):
            store.add_events(session_id, events)
        store.finalise(session_id)
    truth = await emu.atruth() if emu is not None else {}
    summary: dict[str, Any] = {
        "session_id": None if opened is None else opened[1],
        "db": None if opened is None else str(opened[0].path),
        "duration_s": args.duration_s,
        "fs_hz": args.fs_hz,
        "simulated": emu is not None,
        "fault_profile": args.fault_profile if emu is not None else None,
        "events": 0 if events is None else len(events),
        "sensors": {},
    }
    for sensor_id, s in stats.items():
        row = {
            "address": s.address,
            "placement": s.placement,
            "state": s.state,
            "packets_received": s.packets_received,
            "samples_received": s.samples_received,
            "samples_lost": s.samples_lost,
            "reconnects": s.reconnects,
            "malformed_packets": s.malformed_packets,
            "disconnects": s.disconnects,
            "battery_pct": s.battery_pct,
            "rssi_dbm": s.rssi_dbm,
            "latency_ms_p50": s.latency_ms_p50,
            "latency_ms_p99": s.latency_ms_p99,
            "notify_method": s.notify_method,
            "calibration": args.calibrations_linked.get(sensor_id, {}),
        }
        t = truth.get(s.address.upper())
        if t is not None:
            row["samples_sent"] = t["samples_sent"]
            row["samples_dropped"] = t["samples_dropped"]
            row["samples_dropped_total"] = t["samples_dropped_total"]
        summary["sensors"][sensor_id] = row
    if live is not None:
        # measures the repetitions still open, and shows the summary on the pages (no paths or addresses there)
        keep = ("placement", "state", "samples_received", "samples_lost", "reconnects")
        await live.stop(
            {
                "session_id": summary["session_id"],
                "sensors": {sid: {k: row[k] for k in keep} for sid, row in summary["sensors"].items()},
            }
        )
        summary["live"] = {
            "url": live.server.url,
            "latency": live.latency_summary(),
            "repetitions": [r.to_dict() for r in live.hub.results],
            "refused_requests": live.server.refused,
        }
    return summary


def _live_calibrations(args: argparse.Namespace, sensors: dict[str, str]) -> dict[str, Any]:
    """The calibrations the live path applies: each known sensor's latest ones."""
    calibrations = {}
    if args.calibration_set is not None:
        for sensor_id in sensors:
            cal = args.calibration_set.for_sensor(sensor_id)
            if cal.parts():
                calibrations[sensor_id] = cal
    return calibrations


async def _start_live(args: argparse.Namespace) -> LiveRecording:
    """The live view (serving before the scan, so the page is there at once); prints its URL.

    The live path's kernels load in a worker thread meanwhile (imported here, not at the
    top: the other commands do not need aiohttp).
    """
    import threading

    from dmi_sensors.live.metrics import LiveParams, warm_up
    from dmi_sensors.live.recording import LiveRecording

    threading.Thread(target=warm_up, name="dmi-live-warm-up", daemon=True).start()
    live = LiveRecording(
        LiveParams.from_analysis(None, args.com_height_m),
        host=args.live_host,
        port=args.live_port,
        title=args.subject_id,
    )
    url = await live.start()
    where = "" if live.server.loopback else f" (this computer: {live.server.local_url})"
    print(f"live view: {url}{where}", flush=True)
    return live


def _print(summary: dict[str, Any]) -> None:
    sim = summary["simulated"]
    cols = ["placement", "packets_received", "samples_received", "samples_lost", "reconnects", "malformed_packets"]
    if sim:
        cols += ["samples_sent", "samples_dropped"]
    head = f"{'sensor':10s} " + " ".join(f"{c:>17s}" if c != "placement" else f"{c:12s}" for c in cols)
    print(head)
    for sensor_id, row in summary["sensors"].items():
        cells = [f"{row['placement'] or '-':12s}"] + [f"{row.get(c, ''):>17}" for c in cols[1:]]
        print(f"{sensor_id:10s} " + " ".join(cells))
    if summary["session_id"] is not None:
        print(f"session {summary['session_id']} in {summary['db']}")


def run(args: argparse.Namespace) -> int:
    if args.duration_s <= 0:
        raise ParameterError(f"--duration-s must be positive, got {args.duration_s}")
    if args.simulate_sensors is not None and args.simulate_sensors < 1:
        raise ParameterError(f"--simulate-sensors must be at least 1, got {args.simulate_sensors}")
    args.plan_obj = None
    args.calibration_set = None
    args.calibrations_linked = {}
    if args.calibration_dir is not None:
        from dmi_sensors.calibration import CalibrationSet

        # read (and so validate) every calibration file before anything is recorded
        args.calibration_set = CalibrationSet.load(args.calibration_dir)
    if args.plan is not None:
        from dmi_sensors.session import Plan

        args.plan_obj = Plan.read(args.plan)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("bleak").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        emu = None
        if args.simulate_sensors:
            from dmi_sensors.sim.bluez import simulated_sensors

            emu = stack.enter_context(
                simulated_sensors(args.simulate_sensors, args.fs_hz, args.fault_profile, args.seed)
            )
            stack.enter_context(emu.activated())
        summary = asyncio.run(_record(args, emu))
    _print(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
