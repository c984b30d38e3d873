"""Publish a live recording on the Lab Streaming Layer (LSL): ``dmi-sensors record --lsl``.

:class:`LslOutlet` subscribes to a :class:`~dmi_sensors.live.hub.LiveHub` and publishes, per
sensor (created at its first samples):

==========================  ========  ==============================================================
stream (name)               type      channels
==========================  ========  ==============================================================
``<sensor id> IMU``         ``IMU``   ``AccX, AccY, AccZ`` (m/s^2), ``GyrX, GyrY, GyrZ`` (rad/s),
                                      float64, every sample at the sensor's rate, as the live path
                                      has it (decoded; calibrated when the sensor has a calibration)
``<sensor id> com``         ``COM``   ``COM_AP, COM_ML`` (mm): the live path's pendulum COM
                                      ``1000 · h · sin θ`` (with ``--com-height-m``), at the trace
                                      rate (``LiveParams.trace_hz``, 25 Hz)
``<sensor id> tilt``        ``Tilt``  ``Tilt_AP, Tilt_ML`` (deg): trunk tilt, when there is no COM height
==========================  ========  ==============================================================

and one marker stream, ``dmi-sensors-markers`` (type ``Markers``): every closed tag row
(exercise, repetition, pause, note) as JSON (:func:`~dmi_sensors.store.lsl_layout.marker_text`),
stamped with its onset, pushed when it closes.

Each stream's XML description carries the channels' labels, units and types, the sensor's
serial number (``desc/acquisition/serial_number``), its placement (``desc/placement``) and
the frame; never the subject or a Bluetooth address. The ``source_id``
(``dmi-sensors/<sensor id>/imu`` ...) lets a consumer (LabRecorder) pick the stream up again
after a restart.

**Timestamps.** Each sample's time on the session clock (the live path's drift-corrected
:class:`~dmi_sensors.timing.StreamingClock`, seconds since the session start) plus the
session start on the monotonic clock, mapped to LSL's ``local_clock()`` by their offset
measured when the outlet starts (on Linux both are ``CLOCK_MONOTONIC``: the offset is
zero within microseconds). LSL's own synchronisation then maps them onto every consumer's
clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dmi_sensors.live.hub import LiveHub, LiveSamples
from dmi_sensors.session.events import EventRecord
from dmi_sensors.store.lsl_layout import IMU_CHANNELS, MARKER_TYPE, marker_text

__all__ = ["MARKER_STREAM", "LslOutlet"]

#: Name of the marker stream.
MARKER_STREAM = "dmi-sensors-markers"
_DERIVED = {
    "com": ("COM", (("COM_AP", "com_ap_mm"), ("COM_ML", "com_ml_mm")), "mm"),
    "tilt": ("Tilt", (("Tilt_AP", "tilt_ap_deg"), ("Tilt_ML", "tilt_ml_deg")), "deg"),
}


class LslOutlet:
    """LSL outlets for one live recording (module docstring).

    Parameters
    ----------
    hub
        The recording's live hub (its ``samples`` and ``tag`` messages are published).
    local_clock
        LSL's clock (``pylsl.local_clock``); the hub's clock is mapped onto it.
    """

    def __init__(self, hub: LiveHub, local_clock: Callable[[], float] | None = None) -> None:
        import pylsl

        self._pylsl = pylsl
        self.hub = hub
        self.local_clock = local_clock or pylsl.local_clock
        # hub clock (monotonic) -> LSL clock; both read back to back
        self.offset_s = self.local_clock() - hub.clock()
        self.imu: dict[str, Any] = {}
        self.derived: dict[str, Any] = {}
        self.samples_pushed: dict[str, int] = {}
        self.markers_pushed = 0
        self.names: list[str] = []
        self.markers: Any = pylsl.StreamOutlet(self._marker_info())
        self._unsubscribe = hub.subscribe(self.on_message, kinds=("samples", "tag"))

    # -- stream infos ------------------------------------------------------------------------
    def _marker_info(self) -> Any:
        pylsl = self._pylsl
        info = pylsl.StreamInfo(MARKER_STREAM, MARKER_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                "dmi-sensors/markers")  # fmt: skip
        desc = info.desc()
        desc.append_child_value("format", "JSON object: kind, exercise, repetition, duration_s, support, posture, note")
        desc.append_child("acquisition").append_child_value("manufacturer", "dmi-sensors")
        return info

    def _describe(self, info: Any, sensor_id: str, placement: str, channels: Any, frame: str) -> None:
        desc = info.desc()
        chans = desc.append_child("channels")
        for label, unit, kind in channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", kind)
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "dmi-sensors")
        acq.append_child_value("serial_number", sensor_id)
        desc.append_child_value("placement", placement)
        desc.append_child_value("frame", frame)

    def open_sensor(self, sensor_id: str, placement: str, fs_hz: float) -> None:
        """Create the sensor's IMU and derived streams now (before its data, so a consumer can
        connect first; a sensor not opened is opened at its first samples). Once per sensor."""
        if sensor_id in self.imu:
            return
        pylsl = self._pylsl
        sid, fs = sensor_id, float(fs_hz)
        calibrated = self.hub.calibrations.get(sid) is not None
        info = pylsl.StreamInfo(f"{sid} IMU", "IMU", len(IMU_CHANNELS), fs, pylsl.cf_double64, f"dmi-sensors/{sid}/imu")
        self._describe(info, sid, placement, IMU_CHANNELS, "calibrated" if calibrated else "sensor")
        self.imu[sid] = pylsl.StreamOutlet(info)
        kind = "com" if self.hub.params.com_height_m is not None else "tilt"
        type_, chans, unit = _DERIVED[kind]
        decim = max(1, round(fs / self.hub.params.trace_hz))  # the live trace: every decim-th sample
        info = pylsl.StreamInfo(f"{sid} {kind}", type_, 2, fs / decim, pylsl.cf_double64, f"dmi-sensors/{sid}/{kind}")
        self._describe(info, sid, placement, [(c, unit, type_) for c, _ in chans], "body")
        self.derived[sid] = (pylsl.StreamOutlet(info), [key for _, key in chans])
        self.names += [f"{sid} IMU", f"{sid} {kind}"]
        self.samples_pushed[sid] = 0

    def wait_for_consumers(self, timeout_s: float) -> bool:
        """Wait (blocking; run it in a thread) until every stream has a consumer; False on time-out."""
        outlets = [*self.imu.values(), *(o for o, _ in self.derived.values()), self.markers]
        return all(o.wait_for_consumers(timeout_s) for o in outlets)

    # -- publishing ---------------------------------------------------------------------------
    def lsl_time(self, session_s: np.ndarray | float) -> Any:
        """Session time (s since the start) -> LSL ``local_clock()`` time."""
        return np.asarray(session_s, dtype=np.float64) + (self.hub.latency.t0_s + self.offset_s)

    def on_message(self, msg: Any) -> None:
        """A hub message: samples go to the sensor's streams, closed tag rows to the markers."""
        if isinstance(msg, LiveSamples):
            self._samples(msg)
        elif isinstance(msg, EventRecord):
            self.push_marker(msg)

    def _samples(self, msg: LiveSamples) -> None:
        if msg.batch is None or msg.time_s is None or msg.n_samples == 0:
            return
        if msg.sensor_id not in self.imu:
            self.open_sensor(msg.sensor_id, msg.placement, msg.batch.fs_hz)
        b = msg.batch
        values = np.hstack([b.acc_mps2, b.gyr_rps])
        stamps = self.lsl_time(msg.time_s)
        ok = np.isfinite(stamps)
        if ok.any():
            self.imu[msg.sensor_id].push_chunk(values[ok].tolist(), stamps[ok].tolist())
            self.samples_pushed[msg.sensor_id] += int(ok.sum())
        outlet, keys = self.derived[msg.sensor_id]
        t = msg.trace.get("t") or []
        if t and all(k in msg.trace for k in keys):
            rows = np.column_stack([np.asarray(msg.trace[k], dtype=np.float64) for k in keys])
            outlet.push_chunk(rows.tolist(), self.lsl_time(np.asarray(t, dtype=np.float64)).tolist())

    def push_marker(self, rec: EventRecord) -> None:
        """One tag row as a JSON marker stamped with its onset."""
        text = marker_text(rec.to_dict())
        self.markers.push_sample([text], float(self.lsl_time(rec.onset_s)))
        self.markers_pushed += 1

    def summary(self) -> dict[str, Any]:
        """What was published: stream names, samples per sensor, markers."""
        return {
            "streams": [*self.names, MARKER_STREAM],
            "samples": dict(self.samples_pushed),
            "markers": self.markers_pushed,
        }

    def close(self, linger_s: float = 0.0) -> None:
        """Stop publishing (consumers see the streams end). ``linger_s``: keep the outlets this
        long first (blocking: call it in a thread), so consumers receive the last samples
        still on their way (liblsl drops what an outlet has not sent when it is destroyed)."""
        self._unsubscribe()
        if linger_s > 0 and (self.imu or self.derived):
            time.sleep(linger_s)
        self.imu.clear()
        self.derived.clear()
        self.markers = None
