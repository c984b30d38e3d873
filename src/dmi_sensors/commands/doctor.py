"""``dmi-sensors doctor``: what this machine offers for recording and testing."""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

from dmi_sensors import __version__

#: Oldest BlueZ that bleak's Linux backend accepts.
MIN_BLUEZ = (5, 55)


def _bluez_version() -> tuple[int, int] | None:
    exe = shutil.which("bluetoothctl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _has_adapter() -> bool:
    root = Path("/sys/class/bluetooth")
    return root.is_dir() and any(root.iterdir())


class Facts(TypedDict):
    """What :func:`collect` reports (printed as JSON by ``doctor --json``)."""

    dmi_sensors_version: str
    python: str
    platform: str
    dbus_daemon: str | None
    c_compiler: str | None
    bluetoothctl_version: str | None
    kernel_bluetooth: bool
    system_bus: str
    problems: list[str]


def collect() -> Facts:
    """Facts about this machine that matter to dmi-sensors, as a JSON-able dict."""
    # the ble package loads bleak: imported here, not at module level (`doctor --help` stays instant)
    from dmi_sensors.ble.preflight import bluetooth_stack_problem, system_bus_address

    bluez = _bluez_version()
    dbus_daemon = shutil.which("dbus-daemon")
    adapter = _has_adapter()
    problems = []
    if dbus_daemon is None:
        problems.append("dbus-daemon missing: the emulated BlueZ (tests, --simulate-sensors) needs it")
    if bluez is not None and bluez < MIN_BLUEZ:
        problems.append(f"BlueZ {bluez[0]}.{bluez[1]} is older than 5.55, which bleak requires")
    if platform.system() == "Linux" and not adapter:
        problems.append("no Bluetooth adapter: real sensors unavailable (simulated sensors still work)")
    bus_problem = bluetooth_stack_problem()
    if bus_problem is not None:
        problems.append(bus_problem)
    return {
        "dmi_sensors_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dbus_daemon": dbus_daemon,
        "c_compiler": shutil.which("cc") or shutil.which("gcc"),
        "bluetoothctl_version": ".".join(map(str, bluez)) if bluez else None,
        "kernel_bluetooth": adapter,
        "system_bus": system_bus_address(),
        "problems": problems,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")


def run(args: argparse.Namespace) -> int:
    facts = collect()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    for key, value in facts.items():
        if key != "problems":
            print(f"{key:22s} {value}")
    for problem in facts["problems"]:
        print(f"note: {problem}")
    return 0
