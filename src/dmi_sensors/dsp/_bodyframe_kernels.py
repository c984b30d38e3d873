"""Numba kernels for the body frame: tilt from quaternions, gravity removal, heading frame, integration.

Conventions (``docs/data-contract.md``): ``q = [w, x, y, z]`` rotates body vectors into the
world frame (z up). With the aerospace decomposition ``R(q) = Rz(psi) Ry(theta) Rx(phi)``:

* ``tilt_ap = theta`` (rotation about +y: + when the trunk leans forward),
* ``tilt_ml = -phi`` (a right-hand roll about +x tips the top to the right, so + is left),
* ``psi`` is the heading of the body's forward axis in the world horizontal plane.

Both tilts are read from the world "up" direction in body coordinates,
``u = R.T @ [0, 0, 1] = [2(xz - wy), 2(wx + yz), 1 - 2(x^2 + y^2)]``:
``theta = atan2(-u_x, sqrt(u_y^2 + u_z^2))``, ``phi = atan2(u_y, u_z)``; they do not depend
on the heading.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "body_frame_into",
    "body_step",
    "gravity_removed_into",
    "heading_frame_into",
    "linear_step",
    "tilt_from_up",
    "tilt_into",
    "tilt_step",
    "trapezoid_into",
]


@njit(cache=True)
def tilt_into(q: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:, 0] = tilt_ap``, ``out[:, 1] = tilt_ml`` (rad) for quaternions ``q`` (n, 4)."""
    for i in range(q.shape[0]):
        w = q[i, 0]
        x = q[i, 1]
        y = q[i, 2]
        z = q[i, 3]
        out[i, 0], out[i, 1] = tilt_from_up(2.0 * (x * z - w * y), 2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    return out


@njit(cache=True)
def _rotate(w: float, x: float, y: float, z: float, vx: float, vy: float, vz: float) -> tuple[float, float, float]:
    """R(q) @ v for a unit quaternion (body -> world)."""
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r01 = 2.0 * (x * y - w * z)
    r02 = 2.0 * (x * z + w * y)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    r12 = 2.0 * (y * z - w * x)
    r20 = 2.0 * (x * z - w * y)
    r21 = 2.0 * (w * x + y * z)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    return (r00 * vx + r01 * vy + r02 * vz, r10 * vx + r11 * vy + r12 * vz, r20 * vx + r21 * vy + r22 * vz)


@njit(cache=True)
def gravity_removed_into(q: np.ndarray, acc: np.ndarray, gravity_mps2: float, out: np.ndarray) -> np.ndarray:
    """World-frame linear acceleration ``R(q) @ acc - [0, 0, g]`` (n, 3)."""
    for i in range(q.shape[0]):
        ax, ay, az = _rotate(q[i, 0], q[i, 1], q[i, 2], q[i, 3], acc[i, 0], acc[i, 1], acc[i, 2])
        out[i, 0] = ax
        out[i, 1] = ay
        out[i, 2] = az - gravity_mps2
    return out


@njit(cache=True)
def heading_frame_into(q: np.ndarray, v_world: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Rotate world vectors by ``-psi`` (the body heading): x = forward (AP), y = left (ML), z = up (V).

    The heading is the direction of the body's x axis projected on the horizontal plane,
    ``(R00, R10)``; when that projection vanishes (x axis vertical, e.g. lying supine) the
    world axes are used unchanged.
    """
    for i in range(q.shape[0]):
        w = q[i, 0]
        x = q[i, 1]
        y = q[i, 2]
        z = q[i, 3]
        hx = 1.0 - 2.0 * (y * y + z * z)
        hy = 2.0 * (x * y + w * z)
        hn = math.sqrt(hx * hx + hy * hy)
        if hn > 1e-9:
            inv = 1.0 / hn
            c = hx * inv
            s = hy * inv
        else:
            c = 1.0
            s = 0.0
        vx = v_world[i, 0]
        vy = v_world[i, 1]
        out[i, 0] = c * vx + s * vy
        out[i, 1] = -s * vx + c * vy
        out[i, 2] = v_world[i, 2]
    return out


@njit(cache=True)
def tilt_from_up(ux: float, uy: float, uz: float) -> tuple[float, float]:
    """``(tilt_ap, tilt_ml)`` from the world "up" direction ``u`` in body coordinates (|u| = 1).

    ``tilt_ap = atan2(-ux, hypot(uy, uz))`` and ``tilt_ml = -atan2(uy, uz)``; in the common
    near-upright case the same angles are computed as ``asin(-ux)`` and ``-atan(uy / uz)``,
    which are equal up to rounding and several times faster.
    """
    tilt_ml = -math.atan(uy / uz) if uz > 0.0 else -math.atan2(uy, uz)
    tilt_ap = math.asin(-ux) if -0.5 < ux < 0.5 else math.atan2(-ux, math.sqrt(uy * uy + uz * uz))
    return tilt_ap, tilt_ml


@njit(cache=True)
def tilt_from_acc_into(acc: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``(tilt_ap, tilt_ml)`` per row of the specific force ``acc`` ``(n, 3)`` (its direction is
    "up" when the body is still); a zero row gives NaN."""
    for i in range(acc.shape[0]):
        norm = math.sqrt(acc[i, 0] * acc[i, 0] + acc[i, 1] * acc[i, 1] + acc[i, 2] * acc[i, 2])
        if norm > 0.0:
            a, m = tilt_from_up(acc[i, 0] / norm, acc[i, 1] / norm, acc[i, 2] / norm)
            out[i, 0] = a
            out[i, 1] = m
        else:
            out[i, 0] = np.nan
            out[i, 1] = np.nan
    return out


@njit(cache=True)
def tilt_step(w: float, x: float, y: float, z: float) -> tuple[float, float]:
    """One sample: ``(tilt_ap, tilt_ml)`` of the unit quaternion ``q``."""
    return tilt_from_up(2.0 * (x * z - w * y), 2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))


@njit(cache=True)
def linear_step(
    w: float, x: float, y: float, z: float, fx: float, fy: float, fz: float, gravity_mps2: float
) -> tuple[float, float, float]:
    """One sample: gravity-free acceleration ``(acc_ap, acc_ml, acc_v)`` from ``q`` and specific force ``f``."""
    ax, ay, az = _rotate(w, x, y, z, fx, fy, fz)
    hx = 1.0 - 2.0 * (y * y + z * z)
    hy = 2.0 * (x * y + w * z)
    hn = math.sqrt(hx * hx + hy * hy)
    if hn > 1e-9:
        inv = 1.0 / hn
        c = hx * inv
        s = hy * inv
    else:
        c = 1.0
        s = 0.0
    return c * ax + s * ay, -s * ax + c * ay, az - gravity_mps2


@njit(cache=True)
def body_step(
    w: float, x: float, y: float, z: float, fx: float, fy: float, fz: float, gravity_mps2: float
) -> tuple[float, float, float, float, float]:
    """One sample: ``(tilt_ap, tilt_ml, acc_ap, acc_ml, acc_v)`` from ``q`` and specific force ``f``."""
    tilt_ap, tilt_ml = tilt_step(w, x, y, z)
    l_ap, l_ml, l_v = linear_step(w, x, y, z, fx, fy, fz, gravity_mps2)
    return tilt_ap, tilt_ml, l_ap, l_ml, l_v


@njit(cache=True)
def body_frame_into(
    q: np.ndarray, acc: np.ndarray, gravity_mps2: float, lin_apmlv: np.ndarray, tilt: np.ndarray
) -> None:
    """Fused: tilt angles (n, 2) and gravity-free acceleration in the heading frame (n, 3) in one pass."""
    for i in range(q.shape[0]):
        t_ap, t_ml, l_ap, l_ml, l_v = body_step(
            q[i, 0], q[i, 1], q[i, 2], q[i, 3], acc[i, 0], acc[i, 1], acc[i, 2], gravity_mps2
        )
        tilt[i, 0] = t_ap
        tilt[i, 1] = t_ml
        lin_apmlv[i, 0] = l_ap
        lin_apmlv[i, 1] = l_ml
        lin_apmlv[i, 2] = l_v


@njit(cache=True)
def trapezoid_into(x: np.ndarray, dt_s: float, state: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Running trapezoidal integral of ``x`` (n, c) into ``out`` (n, c).

    ``state`` (2, c + 1): row 0 = previous input sample, row 1 = running integral, and
    ``state[0, c] = 1`` once a previous sample exists (the first sample ever integrates to 0).
    """
    n = x.shape[0]
    c = x.shape[1]
    for i in range(n):
        if state[0, c] == 0.0:
            for ch in range(c):
                state[1, ch] = 0.0
                state[0, ch] = x[i, ch]
                out[i, ch] = 0.0
            state[0, c] = 1.0
        else:
            for ch in range(c):
                acc = state[1, ch] + 0.5 * (state[0, ch] + x[i, ch]) * dt_s
                state[1, ch] = acc
                state[0, ch] = x[i, ch]
                out[i, ch] = acc
    return out
