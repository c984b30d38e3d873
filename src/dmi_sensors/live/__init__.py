"""The live path: notifications -> live metrics -> screens; and live sources for guided procedures.

* :class:`LiveHub` (:mod:`~dmi_sensors.live.hub`) — every sensor's live metrics during a
  recording (fed by the sensor links' ``on_batch``), the tags, and a subscription API
  (:meth:`LiveHub.subscribe`) for screens, notebooks and outlets;
* :class:`LiveSensor`, :class:`LiveParams`, :func:`replay_stored`
  (:mod:`~dmi_sensors.live.metrics`) — one sensor: calibrate, time
  (:class:`dmi_sensors.timing.StreamingClock`), sway signals (:class:`LiveSignals`), the
  running sway of the repetition in progress and each repetition's result; the same code
  run offline on a stored recording gives the same numbers;
* :mod:`~dmi_sensors.live.server` / :mod:`~dmi_sensors.live.recording` — the browser view of
  ``dmi-sensors record --live`` (aiohttp; imported on use, not here, to keep start-up fast);
* :class:`LiveSource` — an ``AsyncStepSource`` over a :class:`~dmi_sensors.ble.SensorLink`
  for the guided calibration procedures (drift-corrected, uniform, never across lost
  samples). The virtual sensor that performs the steps on command in the emulated BlueZ is
  :mod:`dmi_sensors.sim.bluez.guided`.

See ``docs/live.md``.
"""

from dmi_sensors.live.hub import KINDS, LiveHub, LiveSamples
from dmi_sensors.live.latency import LatencyRecorder
from dmi_sensors.live.metrics import (
    LiveParams,
    LiveSensor,
    RepetitionResult,
    com_lever_frac,
    repetition_result,
    replay_stored,
)
from dmi_sensors.live.signals import LiveSignals, LiveSignalsOutput, LiveSignalsState
from dmi_sensors.live.source import IncompleteStepError, LiveCalibrationError, LiveSource, monotonic_link

__all__ = [
    "KINDS",
    "IncompleteStepError",
    "LatencyRecorder",
    "LiveCalibrationError",
    "LiveHub",
    "LiveParams",
    "LiveSamples",
    "LiveSensor",
    "LiveSignals",
    "LiveSignalsOutput",
    "LiveSignalsState",
    "LiveSource",
    "RepetitionResult",
    "com_lever_frac",
    "monotonic_link",
    "repetition_result",
    "replay_stored",
]
