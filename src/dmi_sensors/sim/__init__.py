"""Virtual sensors: body-sway physics -> IMU signals -> firmware-exact packets, with ground truth.

Layers (each module has one job; equations and parameters in its docstring and in
``docs/simulation.md``):

- :mod:`~dmi_sensors.sim.segments` -- :class:`Segment`, :class:`Perturbation` (what happens).
- :mod:`~dmi_sensors.sim.body` -- :class:`BodyParams`, anthropometry, control, support model.
- :mod:`~dmi_sensors.sim.pendulum` (+ ``_kernels``) -- delayed-PD inverted pendulum.
- :mod:`~dmi_sensors.sim.motion` -- trunk and COM trajectories per posture.
- :mod:`~dmi_sensors.sim.kinematics` -- orientation, angular rate, specific force.
- :mod:`~dmi_sensors.sim.imu` -- :class:`ImuErrors`, :class:`PacketLoss`, quantisation.
- :mod:`~dmi_sensors.sim.simulate` -- :func:`simulate` -> :class:`SimResult` (+ truth).
- :mod:`~dmi_sensors.sim.truth` -- :func:`true_time_to_stabilise`.
- :mod:`~dmi_sensors.sim.packets` -- packets with host arrival times (needs ``protocol``).
- :mod:`~dmi_sensors.sim.virtual_sensor` -- :class:`VirtualSensor` firmware state machine.

``dmi_sensors.sim.bluez`` (the emulated BlueZ) belongs to the BLE layer.
"""

from __future__ import annotations

from dmi_sensors.sim.body import BodyParams, PlaneControl, default_sensor_height_m
from dmi_sensors.sim.imu import ImuErrors, PacketLoss
from dmi_sensors.sim.packets import LinkModel, PacketStream
from dmi_sensors.sim.segments import POSTURES, Perturbation, Segment, total_duration_s
from dmi_sensors.sim.simulate import SimResult, SimTruth, simulate
from dmi_sensors.sim.truth import moving_rms, true_time_to_stabilise
from dmi_sensors.sim.virtual_sensor import VirtualSensor

__all__ = [
    "POSTURES",
    "BodyParams",
    "ImuErrors",
    "LinkModel",
    "PacketLoss",
    "PacketStream",
    "Perturbation",
    "PlaneControl",
    "Segment",
    "SimResult",
    "SimTruth",
    "VirtualSensor",
    "default_sensor_height_m",
    "moving_rms",
    "simulate",
    "total_duration_s",
    "true_time_to_stabilise",
]
