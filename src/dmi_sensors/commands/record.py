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

Faults (disk full, a sensor lost for good or never found, D-Bus or BlueZ gone) end with one
line each on stderr, a summary row for every sensor (samples expected, received, lost), the
session marked incomplete with the reason, and exit status 3 (data lost) or 4 (stopped
early): :mod:`dmi_sensors.commands.record_faults`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dmi_sensors import contract
from dmi_sensors.commands.record_faults import (
    BYTES_PER_SAMPLE_STORED,
    COMMIT_LATENCY_S,
    DiskWatch,
    Outcome,
    is_address,
    outcome,
)
from dmi_sensors.commands.record_lsl import lsl_source_arg, run_lsl_source
from dmi_sensors.commands.vendor_args import check_vendor_rates, vendor_list, vendor_rate
from dmi_sensors.errors import DeviceError, DmiSensorsError, ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from dmi_sensors.ble import RecordingContext, SensorAdvert
    from dmi_sensors.live.hub import LiveHub
    from dmi_sensors.live.lsl_outlet import LslOutlet
    from dmi_sensors.live.recording import LiveRecording
    from dmi_sensors.session import Plan
    from dmi_sensors.sim.bluez import EmulatedBluez
    from dmi_sensors.store import PacketWriter, SessionStore


#: ``--lsl``: the outlets stay this long after the recording, so consumers get the last samples, s.
LSL_LINGER_S = 0.5

#: ``--fault-profile`` names (``dmi_sensors.sim.bluez.faults`` PROFILES + SCENARIOS; not imported: start-up speed).
FAULT_PROFILES = ("none", "flaky", "hostile", "vanish", "never-found", "counter-jump", "bus-dies", "bluez-dies")


def _fault_profiles(text: str) -> str:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in FAULT_PROFILES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown fault profile {bad[0] if bad else text!r}; choose from "
                                         + ", ".join(FAULT_PROFILES))  # fmt: skip
    return ",".join(names)


def _sensor_arg(text: str) -> tuple[str, str]:
    """``ADDRESS=PLACEMENT`` split; both parts are checked by :func:`_check_sensors` (one clear line)."""
    address, _, placement = text.partition("=")
    return address.strip(), placement.strip()


def _check_sensors(sensors: list[tuple[str, str]]) -> None:
    """Every ``--sensor`` is ``ADDRESS=PLACEMENT`` with a valid address and a known placement,
    each address once: checked before anything connects or is stored."""
    from dmi_sensors.ble.preflight import check_sensor_address

    placements = ", ".join(contract.PLACEMENTS)
    seen: dict[str, str] = {}
    for address, placement in sensors:
        given = f"{address}={placement}" if placement else address
        check_sensor_address(address, f"--sensor {given!r}: the address")
        if not placement:
            raise ParameterError(
                f"--sensor {given!r}: expected ADDRESS=PLACEMENT (where the sensor is worn: {placements}), "
                "found no placement"
            )
        if placement not in contract.PLACEMENTS:
            raise ParameterError(f"--sensor {given!r}: expected a placement out of {placements}, found {placement!r}")
        key = address.upper().removeprefix("DMI-")
        if key in seen:
            raise ParameterError(f"--sensor {given!r}: sensor {address} is already given as {seen[key]!r}")
        seen[key] = given


def _check_subject(args: argparse.Namespace) -> None:
    """The subject and therapist of the session by THE rules of the session model (one clear
    line naming the option, the value and what is accepted), before anything connects."""
    from dmi_sensors.session.model import Subject, check_heights, check_pseudonymous_id, check_subject_field

    args.subject = None
    if args.no_store:
        return
    if args.subject_id is None:
        raise ParameterError(
            "--subject-id: expected the child's pseudonymous code (e.g. C001) to store the session under, "
            "found none (use --no-store for a link test without storing)"
        )
    check_pseudonymous_id(args.subject_id, "--subject-id")
    check_pseudonymous_id(args.therapist_id, "--therapist-id", allow_empty=True)
    fields = {"birth_year": args.birth_year, "com_height_m": args.com_height_m, "body_height_m": args.body_height_m}
    for name, value in fields.items():
        check_subject_field(name, value, "--" + name.replace("_", "-"))
    check_heights(args.com_height_m, args.body_height_m, "--com-height-m")
    args.subject = Subject(args.subject_id, **fields)


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
    src.add_argument(
        "--lsl-source",
        action="append",
        type=lsl_source_arg,
        metavar="NAME_OR_TYPE[=PLACEMENT]",
        help="record the Lab Streaming Layer streams of this name or type (IMU streams as sensors, marker streams as"
        " events); repeat for several (docs/interop.md)",
    )
    parser.add_argument(
        "--lsl-timeout-s",
        type=float,
        default=10.0,
        help="with --lsl-source: wait this long for each source's stream, seconds (default 10)",
    )
    parser.add_argument(
        "--simulate-vendor",
        type=vendor_list,
        metavar="VENDOR[,VENDOR...]",
        help="with --simulate-sensors: third-party sensors instead of DMI ones (metamotion, dot, polar, witmotion;"
        " a comma list is used in turn, e.g. dot,polar), each at its vendor's research rate (docs/vendors.md)",
    )
    parser.add_argument(
        "--vendor-rate-hz",
        type=vendor_rate,
        action="append",
        metavar="VENDOR=HZ",
        help="sample rate of a third-party vendor's sensors, e.g. dot=30 or polar=104 (repeat per vendor;"
        " default: the vendor's research rate; only a rate its device supports, docs/vendors.md)",
    )
    parser.add_argument(
        "--fault-profile",
        type=_fault_profiles,
        default="none",
        metavar="NAME[,NAME...]",
        help="faults injected by the emulated BlueZ (with --simulate-sensors): flaky, hostile (every sensor);"
        " vanish, counter-jump, never-found (one sensor each); bus-dies, bluez-dies (the Bluetooth stack)",
    )
    parser.add_argument("--duration-s", type=float, default=30.0, help="streaming time to record, seconds (default 30)")
    parser.add_argument("--fs-hz", type=int, default=200, help="sample rate to request, Hz (default 200)")
    parser.add_argument("--db", type=Path, help="session database (default: DMI_SENSORS_DB or the per-user data dir)")
    parser.add_argument("--no-store", action="store_true", help="do not store packets (link test only)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the summary as JSON")
    parser.add_argument(
        "--subject-id",
        help="pseudonymous code of the child (letters and digits with at least one digit, e.g. C001; never a name);"
        " required unless --no-store",
    )
    parser.add_argument("--birth-year", type=int, help="subject's birth year (optional; `sessions edit` sets it later)")
    parser.add_argument(
        "--com-height-m",
        type=float,
        help="subject's centre-of-mass height above the pivot, m (optional here, needed by the analysis;"
        " `sessions edit` sets it later)",
    )
    parser.add_argument("--body-height-m", type=float, help="subject's standing body height, m (optional)")
    parser.add_argument("--therapist-id", default="", help="pseudonymous therapist code (e.g. T07; optional)")
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
        "--lsl",
        action="store_true",
        help="publish on the Lab Streaming Layer: per sensor an IMU stream and a COM (or tilt) stream, and a marker"
        " stream of the tags (docs/interop.md)",
    )
    parser.add_argument(
        "--lsl-wait-s",
        type=float,
        default=0.0,
        help="with --lsl: before the sensors stream, wait up to this long for a consumer (e.g. LabRecorder) of every"
        " stream, seconds (default 0: no wait)",
    )
    parser.add_argument(
        "--lsl-delay-s",
        type=float,
        default=2.0,
        help="with --lsl: publish each sample this long after it arrived, so its timestamp can use the least-delayed"
        " packets that follow instead of its own packet's arrival (docs/interop.md), seconds (default 2; 0: causal)",
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
    parser.add_argument(
        "--disk-reserve-mb",
        type=float,
        default=32.0,
        help="stop the recording when less than this is free beside the database, MB (default 32: room to record"
        " why the session stopped)",
    )
    parser.add_argument(
        "--disk-warn-s",
        type=float,
        default=600.0,
        help="warn when the free space holds less than this much more recording, s (default 600)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log link statistics every 5 s")


def _targets(args: argparse.Namespace, adverts: list[SensorAdvert]) -> list[tuple[SensorAdvert | str, str]]:
    if args.simulate_sensors:
        from dmi_sensors.sim.identity import sensor_address

        # the emulated sensors, found or not: one that does not advertise is looked for by its
        # link, exactly as a real sensor given by --sensor that is not in range
        found = {a.address.upper(): a for a in adverts}
        placements = contract.PLACEMENTS
        wanted = [sensor_address(i).upper() for i in range(args.simulate_sensors)]
        return [(found.get(a) or a, placements[i % len(placements)]) for i, a in enumerate(wanted)]
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
    hub: LiveHub | None = None,
) -> Callable[[RecordingContext], Coroutine[Any, Any, pd.DataFrame]]:
    """A :func:`dmi_sensors.ble.record` companion: single-key exercise tagging in a terminal.

    Tags on the packets' clock (session start = the hub's ``t0_s``); ``q`` stops the
    recording. Without a terminal it only waits for the recording to end. Returns the
    events table (``contract.EVENT_COLUMNS`` + kind/posture/note). With ``live`` the live
    view's buttons drive the same key tagger (so also without a terminal). With ``hub``
    (and no ``live``) the live hub follows the tagger (``record --lsl``'s markers).
    """
    from dmi_sensors.session import KeyTagger, Tagger

    async def tagging(ctx: RecordingContext) -> pd.DataFrame:
        tagger = Tagger(plan, clock=ctx.clock, start_s=ctx.hub.t0_s)
        with KeyTagger(tagger, stdin=stdin, output=output) as keys:
            if live is not None:
                live.attach_keys(keys)
            elif hub is not None:
                hub.attach_tagger(keys.tagger)
                previous = keys.on_action

                def on_action(action: str, tagger: Any) -> None:
                    if previous is not None:
                        previous(action, tagger)
                    hub.tagger_changed(action)

                keys.on_action = on_action
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
        else:
            serials = ", ".join(args.calibration_set.serials()) or "no sensor at all"
            print(
                f"WARNING: {args.calibration_dir} has no calibration for sensor {sensor_id} (it has {serials}): "
                f"sensor {sensor_id} is recorded and will be analysed UNCALIBRATED, in its own frame",
                file=sys.stderr,
            )
        linked[sensor_id] = cal.provenance()
    return linked


def _vendor_decoder(stats: Any) -> dict[str, Any] | None:
    """What the store keeps for a third-party sensor's raw notifications (None: our own)."""
    if stats.vendor is None:
        return None
    return {"vendor": stats.vendor, "settings": stats.decoder_settings or {}}


#: How often the vendor registration looks for third-party sensors that started to stream, s.
REGISTER_POLL_S = 0.25


def _vendor_registration(
    store: SessionStore, session_id: int, args: argparse.Namespace | None = None
) -> Callable[[RecordingContext], Coroutine[Any, Any, list[str]]]:
    """A companion registering the third-party sensors with their decoder settings (and linking
    their calibrations) as each starts to stream — those streaming when the recording starts at
    once, one that connects later as soon as it does — so a recorder killed later leaves raw
    notifications the analysis can decode (the sensors are registered again at the end; our
    own need no settings). It looks every ``REGISTER_POLL_S`` until every third-party link has
    registered or the recording stops."""

    async def vendor_sensors(ctx: RecordingContext) -> list[str]:
        done: list[str] = []
        while True:
            # only third-party links ever register; our own sensors need no decoder settings
            vendor_links = [link for link in ctx.hub.links if link.vendor is not None]
            for link in vendor_links:
                # the tracker's counters as they are: a full ``link.stats`` snapshot computes
                # latency percentiles this companion does not need
                t = link.tracker
                decoder = _vendor_decoder(t)
                if t.sensor_id in done or decoder is None or t.decoder_settings is None or is_address(t.sensor_id):
                    continue
                store.add_sensor(session_id, t.sensor_id, t.placement, decoder=decoder)
                if args is not None:
                    _link_calibrations(args, store, session_id, [t.sensor_id])
                done.append(t.sensor_id)
            if ctx.stop.is_set() or len(done) == len(vendor_links):
                return done
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stop.wait(), REGISTER_POLL_S)

    return vendor_sensors


def _open_store(args: argparse.Namespace, sensors: dict[str, str]) -> tuple[SessionStore, int]:
    from dmi_sensors.store import SessionStore

    # Unknown demographics stay unknown (None; `sessions edit` adds them later); nothing here identifies the child.
    store = SessionStore(args.db)
    session_id = store.create_session(args.subject, args.plan_obj, sensors, therapist_id=args.therapist_id)
    # sensors known from the scan get their calibration linked before any data arrives
    _link_calibrations(args, store, session_id, sensors)
    return store, session_id


async def _record(args: argparse.Namespace, emu: EmulatedBluez | None) -> dict[str, Any]:
    from dmi_sensors.ble import StreamConfig, discover, record
    from dmi_sensors.ble.link import decoder_warm_up

    decoder_warm_up()  # the decoder's kernels load in a worker thread during the scan
    live = await _start_live(args) if args.live else None
    # third-party sensors too: a vendor's sensor given by its address is recognised by its advertisement
    adverts = await discover(args.scan_timeout_s, adapter=args.adapter, vendors=True)
    targets = _targets(args, adverts)
    not_found = {t for t, _ in targets if isinstance(t, str)}
    # Sensors found by the scan with a serial are known by it now; the others are registered
    # after the recording under the serial their Device Information reported (never under
    # their Bluetooth address: an address can be tracked over the air).
    sensors = {t.serial: p for t, p in targets if not isinstance(t, str) and t.serial}
    opened: tuple[SessionStore, int] | None = None if args.no_store else _open_store(args, sensors)
    if live is not None:
        live.know_sensors(sensors, _live_calibrations(args, sensors))
    hub: LiveHub | None = None if live is None else live.hub
    lsl: LslOutlet | None = None
    if args.lsl:
        hub, lsl = await _start_lsl(args, hub, sensors)
    writer: PacketWriter | None = None
    companions: list[Callable[[RecordingContext], Coroutine[Any, Any, Any]]] = []
    if args.tag or args.live:
        companions.append(key_tagging(args.plan_obj, live=live, hub=hub))
    disk: DiskWatch | None = None
    sink: Any = None
    if opened is not None:
        writer = opened[0].packet_writer(
            opened[1], max_latency_s=COMMIT_LATENCY_S, on_commit=live.timing.on_commit if live else None
        )
        sink = live.timing.wrap(writer) if live else writer
        disk = DiskWatch(
            opened[0].path,
            need_bps=len(targets) * args.fs_hz * BYTES_PER_SAMPLE_STORED,
            reserve_bytes=int(args.disk_reserve_mb * 1e6),
            warn_s=args.disk_warn_s,
        )
        disk.at_start(args.duration_s)
        companions.append(disk.companion())
        companions.append(_vendor_registration(opened[0], opened[1], args))
        # room to record why, should another program fill the disk (released at the end)
        opened[0].reserve_space()
    store_failure: DmiSensorsError | None = None

    def on_hub(hub: Any) -> None:
        if writer is not None:  # commit deadlines count from each notification's arrival on the session clock
            writer.set_arrival_origin(hub.t0_s)
        if live is not None:
            live.on_hub(hub)
        elif lsl is not None:
            lsl.hub.set_t0(hub.t0_s)

    live_kwargs: dict[str, Any] = {"on_batch": hub.on_batch} if hub is not None else {}
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
            on_hub=on_hub,
            vendor_rates_hz=args.vendor_rates,
            **live_kwargs,
        )
    except BaseException:
        if live is not None:
            await live.stop()
        if lsl is not None:
            lsl.close()
        raise
    finally:
        if writer is not None:
            try:
                await asyncio.to_thread(writer.close)
            except DmiSensorsError as exc:  # the store failed (e.g. disk full): reported below
                store_failure = exc
    events = ctx.results.get("tagging")
    result = outcome(
        stats, ctx, fs_hz=args.fs_hz, planned_s=args.duration_s, not_found=not_found, store_failure=store_failure
    )
    truth: dict[str, Any] = {}
    if emu is not None:
        try:
            truth = await emu.atruth()
        except (OSError, DmiSensorsError) as exc:
            result.messages.append(f"warning: the emulator's truth is not available ({exc})")
    summary: dict[str, Any] = {
        "session_id": None if opened is None else opened[1],
        "db": None if opened is None else str(opened[0].path),
        "duration_s": args.duration_s,
        "started_s": ctx.started_s,
        "stopped_s": ctx.stopped_s,
        "recorded_s": None if ctx.stopped_s is None else round(ctx.stopped_s - (ctx.started_s or 0.0), 3),
        "fs_hz": args.fs_hz,
        "simulated": emu is not None,
        "fault_profile": args.fault_profile if emu is not None else None,
        "events": 0 if events is None else len(events),
        "status": result.status,
        "exit_status": result.exit_status,
        "fault": result.fault,
        "packets_received": sum(s.packets_received for s in stats.values()),
        "packets_stored": None if writer is None else writer.committed,
        "commit_latency_max_s": None if writer is None else round(writer.commit_latency_max_s, 4),
        "sensors": {},
    }
    for sensor_id, s in stats.items():
        row = {
            "address": s.address,
            "placement": s.placement,
            **result.sensors[sensor_id],
            "packets_received": s.packets_received,
            "reconnects": s.reconnects,
            "malformed_packets": s.malformed_packets,
            "disconnects": s.disconnects,
            "battery_pct": s.battery_pct,
            "rssi_dbm": s.rssi_dbm,
            "latency_ms_p50": s.latency_ms_p50,
            "latency_ms_p99": s.latency_ms_p99,
            "notify_method": s.notify_method,
            "vendor": s.vendor,
            "fs_hz": s.fs_hz or args.fs_hz,
            "loss_accounting": s.loss_accounting or "exact",
            "first_sample_s": s.first_sample_s,
            "last_sample_s": s.last_sample_s,
            "calibration": args.calibrations_linked.get(sensor_id, {}),
        }
        t = truth.get(s.address.upper())
        if t is not None:
            row["samples_sent"] = t["samples_sent"]
            row["samples_dropped"] = t["samples_dropped"]
            row["samples_dropped_total"] = t["samples_dropped_total"]
        summary["sensors"][sensor_id] = row
    if opened is not None:
        _finish_session(args, opened[0], opened[1], stats, events, summary, result)
    summary["session_status"] = result_session_status(opened, result)
    summary["incomplete_reason"] = "; ".join(result.incomplete_reasons) or None
    summary["messages"] = result.messages
    summary["warnings"] = [] if disk is None else disk.warnings
    if live is not None:
        # measures the repetitions still open, and shows the summary on the pages (no paths or addresses there)
        keep = ("placement", "state", "samples_received", "samples_lost", "reconnects")
        await live.stop(
            {
                "session_id": summary["session_id"],
                "sensors": {sid: {k: row.get(k) for k in keep} for sid, row in summary["sensors"].items()},
            }
        )
        summary["live"] = {
            "url": live.server.url,
            "latency": live.latency_summary(),
            "repetitions": [r.to_dict() for r in live.hub.results],
            "refused_requests": live.server.refused,
        }
    if lsl is not None:
        if live is None:
            lsl.hub.finish()
        lsl.flush()  # what the look-ahead still holds
        summary["lsl"] = {**lsl.summary(), "t0_lsl_s": float(lsl.lsl_time(0.0))}
        await asyncio.to_thread(lsl.close, LSL_LINGER_S)
    return summary


def result_session_status(opened: tuple[SessionStore, int] | None, result: Outcome) -> str | None:
    if opened is None:
        return None
    return "incomplete" if result.incomplete_reasons else "finalised"


def _stored_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as the database keeps it: no addresses, no paths (it is exported)."""
    keep = {k: v for k, v in summary.items() if k not in ("db", "sensors", "messages", "warnings")}
    sensors = {}
    for i, (sensor_id, row) in enumerate(summary["sensors"].items()):
        key = f"sensor-{i + 1}" if is_address(sensor_id) else sensor_id
        sensors[key] = {k: v for k, v in row.items() if k not in ("address", "calibration")}
    return {**keep, "sensors": sensors}


def _finish_session(
    args: argparse.Namespace,
    store: SessionStore,
    session_id: int,
    stats: dict[str, Any],
    events: pd.DataFrame | None,
    summary: dict[str, Any],
    result: Outcome,
) -> None:
    """Register the sensors, link calibrations, store the events and the summary, then finalise
    or say why the session is incomplete. Each step is tried on its own (after a full disk
    some may fail); what failed is said, and the session then stays incomplete."""
    import sqlite3

    def attempt(what: str, step: Callable[[], object]) -> bool:
        try:
            step()
            return True
        except (DmiSensorsError, sqlite3.Error, OSError) as exc:
            result.messages.append(f"error: could not store {what} ({type(exc).__name__}: {exc})")
            if not result.incomplete_reasons:
                result.incomplete_reasons.append(f"the recorder could not store {what}")
            return False

    # the ballast goes: after a full disk it is the room these last writes need
    store.release_space()
    identified = [sid for sid in stats if not is_address(sid)]

    def sensors() -> None:
        for sensor_id in identified:
            s = stats[sensor_id]
            store.add_sensor(session_id, sensor_id, s.placement, decoder=_vendor_decoder(s))
        _link_calibrations(args, store, session_id, identified)

    attempt("the sensors and their calibrations", sensors)
    if events is not None and len(events):
        attempt(f"the {len(events)} tagged events", lambda: store.add_events(session_id, events))
    attempt("the recording summary", lambda: store.save_recording(session_id, _stored_summary(summary)))
    if result.incomplete_reasons:
        reason = "; ".join(result.incomplete_reasons)
        attempt("why the session is incomplete", lambda: store.mark_incomplete(session_id, reason))
    else:
        attempt("the session's end (finalise)", lambda: store.finalise(session_id))


def _live_calibrations(args: argparse.Namespace, sensors: dict[str, str]) -> dict[str, Any]:
    """The calibrations the live path applies: each known sensor's latest ones."""
    calibrations = {}
    if args.calibration_set is not None:
        for sensor_id in sensors:
            cal = args.calibration_set.for_sensor(sensor_id)
            if cal.parts():
                calibrations[sensor_id] = cal
    return calibrations


async def _start_lsl(
    args: argparse.Namespace, hub: LiveHub | None, sensors: dict[str, str]
) -> tuple[LiveHub, LslOutlet]:
    """``--lsl``: the LSL outlets on the live hub (a hub of their own without ``--live``), the
    streams of the sensors known from the scan created now; waits ``--lsl-wait-s`` for consumers."""
    from dmi_sensors.live.hub import LiveHub
    from dmi_sensors.live.lsl_inlet import require_pylsl
    from dmi_sensors.live.lsl_outlet import LslOutlet
    from dmi_sensors.live.metrics import LiveParams

    require_pylsl()
    if hub is None:
        hub = LiveHub(LiveParams.from_analysis(None, args.com_height_m), sensors, _live_calibrations(args, sensors))
    lsl = LslOutlet(hub, delay_s=args.lsl_delay_s)
    for sensor_id, placement in sensors.items():
        lsl.open_sensor(sensor_id, placement, args.fs_hz)
    print(f"lsl: publishing {', '.join(lsl.summary()['streams'])}", file=sys.stderr, flush=True)
    if args.lsl_wait_s > 0 and not await asyncio.to_thread(lsl.wait_for_consumers, args.lsl_wait_s):
        print(f"lsl: no consumer for every stream within {args.lsl_wait_s:g} s; recording anyway", file=sys.stderr)
    return hub, lsl


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
    cols = ["placement", "state", "samples_expected", "samples_received", "samples_lost", "counter_resets"]
    cols += ["loss_accounting", "reconnects", "malformed_packets"]
    if sim:
        cols += ["samples_sent", "samples_dropped"]
    short = {
        "samples_expected": "expected",
        "samples_received": "received",
        "samples_lost": "lost",
        "counter_resets": "resets",
        "malformed_packets": "malformed",
        "loss_accounting": "loss count",
        "samples_sent": "sent (sim)",
        "samples_dropped": "dropped (sim)",
    }
    width = max([10, *(len(k) for k in summary["sensors"])])
    head = f"{'sensor':{width}s} {'placement':10s} {'state':12s} " + " ".join(
        f"{short.get(c, c):>13s}" for c in cols[2:]
    )
    print(head)
    for sensor_id, row in summary["sensors"].items():
        cells = [f"{row['placement'] or '-':10s}", f"{row['state']:12s}"]
        cells += [f"{row.get(c, ''):>13}" for c in cols[2:]]
        print(f"{sensor_id:{width}s} " + " ".join(cells))
    recorded = summary["recorded_s"]
    print(
        f"recorded {recorded if recorded is not None else 0:.1f} s of {summary['duration_s']:g} s planned:"
        f" {summary['status'].replace('_', ' ')} (exit status {summary['exit_status']})"
    )
    if summary["session_id"] is not None:
        print(f"session {summary['session_id']} ({summary['session_status']}) in {summary['db']}")
    for line in summary["messages"]:
        print(f"dmi-sensors record: {line}", file=sys.stderr)


def _run_recording(args: argparse.Namespace, emu: EmulatedBluez | None) -> dict[str, Any]:
    """:func:`_record` on a new event loop; a missing Bluetooth stack becomes one clear line."""
    from dmi_sensors.ble.preflight import explain_ble_error

    try:
        return asyncio.run(_record(args, emu))
    except Exception as exc:
        explained = explain_ble_error(exc)
        if explained is None:
            raise
        raise explained from exc


def run(args: argparse.Namespace) -> int:
    if args.duration_s <= 0:
        raise ParameterError(f"--duration-s must be positive, got {args.duration_s}")
    if args.simulate_sensors is not None and args.simulate_sensors < 1:
        raise ParameterError(f"--simulate-sensors must be at least 1, got {args.simulate_sensors}")
    if args.simulate_vendor and not args.simulate_sensors:
        raise ParameterError("--simulate-vendor needs --simulate-sensors N")
    _check_subject(args)
    args.vendor_rates = check_vendor_rates(args.vendor_rate_hz)
    if args.sensor:
        _check_sensors(args.sensor)
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
    if args.lsl_source:
        return run_lsl_source(args)
    with contextlib.ExitStack() as stack:
        emu = None
        if args.simulate_sensors:
            from dmi_sensors.sim.bluez import simulated_sensors

            emu = stack.enter_context(
                simulated_sensors(
                    args.simulate_sensors, args.fs_hz, args.fault_profile, args.seed, vendors=args.simulate_vendor
                )
            )
            stack.enter_context(emu.activated())
        else:
            from dmi_sensors.ble.preflight import bluetooth_stack_problem

            problem = bluetooth_stack_problem()
            if problem is not None:
                raise DeviceError(problem)
        summary = _run_recording(args, emu)
    _print(summary)
    if args.json:
        from dmi_sensors.store.paths import open_private

        try:
            with open_private(args.json, "w") as fh:  # 0600: it names the subject's session
                fh.write(json.dumps(summary, indent=2) + "\n")
        except OSError as exc:  # e.g. the same full disk: the summary is on stdout anyway
            print(f"dmi-sensors record: error: could not write {args.json} ({exc})", file=sys.stderr)
    return int(summary["exit_status"])
