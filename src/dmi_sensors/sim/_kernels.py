"""Numba kernels of the simulator (module-level ``@njit(cache=True)``).

Only the time-stepping loop of the delayed-feedback pendulum lives here: it is the one
part of the simulator that cannot be vectorised (each step needs the state of a step
``delay_steps`` earlier). Everything else is numpy. A pure-Python twin of the kernel,
:func:`dmi_sensors.sim.pendulum.pendulum_reference`, is kept for tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def delayed_pd_pendulum(
    dt: float,
    inertia: float,
    mgl: float,
    kp: float,
    kd: float,
    k_passive: float,
    b_passive: float,
    delay_steps: int,
    theta_ref: np.ndarray,
    omega_ref: np.ndarray,
    torque_ext: np.ndarray,
    theta0: float,
    omega0: float,
    out_theta: np.ndarray,
    out_omega: np.ndarray,
    out_alpha: np.ndarray,
) -> None:
    """Integrate one plane of a delayed-PD inverted pendulum (semi-implicit Euler).

    Equation of motion (angle ``theta`` from vertical, rad; torques N m)::

        I theta'' = mgl sin(theta)                                   gravity
                    - mgl sin(theta_ref)                             anticipatory feed-forward
                    - kp (theta(t-tau) - theta_ref(t-tau))           delayed active stiffness
                    - kd (theta'(t-tau) - theta_ref'(t-tau))         delayed active damping
                    - k_passive (theta - theta_ref) - b_passive theta'   passive / support
                    + torque_ext(t)                                  noise + pushes

    with ``tau = delay_steps * dt``. Before ``t = tau`` the delayed state is the initial
    state. Step: ``alpha_k`` from the state at ``k``; ``omega_{k+1} = omega_k + dt
    alpha_k``; ``theta_{k+1} = theta_k + dt omega_{k+1}``. ``out_*[k]`` hold the state and
    the acceleration at step ``k``; all arrays have the length of ``theta_ref``.
    """
    n = theta_ref.shape[0]
    theta = theta0
    omega = omega0
    for k in range(n):
        # the state at k is stored first: with ``delay_steps == 0`` the "delayed" state is
        # the current one (never the not-yet-written, uninitialised output)
        out_theta[k] = theta
        out_omega[k] = omega
        j = k - delay_steps
        if j >= 0:
            th_d = out_theta[j] - theta_ref[j]
            om_d = out_omega[j] - omega_ref[j]
        else:
            th_d = theta0 - theta_ref[0]
            om_d = omega0 - omega_ref[0]
        torque = (
            mgl * math.sin(theta)
            - mgl * math.sin(theta_ref[k])
            - kp * th_d
            - kd * om_d
            - k_passive * (theta - theta_ref[k])
            - b_passive * omega
            + torque_ext[k]
        )
        alpha = torque / inertia
        out_alpha[k] = alpha
        omega = omega + dt * alpha
        theta = theta + dt * omega


@njit(cache=True)
def delayed_pd_double_pendulum(
    dt: float,
    mass_matrix: np.ndarray,
    gravity: np.ndarray,
    gains: np.ndarray,
    delay_steps: int,
    theta_ref: np.ndarray,
    omega_ref: np.ndarray,
    torque_ankle: np.ndarray,
    torque_hip: np.ndarray,
    force_push: np.ndarray,
    leg_length: float,
    push_height: float,
    out: np.ndarray,
) -> None:
    """Integrate one plane of a two-segment (legs + head-arms-trunk) inverted pendulum.

    Absolute angles from vertical: ``th1`` the legs (pivot -> hip), ``th2`` the upper body
    (hip -> up); hip angle ``phi = th2 - th1``. Equations of motion (Lagrange; ``sim.two_segment``)::

        M11 th1'' + M12 th2'' = G1 sin th1 - m2 L1 c2 sin(th1 - th2) th2'^2 + tau_a - tau_h + F L1 cos th1
        M12 th1'' + M22 th2'' = G2 sin th2 + m2 L1 c2 sin(th1 - th2) th1'^2 + tau_h + F d cos th2

    with ``M12 = m2 L1 c2 cos(th1 - th2)``. ``mass_matrix = (M11, m2 L1 c2, M22)``,
    ``gravity = (G1, G2)``. Joint torques (delayed PD about the reference lean ``ref``, the
    same for both segments, with its gravity feed-forward, plus passive stiffness/damping
    and the noise torques)::

        tau_a = -(G1 + G2) sin ref - Kpa (th1 - ref)(t - tau) - Kda (th1' - ref')(t - tau)
                - Ka (th1 - ref) - Ba th1' + n_a
        tau_h = -G2 sin ref - Kph phi(t - tau) - Kdh phi'(t - tau) - Kh phi - Bh phi' + n_h

    ``gains = (Kpa, Kda, Ka, Ba, Kph, Kdh, Kh, Bh)``. A horizontal push ``F`` acts on the upper
    body ``push_height`` (``d``) above the hip; ``leg_length`` is ``L1`` (pivot to hip). Semi-implicit Euler as
    :func:`delayed_pd_pendulum`; ``out`` is ``(6, n)``: th1, th1', th1'', th2, th2', th2''.
    """
    n = theta_ref.shape[0]
    m11 = mass_matrix[0]
    m12c = mass_matrix[1]
    m22 = mass_matrix[2]
    g1 = gravity[0]
    g2 = gravity[1]
    l1 = leg_length
    th1 = 0.0
    om1 = 0.0
    th2 = 0.0
    om2 = 0.0
    for k in range(n):
        # the state at k is stored first, so ``delay_steps == 0`` feeds back the current state
        out[0, k] = th1
        out[1, k] = om1
        out[3, k] = th2
        out[4, k] = om2
        j = k - delay_steps
        if j >= 0:
            e1 = out[0, j] - theta_ref[j]
            e1d = out[1, j] - omega_ref[j]
            ph = out[3, j] - out[0, j]
            phd = out[4, j] - out[1, j]
        else:
            e1 = -theta_ref[0]
            e1d = -omega_ref[0]
            ph = 0.0
            phd = 0.0
        ref = theta_ref[k]
        sref = math.sin(ref)
        tau_a = (
            -(g1 + g2) * sref
            - gains[0] * e1
            - gains[1] * e1d
            - gains[2] * (th1 - ref)
            - gains[3] * om1
            + torque_ankle[k]
        )
        phi = th2 - th1
        tau_h = -g2 * sref - gains[4] * ph - gains[5] * phd - gains[6] * phi - gains[7] * (om2 - om1) + torque_hip[k]
        s12 = math.sin(th1 - th2)
        c12 = math.cos(th1 - th2)
        f = force_push[k]
        r1 = g1 * math.sin(th1) - m12c * s12 * om2 * om2 + tau_a - tau_h + f * l1 * math.cos(th1)
        r2 = g2 * math.sin(th2) + m12c * s12 * om1 * om1 + tau_h + f * push_height * math.cos(th2)
        m12 = m12c * c12
        det = m11 * m22 - m12 * m12
        a1 = (m22 * r1 - m12 * r2) / det
        a2 = (m11 * r2 - m12 * r1) / det
        out[2, k] = a1
        out[5, k] = a2
        om1 = om1 + dt * a1
        th1 = th1 + dt * om1
        om2 = om2 + dt * a2
        th2 = th2 + dt * om2
