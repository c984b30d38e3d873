"""LSL on loopback for tests: one private liblsl configuration per test process.

liblsl reads its configuration once, from the file named by ``LSLAPICFG``, at its first use;
the recorder subprocesses inherit the variable. The file keeps everything on this machine
and away from other LSL programs (other test runs, a lab's real streams):

* ``[lab] SessionID``: unique per test process; LSL only resolves streams of its own session;
* ``[multicast] ResolveScope = machine`` and ``[lab] KnownPeers = {127.0.0.1}``: discovery
  on this machine only (no multicast to the network), by a unicast query to 127.0.0.1;
* ``[ports] IPv6 = disable``: one address family (IPv4 loopback);
* ``[ports] MulticastPort``, ``BasePort``, ``PortRange``: a block of ports of this test
  process's own (:func:`_port_block`). Unicast resolution queries the known peers on the
  ports of the range, and an outlet that finds no free port in it falls back to a random
  one. With the default 32 ports shared by two pytest-xdist workers (and their recorder
  subprocesses), a recorder's stream was once not found (2026-12-05); with a block per
  worker their outlets, queries and replies never share a port.

Import this module before the first pylsl call.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import numpy as np


def _port_block() -> int:
    """The first of 100 ports (17000-28999, below Linux's ephemeral ports) for this process:
    consecutive blocks for the workers of one pytest-xdist run (``gw0``, ``gw1``, ...: disjoint),
    placed by the controller's pid (another run on the machine most likely elsewhere)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    run = os.getppid() if worker else os.getpid()
    slots = 120
    return 17000 + 100 * ((index + count * (run % max(1, slots // count))) % slots)


_PORT = _port_block()
CONFIG = f"""[ports]
IPv6 = disable
MulticastPort = {_PORT}
BasePort = {_PORT + 1}
PortRange = 64
[multicast]
ResolveScope = machine
[lab]
SessionID = dmi-sensors-tests-{os.getpid()}-{uuid.uuid4().hex[:8]}
KnownPeers = {{127.0.0.1}}
[log]
level = -2
"""

if "DMI_SENSORS_TEST_LSLAPICFG" not in os.environ:
    _dir = Path(tempfile.mkdtemp(prefix="dmi-lsl-"))
    (_dir / "lsl_api.cfg").write_text(CONFIG)
    os.environ["DMI_SENSORS_TEST_LSLAPICFG"] = str(_dir / "lsl_api.cfg")
os.environ["LSLAPICFG"] = os.environ["DMI_SENSORS_TEST_LSLAPICFG"]

import pylsl  # noqa: E402  (after LSLAPICFG: liblsl reads it at its first use)

IMU_LABELS = ("AccX", "AccY", "AccZ", "GyrX", "GyrY", "GyrZ")
IMU_UNITS = ("m/s^2",) * 3 + ("rad/s",) * 3


def imu_outlet(name: str, fs_hz: float = 100.0, *, serial: str = "", type_: str = "IMU") -> pylsl.StreamOutlet:
    """An IMU outlet as another program would make one (double64, labelled channels)."""
    info = pylsl.StreamInfo(name, type_, 6, fs_hz, pylsl.cf_double64, f"{name}-source")
    chans = info.desc().append_child("channels")
    for label, unit in zip(IMU_LABELS, IMU_UNITS, strict=True):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
    if serial:
        info.desc().append_child("acquisition").append_child_value("serial_number", serial)
    return pylsl.StreamOutlet(info)


def marker_outlet(name: str = "TestMarkers") -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"{name}-source")
    return pylsl.StreamOutlet(info)


def imu_values(n: int, seed: int) -> np.ndarray:
    """``(n, 6)``: acc m/s^2 (gravity on z and a sway), gyr rad/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    acc = np.column_stack([0.3 * np.sin(2 * np.pi * 0.5 * t), 0.05 * rng.standard_normal(n), 9.81 + 0 * t])
    gyr = np.column_stack([0.2 * np.cos(2 * np.pi * 0.5 * t), 0.01 * rng.standard_normal(n), 0 * t])
    return np.hstack([acc, gyr])
