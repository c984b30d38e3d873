"""On-line gyro-bias tracking: rest detection plus a slow per-axis Kalman estimate.

A MEMS gyro's bias drifts as the sensor warms on a child's body (0 -> 0.01 rad/s within a
minute is typical); removing one constant (the trial's mean rate) leaves a ramp whose
integral tilts the orientation, and a pendulum COM estimate inherits it (7 mm RMS error at
h = 0.91 m for that ramp). The idea is VQF's (Laidig & Seel 2023, Information Fusion
91:187-204, its rest-phase bias estimation; read for the idea, written here from the
equations): whenever the sensor is "at rest" — quiet stance and quiet sitting count: the
sway's angular rate is slow and small — the low-passed gyro reading *is* the bias, so the
estimate is pulled towards it with a steady time constant of a few seconds.

Per sample, with ``LP`` a 2nd-order Butterworth low-pass of time constant
``rest_filter_tau_s`` (corner ``sqrt(2)/(2π τ)``, 0.45 Hz for 0.5 s; steady state at the first
sample)::

    rest candidate  ⇔  |ω - LP(ω)| < rest_gyr_rps  and  |a - LP(a)| < rest_acc_mps2
                        and |LP(ω)_i - b_i| ≤ rest_clip_rps on every axis
    at rest         ⇔  a candidate for at least rest_min_s without a break
    predict         P_i ← P_i + q
    update          K_i = P_i / (P_i + r),  b_i ← b_i + K_i (LPm(ω)_i - b_i),  P_i ← (1 - K_i) P_i
                    when at rest for rest_min_s + 2·bias_filter_tau_s

The bias reading ``LPm(ω)`` is a second, slower low-pass (``bias_filter_tau_s``, 4 s: corner
0.056 Hz) of the gyro: a swaying trunk's slow angular rate is not bias, and a reading that
follows it puts a share of the sway into the estimate (6 % of a 0.4 Hz tilt with the rest
low-pass alone); the wait of two of its time constants keeps a movement that just ended out
of the reading. ``r = rest_noise_rps²`` is the measurement variance and
``q = r K²/(1 - K)`` with ``K = 1 - exp(-dt / rest_time_constant_s)``, so at rest the gain
settles to ``K``: a first-order tracker of time constant ``rest_time_constant_s``
(default 5 s; VQF's defaults give 9 s). It starts at ``b0_rps`` with variance
``bias_sigma_init_rps²``: the first rest samples capture the bias at once (gain
P0/(P0 + r) ≈ 0.75 with the defaults). Outside rest the estimate is held and its variance
grows, so an exercise with movement keeps the last estimate. A slow deliberate rotation
below the thresholds is absorbed as bias while it lasts (``rest_clip_rps`` limits how far
from the current estimate); the trunk-tilt error it leaves is corrected by the orientation
filter's accelerometer term once the rotation ends.

A ramp of slope ``s`` is followed ``s·(rest_time_constant_s + bias_filter_tau_s)`` behind
(tested); the offline fusion removes that lag where both directions have converged.

Offline, :func:`track_gyro_bias_offline` runs the tracker forward and backward in time and
fuses the two estimates by their variances (VQF's offline idea), which removes the lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.dsp._bias_kernels import STATE_SIZE, gyro_bias_track_into
from dmi_sensors.dsp._state import ArrayState, checked_array, read_only
from dmi_sensors.dsp.filters import butter_lowpass
from dmi_sensors.errors import ParameterError

__all__ = ["GyroBiasTracker", "GyroBiasTrackerState", "OfflineBias", "track_gyro_bias_offline"]

_NO_VAR = np.zeros((0, 3))


def _as_vec3(name: str, a: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ParameterError(f"{name} must have shape (n_samples, 3), got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class GyroBiasTrackerState(ArrayState):
    """Full state of a :class:`GyroBiasTracker`.

    Attributes
    ----------
    lowpass_gyr, lowpass_acc
        ``(3, 2)`` direct-form-II-transposed states of the rest low-passes per axis.
    lowpass_bias
        ``(3, 2)`` states of the measurement low-pass of the gyro.
    bias_rps
        ``(3,)`` current bias estimate, rad/s.
    variance_rps2
        ``(3,)`` its variance, rad²/s².
    rest_time_s
        Time spent inside the rest thresholds without a break, s.
    initialised
        False until the first sample (which sets the low-passes' steady state).
    rest_samples, samples
        Samples judged at rest, and all samples, since construction or reset.
    """

    lowpass_gyr: np.ndarray
    lowpass_acc: np.ndarray
    lowpass_bias: np.ndarray
    bias_rps: np.ndarray
    variance_rps2: np.ndarray
    rest_time_s: float
    initialised: bool
    rest_samples: int
    samples: int


class GyroBiasTracker:
    """On-line gyro-bias estimate from rest phases (module docs), streaming.

    Parameters
    ----------
    fs_hz
        Sample rate, Hz.
    rest_time_constant_s
        Time constant of the estimate at rest, s.
    rest_noise_rps
        Measurement noise of the low-passed gyro as a bias reading (sway that is not bias), rad/s.
    bias_sigma_init_rps
        Standard deviation of the initial estimate, rad/s.
    rest_gyr_rps
        Rest threshold on ``|ω - LP(ω)|``, rad/s (2 °/s).
    rest_acc_mps2
        Rest threshold on ``|a - LP(a)|``, m/s².
    rest_min_s
        Time within the thresholds before rest is declared, s.
    rest_filter_tau_s
        Time constant of the rest low-pass, s.
    rest_clip_rps
        At rest ``|LP(ω)_i - b_i|`` must stay below this on every axis, rad/s (2 °/s).
    bias_filter_tau_s
        Time constant of the measurement low-pass (the bias reading), s.
    b0_rps
        Initial estimate ``(3,)``, rad/s; None: zeros.

    Attributes
    ----------
    state
        :class:`GyroBiasTrackerState`.
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        rest_time_constant_s: float = 5.0,
        rest_noise_rps: float = 0.005,
        bias_sigma_init_rps: float = 0.0087,
        rest_gyr_rps: float = 0.0349,
        rest_acc_mps2: float = 0.5,
        rest_min_s: float = 1.5,
        rest_filter_tau_s: float = 0.5,
        rest_clip_rps: float = 0.0349,
        bias_filter_tau_s: float = 4.0,
        b0_rps: np.ndarray | None = None,
    ) -> None:
        if not fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
        for name, value in (
            ("rest_time_constant_s", rest_time_constant_s),
            ("rest_noise_rps", rest_noise_rps),
            ("bias_sigma_init_rps", bias_sigma_init_rps),
            ("rest_gyr_rps", rest_gyr_rps),
            ("rest_acc_mps2", rest_acc_mps2),
            ("rest_filter_tau_s", rest_filter_tau_s),
            ("rest_clip_rps", rest_clip_rps),
            ("bias_filter_tau_s", bias_filter_tau_s),
        ):
            if not (value > 0 and math.isfinite(value)):
                raise ParameterError(f"{name} must be a positive number, got {value!r}")
        if not rest_min_s >= 0:
            raise ParameterError(f"rest_min_s must be >= 0, got {rest_min_s!r}")
        self._fs_hz = float(fs_hz)
        self._rest_time_constant_s = float(rest_time_constant_s)
        self._rest_noise_rps = float(rest_noise_rps)
        self._bias_sigma_init_rps = float(bias_sigma_init_rps)
        self._rest_gyr_rps = float(rest_gyr_rps)
        self._rest_acc_mps2 = float(rest_acc_mps2)
        self._rest_min_s = float(rest_min_s)
        self._rest_filter_tau_s = float(rest_filter_tau_s)
        self._rest_clip_rps = float(rest_clip_rps)
        self._bias_filter_tau_s = float(bias_filter_tau_s)
        if b0_rps is None:
            self._b0_rps = None
        else:
            b0 = np.array(b0_rps, dtype=np.float64).reshape(-1)
            if b0.shape != (3,) or not np.all(np.isfinite(b0)):
                raise ParameterError(f"b0_rps must be 3 finite numbers, got {b0_rps!r}")
            self._b0_rps = b0
        cutoff = math.sqrt(2.0) / (2.0 * math.pi * self._rest_filter_tau_s)
        if not cutoff < self._fs_hz / 2:
            raise ParameterError(f"rest_filter_tau_s={rest_filter_tau_s} gives a corner above Nyquist at {fs_hz} Hz")
        sos = butter_lowpass(cutoff, self._fs_hz, 2)[0]
        self._coef = np.array([sos[0], sos[1], sos[2], sos[4], sos[5]], dtype=np.float64)
        cutoff_m = math.sqrt(2.0) / (2.0 * math.pi * self._bias_filter_tau_s)
        if not cutoff_m < self._fs_hz / 2:
            raise ParameterError(f"bias_filter_tau_s={bias_filter_tau_s} gives a corner above Nyquist at {fs_hz} Hz")
        sos_m = butter_lowpass(cutoff_m, self._fs_hz, 2)[0]
        self._coef_m = np.array([sos_m[0], sos_m[1], sos_m[2], sos_m[4], sos_m[5]], dtype=np.float64)
        self._dt_s = 1.0 / self._fs_hz
        gain = 1.0 - math.exp(-self._dt_s / self._rest_time_constant_s)
        self._r = self._rest_noise_rps**2
        self._q = self._r * gain * gain / (1.0 - gain)
        self._state = np.zeros(STATE_SIZE)
        self.reset()

    # --- parameters -----------------------------------------------------------------
    @property
    def fs_hz(self) -> float:
        """Sample rate, Hz."""
        return self._fs_hz

    @property
    def rest_time_constant_s(self) -> float:
        """Time constant of the estimate at rest, s."""
        return self._rest_time_constant_s

    @property
    def rest_noise_rps(self) -> float:
        """Measurement noise of a rest reading, rad/s."""
        return self._rest_noise_rps

    @property
    def bias_sigma_init_rps(self) -> float:
        """Standard deviation of the initial estimate, rad/s."""
        return self._bias_sigma_init_rps

    @property
    def rest_gyr_rps(self) -> float:
        """Rest threshold on the gyro deviation, rad/s."""
        return self._rest_gyr_rps

    @property
    def rest_acc_mps2(self) -> float:
        """Rest threshold on the accelerometer deviation, m/s²."""
        return self._rest_acc_mps2

    @property
    def rest_min_s(self) -> float:
        """Time within the thresholds before rest, s."""
        return self._rest_min_s

    @property
    def rest_filter_tau_s(self) -> float:
        """Time constant of the rest low-pass, s."""
        return self._rest_filter_tau_s

    @property
    def rest_clip_rps(self) -> float:
        """Largest ``|LP(ω) - b|`` per axis at rest, rad/s."""
        return self._rest_clip_rps

    @property
    def bias_filter_tau_s(self) -> float:
        """Time constant of the measurement low-pass, s."""
        return self._bias_filter_tau_s

    @property
    def b0_rps(self) -> np.ndarray | None:
        """The initial estimate as given (read-only), or None (zeros)."""
        return read_only(self._b0_rps)

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {
            "fs_hz": self._fs_hz,
            "rest_time_constant_s": self._rest_time_constant_s,
            "rest_noise_rps": self._rest_noise_rps,
            "bias_sigma_init_rps": self._bias_sigma_init_rps,
            "rest_gyr_rps": self._rest_gyr_rps,
            "rest_acc_mps2": self._rest_acc_mps2,
            "rest_min_s": self._rest_min_s,
            "rest_filter_tau_s": self._rest_filter_tau_s,
            "rest_clip_rps": self._rest_clip_rps,
            "bias_filter_tau_s": self._bias_filter_tau_s,
            "b0_rps": None if self._b0_rps is None else [float(v) for v in self._b0_rps],
        }

    # --- state ----------------------------------------------------------------------
    @property
    def bias_rps(self) -> np.ndarray:
        """The current estimate, rad/s (a copy)."""
        return self._state[12:15].copy()

    @property
    def rest_fraction(self) -> float:
        """Fraction of the samples so far judged at rest (NaN before the first)."""
        n = self._state[21]
        return float(self._state[20] / n) if n else float("nan")

    @property
    def state(self) -> GyroBiasTrackerState:
        """Snapshot of the full state; assign a :class:`GyroBiasTrackerState` to continue from it."""
        s = self._state
        return GyroBiasTrackerState(
            lowpass_gyr=s[0:6].reshape(3, 2),
            lowpass_acc=s[6:12].reshape(3, 2),
            lowpass_bias=s[22:28].reshape(3, 2),
            bias_rps=s[12:15],
            variance_rps2=s[15:18],
            rest_time_s=float(s[18]),
            initialised=bool(s[19]),
            rest_samples=int(s[20]),
            samples=int(s[21]),
        )

    @state.setter
    def state(self, value: GyroBiasTrackerState) -> None:
        if not isinstance(value, GyroBiasTrackerState):
            raise ParameterError(f"GyroBiasTracker.state must be a GyroBiasTrackerState, got {type(value).__name__}")
        s = self._state
        s[0:6] = checked_array("GyroBiasTracker", "lowpass_gyr", value.lowpass_gyr, (3, 2)).reshape(-1)
        s[6:12] = checked_array("GyroBiasTracker", "lowpass_acc", value.lowpass_acc, (3, 2)).reshape(-1)
        s[22:28] = checked_array("GyroBiasTracker", "lowpass_bias", value.lowpass_bias, (3, 2)).reshape(-1)
        s[12:15] = checked_array("GyroBiasTracker", "bias_rps", value.bias_rps, (3,))
        s[15:18] = checked_array("GyroBiasTracker", "variance_rps2", value.variance_rps2, (3,))
        s[18] = float(value.rest_time_s)
        s[19] = 1.0 if value.initialised else 0.0
        s[20] = float(value.rest_samples)
        s[21] = float(value.samples)

    def reset(self) -> None:
        """Back to the freshly constructed state (estimate ``b0_rps``, variance ``bias_sigma_init_rps²``)."""
        self._state[:] = 0.0
        if self._b0_rps is not None:
            self._state[12:15] = self._b0_rps
        self._state[15:18] = self._bias_sigma_init_rps**2

    def process(
        self,
        acc_mps2: np.ndarray,
        gyr_rps: np.ndarray,
        out: np.ndarray | None = None,
        variance_out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Bias estimates ``(n, 3)`` (rad/s) after each of the next ``n`` samples.

        ``acc_mps2``, ``gyr_rps``: ``(n, 3)`` in the same frame. ``out``: an optional
        preallocated float64 ``(n, 3)``; ``variance_out``: optional ``(n, 3)`` receiving the
        estimate's variance after each sample.
        """
        acc = _as_vec3("acc_mps2", acc_mps2)
        gyr = _as_vec3("gyr_rps", gyr_rps)
        n = gyr.shape[0]
        if acc.shape[0] != n:
            raise ParameterError(f"acc_mps2 and gyr_rps must have the same length, got {acc.shape[0]} and {n}")
        if out is None:
            out = np.empty((n, 3))
        elif out.shape != (n, 3) or out.dtype != np.float64:
            raise ParameterError(f"out must be float64 of shape ({n}, 3), got {out.dtype} {out.shape}")
        var = _NO_VAR
        if variance_out is not None:
            if variance_out.shape != (n, 3) or variance_out.dtype != np.float64:
                raise ParameterError(f"variance_out must be float64 of shape ({n}, 3)")
            var = variance_out
        gyro_bias_track_into(
            acc,
            gyr,
            self._coef,
            self._coef_m,
            self._dt_s,
            self._rest_gyr_rps**2,
            self._rest_acc_mps2**2,
            self._rest_min_s,
            self._rest_min_s + 2.0 * self._bias_filter_tau_s,
            self._rest_clip_rps,
            self._q,
            self._r,
            self._state,
            out,
            var,
        )
        return out


@dataclass(frozen=True)
class OfflineBias:
    """Result of :func:`track_gyro_bias_offline`: the fused estimate per sample ``(n, 3)``
    (rad/s), its variance, and the fraction of samples at rest forward and backward."""

    bias_rps: np.ndarray
    variance_rps2: np.ndarray
    rest_fraction_forward: float
    rest_fraction_backward: float


def track_gyro_bias_offline(
    acc_mps2: np.ndarray, gyr_rps: np.ndarray, fs_hz: float, b0_rps: np.ndarray | None = None, **params: Any
) -> OfflineBias:
    """The bias at every sample of a whole recording, without the tracker's lag.

    A :class:`GyroBiasTracker` (``params``) runs forward, another backward in time over the
    time-reversed recording with negated rates (whose bias is ``-b``); the two estimates are
    fused by inverse-variance weighting, ``b = (b_f/P_f + b_b/P_b) / (1/P_f + 1/P_b)``. Both
    start from ``b0_rps`` (e.g. the recording's mean rate) with the tracker's initial variance,
    so a recording without any rest keeps that.
    """
    acc = _as_vec3("acc_mps2", acc_mps2)
    gyr = _as_vec3("gyr_rps", gyr_rps)
    n = gyr.shape[0]
    b0 = None if b0_rps is None else np.asarray(b0_rps, dtype=np.float64)
    fwd = GyroBiasTracker(fs_hz, b0_rps=b0, **params)
    var_f = np.empty((n, 3))
    b_f = fwd.process(acc, gyr, variance_out=var_f)
    bwd = GyroBiasTracker(fs_hz, b0_rps=None if b0 is None else -b0, **params)
    var_b = np.empty((n, 3))
    b_b = -bwd.process(acc[::-1], -gyr[::-1], variance_out=var_b)[::-1]
    var_b = var_b[::-1]
    w_f = 1.0 / var_f
    w_b = 1.0 / var_b
    fused = (b_f * w_f + b_b * w_b) / (w_f + w_b)
    return OfflineBias(fused, 1.0 / (w_f + w_b), fwd.rest_fraction, bwd.rest_fraction)
