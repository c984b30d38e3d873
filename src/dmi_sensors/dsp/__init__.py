"""Signal processing core: Numba kernels behind thin streaming classes.

* :mod:`~dmi_sensors.dsp.filters` — Butterworth design helpers, :class:`SosFilter`
  (streaming, bit-identical to ``scipy.signal.sosfilt``), :func:`filtfilt` (= ``sosfiltfilt``).
* :mod:`~dmi_sensors.dsp.orientation` — :class:`Madgwick`, :class:`Mahony` (= ``ahrs``)
  (gyro bias from still periods: :func:`dmi_sensors.calibration.gyro_bias_from_still`).
* :mod:`~dmi_sensors.dsp.bias` — :class:`GyroBiasTracker`: on-line gyro-bias tracking from
  rest phases (quiet stance and sitting count), :func:`track_gyro_bias_offline` (forward +
  backward, fused).
* :mod:`~dmi_sensors.dsp.bodyframe` — :func:`tilt_angles`, :func:`remove_gravity`,
  :func:`to_ap_ml_v`, :func:`body_frame`, :func:`integrate_drift_controlled`.
* :mod:`~dmi_sensors.dsp.segments` — gap handling (split offline, reset when streaming).
* :mod:`~dmi_sensors.dsp.pipeline` — the offline chain calibrated samples -> filter ->
  orientation -> body frame.

Every class follows the one algorithm contract (:class:`dmi_sensors.types.StreamingAlgorithm`):
parameters only in ``__init__`` (read-only afterwards, :meth:`get_params`), one action
method ``process`` taking ``(acc, gyr)`` in that order where both are passed, ``reset()``
back to the freshly constructed state, and a readable and settable ``state`` (a frozen
dataclass: :class:`SosFilterState`, :class:`MadgwickState`, ...) from which a fresh object
continues bit-identically. Streaming classes give bit-identical output however their input
is split into calls. None of them runs across a gap: see :mod:`dmi_sensors.dsp.segments`.
"""

from dmi_sensors.dsp.bias import GyroBiasTracker, GyroBiasTrackerState, OfflineBias, track_gyro_bias_offline
from dmi_sensors.dsp.bodyframe import (
    BodyFrame,
    DriftControlledIntegrator,
    DriftControlledIntegratorState,
    IntegrationResult,
    body_frame,
    integrate_drift_controlled,
    remove_gravity,
    tilt_angles,
    tilt_from_acc,
    to_ap_ml_v,
)
from dmi_sensors.dsp.filters import (
    SosFilter,
    SosFilterState,
    ZeroPhaseSosFilter,
    ZeroPhaseSosFilterState,
    butter_bandpass,
    butter_highpass,
    butter_lowpass,
    filtfilt,
    moving_mean,
    moving_rms,
    sosfiltfilt_padlen,
)
from dmi_sensors.dsp.orientation import Madgwick, MadgwickState, Mahony, MahonyState, attitude_from_acc
from dmi_sensors.dsp.pipeline import ChainOutput, ImuChain, ImuChainState, apply_affine
from dmi_sensors.dsp.segments import gap_segments, map_segments, process_with_resets, segments_from_mask

__all__ = [
    "BodyFrame",
    "ChainOutput",
    "DriftControlledIntegrator",
    "DriftControlledIntegratorState",
    "GyroBiasTracker",
    "GyroBiasTrackerState",
    "ImuChain",
    "ImuChainState",
    "IntegrationResult",
    "Madgwick",
    "MadgwickState",
    "Mahony",
    "MahonyState",
    "OfflineBias",
    "SosFilter",
    "SosFilterState",
    "ZeroPhaseSosFilter",
    "ZeroPhaseSosFilterState",
    "apply_affine",
    "attitude_from_acc",
    "body_frame",
    "butter_bandpass",
    "butter_highpass",
    "butter_lowpass",
    "filtfilt",
    "gap_segments",
    "integrate_drift_controlled",
    "map_segments",
    "moving_mean",
    "moving_rms",
    "process_with_resets",
    "remove_gravity",
    "segments_from_mask",
    "sosfiltfilt_padlen",
    "tilt_angles",
    "tilt_from_acc",
    "to_ap_ml_v",
    "track_gyro_bias_offline",
]
