"""Rigid-body kinematics of the trunk: orientation, angular rate, specific force.

Frames and signs follow ``docs/data-contract.md``: world z up (gravity ``(0, 0, -g)``),
x forward, y left; body x forward (AP), y left (ML), z up (cranial).

Orientation from the two tilt angles
------------------------------------
The trunk orientation (body -> world) is parameterised by ``tilt_ap`` (a, + forward lean)
and ``tilt_ml`` (m, + lean to the left), without heading (yaw = 0)::

    R = R_y(a) R_x(-m)

i.e. pitch about world y by ``a`` after a roll about body x by ``-m`` (a right-hand roll
about +x tips the top to the right, so a left lean is a negative roll). The trunk's long
axis in the world is then::

    u = R e_z = (cos m sin a,  sin m,  cos m cos a)

and conversely ``m = asin(u_y)``, ``a = atan2(u_x, u_z)`` (:func:`tilt_from_axis`).
Supine is ``a = -pi/2`` (chest up), prone ``a = +pi/2``, lying on the right side
``m = -pi/2``.

Angular rate in the body frame (``omega_body = vee(R^T dR/dt)``), exact::

    omega = (-m',  a' cos m,  a' sin m)
    omega' = (-m'',  a'' cos m - a' m' sin m,  a'' sin m + a' m' cos m)

Specific force (what an accelerometer measures) of a point with world acceleration
``p''``::

    f_body = R^T (p'' - g_world),   g_world = (0, 0, -9.80665 m/s^2)

so an upright, still trunk reads ``(0, 0, +9.81)``.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.sim import jet
from dmi_sensors.sim.jet import Jet

__all__ = [
    "GRAVITY_WORLD_MPS2",
    "angular_acceleration_body",
    "angular_velocity_body",
    "rotation_matrix",
    "specific_force_body",
    "tilt_from_axis",
    "trunk_axis",
]

#: Gravity vector in the world frame, m/s^2.
GRAVITY_WORLD_MPS2 = np.array([0.0, 0.0, -STANDARD_GRAVITY_MPS2])


def rotation_matrix(tilt_ap_rad: np.ndarray, tilt_ml_rad: np.ndarray) -> np.ndarray:
    """Body -> world rotation ``R = R_y(a) R_x(-m)``, shape ``(n, 3, 3)``."""
    a = np.asarray(tilt_ap_rad, dtype=np.float64)
    m = np.asarray(tilt_ml_rad, dtype=np.float64)
    ca, sa, cm, sm = np.cos(a), np.sin(a), np.cos(m), np.sin(m)
    r = np.empty((*a.shape, 3, 3))
    # columns: R e_x, R e_y, R e_z
    r[..., 0, 0], r[..., 1, 0], r[..., 2, 0] = ca, 0.0, -sa
    r[..., 0, 1], r[..., 1, 1], r[..., 2, 1] = -sm * sa, cm, -sm * ca
    r[..., 0, 2], r[..., 1, 2], r[..., 2, 2] = cm * sa, sm, cm * ca
    return r


def trunk_axis(tilt_ap: Jet, tilt_ml: Jet) -> tuple[Jet, Jet, Jet]:
    """World components of the trunk's long axis ``u = R e_z`` with derivatives."""
    cm = jet.cos(tilt_ml)
    return cm * jet.sin(tilt_ap), jet.sin(tilt_ml), cm * jet.cos(tilt_ap)


def tilt_from_axis(axis_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(tilt_ap_rad, tilt_ml_rad)`` of a trunk long-axis direction ``(n, 3)`` (world frame)."""
    u = np.asarray(axis_world, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    return np.arctan2(u[..., 0], u[..., 2]), np.arcsin(np.clip(u[..., 1], -1.0, 1.0))


def angular_velocity_body(tilt_ap: Jet, tilt_ml: Jet) -> np.ndarray:
    """Angular rate in the body frame, rad/s, shape ``(n, 3)`` (see module docstring)."""
    cm, sm = np.cos(tilt_ml.v), np.sin(tilt_ml.v)
    return np.stack([-tilt_ml.d, tilt_ap.d * cm, tilt_ap.d * sm], axis=-1)


def angular_acceleration_body(tilt_ap: Jet, tilt_ml: Jet) -> np.ndarray:
    """Time derivative of :func:`angular_velocity_body`, rad/s^2, shape ``(n, 3)``."""
    cm, sm = np.cos(tilt_ml.v), np.sin(tilt_ml.v)
    a1, a2, m1, m2 = tilt_ap.d, tilt_ap.dd, tilt_ml.d, tilt_ml.dd
    return np.stack([-m2, a2 * cm - a1 * m1 * sm, a2 * sm + a1 * m1 * cm], axis=-1)


def specific_force_body(rotation: np.ndarray, acc_world_mps2: np.ndarray) -> np.ndarray:
    """``f = R^T (a_world - g_world)``, m/s^2, shape ``(n, 3)``."""
    proper = np.asarray(acc_world_mps2, dtype=np.float64) - GRAVITY_WORLD_MPS2
    return np.einsum("nji,nj->ni", rotation, proper)
