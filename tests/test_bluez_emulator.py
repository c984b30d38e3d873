"""The emulated BlueZ itself: private bus lifecycle, and bleak's BlueZ backend against it.

These tests use a protocol-agnostic peripheral (``bluez_helpers.TickPeripheral``) so the
emulator's D-Bus behaviour and truth accounting are checked independently of the DMI
protocol. The DMI sensors are exercised in ``test_ble.py``.
"""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest
from bluez_helpers import CONTROL, DATA, SERVICE, assert_gone

from dmi_sensors.sim.bluez import FaultProfile, PrivateBus
from dmi_sensors.sim.bluez.model import BATTERY_LEVEL_UUID, DIS_SERIAL_NUMBER_UUID

pytestmark = pytest.mark.bluez

HERE = str(Path(__file__).resolve().parent)


def tick_emulator(bluez, n=2, **kwargs):
    return bluez(factory="bluez_helpers:tick_peripherals", factory_kwargs={"n": n}, extra_pythonpath=(HERE,), **kwargs)


def test_private_bus_starts_and_leaves_nothing_behind():
    bus = PrivateBus().start()
    pid, directory = bus.pid, bus.directory
    assert bus.running and bus.address.startswith("unix:path=")
    assert (directory / "system_bus_socket").exists()
    bus.stop()
    assert_gone([pid])
    assert not directory.exists()
    bus.stop()  # idempotent


async def _scan(service_uuids, timeout_s=1.0):
    from bleak import BleakScanner

    found = await BleakScanner.discover(timeout=timeout_s, return_adv=True, service_uuids=service_uuids)
    return {d.address: (d, adv) for d, adv in found.values()}


async def test_scan_connect_read_notify_with_abort_and_busy(bluez):
    from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

    emu = tick_emulator(bluez, faults=FaultProfile(connect_abort_first=1, busy_write_first=2))
    found = await _scan([SERVICE])
    assert sorted(found) == ["C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"]
    device, adv = found["C0:FF:EE:00:00:02"]
    assert adv.local_name == "TICK-1" and adv.manufacturer_data == {0xFFFF: b"\x01"}
    assert SERVICE in adv.service_uuids

    client = await establish_connection(BleakClientWithServiceCache, device, "tick", max_attempts=3)
    try:
        assert await client.read_gatt_char(BATTERY_LEVEL_UUID) == bytearray([89])
        assert await client.read_gatt_char(DIS_SERIAL_NUMBER_UUID) == b"SN0001"
        got: list[bytes] = []
        await client.start_notify(DATA, lambda _c, data: got.append(bytes(data)))
        await client.write_gatt_char(CONTROL, b"\x01", response=True)  # InProgress twice, bleak retries
        await asyncio.sleep(0.6)
        await client.write_gatt_char(CONTROL, b"\x00", response=True)
        await asyncio.sleep(0.1)
    finally:
        await client.disconnect()
    counters = [struct.unpack_from("<I", p)[0] for p in got]
    assert counters == list(range(0, 5 * len(got), 5)), "notifications in order, none lost"
    truth = (await emu.atruth())["C0:FF:EE:00:00:02"]
    assert truth["connect_aborts"] == 1 and truth["connects"] == 1
    assert truth["busy_writes"] == 2
    assert truth["samples_sent"] == 5 * len(got) and truth["samples_dropped"] == 0
    assert truth["disconnects_requested"] == 1


async def _until(cond, timeout_s: float = 10.0) -> None:
    """Wait for an event (a condition), not for a time: ``timeout_s`` only bounds a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_unsolicited_disconnect_reaches_bleak_and_truth_counts_link_down(bluez):
    from bleak import BleakClient

    emu = tick_emulator(bluez, n=1)
    device, _ = (await _scan([SERVICE]))["C0:FF:EE:00:00:01"]
    lost = asyncio.Event()
    got: list[bytes] = []
    client = BleakClient(device, disconnected_callback=lambda _c: lost.set())
    await client.connect()
    await client.start_notify(DATA, lambda _c, data: got.append(bytes(data)))
    await client.write_gatt_char(CONTROL, b"\x01", response=True)
    await _until(lambda: len(got) >= 4)
    # drop after 20 more samples (4 packets), down for at least 15 samples (3 packets)
    await emu.acall("disconnect", address=device.address, after_samples=20, down_samples=15)
    await asyncio.wait_for(lost.wait(), 10)
    assert not client.is_connected
    n_before = len(got)
    await client.connect()  # held by the emulator until 15 samples were produced with the link down
    await client.start_notify(DATA, lambda _c, data: got.append(bytes(data)))
    await _until(lambda: len(got) >= n_before + 4)
    await client.write_gatt_char(CONTROL, b"\x00", response=True)
    await client.disconnect()
    counters = [struct.unpack_from("<I", p)[0] for p in got]
    gap = counters[n_before] - counters[n_before - 1] - 5
    truth = (await emu.atruth())[device.address]
    assert gap >= 15
    assert truth["samples_link_down"] == gap
    assert truth["samples_sent"] == 5 * len(got)
    assert truth["disconnects_unsolicited"] == 1


async def test_drops_and_corruption_are_counted_by_the_emulator(bluez):
    from bleak import BleakClient

    emu = tick_emulator(bluez, n=1, faults=FaultProfile(drop_p=0.2, malformed_p=0.2), seed=3)
    device, _ = (await _scan([SERVICE]))["C0:FF:EE:00:00:01"]
    got: list[bytes] = []
    async with BleakClient(device) as client:
        await client.start_notify(DATA, lambda _c, data: got.append(bytes(data)))
        await client.write_gatt_char(CONTROL, b"\x01", response=True)
        await _until(lambda: len(got) >= 40)  # 40 notifications arrived (drops are not among them)
        await client.write_gatt_char(CONTROL, b"\x00", response=True)
    intact = [p for p in got if len(p) > 2]
    counters = [struct.unpack_from("<I", p)[0] for p in intact]
    missing = counters[-1] + 5 - counters[0] - 5 * len(intact)  # between the first and last intact packet
    truth = (await emu.atruth())[device.address]
    assert truth["packets_malformed"] == len(got) - len(intact) > 0
    assert truth["packets_dropped_air"] > 0
    assert truth["samples_dropped"] == missing
    assert truth["samples_dropped"] + truth["samples_dropped_edges"] == truth["samples_dropped_total"]
    assert truth["samples_sent"] == 5 * len(intact)


async def test_vanished_device_is_no_longer_found(bluez):
    emu = tick_emulator(bluez, n=2)
    assert len(await _scan([SERVICE], 0.5)) == 2
    await emu.acall("vanish", address="C0:FF:EE:00:00:01")
    assert sorted(await _scan([SERVICE], 0.5)) == ["C0:FF:EE:00:00:02"]
    assert (await emu.atruth())["C0:FF:EE:00:00:01"]["vanished"] is True


def test_harness_stop_leaves_no_process(bluez):
    emu = tick_emulator(bluez, n=1)
    pids = [emu.pid, emu.bus.pid]
    assert emu.call("ping") == "pong"
    emu.stop()
    assert_gone(pids)


async def test_an_old_installed_bluetoothctl_cannot_make_bleak_refuse(bluez, tmp_path, monkeypatch):
    from bleak.backends.bluezdbus.version import BlueZFeatures

    old = tmp_path / "old-bluez"
    old.mkdir()
    (old / "bluetoothctl").write_text("#!/bin/sh\necho 5.50\n")
    (old / "bluetoothctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{old}:{os.environ['PATH']}")

    async def check() -> bool:
        monkeypatch.setattr(BlueZFeatures, "checked_bluez_version", False)
        monkeypatch.setattr(BlueZFeatures, "supported_version", True)
        monkeypatch.setattr(BlueZFeatures, "_check_bluez_event", None)
        await BlueZFeatures.check_bluez_version()
        return BlueZFeatures.supported_version

    assert not await check(), "control: bleak refuses BlueZ 5.50"
    tick_emulator(bluez, n=1)  # puts its bluetoothctl stub (5.72) first on PATH
    assert await check()
