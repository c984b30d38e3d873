"""A virtual sensor for the guided procedures: exact rigid-body motion + the simulator's IMU errors.

The bare sensor (on a table, against a box) or the child's trunk carrying it is posed by
rotations; holds are still (a standing or sitting child sways a little, zero-mean), moves
follow a smooth ``(1 - cos)`` profile. The orientation is continuous across steps, the
true angular rate is derived from consecutive orientations (``w_k = log(R_{k-1}^T R_k)
fs``, so a gyro strapdown of the truth is exact) and the specific force is gravity plus,
on the trunk, the acceleration of a sensor ``lever_m`` above the pivot (hips).

Readings come from the simulator's error model (:func:`dmi_sensors.sim.imu.apply_imu_errors`
with :class:`dmi_sensors.sim.ImuErrors`: bias, scale, axis misalignment, noise,
quantisation, and the mounting rotation sensor -> body for the trunk steps). The bare
sensor has no mounting and no soft-tissue jitter: its noise is the intrinsic MEMS noise
``bench_acc_noise_rms_mps2`` / ``bench_gyr_noise_rms_rps`` (or the errors' own noise if
lower).

:class:`SimulatedSource` is the in-process step source of ``dmi-sensors calibrate
--simulate`` (arrays on a uniform grid, no packets), the calibration figures and the tests;
the emulated guided sensor (:mod:`dmi_sensors.sim.bluez.guided`, ``--via-bluez``) plays the
same readings as firmware packets through its link.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration.guided import Step
from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.identity import errors_seed, simulated_sensor_id
from dmi_sensors.sim.imu import ImuErrors, apply_imu_errors

__all__ = ["SimulatedSource", "error_truth", "pose_rotation", "random_imu_errors", "simulated_imu_errors"]


def random_imu_errors(seed: int) -> ImuErrors:
    """Plausible errors of a cheap MEMS IMU strapped on crookedly (deterministic for ``seed``).

    Accelerometer bias up to 0.3 m/s^2, scale error up to 2 %, axis misalignment up to
    0.015 rad (0.9 deg); gyro bias up to 0.03 rad/s; mounting roll/pitch up to 25 deg and
    any heading; the simulator's default (body-worn) noise levels.
    """
    rng = np.random.default_rng(seed)
    return ImuErrors(
        acc_bias_mps2=tuple(rng.uniform(-0.3, 0.3, 3)),
        gyr_bias_rps=tuple(rng.uniform(-0.03, 0.03, 3)),
        acc_scale_error=tuple(rng.uniform(-0.02, 0.02, 3)),
        acc_misalignment_rad=tuple(rng.uniform(-0.015, 0.015, 3)),
        mounting_euler_deg=(*rng.uniform(-25, 25, 2), rng.uniform(-180, 180)),
    )


def simulated_imu_errors(index: int) -> ImuErrors:
    """The fixed hardware errors of simulated sensor ``index`` (:mod:`dmi_sensors.sim.identity`):
    ``random_imu_errors(errors_seed(index))``, the same in ``calibrate --simulate`` /
    ``--via-bluez`` and ``record --simulate-sensors``."""
    return random_imu_errors(errors_seed(index))


def error_truth(errors: ImuErrors) -> dict[str, np.ndarray]:
    """What a perfect calibration would find, in this package's terms (see ``records``).

    ``acc_sensitivity`` = ``diag(1 + scale_error) T_mis`` (= ``inv(matrix)``), ``acc_scale``
    its row norms, ``acc_misalignment_deg`` the angles of its rows from the axes,
    ``rotation_sensor_to_body`` the mounting rotation.
    """
    s = errors.acc_sensing_matrix
    u = s / np.linalg.norm(s, axis=1, keepdims=True)
    return {
        "acc_bias_mps2": np.asarray(errors.acc_bias_mps2),
        "acc_sensitivity": s,
        "acc_scale": np.linalg.norm(s, axis=1),
        "acc_misalignment_deg": np.degrees(np.arccos(np.clip(np.diag(u), -1, 1))),
        "gyr_bias_rps": np.asarray(errors.gyr_bias_rps),
        "rotation_sensor_to_body": errors.mounting_matrix,
    }


def pose_rotation(pose: str) -> Rotation:
    """Sensor -> world rotation with the named sensor axis pointing up (``"+x"`` = x up)."""
    axis = np.eye(3)["xyz".index(pose[1])] * (1.0 if pose[0] == "+" else -1.0)
    rot, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [axis])
    return rot


class SimulatedSource:
    """A :class:`~dmi_sensors.calibration.guided.StepSource` backed by a virtual sensor.

    Steps ``still`` and ``pose*`` pose the bare sensor (each placement off level by up to
    ``placement_tilt_deg``); ``upright``, ``lean`` and ``step`` move the child's trunk with
    the sensor strapped on (``imu_errors.mounting_euler_deg``). ``lean_deg``: how far the
    child bends forward; ``sway_deg``: amplitude of the quiet sway. ``sensor_serial``: default
    simulated sensor 0 (``00D10001``, :mod:`dmi_sensors.sim.identity`).
    """

    def __init__(
        self,
        sensor_serial: str | None = None,
        imu_errors: ImuErrors | None = None,
        fs_hz: float = 100.0,
        seed: int = 0,
        lean_deg: float = 30.0,
        sway_deg: float = 0.5,
        lever_m: float = 0.35,
        placement_tilt_deg: float = 1.0,
        bench_acc_noise_rms_mps2: float = 0.015,
        bench_gyr_noise_rms_rps: float = 0.002,
    ) -> None:
        self.sensor_serial = simulated_sensor_id(0) if sensor_serial is None else sensor_serial
        self.imu_errors = imu_errors if imu_errors is not None else ImuErrors()
        e = self.imu_errors
        self.bench_errors = dataclasses.replace(
            e,
            mounting_euler_deg=(0.0, 0.0, 0.0),
            acc_noise_rms_mps2=min(e.acc_noise_rms_mps2, bench_acc_noise_rms_mps2),
            gyr_noise_rms_rps=min(e.gyr_noise_rms_rps, bench_gyr_noise_rms_rps),
        )
        self.fs_hz = float(fs_hz)
        self.lean_deg = lean_deg
        self.sway_deg = sway_deg
        self.lever_m = lever_m
        self.placement_tilt_deg = placement_tilt_deg
        self._rng = np.random.default_rng(seed)
        self._phases = self._rng.uniform(0, 2 * np.pi, (2, 2))
        self._t = 0.0  # trunk time, s (the sway continues across steps)
        self._prev: Rotation = pose_rotation("+z")  # last orientation (sensor or body) -> world
        self._on_body = False
        self._pos_hist = np.zeros((2, 3))  # last two sensor positions (lever acceleration)

    # -- truth -> readings ----------------------------------------------------------------
    def _measure(self, rot: Rotation, lin_acc_world: np.ndarray, errors: ImuErrors) -> tuple[np.ndarray, np.ndarray]:
        """``rot``: frame -> world per sample (sensor on the bench, body on the child)."""
        n = len(rot)
        prev = Rotation.concatenate([self._prev, rot[:-1]]) if n > 1 else self._prev
        gyr_true = (prev.inv() * rot).as_rotvec() * self.fs_hz
        self._prev = rot[-1]
        acc_true = rot.inv().apply(lin_acc_world + np.array([0.0, 0.0, STANDARD_GRAVITY_MPS2]))
        return apply_imu_errors(acc_true, gyr_true, errors, self.fs_hz, self._rng)

    def _profile(self, n: int) -> np.ndarray:
        return 0.5 * (1 - np.cos(np.pi * np.arange(1, n + 1) / n))

    # -- the bare sensor --------------------------------------------------------------------
    def _pose(self, target: Rotation, step: Step) -> tuple[np.ndarray, np.ndarray]:
        n = round(step.duration_s * self.fs_hz)
        n_move = min(n, round(step.settle_s * self.fs_hz))
        h = self._rng.normal(size=2)
        tilt = np.radians(self._rng.uniform(0, self.placement_tilt_deg))
        target = Rotation.from_rotvec(tilt * np.r_[h / np.linalg.norm(h), 0]) * target  # never perfectly level
        if self._on_body:  # taken off the child
            self._prev = target
            self._on_body = False
        start = self._prev
        rv = (start.inv() * target).as_rotvec()
        s = np.ones(n)
        s[:n_move] = self._profile(n_move)
        return self._measure(start * Rotation.from_rotvec(s[:, None] * rv), np.zeros((n, 3)), self.bench_errors)

    # -- the child's trunk -----------------------------------------------------------------
    def _sway(self, n: int) -> Rotation:
        t = self._t + np.arange(1, n + 1) / self.fs_hz
        ang = np.zeros((n, 3))
        amp = np.radians(self.sway_deg)
        for axis in (0, 1):
            for j, f in enumerate((0.3, 0.7)):
                ang[:, axis] += 0.5 * amp * np.sin(2 * np.pi * f * t + self._phases[axis, j])
        self._t = float(t[-1])
        return Rotation.from_rotvec(ang)

    def _trunk(self, movement: Rotation, translation_acc_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        body = movement * self._sway(len(movement))
        if not self._on_body:  # strapping the sensor on: start from the first trunk orientation
            self._prev = body[0]
            p0 = body[0].apply([0.0, 0.0, self.lever_m])
            self._pos_hist = np.vstack([p0, p0])
            self._on_body = True
        pos = np.vstack([self._pos_hist, body.apply([0.0, 0.0, self.lever_m])])
        lever = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) * self.fs_hz**2
        self._pos_hist = pos[-2:]
        return self._measure(body, lever + translation_acc_world, self.imu_errors)

    def record_step(self, step: Step) -> tuple[np.ndarray, np.ndarray]:
        n = round(step.duration_s * self.fs_hz)
        if step.key == "still":
            return self._pose(pose_rotation("+z"), step)
        if step.key.startswith("pose"):
            return self._pose(pose_rotation(step.pose), step)
        if step.key == "upright":
            return self._trunk(Rotation.identity(n), np.zeros((n, 3)))
        if step.key == "lean":
            n_move, n_hold = round(1.5 * self.fs_hz), round(1.5 * self.fs_hz)
            s = np.zeros(n)
            s[:n_move] = self._profile(n_move)
            s[n_move : n_move + n_hold] = 1.0
            s[n_move + n_hold : 2 * n_move + n_hold] = 1.0 - self._profile(n_move)[: max(0, n - n_move - n_hold)]
            movement = Rotation.from_rotvec(np.radians(self.lean_deg) * s[:, None] * [0.0, 1.0, 0.0])
            return self._trunk(movement, np.zeros((n, 3)))
        if step.key == "step":
            duration_s, length_m = 1.2, 0.3
            n_step = min(n, round(duration_s * self.fs_hz))
            t = np.arange(n_step) / self.fs_hz
            lin = np.zeros((n, 3))
            lin[:n_step, 0] = length_m * 2 * np.pi / duration_s**2 * np.sin(2 * np.pi * t / duration_s)
            return self._trunk(Rotation.identity(n), lin)
        raise ParameterError(f"the simulated source cannot perform step {step.key!r}")
