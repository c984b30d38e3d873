"""The guided virtual sensor of ``--via-bluez`` driven directly (no BLE): steps start where told."""

from __future__ import annotations

import dataclasses

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.calibration.guided import Step
from dmi_sensors.contract import STANDARD_GRAVITY_MPS2 as G
from dmi_sensors.sim.bluez.guided import GuidedVirtualSensor
from dmi_sensors.sim.calibration import random_imu_errors
from dmi_sensors.types import RawPacket


def _stream(sensor: GuidedVirtualSensor, t_s: float):
    packets = sensor.packets_until(t_s)
    return protocol.StreamDecoder("x").process([RawPacket("x", 0.0, p) for p in packets])


def test_act_switches_pose_from_the_sample_being_taken():
    sensor = GuidedVirtualSensor(imu_errors=random_imu_errors(3), seed=3, fs_hz=100)
    sensor.handle_control(protocol.encode_command(protocol.StartStreaming(seq=1)), now_s=0.0)
    before = _stream(sensor, 1.0)
    flip = Step("pose-z", "Z down", duration_s=3.0, settle_s=0.5, pose="-z")
    info = sensor.act(dataclasses.asdict(flip), now_s=1.005)
    assert info == {"sample": 101, "n": round((3.0 + sensor.margin_s) * 100)}
    after = _stream(sensor, 8.0)
    # lying +z up until the act, then (after the 0.5 s settle) upside down, held after the step
    assert np.all(np.abs(before.acc_mps2[:, 2] - G) < 0.6)
    k = after.counter
    held = after.acc_mps2[k >= 101 + 60, 2]
    assert held.size > 600 and np.all(np.abs(held + G) < 0.6)
    assert np.all(np.abs(after.acc_mps2[k < 101, 2] - G) < 0.6)
    # the gyro reads its bias (+ noise) while still: the same known errors in both poses
    bias = np.asarray(sensor.imu_errors.gyr_bias_rps)
    np.testing.assert_allclose(after.gyr_rps[k >= 101 + 60].mean(axis=0), bias, atol=3e-4)
