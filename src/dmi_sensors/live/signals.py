"""The live sway signals of one sensor: orientation -> trunk tilt -> COM, causal and streaming.

:class:`LiveSignals` is the causal form of the analysis pipeline's signal step
(:func:`dmi_sensors.analysis.trial.sway_signals`), built from the same pieces and the same
parameters (:class:`~dmi_sensors.analysis.trial.TrialAnalysisParams`):

1. orientation by the analysis's filter (:class:`dmi_sensors.dsp.Mahony` with ``mahony_kp``
   / ``mahony_ki``, or :class:`dmi_sensors.dsp.Madgwick` with ``madgwick_gain``), streaming,
   initialised from the first accelerometer sample (after a reset or gap);
2. tilt (AP + forward lean, ML + lean to the left) by :func:`dmi_sensors.dsp.body_frame`;
3. COM position ``1000 · h_com · sin θ`` mm (the pendulum model of
   :func:`dmi_sensors.metrics.com_from_tilt`, which also subtracts the trial's mean: a
   future-dependent step left to the metrics, which remove the mean of the window they
   measure), when the COM height is known;
4. a causal 4th-order Butterworth low-pass at ``com_lowpass_hz`` on the COM
   (:class:`dmi_sensors.dsp.SosFilter`, bit-identical to ``scipy.signal.sosfilt``).

All four run in one Numba call per batch (:func:`dmi_sensors.dsp._chain_kernels.tilt_com_into`,
which calls the same kernels as those classes on the same gap-free segments, so its outputs
equal the stages run one after the other bit for bit, ``tests/test_live_signals.py``): a
live link calls this once per BLE packet, where a dozen calls would cost more than the
arithmetic.

What it cannot do live, and so does not do: the offline analysis removes the trial's mean
gyro rate, initialises the attitude from a backward pass over the whole trial and
low-passes with zero phase (``filtfilt``); all three look into the future. Live values
therefore differ from the report's (see ``docs/live.md``); they are the same whether the
samples arrive one packet at a time or all at once (the algorithm contract's chunk
invariance), so the stored recording replayed through this class reproduces every live
value exactly. Every stage resets at a gap (``gap_before``): nothing runs across lost data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.dsp._chain_kernels import MADGWICK, MAHONY, tilt_com_into
from dmi_sensors.dsp._design import steady_state_zi
from dmi_sensors.dsp._state import ArrayState, checked_array
from dmi_sensors.dsp.filters import butter_lowpass
from dmi_sensors.errors import ParameterError

__all__ = ["LiveSignals", "LiveSignalsOutput", "LiveSignalsState"]

ORIENTATION_FILTERS = ("mahony", "madgwick")
#: the orientation kernels' "no initial attitude given" (from the first sample's accelerometer)
_NO_Q0 = np.zeros(0)


@dataclass(frozen=True)
class LiveSignalsOutput:
    """Per-sample outputs of :class:`LiveSignals` (``n`` rows each).

    ``tilt_ap_rad`` / ``tilt_ml_rad``: trunk tilt (+ forward, + left); ``com_ap_mm`` /
    ``com_ml_mm``: low-passed pendulum COM position ``1000 · h_com · sin θ`` above the
    pivot, mean not removed (NaN without a COM height).
    """

    tilt_ap_rad: np.ndarray
    tilt_ml_rad: np.ndarray
    com_ap_mm: np.ndarray
    com_ml_mm: np.ndarray


@dataclass(frozen=True, eq=False)
class LiveSignalsState(ArrayState):
    """Full state of a :class:`LiveSignals`.

    Attributes
    ----------
    q
        ``(4,)`` attitude ``[w, x, y, z]`` after the last sample (zeros before the first).
    bias_rps
        ``(3,)`` Mahony's integral (gyro-bias) term, rad/s (zeros for Madgwick).
    orientation_initialised
        False until the first sample after construction, reset or a gap.
    lowpass_zi
        ``(n_sections, 2, 2)`` delay registers of the COM low-pass (AP, ML).
    lowpass_started
        False until the first COM sample after construction, reset or a gap.
    """

    q: np.ndarray
    bias_rps: np.ndarray
    orientation_initialised: bool
    lowpass_zi: np.ndarray
    lowpass_started: bool


class LiveSignals:
    """Causal tilt and COM of one sensor, streaming (see the module docstring).

    Parameters
    ----------
    fs_hz
        Sample rate, Hz (the sensor's nominal rate: samples are processed in counter order).
    com_height_m
        COM height above the pivot, m; ``None``: tilt only (COM outputs are NaN).
    orientation_filter
        ``"mahony"`` (the analysis default) or ``"madgwick"``.
    mahony_kp, mahony_ki
        Mahony gains, rad/s and rad/s² (the analysis defaults 0.3 and 0).
    madgwick_gain
        Madgwick ``beta``, rad/s.
    com_lowpass_hz
        Cut-off of the causal 4th-order Butterworth low-pass of the COM, Hz; ``None``: none.

    Attributes
    ----------
    state
        :class:`LiveSignalsState`.
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        com_height_m: float | None = None,
        orientation_filter: str = "mahony",
        mahony_kp: float = 0.3,
        mahony_ki: float = 0.0,
        madgwick_gain: float = 0.001,
        com_lowpass_hz: float | None = 5.0,
    ) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        if com_height_m is not None and not com_height_m > 0:
            raise ParameterError(f"com_height_m must be positive (or None), got {com_height_m}")
        if orientation_filter not in ORIENTATION_FILTERS:
            raise ParameterError(f"orientation_filter must be one of {ORIENTATION_FILTERS}, got {orientation_filter!r}")
        if com_lowpass_hz is not None and not 0 < com_lowpass_hz < fs_hz / 2:
            raise ParameterError(f"com_lowpass_hz must be in (0, fs_hz / 2), got {com_lowpass_hz}")
        if orientation_filter == "mahony" and not (mahony_kp >= 0 and mahony_ki >= 0):
            raise ParameterError(f"gains must be >= 0, got k_p={mahony_kp}, k_i={mahony_ki}")
        if orientation_filter == "madgwick" and not madgwick_gain >= 0:
            raise ParameterError(f"gain must be >= 0, got {madgwick_gain}")
        self._fs_hz = float(fs_hz)
        self._com_height_m = None if com_height_m is None else float(com_height_m)
        self._orientation_filter = orientation_filter
        self._mahony_kp = float(mahony_kp)
        self._mahony_ki = float(mahony_ki)
        self._madgwick_gain = float(madgwick_gain)
        self._com_lowpass_hz = None if com_lowpass_hz is None else float(com_lowpass_hz)
        mahony = orientation_filter == "mahony"
        #: the kernel's parameters (see tilt_com_into)
        self._cfg = np.array(
            [
                MAHONY if mahony else MADGWICK,
                self._mahony_kp,
                self._mahony_ki,
                self._madgwick_gain,
                1.0 / self._fs_hz,
                0.0 if self._com_height_m is None else 1000.0 * self._com_height_m,
                0.0 if self._com_lowpass_hz is None else 1.0,
            ]
        )
        #: orientation state: Mahony ``[q(4), bias(3), initialised]``, Madgwick ``[q(4), initialised]``
        self._ostate = np.zeros(8 if mahony else 5)
        self._init_flag = 7 if mahony else 4
        if self._com_lowpass_hz is None:
            self._sos = np.zeros((0, 6))
            self._zi_unit = np.zeros((0, 2))
        else:
            self._sos = np.ascontiguousarray(butter_lowpass(self._com_lowpass_hz, self._fs_hz, 4))
            self._zi_unit = np.ascontiguousarray(steady_state_zi(self._sos))
        self._zi = np.zeros((self._sos.shape[0], 2, 2))
        self._lp_started = np.zeros(1)

    @property
    def fs_hz(self) -> float:
        """Sample rate, Hz."""
        return self._fs_hz

    @property
    def com_height_m(self) -> float | None:
        """COM height above the pivot, m (None: no COM)."""
        return self._com_height_m

    @property
    def orientation_filter(self) -> str:
        """``"mahony"`` or ``"madgwick"``."""
        return self._orientation_filter

    @property
    def mahony_kp(self) -> float:
        """Mahony proportional gain, rad/s."""
        return self._mahony_kp

    @property
    def mahony_ki(self) -> float:
        """Mahony integral gain, rad/s²."""
        return self._mahony_ki

    @property
    def madgwick_gain(self) -> float:
        """Madgwick ``beta``, rad/s."""
        return self._madgwick_gain

    @property
    def com_lowpass_hz(self) -> float | None:
        """COM low-pass cut-off, Hz (None: none)."""
        return self._com_lowpass_hz

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {
            "fs_hz": self._fs_hz,
            "com_height_m": self._com_height_m,
            "orientation_filter": self._orientation_filter,
            "mahony_kp": self._mahony_kp,
            "mahony_ki": self._mahony_ki,
            "madgwick_gain": self._madgwick_gain,
            "com_lowpass_hz": self._com_lowpass_hz,
        }

    @property
    def state(self) -> LiveSignalsState:
        """Snapshot of the full state; assign a :class:`LiveSignalsState` to continue from it."""
        o = self._ostate
        bias = o[4:7].copy() if self._orientation_filter == "mahony" else np.zeros(3)
        return LiveSignalsState(
            q=o[:4].copy(),
            bias_rps=bias,
            orientation_initialised=bool(o[self._init_flag]),
            lowpass_zi=self._zi.copy(),
            lowpass_started=bool(self._lp_started[0]),
        )

    @state.setter
    def state(self, value: LiveSignalsState) -> None:
        if not isinstance(value, LiveSignalsState):
            raise ParameterError(f"LiveSignals.state must be a LiveSignalsState, got {type(value).__name__}")
        q = checked_array("LiveSignals", "q", value.q, (4,))
        bias = checked_array("LiveSignals", "bias_rps", value.bias_rps, (3,))
        zi = checked_array("LiveSignals", "lowpass_zi", value.lowpass_zi, self._zi.shape)
        self._ostate[:4] = q
        if self._orientation_filter == "mahony":
            self._ostate[4:7] = bias
        self._ostate[self._init_flag] = 1.0 if value.orientation_initialised else 0.0
        self._zi[...] = zi
        self._lp_started[0] = 1.0 if value.lowpass_started and self._sos.shape[0] else 0.0

    def reset(self) -> None:
        """Back to the freshly constructed state: orientation and low-pass start again at the next sample."""
        self._ostate[:] = 0.0
        self._zi[...] = 0.0
        self._lp_started[0] = 0.0

    def kernel_arrays(self) -> tuple[np.ndarray, ...]:
        """``(cfg, orientation state, q0, sos, zi_unit, zi, lowpass started)``: the arguments of
        :func:`~dmi_sensors.dsp._chain_kernels.tilt_com_into` after the samples, for a caller's
        Numba kernel that runs it itself (the live path's one call per packet); the states
        are this object's, updated in place."""
        return self._cfg, self._ostate, _NO_Q0, self._sos, self._zi_unit, self._zi, self._lp_started

    def process(
        self, acc_mps2: np.ndarray, gyr_rps: np.ndarray, gap_before: np.ndarray | None = None
    ) -> LiveSignalsOutput:
        """Tilt and COM after each of the next ``n`` samples (calibrated ``acc_mps2``, ``gyr_rps``, ``(n, 3)``).

        Every stage resets before a sample flagged in ``gap_before`` (also the first).
        """
        n = np.shape(acc_mps2)[0] if np.ndim(acc_mps2) else 0
        tilt = np.empty((n, 2))
        com = np.empty((n, 2))
        self.process_into(acc_mps2, gyr_rps, gap_before, tilt, com)
        return LiveSignalsOutput(
            tilt_ap_rad=tilt[:, 0].copy(),
            tilt_ml_rad=tilt[:, 1].copy(),
            com_ap_mm=com[:, 0].copy(),
            com_ml_mm=com[:, 1].copy(),
        )

    def process_into(
        self,
        acc_mps2: np.ndarray,
        gyr_rps: np.ndarray,
        gap_before: np.ndarray | None,
        tilt_out_rad: np.ndarray,
        com_out_mm: np.ndarray,
    ) -> None:
        """:meth:`process` writing into ``tilt_out_rad`` (n, 2: AP, ML) and ``com_out_mm``
        (n, 2: AP, ML; NaN without a COM height), float64 arrays of any strides (e.g. columns
        of a caller's buffer): one kernel call, nothing allocated but the kernel's scratch."""
        acc = np.ascontiguousarray(acc_mps2, dtype=np.float64)
        gyr = np.ascontiguousarray(gyr_rps, dtype=np.float64)
        n = acc.shape[0]
        if acc.shape != (n, 3) or gyr.shape != (n, 3):
            raise ParameterError(f"acc_mps2 and gyr_rps must both be (n, 3), got {acc.shape} and {gyr.shape}")
        if gap_before is None:
            gaps = np.zeros(n, dtype=bool)
        else:
            gaps = np.asarray(gap_before, dtype=bool)
            if gaps.shape != (n,):
                raise ParameterError(f"gap_before must have shape ({n},), got {gaps.shape}")
        for name, out in (("tilt_out_rad", tilt_out_rad), ("com_out_mm", com_out_mm)):
            if not isinstance(out, np.ndarray) or out.shape != (n, 2) or out.dtype != np.float64:
                raise ParameterError(f"{name} must be a float64 array of shape ({n}, 2)")
        tilt_com_into(
            acc, gyr, gaps, self._cfg, self._ostate, _NO_Q0, self._sos, self._zi_unit, self._zi,
            self._lp_started, tilt_out_rad, com_out_mm,
        )  # fmt: skip
