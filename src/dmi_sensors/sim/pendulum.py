"""Sway of a delayed-PD inverted pendulum, one plane at a time.

The equation of motion is in :func:`dmi_sensors.sim._kernels.delayed_pd_pendulum`; the
parameters and their sources in :mod:`dmi_sensors.sim.body`. The pendulum is integrated
with a fixed internal step ``dt = 1 / (fs_hz * substeps)``, ``substeps = ceil(1000 /
fs_hz)`` (so ``dt <= 1 ms``), and sampled every ``substeps`` steps: ``theta`` (rad),
``omega = theta'`` (rad/s) and ``alpha = theta''`` (rad/s^2) are returned at the sample
instants ``k / fs_hz``.

Noise torque: ``n(t) = noise_nm_per_rthz * LP[w](t)`` where ``w`` is unit-density white
noise (samples ``N(0, 1/dt)``) and ``LP`` a first-order Butterworth low-pass at
``cutoff_hz``; its spectrum does not depend on ``dt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim._kernels import delayed_pd_pendulum

__all__ = [
    "PlaneDynamics",
    "noise_torque",
    "pendulum_reference",
    "sampled_jet",
    "simulate_plane",
    "substeps_for",
]


def substeps_for(fs_hz: float) -> int:
    """Internal steps per sample so that the step is at most 1 ms."""
    return max(1, math.ceil(1000.0 / fs_hz - 1e-9))


def sampled_jet(theta: np.ndarray, omega: np.ndarray, alpha: np.ndarray, start: int, sub: int):
    """``(v, d, dd)`` at every ``sub``-th internal step from ``start``: the angle and rate at the
    sample instant, the acceleration **averaged over one sample period centred on it**.

    The noise torque has power far above the sample rate; a point sample of the acceleration
    would fold it into the sway band (an accelerometer's anti-aliasing filter does not let it
    through), and its double integral would wander away from the sampled angle. With the
    semi-implicit Euler step the mean of ``alpha`` over steps ``[a, a + sub)`` is ``(omega[a +
    sub] - omega[a]) / (sub dt)``, so the averaged acceleration is consistent with the sampled
    rates to the step. ``start - sub // 2`` must be ``>= 0`` (the warm-up provides it).
    """
    idx = np.arange(start, theta.shape[0], sub)
    csum = np.concatenate([[0.0], np.cumsum(alpha)])
    a = idx - sub // 2
    b = np.minimum(a + sub, alpha.shape[0])
    dd = (csum[b] - csum[a]) / (b - a)
    return theta[idx].copy(), omega[idx].copy(), dd


@dataclass(frozen=True, slots=True)
class PlaneDynamics:
    """Physical parameters of one plane of one pendulum (SI units)."""

    inertia_kgm2: float
    mgl_nm: float
    kp_nm_per_rad: float
    kd_nms_per_rad: float
    k_passive_nm_per_rad: float
    b_passive_nms_per_rad: float
    delay_s: float


def noise_torque(rng: np.random.Generator, n_steps: int, dt_s: float, noise_nm_per_rthz: float, cutoff_hz: float):
    """Low-pass filtered white torque noise, N m, shape ``(n_steps,)``."""
    if noise_nm_per_rthz == 0.0:
        return np.zeros(n_steps)
    white = rng.standard_normal(n_steps) / math.sqrt(dt_s)
    b, a = signal.butter(1, cutoff_hz, fs=1.0 / dt_s)
    return noise_nm_per_rthz * signal.lfilter(b, a, white)


def simulate_plane(
    dyn: PlaneDynamics,
    dt_s: float,
    theta_ref: np.ndarray,
    omega_ref: np.ndarray,
    torque_ext_nm: np.ndarray,
    theta0: float = 0.0,
    omega0: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate one plane on the internal grid; returns ``(theta, omega, alpha)`` per step."""
    theta_ref = np.ascontiguousarray(theta_ref, dtype=np.float64)
    omega_ref = np.ascontiguousarray(omega_ref, dtype=np.float64)
    torque = np.ascontiguousarray(torque_ext_nm, dtype=np.float64)
    n = theta_ref.shape[0]
    if omega_ref.shape != (n,) or torque.shape != (n,):
        raise ParameterError("theta_ref, omega_ref and torque_ext_nm must have the same length")
    if not dyn.delay_s >= 0.0:
        raise ParameterError(f"feedback delay: expected >= 0 s, found {dyn.delay_s!r}")
    out = np.empty((3, n))
    delayed_pd_pendulum(
        float(dt_s),
        float(dyn.inertia_kgm2),
        float(dyn.mgl_nm),
        float(dyn.kp_nm_per_rad),
        float(dyn.kd_nms_per_rad),
        float(dyn.k_passive_nm_per_rad),
        float(dyn.b_passive_nms_per_rad),
        round(dyn.delay_s / dt_s),
        theta_ref,
        omega_ref,
        torque,
        float(theta0),
        float(omega0),
        out[0],
        out[1],
        out[2],
    )
    return out[0], out[1], out[2]


def pendulum_reference(
    dyn: PlaneDynamics,
    dt_s: float,
    theta_ref,
    omega_ref,
    torque_ext_nm,
    theta0: float = 0.0,
    omega0: float = 0.0,
) -> tuple[list[float], list[float], list[float]]:
    """Pure-Python twin of the Numba kernel (slow; for tests)."""
    n = len(theta_ref)
    delay = round(dyn.delay_s / dt_s)
    th_out, om_out, al_out = [0.0] * n, [0.0] * n, [0.0] * n
    theta, omega = float(theta0), float(omega0)
    for k in range(n):
        th_out[k], om_out[k] = theta, omega
        j = k - delay
        if j >= 0:
            th_d, om_d = th_out[j] - theta_ref[j], om_out[j] - omega_ref[j]
        else:
            th_d, om_d = theta0 - theta_ref[0], omega0 - omega_ref[0]
        torque = (
            dyn.mgl_nm * math.sin(theta)
            - dyn.mgl_nm * math.sin(theta_ref[k])
            - dyn.kp_nm_per_rad * th_d
            - dyn.kd_nms_per_rad * om_d
            - dyn.k_passive_nm_per_rad * (theta - theta_ref[k])
            - dyn.b_passive_nms_per_rad * omega
            + torque_ext_nm[k]
        )
        alpha = torque / dyn.inertia_kgm2
        al_out[k] = alpha
        omega = omega + dt_s * alpha
        theta = theta + dt_s * omega
    return th_out, om_out, al_out
