"""The command line: fast help and version, lazily imported sub-commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dmi_sensors import __version__, cli

HEAVY = ("numpy", "scipy", "numba", "pandas", "matplotlib", "bleak")


def _modules_loaded_by(*args: str) -> set[str]:
    code = (
        "import sys, io, contextlib\n"
        "from dmi_sensors.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n"
        f"        main({list(args)!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {line.split(".")[0] for line in out.splitlines()}


@pytest.mark.parametrize("args", [("--help",), ("--version",), ()])
def test_help_and_version_import_nothing_heavy(args):
    loaded = _modules_loaded_by(*args)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_command_help_imports_nothing_heavy(name):
    # each command module imports the library inside run(): its --help stays instant
    loaded = _modules_loaded_by(name, "--help")
    assert not loaded & set(HEAVY), (name, loaded & set(HEAVY))


def test_version_matches_package():
    out = subprocess.run(
        [sys.executable, "-m", "dmi_sensors", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"dmi-sensors {__version__}"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_every_command_module_has_the_interface():
    import argparse
    import importlib

    for name, spec in cli.COMMANDS.items():
        module = importlib.import_module(spec.module)
        parser = argparse.ArgumentParser(prog=name)
        module.add_arguments(parser)
        assert callable(module.run), name


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "commands" in capsys.readouterr().out


def test_doctor_json(capsys):
    assert cli.main(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["dmi_sensors_version"] == __version__
    assert isinstance(facts["problems"], list)
