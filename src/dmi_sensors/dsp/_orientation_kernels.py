"""Numba kernels for 6-axis orientation filters (Madgwick, Mahony) and accelerometer attitude.

The update equations follow ``ahrs`` 0.4 (``ahrs.filters.Madgwick.updateIMU`` and
``ahrs.filters.Mahony.updateIMU``) term by term, including its conventions:

* quaternions are scalar-first ``[w, x, y, z]`` and rotate body vectors into the world
  frame (z up); the expected direction of "up" in the body frame is
  ``R(q).T @ [0, 0, 1] = [2(xz - wy), 2(wx + yz), 1 - 2(x^2 + y^2)]``;
* a sample whose gyroscope vector is exactly zero leaves the attitude unchanged;
* a sample whose accelerometer vector is exactly zero is integrated from the gyroscope only;
* the step is ``q <- normalise(q + dt * q_dot)`` with a fixed ``dt = 1 / fs_hz``.

ahrs normalises the quaternion several times per step; the kernels normalise once (at the
end of the step, multiplying by the reciprocal norm) and let the compiler fuse
multiply-adds, which differs from ahrs by rounding only (~1e-16 per step; the filters
are contractive, so this stays ~1e-14 over 1e5 steps).

State arrays (updated in place, so calls can be chained packet by packet):

* Madgwick: ``state[0:4] = q``, ``state[4] = 1.0`` once initialised (``0.0`` before).
* Mahony: ``state[0:4] = q``, ``state[4:7] = gyro bias estimate b (rad/s)``,
  ``state[7] = 1.0`` once initialised.

While a state is uninitialised the first sample sets ``q`` (from that sample's accelerometer
reading via :func:`acc_to_quaternion`, or from ``q0`` if given) and is output unchanged — the
same as ahrs, whose first output row is the initial attitude.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["FASTMATH", "acc_to_quaternion", "madgwick_imu_into", "madgwick_step", "mahony_imu_into"]


@njit(cache=True)
def acc_to_quaternion(ax: float, ay: float, az: float, q: np.ndarray) -> None:
    """Attitude (zero heading) from one specific-force sample into ``q`` (4,), as ``ahrs.common.orientation.acc2q``.

    Roll ``ex = atan2(ay, az)``, pitch ``ey = atan2(-ax, sqrt(ay^2 + az^2))`` of the
    normalised vector; ``q = q_y(ey) * q_x(ex)``. A zero vector gives the identity.
    """
    a_norm = math.sqrt(ax * ax + ay * ay + az * az)
    if a_norm > 0.0:
        ax = ax / a_norm
        ay = ay / a_norm
        az = az / a_norm
        ex = math.atan2(ay, az)
        ey = math.atan2(-ax, math.sqrt(ay * ay + az * az))
        cx2 = math.cos(ex / 2.0)
        sx2 = math.sin(ex / 2.0)
        cy2 = math.cos(ey / 2.0)
        sy2 = math.sin(ey / 2.0)
        w = cx2 * cy2
        x = sx2 * cy2
        y = cx2 * sy2
        z = -sx2 * sy2
        n = math.sqrt(w * w + x * x + y * y + z * z)
        q[0] = w / n
        q[1] = x / n
        q[2] = y / n
        q[3] = z / n
    else:
        q[0] = 1.0
        q[1] = 0.0
        q[2] = 0.0
        q[3] = 0.0


@njit(cache=True)
def _initialise(acc: np.ndarray, q0: np.ndarray, state: np.ndarray, flag_index: int) -> None:
    if q0.shape[0] == 4:
        n = math.sqrt(q0[0] * q0[0] + q0[1] * q0[1] + q0[2] * q0[2] + q0[3] * q0[3])
        for k in range(4):
            state[k] = q0[k] / n
    else:
        acc_to_quaternion(acc[0, 0], acc[0, 1], acc[0, 2], state)
    state[flag_index] = 1.0


#: Floating-point freedoms for the orientation kernels: FMA contraction and multiplying by
#: a reciprocal instead of dividing. Both change results only at the level of rounding
#: (~1e-16 per step); NaN/inf semantics and the order of operations are kept, so results
#: do not depend on how the input is split into calls.
FASTMATH = {"arcp", "contract"}


@njit(cache=True, fastmath=FASTMATH)
def madgwick_step(
    qw: float,
    qx: float,
    qy: float,
    qz: float,
    gx: float,
    gy: float,
    gz: float,
    ax: float,
    ay: float,
    az: float,
    gain: float,
    dt_s: float,
) -> tuple[float, float, float, float]:
    """One Madgwick IMU update of the unit quaternion ``q`` (ahrs ``Madgwick.updateIMU``)."""
    if gx * gx + gy * gy + gz * gz == 0.0:
        return qw, qx, qy, qz
    # q_dot = 0.5 * q (x) [0, g]
    dw = 0.5 * (-qx * gx - qy * gy - qz * gz)
    dx = 0.5 * (qw * gx + qy * gz - qz * gy)
    dy = 0.5 * (qw * gy - qx * gz + qz * gx)
    dz = 0.5 * (qw * gz + qx * gy - qy * gx)
    a_norm = math.sqrt(ax * ax + ay * ay + az * az)
    if a_norm > 0.0:
        ax = ax / a_norm
        ay = ay / a_norm
        az = az / a_norm
        f0 = 2.0 * (qx * qz - qw * qy) - ax
        f1 = 2.0 * (qw * qx + qy * qz) - ay
        f2 = 2.0 * (0.5 - qx * qx - qy * qy) - az
        if f0 * f0 + f1 * f1 + f2 * f2 != 0.0:
            # gradient = J.T @ f, normalised
            g0 = -2.0 * qy * f0 + 2.0 * qx * f1
            g1 = 2.0 * qz * f0 + 2.0 * qw * f1 - 4.0 * qx * f2
            g2 = -2.0 * qw * f0 + 2.0 * qz * f1 - 4.0 * qy * f2
            g3 = 2.0 * qx * f0 + 2.0 * qy * f1
            g_norm = math.sqrt(g0 * g0 + g1 * g1 + g2 * g2 + g3 * g3)
            if g_norm > 0.0:
                s = gain / g_norm
                dw -= s * g0
                dx -= s * g1
                dy -= s * g2
                dz -= s * g3
    qw = qw + dw * dt_s
    qx = qx + dx * dt_s
    qy = qy + dy * dt_s
    qz = qz + dz * dt_s
    inv = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    return qw * inv, qx * inv, qy * inv, qz * inv


@njit(cache=True, fastmath=FASTMATH)
def madgwick_imu_into(
    gyr: np.ndarray, acc: np.ndarray, gain: float, dt_s: float, q0: np.ndarray, state: np.ndarray, out: np.ndarray
) -> None:
    """Madgwick gradient-descent IMU filter over ``n`` samples.

    Parameters: ``gyr`` (n, 3) rad/s, ``acc`` (n, 3) m/s^2 (any unit: it is normalised),
    ``gain`` (beta), ``dt_s`` step, ``q0`` initial quaternion (4,) or an empty array for
    "from the accelerometer", ``state`` (5,) updated in place, ``out`` (n, 4) quaternions.
    """
    n = gyr.shape[0]
    start = 0
    if n > 0 and state[4] == 0.0:
        _initialise(acc, q0, state, 4)
        for k in range(4):
            out[0, k] = state[k]
        start = 1
    qw = state[0]
    qx = state[1]
    qy = state[2]
    qz = state[3]
    for i in range(start, n):
        qw, qx, qy, qz = madgwick_step(
            qw, qx, qy, qz, gyr[i, 0], gyr[i, 1], gyr[i, 2], acc[i, 0], acc[i, 1], acc[i, 2], gain, dt_s
        )
        out[i, 0] = qw
        out[i, 1] = qx
        out[i, 2] = qy
        out[i, 3] = qz
    state[0] = qw
    state[1] = qx
    state[2] = qy
    state[3] = qz


@njit(cache=True, fastmath=FASTMATH)
def mahony_imu_into(
    gyr: np.ndarray,
    acc: np.ndarray,
    k_p: float,
    k_i: float,
    dt_s: float,
    q0: np.ndarray,
    state: np.ndarray,
    out: np.ndarray,
) -> None:
    """Mahony explicit complementary IMU filter over ``n`` samples (ahrs ``Mahony.updateIMU``).

    ``state`` (8,) = ``[q(4), b(3), initialised]`` updated in place; the integral term
    ``b <- b - k_i * (a x v) * dt`` acts as a gyro-bias estimate (rad/s) and is subtracted
    from the gyroscope: ``omega = g - b + k_p * (a x v)`` with ``a`` the normalised specific
    force and ``v`` the predicted "up" direction in the body frame.
    """
    n = gyr.shape[0]
    start = 0
    if n > 0 and state[7] == 0.0:
        _initialise(acc, q0, state, 7)
        for k in range(4):
            out[0, k] = state[k]
        start = 1
    qw = state[0]
    qx = state[1]
    qy = state[2]
    qz = state[3]
    bx = state[4]
    by = state[5]
    bz = state[6]
    for i in range(start, n):
        gx = gyr[i, 0]
        gy = gyr[i, 1]
        gz = gyr[i, 2]
        if gx * gx + gy * gy + gz * gz != 0.0:
            ax = acc[i, 0]
            ay = acc[i, 1]
            az = acc[i, 2]
            a_norm = math.sqrt(ax * ax + ay * ay + az * az)
            if a_norm > 0.0:
                ax = ax / a_norm
                ay = ay / a_norm
                az = az / a_norm
                v0 = 2.0 * (qx * qz - qw * qy)
                v1 = 2.0 * (qw * qx + qy * qz)
                v2 = 1.0 - 2.0 * (qx * qx + qy * qy)
                e0 = ay * v2 - az * v1
                e1 = az * v0 - ax * v2
                e2 = ax * v1 - ay * v0
                bx = bx + (-k_i * e0) * dt_s
                by = by + (-k_i * e1) * dt_s
                bz = bz + (-k_i * e2) * dt_s
                gx = gx - bx + k_p * e0
                gy = gy - by + k_p * e1
                gz = gz - bz + k_p * e2
            dw = 0.5 * (-qx * gx - qy * gy - qz * gz)
            dx = 0.5 * (qw * gx + qy * gz - qz * gy)
            dy = 0.5 * (qw * gy - qx * gz + qz * gx)
            dz = 0.5 * (qw * gz + qx * gy - qy * gx)
            qw = qw + dw * dt_s
            qx = qx + dx * dt_s
            qy = qy + dy * dt_s
            qz = qz + dz * dt_s
            inv = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw = qw * inv
            qx = qx * inv
            qy = qy * inv
            qz = qz * inv
        out[i, 0] = qw
        out[i, 1] = qx
        out[i, 2] = qy
        out[i, 3] = qz
    state[0] = qw
    state[1] = qx
    state[2] = qy
    state[3] = qz
    state[4] = bx
    state[5] = by
    state[6] = bz
