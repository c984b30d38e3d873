"""Publish a live recording on the Lab Streaming Layer (LSL): ``dmi-sensors record --lsl``.

:class:`LslOutlet` subscribes to a :class:`~dmi_sensors.live.hub.LiveHub` and publishes, per
sensor (created at its first samples):

==========================  ========  ==============================================================
stream (name)               type      channels
==========================  ========  ==============================================================
``<sensor id> IMU``         ``IMU``   ``AccX, AccY, AccZ`` (m/s^2), ``GyrX, GyrY, GyrZ`` (rad/s),
                                      float64, every sample at the sensor's rate, as the live path
                                      has it (decoded; calibrated when the sensor has a calibration)
``<sensor id> com``         ``COM``   ``COM_AP, COM_ML`` (mm): the whole-body COM as the live path
                                      and the analysis measure it (with ``--com-height-m``): the
                                      pendulum ``1000 · h · sin θ`` times the lever of the
                                      repetition in progress (its posture and support,
                                      :func:`~dmi_sensors.live.metrics.com_lever_frac`); NaN while
                                      no repetition of a pendulum posture is in progress. Every
                                      sample, the sensor's rate, the IMU stream's timestamps
``<sensor id> tilt``        ``Tilt``  ``Tilt_AP, Tilt_ML`` (deg): trunk tilt, when there is no COM
                                      height; every sample
==========================  ========  ==============================================================

and one marker stream, ``dmi-sensors-markers`` (type ``Markers``): every closed tag row
(exercise, repetition, pause, note) as JSON (:func:`~dmi_sensors.store.lsl_layout.marker_text`),
stamped with its onset, pushed when it closes.

Each stream's XML description carries the channels' labels, units and types, the sensor's
serial number (``desc/acquisition/serial_number``), its placement (``desc/placement``) and
the frame; never the subject or a Bluetooth address. The ``source_id``
(``dmi-sensors/<sensor id>/imu`` ...) lets a consumer (LabRecorder) pick the stream up again
after a restart.

**Timestamps.** Each sample's time on the session clock (seconds since the session start)
plus the session start on the monotonic clock, mapped to LSL's ``local_clock()`` by their
offset measured when the outlet starts (on Linux both are ``CLOCK_MONOTONIC``: the offset
is zero within microseconds). LSL's own synchronisation then maps them onto every
consumer's clock. The session-clock time comes from a
:class:`~dmi_sensors.timing.LookaheadClock` per sensor (counters + arrival times, the
drift-corrected model of the live path's :class:`~dmi_sensors.timing.StreamingClock`, with
``delay_s`` of later arrivals): LSL timestamps are explicit, so the outlet publishes each
sample ``delay_s`` (plus up to one packet interval) after it arrived, and in return a run's
first packets are timed from the least-delayed packets of the next ``delay_s`` instead of
their own arrival, and a packet's early samples from its last one. The default 2 s (``record
--lsl-delay-s``) spans about ten packets of our sensors (19 samples at 100 Hz): measured, the
first packet within 1.5 ms of the offline clock fit instead of 190 ms late, every sample within
2 ms (docs/interop.md, with why 1 ms is not reached).
What is still held when the recording ends is published by :meth:`LslOutlet.flush`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.live.hub import LiveHub, LiveSamples
from dmi_sensors.session.events import EventRecord
from dmi_sensors.store.lsl_layout import IMU_CHANNELS, MARKER_TYPE, marker_text
from dmi_sensors.timing import LookaheadClock

__all__ = ["MARKER_STREAM", "LslOutlet"]

#: Name of the marker stream.
MARKER_STREAM = "dmi-sensors-markers"
#: Default publishing delay (look-ahead of the outlet's clock), s (module docstring).
LSL_DELAY_S = 2.0
_DERIVED = {
    "com": ("COM", (("COM_AP", "com_ap_mm"), ("COM_ML", "com_ml_mm")), "mm"),
    "tilt": ("Tilt", (("Tilt_AP", "tilt_ap_deg"), ("Tilt_ML", "tilt_ml_deg")), "deg"),
}


class _SensorTiming:
    """One sensor's publishing state: its clock and the held rows (acc, gyr, derived:
    8 columns) not yet timed."""

    def __init__(self, clock: LookaheadClock) -> None:
        self.clock = clock
        self.values: list[np.ndarray] = []


class LslOutlet:
    """LSL outlets for one live recording (module docstring).

    Parameters
    ----------
    hub
        The recording's live hub (its ``samples`` and ``tag`` messages are published).
    local_clock
        LSL's clock (``pylsl.local_clock``); the hub's clock is mapped onto it.
    delay_s
        Look-ahead of each sensor's :class:`~dmi_sensors.timing.LookaheadClock`, s: samples
        are published this long (plus up to one packet interval) after they arrived.
    """

    def __init__(
        self, hub: LiveHub, local_clock: Callable[[], float] | None = None, delay_s: float = LSL_DELAY_S
    ) -> None:
        import pylsl

        if not 0.0 <= delay_s <= 60.0:
            raise ParameterError(f"the LSL delay must be in [0, 60] s, got {delay_s}")
        self.delay_s = float(delay_s)

        self._pylsl = pylsl
        self.hub = hub
        self.local_clock = local_clock or pylsl.local_clock
        # hub clock (monotonic) -> LSL clock; both read back to back
        self.offset_s = self.local_clock() - hub.clock()
        self.imu: dict[str, Any] = {}
        self.derived: dict[str, Any] = {}
        self._timing: dict[str, _SensorTiming] = {}
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
        info = pylsl.StreamInfo(f"{sid} {kind}", type_, 2, fs, pylsl.cf_double64, f"dmi-sensors/{sid}/{kind}")
        self._describe(info, sid, placement, [(c, unit, type_) for c, _ in chans], "body")
        self.derived[sid] = (pylsl.StreamOutlet(info), kind)
        self._timing[sid] = _SensorTiming(LookaheadClock(fs, lookahead_s=self.delay_s))
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
        if msg.batch is None or msg.signals is None or msg.n_samples == 0:
            return
        sid = msg.sensor_id
        if sid not in self.imu:
            self.open_sensor(sid, msg.placement, msg.batch.fs_hz)
        b = msg.batch  # decoded and calibrated, as the live path has it
        timing = self._timing[sid]
        sig = msg.signals  # the live path's own tilt and COM of these samples (not computed again)
        if self.derived[sid][1] == "com":
            lever = msg.running.get("com_lever_frac")
            scale = np.nan if lever is None else float(lever)
            derived = np.column_stack([sig.com_ap_mm * scale, sig.com_ml_mm * scale])
        else:
            derived = np.degrees(np.column_stack([sig.tilt_ap_rad, sig.tilt_ml_rad]))
        timing.values.append(np.hstack([b.acc_mps2, b.gyr_rps, derived]))
        self._publish(sid, timing.clock.process(b.counter, b.host_time_s))

    def _publish(self, sid: str, time_s: np.ndarray) -> None:
        """Push the next ``len(time_s)`` held samples of ``sid`` with these session-clock times."""
        n = int(time_s.shape[0])
        if n == 0:
            return
        timing = self._timing[sid]
        held = np.concatenate(timing.values) if len(timing.values) > 1 else timing.values[0]
        rows, rest = held[:n], held[n:]
        timing.values = [rest] if rest.shape[0] else []
        stamps = self.lsl_time(time_s)
        ok = np.isfinite(stamps)
        if ok.any():
            rows, stamps = rows[ok], stamps[ok].tolist()
            self.imu[sid].push_chunk(rows[:, :6].tolist(), stamps)
            self.derived[sid][0].push_chunk(rows[:, 6:].tolist(), stamps)
            self.samples_pushed[sid] += len(stamps)

    def flush(self) -> None:
        """End of the recording: publish every sample still held (timed with the arrivals there are)."""
        for sid, timing in self._timing.items():
            if sid in self.imu:
                self._publish(sid, timing.clock.flush())

    def push_marker(self, rec: EventRecord) -> None:
        """One tag row as a JSON marker stamped with its onset."""
        text = marker_text(rec.to_dict())
        self.markers.push_sample([text], float(self.lsl_time(rec.onset_s)))
        self.markers_pushed += 1

    def summary(self) -> dict[str, Any]:
        """What was published: stream names, samples per sensor, markers."""
        return {
            "delay_s": self.delay_s,
            "streams": [*self.names, MARKER_STREAM],
            "samples": dict(self.samples_pushed),
            "markers": self.markers_pushed,
        }

    def close(self, linger_s: float = 0.0) -> None:
        """Stop publishing (consumers see the streams end). ``linger_s``: keep the outlets this
        long first (blocking: call it in a thread), so consumers receive the last samples
        still on their way (liblsl drops what an outlet has not sent when it is destroyed)."""
        self._unsubscribe()
        self.flush()
        if linger_s > 0 and (self.imu or self.derived):
            time.sleep(linger_s)
        self.imu.clear()
        self.derived.clear()
        self.markers = None
