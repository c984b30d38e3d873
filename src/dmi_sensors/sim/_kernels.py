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
        out_theta[k] = theta
        out_omega[k] = omega
        out_alpha[k] = alpha
        omega = omega + dt * alpha
        theta = theta + dt * omega
