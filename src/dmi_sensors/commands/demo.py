"""``dmi-sensors demo``: a simulated DMI session end to end (record -> store -> analyse -> report)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("dmi-sensors-demo"), help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="session database to append to (default: OUT/demo.sqlite, recreated)"
    )
    parser.add_argument(
        "--via-bluez", action="store_true", help="record through bleak and the emulated BlueZ (needs dbus-daemon)"
    )
    parser.add_argument("--quick", action="store_true", help="shorter exercises (used by the test suite)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.demo.run import run_demo, short_table

    result = run_demo(args.out, db_path=args.db, via_bluez=args.via_bluez, quick=args.quick, seed=args.seed)
    print()
    print(short_table(result.exercise_table))
    print()
    for path in result.reports:
        print(f"session report:  {path}")
    print(f"progress report: {result.progress}")
    print(f"database:        {result.db_path}")
    print(f"done in {result.timings_s['total_s']:.1f} s")
    return 0
