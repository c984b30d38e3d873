"""Everything simulated: body physics -> IMU readings -> firmware-exact packets -> one link -> a host.

Each module has one job (equations and parameters in its docstring and in
``docs/simulation.md``):

Physics and readings

- :mod:`~dmi_sensors.sim.segments` -- :class:`Segment`, :class:`Perturbation` (what happens).
- :mod:`~dmi_sensors.sim.scenarios` -- named segment lists (``dmi-sensors simulate --scenario``).
- :mod:`~dmi_sensors.sim.body` -- :class:`BodyParams`, anthropometry, control, support model.
- :mod:`~dmi_sensors.sim.pendulum` (+ ``_kernels``) -- delayed-PD inverted pendulum.
- :mod:`~dmi_sensors.sim.jet` -- values with exact first and second derivatives, minimum-jerk steps.
- :mod:`~dmi_sensors.sim.motion` -- trunk and COM trajectories per posture.
- :mod:`~dmi_sensors.sim.kinematics` -- orientation, angular rate, specific force.
- :mod:`~dmi_sensors.sim.imu` -- :class:`ImuErrors`, :class:`PacketLoss`, quantisation.
- :mod:`~dmi_sensors.sim.simulate` -- :func:`simulate` -> :class:`SimResult` (+ truth).
- :mod:`~dmi_sensors.sim.truth` -- :func:`true_time_to_stabilise`.
- :mod:`~dmi_sensors.sim.calibration` -- a sensor posed by the guided calibration steps.
- :mod:`~dmi_sensors.sim.plan` -- an exercise plan as simulator segments.

Sensors, the air and the host

- :mod:`~dmi_sensors.sim.identity` -- the one serial/address numbering of simulated sensors.
- :mod:`~dmi_sensors.sim.virtual_sensor` -- :class:`VirtualSensor`, the firmware state machine.
- :mod:`~dmi_sensors.sim.link` -- :class:`LinkScheduler`, THE packet scheduler (connection
  events, per-event limit, losses, latency, jitter) every simulated path uses.
- :mod:`~dmi_sensors.sim.packets` -- offline packets of a :class:`SimResult` (:class:`PacketStream`).
- :mod:`~dmi_sensors.sim.stream` -- :class:`SensorLink`, :class:`SimulatedHost`: virtual sensors
  received in process (simulated clock or real time).
- :mod:`~dmi_sensors.sim.session` -- a simulated DMI session recorded into a store, with tags.
- :mod:`~dmi_sensors.sim.recorder` -- the real-time recorder process (crash-safety test).
- :mod:`~dmi_sensors.sim.bluez` -- the emulated BlueZ (bleak talks to virtual sensors over D-Bus).
"""

from __future__ import annotations

from dmi_sensors.sim.body import BodyParams, PlaneControl, default_sensor_height_m
from dmi_sensors.sim.identity import sensor_address, simulated_sensor_id, simulated_serial
from dmi_sensors.sim.imu import ImuErrors, PacketLoss
from dmi_sensors.sim.link import LinkModel, LinkScheduler
from dmi_sensors.sim.packets import PacketStream
from dmi_sensors.sim.segments import POSTURES, Perturbation, Segment, total_duration_s
from dmi_sensors.sim.simulate import SimResult, SimTruth, simulate
from dmi_sensors.sim.stream import SensorLink, SimulatedHost
from dmi_sensors.sim.truth import moving_rms, true_time_to_stabilise
from dmi_sensors.sim.virtual_sensor import VirtualSensor

__all__ = [
    "POSTURES",
    "BodyParams",
    "ImuErrors",
    "LinkModel",
    "LinkScheduler",
    "PacketLoss",
    "PacketStream",
    "Perturbation",
    "PlaneControl",
    "Segment",
    "SensorLink",
    "SimResult",
    "SimTruth",
    "SimulatedHost",
    "VirtualSensor",
    "default_sensor_height_m",
    "moving_rms",
    "sensor_address",
    "simulate",
    "simulated_sensor_id",
    "simulated_serial",
    "total_duration_s",
    "true_time_to_stabilise",
]
