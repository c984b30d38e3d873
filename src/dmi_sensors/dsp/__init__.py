"""Signal processing core: Numba kernels behind thin streaming classes.

* :mod:`~dmi_sensors.dsp.filters` — Butterworth design helpers, :class:`SosFilter`
  (streaming, bit-identical to ``scipy.signal.sosfilt``), :func:`filtfilt` (= ``sosfiltfilt``).
* :mod:`~dmi_sensors.dsp.orientation` — :class:`Madgwick`, :class:`Mahony` (= ``ahrs``),
  :func:`estimate_gyro_bias_still`.

Every streaming class keeps its state in plain arrays (``state`` attribute), has ``reset()``
and gives bit-identical output however its input is split into calls. None of them runs
across a gap: see :mod:`dmi_sensors.dsp.segments`.
"""

from dmi_sensors.dsp.filters import (
    SosFilter,
    ZeroPhaseSosFilter,
    butter_bandpass,
    butter_highpass,
    butter_lowpass,
    filtfilt,
    sosfiltfilt_padlen,
)
from dmi_sensors.dsp.orientation import GyroBiasEstimate, Madgwick, Mahony, estimate_gyro_bias_still

__all__ = [
    "GyroBiasEstimate",
    "Madgwick",
    "Mahony",
    "SosFilter",
    "ZeroPhaseSosFilter",
    "butter_bandpass",
    "butter_highpass",
    "butter_lowpass",
    "estimate_gyro_bias_still",
    "filtfilt",
    "sosfiltfilt_padlen",
]
