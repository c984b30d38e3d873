"""``dmi-sensors plan``: the exercise catalogue, an example plan, and checking plan files.

::

    dmi-sensors plan catalogue [--json]      list the built-in exercises
    dmi-sensors plan example [--out FILE]    write the example plan (TOML)
    dmi-sensors plan check FILE [--json]     validate a plan file and summarise it
    dmi-sensors plan protocols               list the standard protocols (ISway, mCTSIB, SATCo-style)
    dmi-sensors plan protocol NAME [--out FILE]   write a standard protocol's plan (TOML)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="plan_command", metavar="ACTION", required=True)
    p = sub.add_parser("catalogue", help="list the built-in exercises")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("example", help="write the example plan (TOML) to stdout or a file")
    p.add_argument("--out", type=Path, help="file to write (default: stdout); an existing file is not overwritten")
    sub.add_parser("protocols", help="list the standard protocols (scored automatically when a session uses one)")
    p = sub.add_parser("protocol", help="write a standard protocol's plan (TOML) to stdout or a file")
    p.add_argument("name", help="protocol id: isway, mctsib or satco")
    p.add_argument("--out", type=Path, help="file to write (default: stdout); an existing file is not overwritten")
    p = sub.add_parser("check", help="validate a plan file and summarise it")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.session import CATALOGUE, Plan, example_plan_text

    if args.plan_command == "catalogue":
        if args.json:
            print(json.dumps([ex.to_dict() for ex in CATALOGUE.values()], indent=2))
        else:
            for ex in CATALOGUE.values():
                cols = f"{ex.exercise_id:26s} {ex.milestone:12s} {ex.position:13s} {ex.surface:9s} {ex.support:7s}"
                print(f"{cols} {ex.name}")
        return 0
    if args.plan_command == "protocols":
        from dmi_sensors.session.protocols import PROTOCOLS

        for proto in PROTOCOLS.values():
            print(f"{proto.protocol_id:8s} {proto.name} ({len(proto.exercises)} exercises) -- {proto.reference}")
        return 0
    if args.plan_command in ("example", "protocol"):
        if args.plan_command == "protocol":
            from dmi_sensors.session.protocols import protocol

            text = protocol(args.name).plan().to_toml()
        else:
            text = example_plan_text()
        if args.out is None:
            sys.stdout.write(text)
        else:
            if args.out.exists():
                raise FileExistsError(f"{args.out}: exists; not overwritten")
            args.out.write_text(text, encoding="utf-8")
        return 0
    plan = Plan.read(args.file)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    print(f"{args.file}: plan {plan.name!r}, {len(plan)} exercises")
    for i, ex in enumerate(plan, start=1):
        reps = f"{ex.target_repetitions} x {ex.hold_s:g} s"
        print(f"  {i:2d}. {ex.exercise_id:26s} support {ex.support:7s} {reps}  {ex.name}")
    return 0
