"""Streaming 6-axis orientation filters (Madgwick, Mahony).

Inputs are the gyroscope (rad/s) and specific force (m/s², reads ``+g`` upwards when still)
in the same frame (sensor, or body after alignment). The output quaternion ``[w, x, y, z]``
rotates that frame into the world frame (z up, heading = the heading at the first sample),
``v_world = q ⊗ v ⊗ q*`` (see ``docs/data-contract.md``).

Both filters equal ``ahrs.filters.Madgwick`` / ``ahrs.filters.Mahony`` (ahrs 0.4, IMU mode)
given the same gains, sample rate and initial state, to rounding error. Like ahrs, the
first sample after construction or :meth:`reset` only sets the initial attitude (from its
accelerometer reading, or ``q0``) and is returned unchanged; every later sample is one
filter step with ``dt = 1 / fs_hz``.

A gyro bias measured over still periods (subtract it before a low-gain filter) comes from
:func:`dmi_sensors.calibration.gyro_bias_from_still`.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.dsp._orientation_kernels import acc_to_quaternion, madgwick_imu_into, mahony_imu_into
from dmi_sensors.errors import ParameterError

__all__ = ["Madgwick", "Mahony", "attitude_from_acc"]

_EMPTY = np.zeros(0)


def attitude_from_acc(acc_mps2: np.ndarray) -> np.ndarray:
    """Attitude quaternion ``[w, x, y, z]`` (body -> world, zero heading) from one specific-force vector.

    ``acc_mps2`` is a (3,) specific-force reading in the body frame, e.g. the mean of a quiet
    period. Roll ``atan2(ay, az)``, pitch ``atan2(-ax, sqrt(ay^2 + az^2))`` of the normalised
    vector, ``q = q_y(pitch) * q_x(roll)``, as ``ahrs.common.orientation.acc2q`` and the
    filters' own start-up. A zero vector gives the identity.
    """
    a = np.asarray(acc_mps2, dtype=np.float64).reshape(-1)
    if a.shape != (3,):
        raise ParameterError(f"acc_mps2 must have shape (3,), got {np.shape(acc_mps2)}")
    q = np.zeros(4)
    acc_to_quaternion(float(a[0]), float(a[1]), float(a[2]), q)
    return q


def _check_q0(q0: np.ndarray | None) -> np.ndarray:
    if q0 is None:
        return _EMPTY
    q = np.array(q0, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) == 0.0:
        raise ParameterError(f"q0 must be a finite non-zero quaternion [w, x, y, z], got {q0!r}")
    return q


def _as_vec3(name: str, a: np.ndarray) -> np.ndarray:
    if type(a) is np.ndarray and a.ndim == 2 and a.dtype == np.float64 and a.shape[1] == 3:
        return a
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ParameterError(f"{name} must have shape (n_samples, 3), got {arr.shape}")
    return arr


def _prepare(gyr: np.ndarray, acc: np.ndarray, out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gyr = _as_vec3("gyr_rps", gyr)
    acc = _as_vec3("acc_mps2", acc)
    n = gyr.shape[0]
    if acc.shape[0] != n:
        raise ParameterError(f"gyr_rps and acc_mps2 must have the same length, got {n} and {acc.shape[0]}")
    if out is None:
        out = np.empty((n, 4))
    elif out.shape != (n, 4) or out.dtype != np.float64:
        raise ParameterError(f"out must be float64 of shape ({n}, 4), got {out.dtype} {out.shape}")
    return gyr, acc, out


class Madgwick:
    """Madgwick's gradient-descent IMU orientation filter (Madgwick et al. 2011), streaming.

    Parameters
    ----------
    fs_hz
        Sample rate; the filter step is ``dt = 1 / fs_hz``.
    gain
        ``beta``, the gradient step (rad/s); ahrs' default 0.033.
    q0
        Initial attitude ``[w, x, y, z]`` (normalised here); ``None``: from the first
        accelerometer sample (zero heading).

    Attributes
    ----------
    state
        float64 ``(5,)``: ``[q_w, q_x, q_y, q_z, initialised]``. Assign to it to restore a state.
    """

    def __init__(self, fs_hz: float, gain: float = 0.033, q0: np.ndarray | None = None) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        if not gain >= 0:
            raise ParameterError(f"gain must be >= 0, got {gain}")
        self.fs_hz = float(fs_hz)
        self.gain = float(gain)
        self.dt_s = 1.0 / self.fs_hz
        self.q0 = _check_q0(q0)
        self.state = np.zeros(5)

    @property
    def q(self) -> np.ndarray:
        """The current attitude ``[w, x, y, z]`` (a view of the state)."""
        return self.state[:4]

    def reset(self) -> None:
        """Back to the uninitialised state: the next sample sets the attitude again."""
        self.state[:] = 0.0

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Quaternions ``(n, 4)`` after each of the next ``n`` samples (``gyr_rps``, ``acc_mps2`` each ``(n, 3)``)."""
        gyr, acc, out = _prepare(gyr_rps, acc_mps2, out)
        madgwick_imu_into(gyr, acc, self.gain, self.dt_s, self.q0, self.state, out)
        return out


class Mahony:
    """Mahony's explicit complementary IMU filter (Mahony et al. 2008), streaming.

    Parameters
    ----------
    fs_hz
        Sample rate; ``dt = 1 / fs_hz``.
    k_p, k_i
        Proportional and integral gains (ahrs defaults 1.0 and 0.3).
    q0
        Initial attitude ``[w, x, y, z]``; ``None``: from the first accelerometer sample.
    b0_rps
        Initial gyro-bias estimate (3,), rad/s (default zeros).

    Attributes
    ----------
    state
        float64 ``(8,)``: ``[q_w, q_x, q_y, q_z, b_x, b_y, b_z, initialised]``; ``b`` is the
        integral term, an estimate of the gyro bias in rad/s.
    """

    def __init__(
        self,
        fs_hz: float,
        k_p: float = 1.0,
        k_i: float = 0.3,
        q0: np.ndarray | None = None,
        b0_rps: np.ndarray | None = None,
    ) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        if not (k_p >= 0 and k_i >= 0):
            raise ParameterError(f"gains must be >= 0, got k_p={k_p}, k_i={k_i}")
        self.fs_hz = float(fs_hz)
        self.k_p = float(k_p)
        self.k_i = float(k_i)
        self.dt_s = 1.0 / self.fs_hz
        self.q0 = _check_q0(q0)
        self.b0_rps = np.zeros(3) if b0_rps is None else np.array(b0_rps, dtype=np.float64).reshape(3)
        self.state = np.zeros(8)
        self.reset()

    @property
    def q(self) -> np.ndarray:
        """The current attitude ``[w, x, y, z]`` (a view of the state)."""
        return self.state[:4]

    @property
    def bias_rps(self) -> np.ndarray:
        """The current gyro-bias estimate (integral term), rad/s (a view of the state)."""
        return self.state[4:7]

    def reset(self) -> None:
        """Back to the uninitialised state with the bias estimate ``b0_rps``."""
        self.state[:] = 0.0
        self.state[4:7] = self.b0_rps

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Quaternions ``(n, 4)`` after each of the next ``n`` samples."""
        gyr, acc, out = _prepare(gyr_rps, acc_mps2, out)
        mahony_imu_into(gyr, acc, self.k_p, self.k_i, self.dt_s, self.q0, self.state, out)
        return out
