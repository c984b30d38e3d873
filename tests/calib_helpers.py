"""Synthetic IMU recordings from exact rotations, for the calibration tests.

Independent of ``dmi_sensors.sim`` on purpose: the calibration maths is checked against a
forward model written here in a few lines (rest: specific force = R^T (0, 0, g); moves:
constant-axis rotation with a smooth 1 - cos profile, whose body rate is exact).

Forward error model (sensor frame)::

    acc_meas = diag(scale) @ U @ acc_true + bias_acc + noise      (U rows: unit sensitive axes)
    gyr_meas = gyr_true + bias_gyr + noise
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

G = 9.80665


@dataclass
class Errors:
    acc_bias_mps2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acc_scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))  # U, unit rows
    gyr_bias_rps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    acc_noise_mps2: float = 0.015
    gyr_noise_rps: float = 0.002

    @property
    def sensitivity(self) -> np.ndarray:
        return np.diag(self.acc_scale) @ self.axes

    @property
    def misalignment_deg(self) -> np.ndarray:
        return np.degrees(np.arccos(np.clip(np.diag(self.axes), -1, 1)))


def random_errors(rng: np.random.Generator, max_misalign_deg: float = 1.5) -> Errors:
    axes = np.eye(3)
    for i in range(3):
        # tilt axis i by a random angle in a random direction
        perp = np.cross(axes[i], rng.normal(size=3))
        perp /= np.linalg.norm(perp)
        ang = np.radians(rng.uniform(0.2, max_misalign_deg))
        axes[i] = np.cos(ang) * np.eye(3)[i] + np.sin(ang) * perp
    return Errors(
        acc_bias_mps2=rng.uniform(-0.4, 0.4, 3),
        acc_scale=rng.uniform(0.97, 1.03, 3),
        axes=axes,
        gyr_bias_rps=rng.uniform(-0.03, 0.03, 3),
    )


def pose_rotation(pose: str) -> Rotation:
    """Sensor -> world rotation with the named sensor axis pointing up ('+x' = x up)."""
    axis = np.eye(3)["xyz".index(pose[1])] * (1.0 if pose[0] == "+" else -1.0)
    rot, _ = Rotation.align_vectors([[0, 0, 1]], [axis])
    return rot


def record(
    orientations: list[Rotation],
    fs_hz: float = 100.0,
    hold_s: float = 4.0,
    move_s: float = 1.5,
    errors: Errors | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time_s, acc_meas, gyr_meas): hold each sensor->world orientation, move between them."""
    e = errors or Errors()
    rng = np.random.default_rng(seed)
    rots: list[Rotation] = []
    omegas: list[np.ndarray] = []
    nh, nm = round(hold_s * fs_hz), round(move_s * fs_hz)
    for k, r in enumerate(orientations):
        if k > 0:
            prev = orientations[k - 1]
            rv = (prev.inv() * r).as_rotvec()  # body-frame rotation vector
            t = np.arange(nm) / nm
            s = 0.5 * (1 - np.cos(np.pi * t))
            ds = 0.5 * np.pi * np.sin(np.pi * t) / move_s
            rots.append(prev * Rotation.from_rotvec(s[:, None] * rv))
            omegas.append(ds[:, None] * rv)
        rots.append(Rotation.from_quat(np.tile(r.as_quat(), (nh, 1))))
        omegas.append(np.zeros((nh, 3)))
    rot = Rotation.concatenate(rots)
    gyr_true = np.vstack(omegas)
    acc_true = rot.inv().apply([0.0, 0.0, G])
    n = acc_true.shape[0]
    acc = acc_true @ e.sensitivity.T + e.acc_bias_mps2 + rng.normal(0, e.acc_noise_mps2, (n, 3))
    gyr = gyr_true + e.gyr_bias_rps + rng.normal(0, e.gyr_noise_rps, (n, 3))
    return np.arange(n) / fs_hz, acc, gyr


def six_pose_orientations(tilt_deg: float = 0.0, seed: int = 0) -> list[Rotation]:
    """The six poses, each tilted by up to ``tilt_deg`` about a random horizontal axis."""
    rng = np.random.default_rng(seed)
    out = []
    for p in ("+z", "-z", "+x", "-x", "+y", "-y"):
        h = rng.normal(size=2)
        tilt = Rotation.from_rotvec(np.radians(rng.uniform(0, tilt_deg)) * np.r_[h / np.linalg.norm(h), 0])
        out.append(tilt * pose_rotation(p))
    return out


def axis_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise angle between direction vectors, degrees."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(axis=-1), -1, 1)))
