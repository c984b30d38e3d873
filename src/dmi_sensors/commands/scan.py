"""``dmi-sensors scan``: list the DMI sensors advertising nearby, and the third-party IMUs
(MetaMotion, Movella DOT, Polar, WitMotion) with their vendor and model."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from dmi_sensors.commands.vendor_args import VENDORS, vendor_list
from dmi_sensors.errors import DeviceError, ParameterError

if TYPE_CHECKING:
    from dmi_sensors.ble import SensorAdvert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout-s", type=float, default=5.0, help="how long to listen, seconds (default 5)")
    parser.add_argument("--json", action="store_true", help="print the sensors found as JSON")
    parser.add_argument(
        "--any-name", action="store_true", help="match on the 'DMI-' name prefix only (no service-UUID scan filter)"
    )
    parser.add_argument("--adapter", help="BlueZ adapter, e.g. hci1 (Linux; default: the first powered one)")
    parser.add_argument(
        "--simulate-sensors",
        type=int,
        metavar="N",
        default=0,
        help="scan N virtual sensors through an emulated BlueZ instead of the radio (Linux, needs dbus-daemon)",
    )
    parser.add_argument(
        "--simulate-vendor",
        type=vendor_list,
        metavar="VENDOR[,VENDOR...]",
        help=f"with --simulate-sensors: third-party sensors ({', '.join(VENDORS)}; a comma list is used in turn)",
    )
    parser.add_argument(
        "--ours-only", action="store_true", help="only DMI sensors (a scan filtered on the DMI service UUID)"
    )


def _scan(args: argparse.Namespace) -> list[SensorAdvert]:
    """Listen for adverts; a missing Bluetooth stack (no D-Bus, no BlueZ, no adapter) becomes
    one line naming what is missing and what to install."""
    from dmi_sensors.ble import discover
    from dmi_sensors.ble.preflight import explain_ble_error

    kwargs: dict[str, Any] = {"adapter": args.adapter, "vendors": not args.ours_only}
    if args.any_name:
        kwargs["service_uuid"] = None
    try:
        return asyncio.run(discover(args.timeout_s, **kwargs))
    except Exception as exc:
        explained = explain_ble_error(exc)
        if explained is None:
            raise
        raise explained from exc


def run(args: argparse.Namespace) -> int:
    if args.timeout_s <= 0:
        raise ParameterError(f"--timeout-s: expected a positive number of seconds, found {args.timeout_s}")
    if args.simulate_vendor and not args.simulate_sensors:
        raise ParameterError("--simulate-vendor needs --simulate-sensors N")
    if args.simulate_sensors:
        from dmi_sensors.sim.bluez import simulated_sensors

        with simulated_sensors(args.simulate_sensors, vendors=args.simulate_vendor) as emu, emu.activated():
            adverts = _scan(args)
    else:
        from dmi_sensors.ble.preflight import bluetooth_stack_problem

        problem = bluetooth_stack_problem()
        if problem is not None:
            raise DeviceError(problem)
        adverts = _scan(args)
    if args.json:
        print(json.dumps([a.to_dict() for a in adverts], indent=2))
        return 0
    if not adverts:
        print(f"no sensors found in {args.timeout_s:g} s")
        return 0
    print(f"{'address':20s} {'name':22s} {'vendor':11s} {'model':13s} {'serial':9s} {'protocol':8s} {'rssi':>5s}")
    for a in adverts:
        if a.vendor is not None:  # a third-party sensor: its serial is read when connecting
            vendor, model, serial, version = a.vendor, a.model or "", "-", a.vendor
        else:
            vendor, model, serial = "dmi", "DMI-IMU", a.serial or "?"
            version = ".".join(map(str, a.protocol_version)) if a.protocol_version else "?"
        rssi = "" if a.rssi_dbm is None else f"{a.rssi_dbm:d}"
        line = f"{a.address:20s} {a.name or '':22s} {vendor:11s} {model:13s} {serial:9s} {version:8s} {rssi:>5s}"
        print(line + (f"  ({a.problem})" if a.problem else ""))
    return 0
