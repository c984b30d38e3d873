"""A virtual sensor for the guided procedures: exact rigid rotations plus a known error model.

The sensor (or the child's trunk carrying it) is posed by rotations; holds are still
(standing children sway a little), moves follow a smooth ``(1 - cos)`` profile about a
constant axis, so the angular rate is exact. Specific force is gravity rotated into the
sensor frame plus, for trunk movements, the acceleration of a sensor mounted
``lever_m`` above the pivot (hips). Errors (sensor frame)::

    acc_meas = diag(acc_scale) @ acc_axes @ acc_true + acc_bias_mps2 + noise
    gyr_meas = gyr_true + gyr_bias_rps + noise

and the sensor sits on the body rotated by ``mounting`` (sensor -> body rotation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration.guided import Step
from dmi_sensors.contract import STANDARD_GRAVITY_MPS2

__all__ = ["SensorErrors", "SimulatedSource", "pose_rotation"]


@dataclass
class SensorErrors:
    """Known errors of the virtual sensor (see the module docstring)."""

    acc_bias_mps2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acc_scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    acc_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    gyr_bias_rps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acc_noise_mps2: float = 0.015
    gyr_noise_rps: float = 0.002
    mounting: np.ndarray = field(default_factory=lambda: np.eye(3))  # sensor -> body

    @classmethod
    def random(cls, seed: int) -> SensorErrors:
        """Plausible errors of a cheap MEMS IMU crookedly strapped on: bias up to 0.3 m/s^2 and
        0.03 rad/s, scale within 2 %, axes off by up to 1 deg, mounting up to 25 deg off + any heading."""
        rng = np.random.default_rng(seed)
        axes = np.eye(3)
        for i in range(3):
            perp = np.cross(axes[i], rng.normal(size=3))
            perp /= np.linalg.norm(perp)
            ang = np.radians(rng.uniform(0.1, 1.0))
            axes[i] = np.cos(ang) * np.eye(3)[i] + np.sin(ang) * perp
        mount = Rotation.from_euler("ZYX", [rng.uniform(-180, 180), *rng.uniform(-25, 25, 2)], degrees=True)
        return cls(
            acc_bias_mps2=rng.uniform(-0.3, 0.3, 3),
            acc_scale=rng.uniform(0.98, 1.02, 3),
            acc_axes=axes,
            gyr_bias_rps=rng.uniform(-0.03, 0.03, 3),
            mounting=mount.as_matrix(),
        )

    def truth(self) -> dict[str, list]:
        """The errors as plain lists (to print beside the estimate)."""
        m = Rotation.from_matrix(self.mounting)
        return {
            "acc_bias_mps2": np.round(self.acc_bias_mps2, 5).tolist(),
            "acc_scale": np.round(self.acc_scale, 5).tolist(),
            "acc_misalignment_deg": np.round(np.degrees(np.arccos(np.clip(np.diag(self.acc_axes), -1, 1))), 3).tolist(),
            "gyr_bias_rps": np.round(self.gyr_bias_rps, 5).tolist(),
            "mounting_euler_zyx_deg": np.round(m.as_euler("ZYX", degrees=True), 3).tolist(),
        }


def pose_rotation(pose: str) -> Rotation:
    """Sensor -> world rotation with the named sensor axis pointing up (``"+x"`` = x up)."""
    axis = np.eye(3)["xyz".index(pose[1])] * (1.0 if pose[0] == "+" else -1.0)
    rot, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [axis])
    return rot


class SimulatedSource:
    """A :class:`~dmi_sensors.calibration.guided.StepSource` backed by the virtual sensor.

    Steps ``still`` and ``pose*`` pose the bare sensor (on a table / against a box, each
    placement off by up to 1 deg); ``upright``, ``lean`` and ``step`` move the child's
    trunk, with the sensor strapped on it with ``errors.mounting``. The orientation is
    continuous across steps and the true angular rate is derived from consecutive
    orientations (``w_k = log(R_{k-1}^T R_k) fs``), so a gyro strapdown of the output is
    exact up to the added errors. ``lean_deg`` is how far the child bends forward;
    ``sway_deg`` the amplitude of the zero-mean quiet-stance sway.
    """

    def __init__(
        self,
        sensor_serial: str = "SIM-0001",
        errors: SensorErrors | None = None,
        fs_hz: float = 100.0,
        seed: int = 0,
        lean_deg: float = 30.0,
        sway_deg: float = 0.5,
        lever_m: float = 0.35,
    ) -> None:
        self.sensor_serial = sensor_serial
        self.errors = errors if errors is not None else SensorErrors()
        self.fs_hz = float(fs_hz)
        self.lean_deg = lean_deg
        self.sway_deg = sway_deg
        self.lever_m = lever_m
        self._rng = np.random.default_rng(seed)
        self._phases = self._rng.uniform(0, 2 * np.pi, (2, 2))
        self._t = 0.0  # trunk time, s (sway continues across steps)
        self._prev: Rotation = pose_rotation("+z")  # last sensor -> world orientation
        self._on_body = False
        self._pos_hist = np.zeros((2, 3))  # last two sensor positions (for the lever acceleration)

    # -- truth -> measurement -------------------------------------------------------------
    def _measure(self, rot: Rotation, lin_acc_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = self.errors
        n = len(rot)
        prev = Rotation.concatenate([self._prev, rot[:-1]]) if n > 1 else self._prev
        gyr_true = (prev.inv() * rot).as_rotvec() * self.fs_hz
        self._prev = rot[-1]
        f_world = lin_acc_world + np.array([0.0, 0.0, STANDARD_GRAVITY_MPS2])
        acc_true = rot.inv().apply(f_world)
        acc = acc_true @ (np.diag(e.acc_scale) @ e.acc_axes).T + e.acc_bias_mps2
        acc = acc + self._rng.normal(0.0, e.acc_noise_mps2, (n, 3))
        gyr = gyr_true + e.gyr_bias_rps + self._rng.normal(0.0, e.gyr_noise_rps, (n, 3))
        return acc, gyr

    def _profile(self, n: int) -> np.ndarray:
        return 0.5 * (1 - np.cos(np.pi * np.arange(1, n + 1) / n))

    # -- the bare sensor --------------------------------------------------------------------
    def _pose(self, target: Rotation, step: Step) -> tuple[np.ndarray, np.ndarray]:
        n = round(step.duration_s * self.fs_hz)
        n_move = min(n, round(step.settle_s * self.fs_hz))
        h = self._rng.normal(size=2)
        tilt = Rotation.from_rotvec(np.radians(self._rng.uniform(0, 1.0)) * np.r_[h / np.linalg.norm(h), 0])
        target = tilt * target  # a hand never places it perfectly
        start = self._prev
        rv = (start.inv() * target).as_rotvec()
        s = np.ones(n)
        s[:n_move] = self._profile(n_move)
        self._on_body = False
        return self._measure(start * Rotation.from_rotvec(s[:, None] * rv), np.zeros((n, 3)))

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
        n = len(movement)
        body = movement * self._sway(n)
        mount = Rotation.from_matrix(self.errors.mounting)  # sensor -> body
        if not self._on_body:  # strapping the sensor on: start from the first trunk orientation
            self._prev = body[0] * mount
            p0 = body[0].apply([0.0, 0.0, self.lever_m])
            self._pos_hist = np.vstack([p0, p0])
            self._on_body = True
        pos = np.vstack([self._pos_hist, body.apply([0.0, 0.0, self.lever_m])])
        lever = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) * self.fs_hz**2
        self._pos_hist = pos[-2:]
        return self._measure(body * mount, lever + translation_acc_world)

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
        raise ValueError(f"the simulated source cannot perform step {step.key!r}")
