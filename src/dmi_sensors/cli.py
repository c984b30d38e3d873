"""The ``dmi-sensors`` command.

Sub-commands live in ``dmi_sensors.commands.<name>`` modules, each with
``add_arguments(parser)`` and ``run(args) -> int``. Only the selected sub-command's module
is imported, so ``dmi-sensors --help`` and ``--version`` never load numpy, scipy or numba.

To add a command: write ``dmi_sensors/commands/<name>.py`` and add one line to
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

from dmi_sensors import __version__
from dmi_sensors.errors import DmiSensorsError


class Command(NamedTuple):
    module: str
    help: str
    aliases: tuple[str, ...] = ()


#: name -> (module, one-line help). Keep alphabetical.
COMMANDS: dict[str, Command] = {
    "analyse": Command(
        "dmi_sensors.commands.analyse",
        "sway metrics of a trial CSV: COM excursion, Prieto, ISway, TTS",
        aliases=("analyze",),
    ),
    "batch": Command(
        "dmi_sensors.commands.batch", "a cohort: many sessions analysed in parallel (Dask) into one tidy table"
    ),
    "calibrate": Command("dmi_sensors.commands.calibrate", "gyro bias, accelerometer and sensor-to-body calibration"),
    "demo": Command("dmi_sensors.commands.demo", "simulated DMI sessions end to end: record, store, analyse, report"),
    "doctor": Command("dmi_sensors.commands.doctor", "check this machine: Python, Bluetooth stack, dbus-daemon"),
    "export": Command("dmi_sensors.commands.export", "export a stored session as CSV, Parquet or BIDS-Motion"),
    "plan": Command("dmi_sensors.commands.plan", "exercise catalogue, example plan, check a plan file"),
    "progress": Command("dmi_sensors.commands.progress", "progress report of a subject across sessions (HTML)"),
    "record": Command("dmi_sensors.commands.record", "stream from sensors (or simulated ones) into the session store"),
    "report": Command("dmi_sensors.commands.report", "analyse a stored session and write its HTML report"),
    "scan": Command("dmi_sensors.commands.scan", "list the DMI sensors advertising nearby"),
    "sessions": Command("dmi_sensors.commands.sessions", "list stored sessions, show one (--json), or import a file"),
    "simulate": Command("dmi_sensors.commands.simulate", "virtual trunk sensor -> trial CSV + ground-truth JSON"),
}

DESCRIPTION = (
    "Wearable IMUs over Bluetooth LE -> postural-control numbers for Dynamic Movement "
    "Intervention (DMI) sessions and balance research."
)


#: alias -> command name (the API spells British English; American spellings are CLI aliases only)
ALIASES: dict[str, str] = {alias: name for name, spec in COMMANDS.items() for alias in spec.aliases}


def _selected_command(argv: Sequence[str]) -> str | None:
    for token in argv:
        if token.startswith("-"):
            continue
        name = ALIASES.get(token, token)
        return name if name in COMMANDS else None
    return None


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``selected``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="dmi-sensors", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"dmi-sensors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, spec in COMMANDS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help, aliases=list(spec.aliases))
        if name == selected:
            module = importlib.import_module(spec.module)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


#: The file-mode mask while a command runs: new files 0600, new folders 0700.
PRIVATE_UMASK = 0o077


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dmi-sensors`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected_command(argv))
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 2
    # Health data of children: everything a command creates (database, exports, reports,
    # summaries) is readable by this user only: files 0600, folders 0700 (docs/store.md).
    previous_umask = os.umask(PRIVATE_UMASK)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dmi-sensors sessions list | head`: the reader left; say nothing, exit quietly.
        _silence_stdout()
        return 0
    except (DmiSensorsError, OSError) as exc:
        # Library errors are written to name the file, place and expectation: show them as one line.
        command = ALIASES.get(args.command, args.command)
        print(f"dmi-sensors {command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        os.umask(previous_umask)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
