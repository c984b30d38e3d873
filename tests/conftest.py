"""Shared pytest fixtures (owned by the BLE layer; other areas keep fixtures in their modules).

``bluez``: a factory starting an emulated BlueZ (private ``dbus-daemon`` + ``org.bluez``
emulator process) and pointing this process's bleak at it::

    async def test_x(bluez):
        emu = bluez(factory_kwargs={"n": 4}, faults=PROFILES["flaky"])
        ...                              # bleak (BlueZ backend) now talks to the emulator
        truth = await emu.atruth()

Every emulator started is stopped at teardown, and the fixture checks that neither the
daemon nor the emulator process is left behind.
"""

from __future__ import annotations

import os
import shutil

import pytest
from bluez_helpers import assert_gone
from hypothesis import settings

# Property tests: the same examples on every run (a CI failure is reproducible, never a roll
# of the dice) and no per-example deadline (speed belongs to benchmarks/; a busy machine must
# not fail a test). DMI_SENSORS_HYPOTHESIS=explore searches new random examples, many more.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("DMI_SENSORS_HYPOTHESIS", "ci"))


@pytest.fixture
def bluez(monkeypatch):
    """Factory: ``bluez(**EmulatedBluez kwargs) -> EmulatedBluez`` (started, environment set)."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian/Ubuntu: apt-get install dbus-daemon)")
    from dmi_sensors.sim.bluez import EmulatedBluez

    started: list[EmulatedBluez] = []

    def start(**kwargs) -> EmulatedBluez:
        emu = EmulatedBluez(**kwargs).start()
        started.append(emu)
        for key, value in emu.env.items():
            monkeypatch.setenv(key, value)
        return emu

    yield start
    pids = []
    for emu in started:
        pids += [emu.pid, emu.bus.pid if emu.bus else 0]
        emu.stop()
    assert_gone([p for p in pids if p])


def pytest_addoption(parser, pluginmanager):
    """Without pytest-xdist (a venv made before it joined the dev extras), the ``-n 2 --dist
    worksteal`` of pyproject's addopts would stop pytest with "unrecognized arguments": accept
    them, run in one process, and say how to get the workers (``pytest_configure``)."""
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist (not installed: these options are ignored)")
        # _addoption: the way xdist itself registers its lowercase short option
        group._addoption("-n", dest="numprocesses", default=None, help="ignored")
        group.addoption("--dist", dest="dist", default="no", help="ignored")


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("xdist") and config.getoption("numprocesses", None) not in (None, "0"):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                "pytest-xdist is not installed: the suite runs in one process (slower); "
                "`make venv` installs the dev extras"
            ),
            stacklevel=2,
        )
