"""The processing chain for one sensor: calibrate -> low-pass -> orientation -> body frame.

:class:`ImuChain` runs the whole chain in one fused Numba pass, streaming (state carried
between calls, bit-identical however the input is split) or offline (one call on a whole
recording). It equals the stages run one after the other::

    cal  = matrix @ (raw - bias)                       (acc and gyr, :func:`apply_affine`)
    filt = SosFilter(sos, 6, initial).process([acc_cal, gyr_cal])
    q    = Madgwick(fs_hz, gain, q0).process(filt_gyr, filt_acc)
    bf   = body_frame(q, filt_acc)

The calibration is a plain affine correction (``matrix`` may combine scale,
misalignment and the sensor-to-body rotation; ``bias`` in sensor units); computing it is
the calibration layer's job. At a gap (``gap_before``) the chain resets: the filter
restarts from its initial condition and the orientation re-initialises from the
accelerometer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.dsp._chain_kernels import affine_into, imu_chain_into
from dmi_sensors.dsp._design import steady_state_zi
from dmi_sensors.dsp.filters import _validate_sos, butter_lowpass
from dmi_sensors.dsp.orientation import _as_vec3, _check_q0
from dmi_sensors.dsp.segments import gap_segments
from dmi_sensors.errors import ParameterError

__all__ = ["ChainOutput", "ImuChain", "apply_affine"]

_PASS_THROUGH = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


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


class ImuChain:
    """Calibrate -> Butterworth low-pass -> Madgwick -> body frame, fused and streaming.

    Parameters
    ----------
    fs_hz
        Sample rate (uniform; resample first if needed).
    lowpass_hz
        Low-pass cut-off applied to all six channels; ``None`` for no filter.
    order
        Butterworth order.
    filter_initial
        ``"steady"`` (default, no start-up transient) or ``"zero"``; see :class:`SosFilter`.
    gain
        Madgwick ``beta``.
    q0
        Initial attitude, default from the first (calibrated, filtered) accelerometer sample.
    acc_matrix, acc_bias_mps2, gyr_matrix, gyr_bias_rps
        Affine calibration ``matrix @ (raw - bias)``; identity / zero by default.
    gravity_mps2
        Gravity removed from the vertical.
    """

    def __init__(
        self,
        fs_hz: float,
        lowpass_hz: float | None = 20.0,
        order: int = 4,
        filter_initial: str = "steady",
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
        self.fs_hz = float(fs_hz)
        self.lowpass_hz = lowpass_hz
        self.order = int(order)
        self.filter_initial = filter_initial
        self.gain = float(gain)
        self.dt_s = 1.0 / self.fs_hz
        self.q0 = _check_q0(q0)
        self.gravity_mps2 = float(gravity_mps2)
        self.acc_matrix = np.eye(3) if acc_matrix is None else np.array(acc_matrix, dtype=np.float64).reshape(3, 3)
        self.acc_bias_mps2 = np.zeros(3) if acc_bias_mps2 is None else np.array(acc_bias_mps2, float).reshape(3)
        self.gyr_matrix = np.eye(3) if gyr_matrix is None else np.array(gyr_matrix, dtype=np.float64).reshape(3, 3)
        self.gyr_bias_rps = np.zeros(3) if gyr_bias_rps is None else np.array(gyr_bias_rps, float).reshape(3)
        self.sos = _PASS_THROUGH.copy() if lowpass_hz is None else butter_lowpass(lowpass_hz, fs_hz, order)
        self.sos = _validate_sos(self.sos)
        if filter_initial == "steady":
            self._zi_unit = np.ascontiguousarray(steady_state_zi(self.sos))
        else:
            self._zi_unit = np.zeros((0, 2))
        #: filter state (n_sections, 2, 6) over [acc, gyr]
        self.filter_state = np.zeros((self.sos.shape[0], 2, 6))
        #: [q_w, q_x, q_y, q_z, orientation initialised, filter initialised]
        self.state = np.zeros(6)

    @property
    def parameters(self) -> dict:
        """Everything needed to reproduce the output (for provenance in result files)."""
        return {
            "fs_hz": self.fs_hz,
            "lowpass_hz": self.lowpass_hz,
            "filter": f"butterworth order {self.order} low-pass, causal" if self.lowpass_hz else "none",
            "filter_initial": self.filter_initial,
            "orientation": "madgwick imu",
            "gain": self.gain,
            "q0": None if self.q0.shape[0] == 0 else self.q0.tolist(),
            "gravity_mps2": self.gravity_mps2,
            "acc_matrix": self.acc_matrix.tolist(),
            "acc_bias_mps2": self.acc_bias_mps2.tolist(),
            "gyr_matrix": self.gyr_matrix.tolist(),
            "gyr_bias_rps": self.gyr_bias_rps.tolist(),
        }

    @classmethod
    def from_calibration(cls, fs_hz: float, calibration: object, **kwargs: object) -> ImuChain:
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
        """Forget the past: the filter and the orientation start again at the next sample."""
        self.filter_state[:] = 0.0
        self.state[:] = 0.0

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
                self.acc_matrix,
                self.acc_bias_mps2,
                self.gyr_matrix,
                self.gyr_bias_rps,
                self.sos,
                self.filter_state,
                self._zi_unit,
                self.gain,
                self.dt_s,
                self.q0,
                self.state,
                self.gravity_mps2,
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
