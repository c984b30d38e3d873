"""Shared helpers for the DSP/timing tests: slow pure-Python references and analytic signals.

The references are written independently of the Numba kernels (plain Python floats, one
sample at a time, the equations as published / as in ahrs 0.4) so that a kernel bug cannot
hide in both.
"""

from __future__ import annotations

import math

import numba
import numpy as np

G = 9.80665

#: True when the test run has Numba compilation switched off (NUMBA_DISABLE_JIT=1).
JIT_DISABLED = bool(numba.config.DISABLE_JIT)


# --------------------------------------------------------------------------- filters
def sos_reference(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Direct form II transposed cascade, one channel and one sample at a time. x (n, c)."""
    x = np.asarray(x, dtype=float)
    n, c = x.shape
    ns = len(sos)
    z = [[[0.0, 0.0] for _ in range(ns)] for _ in range(c)]
    if zi is not None:
        for ch in range(c):
            for s in range(ns):
                z[ch][s] = [float(zi[s, 0, ch]), float(zi[s, 1, ch])]
    y = np.empty((n, c))
    for ch in range(c):
        for i in range(n):
            v = float(x[i, ch])
            for s in range(ns):
                b0, b1, b2, _a0, a1, a2 = (float(t) for t in sos[s])
                out = b0 * v + z[ch][s][0]
                z[ch][s][0] = b1 * v - a1 * out + z[ch][s][1]
                z[ch][s][1] = b2 * v - a2 * out
                v = out
            y[i, ch] = v
    zf = np.array([[[z[ch][s][k] for ch in range(c)] for k in range(2)] for s in range(ns)])
    return y, zf


# --------------------------------------------------------------------------- orientation
def _qmul(p, q):
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return (
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    )


def _normalise(v):
    n = math.sqrt(sum(t * t for t in v))
    return tuple(t / n for t in v)


def acc2q_reference(a) -> tuple[float, float, float, float]:
    """ahrs.common.orientation.acc2q: roll/pitch from one accelerometer sample, zero yaw."""
    ax, ay, az = (float(t) for t in a)
    n = math.sqrt(ax * ax + ay * ay + az * az)
    if n == 0:
        return (1.0, 0.0, 0.0, 0.0)
    ax, ay, az = ax / n, ay / n, az / n
    ex = math.atan2(ay, az)
    ey = math.atan2(-ax, math.sqrt(ay * ay + az * az))
    q = (
        math.cos(ex / 2) * math.cos(ey / 2),
        math.sin(ex / 2) * math.cos(ey / 2),
        math.cos(ex / 2) * math.sin(ey / 2),
        -math.sin(ex / 2) * math.sin(ey / 2),
    )
    return _normalise(q)


def madgwick_reference(acc, gyr, fs_hz: float, gain: float, q0=None) -> np.ndarray:
    """Madgwick IMU update (ahrs 0.4 ``updateIMU``) in plain Python, sample by sample."""
    n = len(gyr)
    out = np.empty((n, 4))
    q = acc2q_reference(acc[0]) if q0 is None else _normalise(tuple(float(t) for t in q0))
    out[0] = q
    dt = 1.0 / fs_hz
    for i in range(1, n):
        q = _normalise(q)
        g = tuple(float(t) for t in gyr[i])
        if math.sqrt(sum(t * t for t in g)) == 0:
            out[i] = q
            continue
        qdot = tuple(0.5 * t for t in _qmul(q, (0.0, *g)))
        a = tuple(float(t) for t in acc[i])
        an = math.sqrt(sum(t * t for t in a))
        if an > 0:
            a = tuple(t / an for t in a)
            qw, qx, qy, qz = q
            f = (2 * (qx * qz - qw * qy) - a[0], 2 * (qw * qx + qy * qz) - a[1], 2 * (0.5 - qx**2 - qy**2) - a[2])
            if math.sqrt(sum(t * t for t in f)) > 0:
                jac = (
                    (-2 * qy, 2 * qz, -2 * qw, 2 * qx),
                    (2 * qx, 2 * qw, 2 * qz, 2 * qy),
                    (0.0, -4 * qx, -4 * qy, 0.0),
                )
                grad = tuple(sum(jac[r][k] * f[r] for r in range(3)) for k in range(4))
                grad = _normalise(grad)
                qdot = tuple(d - gain * gr for d, gr in zip(qdot, grad, strict=True))
        q = _normalise(tuple(qq + d * dt for qq, d in zip(q, qdot, strict=True)))
        out[i] = q
    return out


def mahony_reference(acc, gyr, fs_hz: float, k_p: float, k_i: float, q0=None, b0=(0.0, 0.0, 0.0)):
    """Mahony IMU update (ahrs 0.4 ``updateIMU``) in plain Python. Returns (Q, final bias)."""
    n = len(gyr)
    out = np.empty((n, 4))
    q = acc2q_reference(acc[0]) if q0 is None else _normalise(tuple(float(t) for t in q0))
    b = [float(t) for t in b0]
    out[0] = q
    dt = 1.0 / fs_hz
    for i in range(1, n):
        q = _normalise(q)
        omega = [float(t) for t in gyr[i]]
        if math.sqrt(sum(t * t for t in omega)) == 0:
            out[i] = q
            continue
        a = tuple(float(t) for t in acc[i])
        an = math.sqrt(sum(t * t for t in a))
        if an > 0:
            a = tuple(t / an for t in a)
            w, x, y, z = q
            v = (2 * (x * z - w * y), 2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
            e = (a[1] * v[2] - a[2] * v[1], a[2] * v[0] - a[0] * v[2], a[0] * v[1] - a[1] * v[0])
            for k in range(3):
                b[k] += -k_i * e[k] * dt
                omega[k] = omega[k] - b[k] + k_p * e[k]
        qdot = tuple(0.5 * t for t in _qmul(q, (0.0, *omega)))
        q = _normalise(tuple(qq + d * dt for qq, d in zip(q, qdot, strict=True)))
        out[i] = q
    return out, np.array(b)


# --------------------------------------------------------------------------- analytic IMU signals
def rot_zyx(yaw, pitch, roll) -> np.ndarray:
    """R = Rz(yaw) Ry(pitch) Rx(roll), body -> world, vectorised: (n, 3, 3)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    r = np.empty((np.size(yaw), 3, 3))
    r[:, 0, 0] = cy * cp
    r[:, 0, 1] = cy * sp * sr - sy * cr
    r[:, 0, 2] = cy * sp * cr + sy * sr
    r[:, 1, 0] = sy * cp
    r[:, 1, 1] = sy * sp * sr + cy * cr
    r[:, 1, 2] = sy * sp * cr - cy * sr
    r[:, 2, 0] = -sp
    r[:, 2, 1] = cp * sr
    r[:, 2, 2] = cp * cr
    return r


def quat_zyx(yaw, pitch, roll) -> np.ndarray:
    """Scalar-first quaternion of Rz(yaw) Ry(pitch) Rx(roll), (n, 4)."""
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    return np.column_stack(
        [
            cy * cp * cr + sy * sp * sr,
            cy * cp * sr - sy * sp * cr,
            cy * sp * cr + sy * cp * sr,
            sy * cp * cr - cy * sp * sr,
        ]
    )


class SwayTruth:
    """Analytic trunk sway: tilt_ap (forward +), tilt_ml (left +), slow heading, exact IMU signals.

    Angles are sums of sinusoids so that derivatives are exact. The sensor sits at
    ``height_m`` on an inverted pendulum pivoting at the ankles (world origin), so its
    specific force includes the true linear acceleration, not only gravity.
    """

    def __init__(
        self,
        fs_hz: float,
        duration_s: float,
        seed: int = 0,
        amp_ap_deg: float = 1.5,
        amp_ml_deg: float = 0.8,
        yaw_rate_rps: float = 0.0,
        height_m: float = 0.0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.fs_hz = fs_hz
        self.t = np.arange(round(duration_s * fs_hz)) / fs_hz
        self.height_m = height_m
        # (amplitude rad, angular frequency rad/s, phase) per component
        self._ap = [
            (np.deg2rad(amp_ap_deg) * w, 2 * np.pi * f, rng.uniform(0, 2 * np.pi))
            for w, f in ((0.6, 0.15), (0.3, 0.4), (0.1, 1.1))
        ]
        self._ml = [
            (np.deg2rad(amp_ml_deg) * w, 2 * np.pi * f, rng.uniform(0, 2 * np.pi))
            for w, f in ((0.6, 0.12), (0.3, 0.5), (0.1, 0.9))
        ]
        self.yaw_rate_rps = yaw_rate_rps

    @staticmethod
    def _eval(parts, t, d):
        out = np.zeros_like(t)
        for a, w, p in parts:
            if d == 0:
                out += a * np.sin(w * t + p)
            elif d == 1:
                out += a * w * np.cos(w * t + p)
            else:
                out += -a * w * w * np.sin(w * t + p)
        return out

    def angles(self, d: int = 0):
        """(yaw, pitch, roll) and their d-th derivative; pitch = tilt_ap, roll = -tilt_ml."""
        t = self.t
        pitch = self._eval(self._ap, t, d)
        roll = -self._eval(self._ml, t, d)
        if d == 0:
            yaw = self.yaw_rate_rps * t
        elif d == 1:
            yaw = np.full_like(t, self.yaw_rate_rps)
        else:
            yaw = np.zeros_like(t)
        return yaw, pitch, roll

    @property
    def tilt_ap_rad(self):
        return self.angles()[1]

    @property
    def tilt_ml_rad(self):
        return -self.angles()[2]

    def quaternions(self) -> np.ndarray:
        return quat_zyx(*self.angles())

    def rotation(self) -> np.ndarray:
        return rot_zyx(*self.angles())

    def gyr_rps(self) -> np.ndarray:
        """Body-frame angular rate of the ZYX Euler trajectory (exact)."""
        _yaw, pitch, roll = self.angles()
        dyaw, dpitch, droll = self.angles(1)
        return np.column_stack(
            [
                droll - dyaw * np.sin(pitch),
                dpitch * np.cos(roll) + dyaw * np.cos(pitch) * np.sin(roll),
                -dpitch * np.sin(roll) + dyaw * np.cos(pitch) * np.cos(roll),
            ]
        )

    def lin_acc_world_mps2(self) -> np.ndarray:
        """Acceleration of the sensor (at height_m along the body z axis), world frame (exact)."""
        h = self.height_m
        if h == 0:
            return np.zeros((len(self.t), 3))
        r = self.rotation()
        w_b = self.gyr_rps()
        # angular acceleration in body frame by differentiating the exact expression numerically
        # would be inexact; instead use p = R e_z h and differentiate R analytically: R' = R [w]x,
        # R'' = R([w]x^2 + [w']x). w' from the analytic second derivatives of the angles.
        _yaw, pitch, roll = self.angles()
        dyaw, dpitch, droll = self.angles(1)
        ddyaw, ddpitch, ddroll = self.angles(2)
        sp, cp, sr, cr = np.sin(pitch), np.cos(pitch), np.sin(roll), np.cos(roll)
        dw = np.column_stack(
            [
                ddroll - ddyaw * sp - dyaw * cp * dpitch,
                ddpitch * cr - dpitch * sr * droll + ddyaw * cp * sr - dyaw * sp * dpitch * sr + dyaw * cp * cr * droll,
                -ddpitch * sr
                - dpitch * cr * droll
                + ddyaw * cp * cr
                - dyaw * sp * dpitch * cr
                - dyaw * cp * sr * droll,
            ]
        )
        ez = np.array([0.0, 0.0, h])
        # d2/dt2 (R ez) = R (w x (w x ez) + dw x ez)
        v = np.cross(w_b, np.cross(w_b, ez)) + np.cross(dw, ez)
        return np.einsum("nij,nj->ni", r, v)

    def acc_mps2(self) -> np.ndarray:
        """Specific force in the body frame: R^T (a_world + [0, 0, g])."""
        f_world = self.lin_acc_world_mps2() + np.array([0.0, 0.0, G])
        return np.einsum("nji,nj->ni", self.rotation(), f_world)
