"""One numbering of simulated sensors: every simulated path calls sensor i by the same serial."""

from __future__ import annotations

import pytest

from dmi_sensors import protocol
from dmi_sensors.errors import ParameterError
from dmi_sensors.sim import sensor_address, simulated_sensor_id, simulated_serial
from dmi_sensors.sim.bluez.guided import calibration_sensors
from dmi_sensors.sim.bluez.sensor import virtual_sensors
from dmi_sensors.sim.calibration import SimulatedSource
from dmi_sensors.sim.recorder import virtual_sensors as recorder_sensors
from dmi_sensors.sim.session import default_sensors


def test_the_scheme():
    assert simulated_serial(0) == 0x00D10001 and simulated_sensor_id(0) == "00D10001"
    assert simulated_sensor_id(2) == "00D10003" and sensor_address(2) == "D0:31:5E:00:00:03"
    assert protocol.device_name(simulated_serial(0)) == "DMI-00D10001"
    with pytest.raises(ParameterError, match="index"):
        simulated_serial(-1)


def test_calibration_and_recording_paths_name_sensor_0_alike():
    """calibrate --simulate / --via-bluez, record --simulate-sensors, the simulated session, the recorder."""
    (guided,) = calibration_sensors(seed=1, fs_hz=100)  # calibrate --via-bluez
    first, second = virtual_sensors(2, fs_hz=100)  # record --simulate-sensors 2
    trunk, pelvis = default_sensors(0.45)  # the simulated DMI session
    recorded = recorder_sensors(2, fs_hz=100)  # the crash-test recorder
    assert SimulatedSource().sensor_serial == simulated_sensor_id(0)  # calibrate --simulate
    assert guided.serial == first.serial == protocol.format_serial(trunk.serial) == recorded[0].sensor_id
    assert guided.address == first.address == sensor_address(0)
    assert second.serial == protocol.format_serial(pelvis.serial) == recorded[1].sensor_id == simulated_sensor_id(1)
