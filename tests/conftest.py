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
