"""Streaming 6-axis orientation filters (Madgwick, Mahony).

Inputs are the specific force (m/s², reads ``+g`` upwards when still) and the gyroscope
(rad/s) in the same frame (sensor, or body after alignment), passed in that order:
``process(acc_mps2, gyr_rps)``. The output quaternion ``[w, x, y, z]``
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

from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.dsp._orientation_kernels import acc_to_quaternion, madgwick_imu_into, mahony_imu_into
from dmi_sensors.dsp._state import ArrayState, checked_array, read_only
from dmi_sensors.errors import ParameterError

__all__ = [
    "Madgwick",
    "MadgwickState",
    "Mahony",
    "MahonyState",
    "attitude_from_acc",
]

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


def _check_q0(q0: np.ndarray | None) -> np.ndarray | None:
    """``q0`` as a float64 (4,) array (``None`` kept): finite, non-zero; normalised by the kernels."""
    if q0 is None:
        return None
    q = np.array(q0, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) == 0.0:
        raise ParameterError(f"q0 must be a finite non-zero quaternion [w, x, y, z], got {q0!r}")
    return q


def _check_fs(fs_hz: float) -> float:
    if not fs_hz > 0:
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    return float(fs_hz)


def _as_vec3(name: str, a: np.ndarray) -> np.ndarray:
    if type(a) is np.ndarray and a.ndim == 2 and a.dtype == np.float64 and a.shape[1] == 3:
        return a
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ParameterError(f"{name} must have shape (n_samples, 3), got {arr.shape}")
    return arr


def _prepare(acc: np.ndarray, gyr: np.ndarray, out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    acc = _as_vec3("acc_mps2", acc)
    gyr = _as_vec3("gyr_rps", gyr)
    n = acc.shape[0]
    if gyr.shape[0] != n:
        raise ParameterError(f"acc_mps2 and gyr_rps must have the same length, got {n} and {gyr.shape[0]}")
    if out is None:
        out = np.empty((n, 4))
    elif out.shape != (n, 4) or out.dtype != np.float64:
        raise ParameterError(f"out must be float64 of shape ({n}, 4), got {out.dtype} {out.shape}")
    return acc, gyr, out


def _vector_param(name: str, value: np.ndarray | None, size: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.array(value, dtype=np.float64).reshape(-1)
    if arr.shape != (size,) or not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be {size} finite numbers, got {value!r}")
    return arr


def _to_list(arr: np.ndarray | None) -> list[float] | None:
    return None if arr is None else [float(v) for v in arr]


@dataclass(frozen=True, eq=False)
class MadgwickState(ArrayState):
    """Full state of a :class:`Madgwick` filter.

    Attributes
    ----------
    q
        ``(4,)`` attitude ``[w, x, y, z]`` after the last sample (zeros before the first).
    initialised
        False until the first sample after construction or :meth:`Madgwick.reset`, which
        sets ``q`` (from ``q0`` or that sample's accelerometer reading).
    """

    q: np.ndarray
    initialised: bool


class Madgwick:
    """Madgwick's gradient-descent IMU orientation filter (Madgwick et al. 2011), streaming.

    Parameters
    ----------
    fs_hz
        Sample rate; the filter step is ``dt = 1 / fs_hz``.
    gain
        ``beta``, the gradient step in rad/s; ahrs' default 0.033.
    q0
        Initial attitude ``[w, x, y, z]`` (normalised by the filter); ``None``: from the
        first accelerometer sample (zero heading).

    Attributes
    ----------
    state
        :class:`MadgwickState` (``q``, ``initialised``); read it to take a snapshot, assign
        one to continue from it.
    """

    def __init__(self, fs_hz: float, *, gain: float = 0.033, q0: np.ndarray | None = None) -> None:
        if not gain >= 0:
            raise ParameterError(f"gain must be >= 0, got {gain}")
        self._fs_hz = _check_fs(fs_hz)
        self._gain = float(gain)
        self._q0 = _check_q0(q0)
        self._dt_s = 1.0 / self._fs_hz
        self._q0_kernel = _EMPTY if self._q0 is None else self._q0
        #: kernel layout ``[q_w, q_x, q_y, q_z, initialised]``
        self._state = np.zeros(5)

    @property
    def fs_hz(self) -> float:
        """Sample rate, Hz."""
        return self._fs_hz

    @property
    def gain(self) -> float:
        """``beta``, rad/s."""
        return self._gain

    @property
    def q0(self) -> np.ndarray | None:
        """The initial attitude as given (read-only), or ``None``."""
        return read_only(self._q0)

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {"fs_hz": self._fs_hz, "gain": self._gain, "q0": _to_list(self._q0)}

    @property
    def q(self) -> np.ndarray:
        """The current attitude ``[w, x, y, z]`` (a copy)."""
        return self._state[:4].copy()

    @property
    def state(self) -> MadgwickState:
        """Snapshot of the full state; assign a :class:`MadgwickState` to continue from it."""
        return MadgwickState(q=self._state[:4], initialised=bool(self._state[4]))

    @state.setter
    def state(self, value: MadgwickState) -> None:
        if not isinstance(value, MadgwickState):
            raise ParameterError(f"Madgwick.state must be a MadgwickState, got {type(value).__name__}")
        self._state[:4] = checked_array("Madgwick", "q", value.q, (4,))
        self._state[4] = 1.0 if value.initialised else 0.0

    def reset(self) -> None:
        """Back to the freshly constructed (uninitialised) state: the next sample sets the attitude."""
        self._state[:] = 0.0

    def process(self, acc_mps2: np.ndarray, gyr_rps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Quaternions ``(n, 4)`` after each of the next ``n`` samples (``acc_mps2``, ``gyr_rps`` each ``(n, 3)``).

        ``out``: an optional preallocated float64 ``(n, 4)`` array to write into.
        """
        acc, gyr, out = _prepare(acc_mps2, gyr_rps, out)
        # the kernel keeps its own (gyr, acc) signature (unchanged, so its Numba cache stays valid)
        madgwick_imu_into(gyr, acc, self._gain, self._dt_s, self._q0_kernel, self._state, out)
        return out


@dataclass(frozen=True, eq=False)
class MahonyState(ArrayState):
    """Full state of a :class:`Mahony` filter.

    Attributes
    ----------
    q
        ``(4,)`` attitude ``[w, x, y, z]`` after the last sample (zeros before the first).
    bias_rps
        ``(3,)`` integral term: the on-line gyro-bias estimate, rad/s.
    initialised
        False until the first sample after construction or :meth:`Mahony.reset`.
    """

    q: np.ndarray
    bias_rps: np.ndarray
    initialised: bool


class Mahony:
    """Mahony's explicit complementary IMU filter (Mahony et al. 2008), streaming.

    Parameters
    ----------
    fs_hz
        Sample rate; ``dt = 1 / fs_hz``.
    k_p
        Proportional gain, rad/s (ahrs' default 1.0).
    k_i
        Integral gain, rad/s² (ahrs' default 0.3).
    q0
        Initial attitude ``[w, x, y, z]``; ``None``: from the first accelerometer sample.
    b0_rps
        Initial gyro-bias estimate (3,), rad/s; ``None``: zeros.

    Attributes
    ----------
    state
        :class:`MahonyState` (``q``, ``bias_rps``, ``initialised``).
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        k_p: float = 1.0,
        k_i: float = 0.3,
        q0: np.ndarray | None = None,
        b0_rps: np.ndarray | None = None,
    ) -> None:
        if not (k_p >= 0 and k_i >= 0):
            raise ParameterError(f"gains must be >= 0, got k_p={k_p}, k_i={k_i}")
        self._fs_hz = _check_fs(fs_hz)
        self._k_p = float(k_p)
        self._k_i = float(k_i)
        self._q0 = _check_q0(q0)
        self._b0_rps = _vector_param("b0_rps", b0_rps, 3)
        self._dt_s = 1.0 / self._fs_hz
        self._q0_kernel = _EMPTY if self._q0 is None else self._q0
        #: kernel layout ``[q_w, q_x, q_y, q_z, b_x, b_y, b_z, initialised]``
        self._state = np.zeros(8)
        self.reset()

    @property
    def fs_hz(self) -> float:
        """Sample rate, Hz."""
        return self._fs_hz

    @property
    def k_p(self) -> float:
        """Proportional gain, rad/s."""
        return self._k_p

    @property
    def k_i(self) -> float:
        """Integral gain, rad/s²."""
        return self._k_i

    @property
    def q0(self) -> np.ndarray | None:
        """The initial attitude as given (read-only), or ``None``."""
        return read_only(self._q0)

    @property
    def b0_rps(self) -> np.ndarray | None:
        """The initial bias estimate as given (read-only), or ``None`` (zeros)."""
        return read_only(self._b0_rps)

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {
            "fs_hz": self._fs_hz,
            "k_p": self._k_p,
            "k_i": self._k_i,
            "q0": _to_list(self._q0),
            "b0_rps": _to_list(self._b0_rps),
        }

    @property
    def q(self) -> np.ndarray:
        """The current attitude ``[w, x, y, z]`` (a copy)."""
        return self._state[:4].copy()

    @property
    def bias_rps(self) -> np.ndarray:
        """The current gyro-bias estimate (integral term), rad/s (a copy)."""
        return self._state[4:7].copy()

    @property
    def state(self) -> MahonyState:
        """Snapshot of the full state; assign a :class:`MahonyState` to continue from it."""
        return MahonyState(q=self._state[:4], bias_rps=self._state[4:7], initialised=bool(self._state[7]))

    @state.setter
    def state(self, value: MahonyState) -> None:
        if not isinstance(value, MahonyState):
            raise ParameterError(f"Mahony.state must be a MahonyState, got {type(value).__name__}")
        q = checked_array("Mahony", "q", value.q, (4,))
        b = checked_array("Mahony", "bias_rps", value.bias_rps, (3,))
        self._state[:4] = q
        self._state[4:7] = b
        self._state[7] = 1.0 if value.initialised else 0.0

    def reset(self) -> None:
        """Back to the freshly constructed state: uninitialised, bias estimate ``b0_rps``."""
        self._state[:] = 0.0
        if self._b0_rps is not None:
            self._state[4:7] = self._b0_rps

    def process(self, acc_mps2: np.ndarray, gyr_rps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Quaternions ``(n, 4)`` after each of the next ``n`` samples (``acc_mps2``, ``gyr_rps`` each ``(n, 3)``)."""
        acc, gyr, out = _prepare(acc_mps2, gyr_rps, out)
        # the kernel keeps its own (gyr, acc) signature, as madgwick_imu_into
        mahony_imu_into(gyr, acc, self._k_p, self._k_i, self._dt_s, self._q0_kernel, self._state, out)
        return out
