"""A protocol-agnostic peripheral for testing the emulated BlueZ's own plumbing.

``TickPeripheral`` notifies ``[u32 counter][u8 n][n bytes]`` packets of ``n`` "samples" at a
fixed rate once a client writes ``b"\\x01"`` to its control characteristic (``b"\\x00"``
stops). The emulator's GATT, fault and truth logic is tested with it independently of the
DMI protocol; the DMI sensors themselves are tested in ``test_ble.py``.
"""

from __future__ import annotations

import os
import random
import struct
import time
from pathlib import Path

from dmi_sensors.sim.bluez.model import (
    BATTERY_LEVEL_UUID,
    DIS_SERIAL_NUMBER_UUID,
    Advertisement,
    CharacteristicSpec,
    GattError,
    Notification,
    ServiceSpec,
    battery_service,
    device_information_service,
)

SERVICE = "0f0e0d0c-0000-4000-8000-00000000aa00"
DATA = "0f0e0d0c-0000-4000-8000-00000000aa01"
CONTROL = "0f0e0d0c-0000-4000-8000-00000000aa02"


class TickPeripheral:
    def __init__(self, index: int, rate_hz: float = 100.0, per_packet: int = 5) -> None:
        self.address = f"C0:FF:EE:00:00:{index + 1:02X}"
        self.index = index
        self.rate_hz = rate_hz
        self.per_packet = per_packet
        self.streaming = False
        self.start_s = 0.0
        self.counter = 0  # next sample index

    def advertisement(self) -> Advertisement:
        return Advertisement(f"TICK-{self.index}", (SERVICE,), {0xFFFF: bytes([self.index])}, -50 - self.index)

    def services(self) -> list[ServiceSpec]:
        return [
            battery_service(),
            device_information_service(),
            ServiceSpec(SERVICE, (CharacteristicSpec(DATA, ("notify",)), CharacteristicSpec(CONTROL, ("write",)))),
        ]

    def read(self, char_uuid: str, now_s: float) -> bytes:
        if char_uuid == BATTERY_LEVEL_UUID:
            return bytes([90 - self.index])
        if char_uuid == DIS_SERIAL_NUMBER_UUID:
            return f"SN{self.index:04d}".encode()
        if char_uuid.startswith("0000"):
            return b"x"
        raise GattError("org.bluez.Error.NotPermitted", "no")

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        if data == b"\x01" and not self.streaming:
            self.streaming, self.start_s = True, now_s - self.counter / self.rate_hz
        elif data == b"\x00":
            self.streaming = False
        return []

    def connected(self, now_s: float) -> None:
        pass

    def disconnected(self, now_s: float) -> None:
        pass  # keeps sampling: samples produced while disconnected are lost

    def poll(self, now_s: float) -> list[Notification]:
        if not self.streaming:
            return []
        due = int((now_s - self.start_s) * self.rate_hz)
        out = []
        while due - self.counter >= self.per_packet:
            n = self.per_packet
            out.append(Notification(DATA, struct.pack("<IB", self.counter, n) + bytes(n), n))
            self.counter += n
        return out

    def corrupt(self, note: Notification, rng: random.Random) -> bytes:
        return note.data[:2]


def tick_peripherals(n: int = 2, rate_hz: float = 100.0, per_packet: int = 5) -> list[TickPeripheral]:
    return [TickPeripheral(i, rate_hz, per_packet) for i in range(n)]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def assert_gone(pids: list[int], timeout_s: float = 5.0) -> None:
    """Fail unless every pid has exited (and was reaped) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [p for p in pids if _alive(p) or Path(f"/proc/{p}").exists()]
    assert not left, f"processes left behind: {left}"
