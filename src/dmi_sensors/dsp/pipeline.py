"""The processing chain for one sensor: calibrate -> low-pass -> orientation -> body frame.

:class:`ImuChain` runs the whole chain in one fused Numba pass, streaming (state carried
between calls, bit-identical however the input is split) or offline (one call on a whole
recording). It equals the stages run one after the other::

    cal  = matrix @ (raw - bias)                       (acc and gyr, :func:`apply_affine`)
    filt = SosFilter(sos, n_channels=6, initial=initial).process([acc_cal, gyr_cal])
    q    = Madgwick(fs_hz, gain=gain, q0=q0).process(filt_acc, filt_gyr)
    bf   = body_frame(q, filt_acc)

The calibration is a plain affine correction (``matrix`` may combine scale,
misalignment and the sensor-to-body rotation; ``bias`` in sensor units); computing it is
the calibration layer's job. At a gap (``gap_before``) the chain resets: the filter
restarts from its initial condition and the orientation re-initialises from the
accelerometer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.dsp._chain_kernels import affine_into, imu_chain_into
from dmi_sensors.dsp._design import steady_state_zi
from dmi_sensors.dsp._state import ArrayState, checked_array, read_only
from dmi_sensors.dsp.filters import _validate_sos, butter_lowpass
from dmi_sensors.dsp.orientation import _EMPTY, _as_vec3, _check_q0, _to_list, _vector_param
from dmi_sensors.dsp.segments import gap_segments
from dmi_sensors.errors import ParameterError

__all__ = ["ChainOutput", "ImuChain", "ImuChainState", "apply_affine"]

_PASS_THROUGH = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


def _matrix_param(name: str, value: np.ndarray | None) -> np.ndarray | None:
    if value is None:
        return None
    m = np.array(value, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ParameterError(f"{name} must be a finite 3 x 3 matrix, got shape {m.shape}")
    return m


def apply_affine(x: np.ndarray, matrix: np.ndarray | None = None, bias: np.ndarray | None = None) -> np.ndarray:
    """``matrix @ (x - bias)`` per row of ``x`` (n, 3); identity / zero when omitted."""
    arr = _as_vec3("x", x)
    m = np.eye(3) if matrix is None else np.ascontiguousarray(matrix, dtype=np.float64).reshape(3, 3)
    b = np.zeros(3) if bias is None else np.ascontiguousarray(bias, dtype=np.float64).reshape(3)
    return affine_into(arr, m, b, np.empty_like(arr))


@dataclass(frozen=True)
class ChainOutput:
    """Per-sample outputs of :class:`ImuChain` (``n`` rows each).

    ``acc_mps2``/``gyr_rps``: calibrated, filtered inputs (body frame if the calibration
    matrix includes the mounting rotation); ``q``: body->world ``[w, x, y, z]``;
    ``tilt_ap_rad``/``tilt_ml_rad``; ``acc_apmlv_mps2``: gravity-free acceleration (AP, ML, V).
    """

    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    q: np.ndarray
    tilt_ap_rad: np.ndarray
    tilt_ml_rad: np.ndarray
    acc_apmlv_mps2: np.ndarray


@dataclass(frozen=True, eq=False)
class ImuChainState(ArrayState):
    """Full state of an :class:`ImuChain`.

    Attributes
    ----------
    filter_zi
        ``(n_sections, 2, 6)`` float64: the low-pass's delay registers over the six
        calibrated channels ``[acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z]`` (scipy's ``zi``
        layout, as :class:`~dmi_sensors.dsp.filters.SosFilterState`).
    q
        ``(4,)`` Madgwick attitude ``[w, x, y, z]`` after the last sample (zeros before the first).
    orientation_initialised
        False until the first sample after construction, :meth:`ImuChain.reset` or a gap.
    filter_started
        False until the first sample after construction, reset or a gap; with
        ``filter_initial="steady"`` that sample sets ``filter_zi`` to the steady state.
    """

    filter_zi: np.ndarray
    q: np.ndarray
    orientation_initialised: bool
    filter_started: bool


class ImuChain:
    """Calibrate -> Butterworth low-pass -> Madgwick -> body frame, fused and streaming.

    Parameters
    ----------
    fs_hz
        Sample rate (uniform; resample first if needed).
    lowpass_hz
        Low-pass cut-off applied to all six channels; ``None`` for no filter.
    order
        Butterworth order of the low-pass.
    filter_initial
        ``"steady"`` (default, no start-up transient) or ``"zero"``; see :class:`SosFilter`.
    gain
        Madgwick ``beta``, rad/s.
    q0
        Initial attitude ``[w, x, y, z]``; ``None``: from the first (calibrated, filtered)
        accelerometer sample.
    acc_matrix
        ``(3, 3)`` accelerometer correction matrix (scale, misalignment, mounting);
        ``None``: identity.
    acc_bias_mps2
        ``(3,)`` accelerometer bias in sensor units, m/s²; ``None``: zeros.
    gyr_matrix
        ``(3, 3)`` gyroscope correction matrix; ``None``: identity.
    gyr_bias_rps
        ``(3,)`` gyroscope bias, rad/s; ``None``: zeros.
    gravity_mps2
        Gravity removed from the vertical, m/s².

    Attributes
    ----------
    state
        :class:`ImuChainState` (filter registers, attitude, two start flags).
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        lowpass_hz: float | None = 20.0,
        order: int = 4,
        filter_initial: Literal["zero", "steady"] = "steady",
        gain: float = 0.033,
        q0: np.ndarray | None = None,
        acc_matrix: np.ndarray | None = None,
        acc_bias_mps2: np.ndarray | None = None,
        gyr_matrix: np.ndarray | None = None,
        gyr_bias_rps: np.ndarray | None = None,
        gravity_mps2: float = STANDARD_GRAVITY_MPS2,
    ) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        if filter_initial not in ("zero", "steady"):
            raise ParameterError(f"filter_initial must be 'zero' or 'steady', got {filter_initial!r}")
        if int(order) != order or order < 1:
            raise ParameterError(f"order must be an integer >= 1, got {order}")
        if not gain >= 0:
            raise ParameterError(f"gain must be >= 0, got {gain}")
        self._fs_hz = float(fs_hz)
        self._lowpass_hz = None if lowpass_hz is None else float(lowpass_hz)
        self._order = int(order)
        self._filter_initial: Literal["zero", "steady"] = filter_initial
        self._gain = float(gain)
        self._q0 = _check_q0(q0)
        self._gravity_mps2 = float(gravity_mps2)
        self._acc_matrix = _matrix_param("acc_matrix", acc_matrix)
        self._acc_bias_mps2 = _vector_param("acc_bias_mps2", acc_bias_mps2, 3)
        self._gyr_matrix = _matrix_param("gyr_matrix", gyr_matrix)
        self._gyr_bias_rps = _vector_param("gyr_bias_rps", gyr_bias_rps, 3)
        # what the kernel runs with
        self._dt_s = 1.0 / self._fs_hz
        self._q0_kernel = _EMPTY if self._q0 is None else self._q0
        self._acc_m = np.eye(3) if self._acc_matrix is None else self._acc_matrix
        self._acc_b = np.zeros(3) if self._acc_bias_mps2 is None else self._acc_bias_mps2
        self._gyr_m = np.eye(3) if self._gyr_matrix is None else self._gyr_matrix
        self._gyr_b = np.zeros(3) if self._gyr_bias_rps is None else self._gyr_bias_rps
        sos = _PASS_THROUGH if self._lowpass_hz is None else butter_lowpass(self._lowpass_hz, fs_hz, self._order)
        self._sos = _validate_sos(sos)
        if filter_initial == "steady":
            self._zi_unit = np.ascontiguousarray(steady_state_zi(self._sos))
        else:
            self._zi_unit = np.zeros((0, 2))
        #: filter registers (n_sections, 2, 6) over [acc, gyr]
        self._zi = np.zeros((self._sos.shape[0], 2, 6))
        #: kernel layout [q_w, q_x, q_y, q_z, orientation initialised, filter started]
        self._state = np.zeros(6)

    @property
    def fs_hz(self) -> float:
        """Sample rate, Hz."""
        return self._fs_hz

    @property
    def lowpass_hz(self) -> float | None:
        """Low-pass cut-off, Hz (``None``: no filter)."""
        return self._lowpass_hz

    @property
    def order(self) -> int:
        """Butterworth order of the low-pass."""
        return self._order

    @property
    def filter_initial(self) -> Literal["zero", "steady"]:
        """``"steady"`` or ``"zero"`` filter start."""
        return self._filter_initial

    @property
    def gain(self) -> float:
        """Madgwick ``beta``, rad/s."""
        return self._gain

    @property
    def q0(self) -> np.ndarray | None:
        """Initial attitude as given (read-only), or ``None``."""
        return read_only(self._q0)

    @property
    def acc_matrix(self) -> np.ndarray | None:
        """Accelerometer correction matrix as given (read-only), or ``None`` (identity)."""
        return read_only(self._acc_matrix)

    @property
    def acc_bias_mps2(self) -> np.ndarray | None:
        """Accelerometer bias as given (read-only), or ``None`` (zeros)."""
        return read_only(self._acc_bias_mps2)

    @property
    def gyr_matrix(self) -> np.ndarray | None:
        """Gyroscope correction matrix as given (read-only), or ``None`` (identity)."""
        return read_only(self._gyr_matrix)

    @property
    def gyr_bias_rps(self) -> np.ndarray | None:
        """Gyroscope bias as given (read-only), or ``None`` (zeros)."""
        return read_only(self._gyr_bias_rps)

    @property
    def gravity_mps2(self) -> float:
        """Gravity removed from the vertical, m/s²."""
        return self._gravity_mps2

    @property
    def sos(self) -> np.ndarray:
        """The low-pass actually run, ``(n_sections, 6)`` (a pass-through section without one; read-only)."""
        return read_only(self._sos)

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able: everything needed to reproduce the output."""
        return {
            "fs_hz": self._fs_hz,
            "lowpass_hz": self._lowpass_hz,
            "order": self._order,
            "filter_initial": self._filter_initial,
            "gain": self._gain,
            "q0": _to_list(self._q0),
            "acc_matrix": None if self._acc_matrix is None else self._acc_matrix.tolist(),
            "acc_bias_mps2": _to_list(self._acc_bias_mps2),
            "gyr_matrix": None if self._gyr_matrix is None else self._gyr_matrix.tolist(),
            "gyr_bias_rps": _to_list(self._gyr_bias_rps),
            "gravity_mps2": self._gravity_mps2,
        }

    @property
    def state(self) -> ImuChainState:
        """Snapshot of the full state; assign an :class:`ImuChainState` to continue from it."""
        return ImuChainState(
            filter_zi=self._zi,
            q=self._state[:4],
            orientation_initialised=bool(self._state[4]),
            filter_started=bool(self._state[5]),
        )

    @state.setter
    def state(self, value: ImuChainState) -> None:
        if not isinstance(value, ImuChainState):
            raise ParameterError(f"ImuChain.state must be an ImuChainState, got {type(value).__name__}")
        zi = checked_array("ImuChain", "filter_zi", value.filter_zi, self._zi.shape)
        q = checked_array("ImuChain", "q", value.q, (4,))
        self._zi[...] = zi
        self._state[:4] = q
        self._state[4] = 1.0 if value.orientation_initialised else 0.0
        self._state[5] = 1.0 if value.filter_started else 0.0

    @classmethod
    def from_calibration(cls, fs_hz: float, calibration: object, **kwargs: Any) -> ImuChain:
        """A chain whose affine step applies a :class:`dmi_sensors.calibration.SensorCalibration`.

        The calibration layer applies, in order, ``acc <- M (acc - b_acc)`` (accel),
        ``gyr <- gyr - b_gyr`` (gyro) and ``v <- R v`` (sensor -> body alignment) on both;
        folded into one affine step: ``acc_matrix = R M``, ``acc_bias = b_acc``,
        ``gyr_matrix = R``, ``gyr_bias = b_gyr`` (same result up to rounding). Any of the
        three parts may be None. Other keyword arguments go to :class:`ImuChain`.
        """
        accel = getattr(calibration, "accel", None)
        gyro = getattr(calibration, "gyro", None)
        alignment = getattr(calibration, "alignment", None)
        m = np.eye(3) if accel is None else np.asarray(accel.matrix, dtype=np.float64)
        b_acc = np.zeros(3) if accel is None else np.asarray(accel.bias_mps2, dtype=np.float64)
        b_gyr = np.zeros(3) if gyro is None else np.asarray(gyro.bias_rps, dtype=np.float64)
        r = np.eye(3) if alignment is None else np.asarray(alignment.rotation_sensor_to_body, dtype=np.float64)
        return cls(fs_hz, acc_matrix=r @ m, acc_bias_mps2=b_acc, gyr_matrix=r, gyr_bias_rps=b_gyr, **kwargs)

    def reset(self) -> None:
        """Back to the freshly constructed state: the filter and the orientation start again at the next sample."""
        self._zi[...] = 0.0
        self._state[:] = 0.0

    def process(self, acc_mps2: np.ndarray, gyr_rps: np.ndarray, gap_before: np.ndarray | None = None) -> ChainOutput:
        """Run the next ``n`` samples (sensor frame, SI) through the chain.

        With ``gap_before`` the chain resets before every flagged sample (a flag on the
        first sample resets too), so no stage runs across lost data.
        """
        acc = _as_vec3("acc_mps2", acc_mps2)
        gyr = _as_vec3("gyr_rps", gyr_rps)
        n = acc.shape[0]
        if gyr.shape[0] != n:
            raise ParameterError(f"acc_mps2 and gyr_rps must have the same length, got {n} and {gyr.shape[0]}")
        cal = np.empty((n, 6))
        q = np.empty((n, 4))
        tilt = np.empty((n, 2))
        lin = np.empty((n, 3))
        if gap_before is None:
            segments = [slice(0, n)]
            gaps = np.zeros(n, dtype=bool)
        else:
            gaps = np.asarray(gap_before, dtype=bool)
            if gaps.shape != (n,):
                raise ParameterError(f"gap_before must have shape ({n},), got {gaps.shape}")
            segments = gap_segments(gaps)
        for s in segments:
            if s.stop > s.start and gaps[s.start]:
                self.reset()
            imu_chain_into(
                acc[s],
                gyr[s],
                self._acc_m,
                self._acc_b,
                self._gyr_m,
                self._gyr_b,
                self._sos,
                self._zi,
                self._zi_unit,
                self._gain,
                self._dt_s,
                self._q0_kernel,
                self._state,
                self._gravity_mps2,
                cal[s],
                q[s],
                tilt[s],
                lin[s],
            )
        return ChainOutput(
            acc_mps2=cal[:, :3],
            gyr_rps=cal[:, 3:],
            q=q,
            tilt_ap_rad=tilt[:, 0],
            tilt_ml_rad=tilt[:, 1],
            acc_apmlv_mps2=lin,
        )
