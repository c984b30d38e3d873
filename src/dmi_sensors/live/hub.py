"""The live session: every sensor's live metrics, the tags, and whoever listens.

:class:`LiveHub` sits between a recording and its screens (the browser view of
:mod:`dmi_sensors.live.server`, a notebook, an LSL outlet...):

* ``on_batch`` — give it to the sensor links (``record(..., on_batch=hub.on_batch)``): each
  decoded batch goes through its sensor's :class:`~dmi_sensors.live.metrics.LiveSensor`
  at once (on the event loop, within the drain that decoded it);
* ``attach_tagger`` — the session's :class:`~dmi_sensors.session.Tagger` (the one the
  terminal keys drive): starts and ends of repetitions reach the sensors, so the running
  sway follows the repetition in progress and each repetition's result comes as soon as
  samples past its end arrived;
* :meth:`LiveHub.open_view` — for screens: a :class:`LiveView` pulls, whenever it draws,
  each sensor's trace samples since its previous pull, the running sway and the arrival
  times of the packets that brought them (nothing is built per packet for it);
* :meth:`LiveHub.subscribe` — the subscription API: ``callback(message)`` for every
  message of the chosen kinds, on the event loop, in order:

  ===============  =====================================================================
  ``samples``      :class:`LiveSamples`: one sensor's new samples (every one, for outlets),
                   its trace samples and running sway; built only while someone subscribed
  ``repetition``   :class:`~dmi_sensors.live.metrics.RepetitionResult`
  ``tag``          :class:`~dmi_sensors.session.events.EventRecord` (closed tag rows) and
                   ``{"action": ...}`` dicts for actions without a row (start of an exercise)
  ``status``       ``{"sensor_id": ..., "state": ...}`` when a link's state changes
  ===============  =====================================================================

  A subscriber that raises is logged and dropped, never the recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmi_sensors.live.latency import LatencyRecorder
from dmi_sensors.live.metrics import LiveParams, LiveSensor, RepetitionResult
from dmi_sensors.live.signals import LiveSignalsOutput
from dmi_sensors.session.events import EventRecord
from dmi_sensors.types import SampleBatch

__all__ = ["KINDS", "LiveHub", "LiveSamples", "LiveView"]

log = logging.getLogger(__name__)

KINDS = ("samples", "repetition", "tag", "status")


@dataclass(frozen=True)
class LiveSamples:
    """New live values of one sensor (one decoded batch).

    ``trace``: decimated signals (``t`` s, ``tilt_ap_deg``, ``tilt_ml_deg``, and ``com_ap_mm``,
    ``com_ml_mm`` with a COM height); ``running``: the running sway of the repetition in
    progress (:meth:`LiveSensor.running`); ``arrival_s``: host arrival of the newest packet
    in the batch (s since the session start); ``arrivals_s``: of each packet;
    ``n_samples``: samples in the batch. Every sample at full rate: ``batch`` (decoded and
    calibrated, :class:`~dmi_sensors.types.SampleBatch`) with ``time_s`` (each sample's
    time on the session clock by :class:`~dmi_sensors.timing.StreamingClock`) and
    ``signals`` (the live path's tilt and COM of every sample,
    :class:`~dmi_sensors.live.signals.LiveSignalsOutput`; the COM at the full COM height):
    what an outlet (e.g. LSL) forwards. ``time_s`` and ``signals`` are read-only views of
    the sensor's buffer of recent signals, which the repetition results are measured on.
    """

    sensor_id: str
    placement: str
    n_samples: int
    trace: dict[str, list[float]]
    running: dict[str, Any]
    arrival_s: float
    arrivals_s: tuple[float, ...]
    batch: SampleBatch | None = None
    time_s: np.ndarray | None = None
    signals: LiveSignalsOutput | None = None


class LiveView:
    """What a screen pulls from a :class:`LiveHub` when it draws (:meth:`LiveHub.open_view`).

    Each :meth:`pull` returns what is new since the previous one (the first: since the view
    was opened): per sensor the trace samples (:meth:`LiveSensor.trace_since
    <dmi_sensors.live.metrics.LiveSensor.trace_since>`, every trace sample once, whatever
    the batches and the pulls) and the running sway now, and the host arrival times
    (s since the session start) of every packet added since, one per packet: the packets
    whose data the pull carries (the screen latency is measured from them).
    """

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        #: arrival time of every packet added since the last pull (LiveHub.on_batch appends)
        self.arrivals: list[float] = []
        self._next: dict[str, int] = {}  # per sensor: the absolute sample index to pull from
        self.skip()

    def has_trace(self) -> bool:
        """True when a pull now would carry at least one trace sample."""
        nxt = self._next
        return any(s.has_trace_since(nxt.get(sid, 0)) for sid, s in self.hub.sensors.items())

    def pull(self) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, Any]], list[float]]:
        """``(traces, running, arrivals)`` since the previous pull: ``traces`` and
        ``running`` keyed by sensor id (``traces``: sensors with at least one new trace
        sample; ``running``: sensors with new samples), ``arrivals`` in order."""
        traces: dict[str, dict[str, list[float]]] = {}
        running: dict[str, dict[str, Any]] = {}
        nxt = self._next
        for sid, s in self.hub.sensors.items():
            index = nxt.get(sid, 0)
            if s.end_index <= index:
                continue
            trace, nxt[sid] = s.trace_since(index)
            if trace["t"]:
                traces[sid] = trace
            running[sid] = s.running()
        arrivals, self.arrivals = self.arrivals, []
        return traces, running, arrivals

    def skip(self) -> None:
        """Forget what is new (no screen to show it): the next :meth:`pull` starts from now."""
        self._next = {sid: s.end_index for sid, s in self.hub.sensors.items()}
        self.arrivals = []

    def close(self) -> None:
        """Stop following the hub."""
        if self in self.hub._views:
            self.hub._views.remove(self)


class LiveHub:
    """Live metrics of every sensor of a recording, tags, subscribers (module docstring).

    Parameters
    ----------
    params
        :class:`LiveParams` for every sensor.
    placements
        ``{sensor_id: placement}`` known before the recording (others come with their data).
    calibrations
        ``{sensor_id: SensorCalibration}`` (missing: uncalibrated).
    t0_s
        Session start on ``clock`` (set it when the recording's clock starts: :meth:`set_t0`).
    clock
        Monotonic clock, seconds.
    """

    def __init__(
        self,
        params: LiveParams | None = None,
        placements: Mapping[str, str] | None = None,
        calibrations: Mapping[str, Any] | None = None,
        t0_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params or LiveParams()
        self.placements = dict(placements or {})
        self.calibrations = dict(calibrations or {})
        self.clock = clock
        self.latency = LatencyRecorder(0.0 if t0_s is None else t0_s, clock)
        self.sensors: dict[str, LiveSensor] = {}
        self.results: list[RepetitionResult] = []
        self.tags: list[EventRecord] = []
        self.tagger: Any = None
        self.link_states: dict[str, dict[str, Any]] = {}
        self._subscribers: list[tuple[Callable[[Any], None], frozenset[str]]] = []
        self._samples_wanted = False  # someone subscribed to "samples": build LiveSamples
        self._views: list[LiveView] = []
        self._current_rep: tuple[str, int, float] | None = None

    def set_t0(self, t0_s: float) -> None:
        """The recording's session start on :attr:`clock` (the packets' time origin)."""
        self.latency.t0_s = t0_s

    def now_s(self) -> float:
        """Seconds since the session start."""
        return self.clock() - self.latency.t0_s

    # -- subscription ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Any], None], kinds: Iterable[str] = KINDS) -> Callable[[], None]:
        """Call ``callback(message)`` for every message of ``kinds``; returns an unsubscribe function."""
        wanted = frozenset(kinds)
        unknown = wanted - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {KINDS}")
        entry = (callback, wanted)
        self._subscribers.append(entry)
        self._samples_wanted = self._samples_wanted or "samples" in wanted

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._drop(entry)

        return unsubscribe

    def _drop(self, entry: tuple[Callable[[Any], None], frozenset[str]]) -> None:
        self._subscribers.remove(entry)
        self._samples_wanted = any("samples" in kinds for _, kinds in self._subscribers)

    def open_view(self) -> LiveView:
        """A :class:`LiveView` of this hub for a screen (close it when the screen goes)."""
        view = LiveView(self)
        self._views.append(view)
        return view

    def _publish(self, kind: str, message: Any) -> None:
        for entry in list(self._subscribers):
            callback, kinds = entry
            if kind in kinds:
                try:
                    callback(message)
                except Exception:
                    log.exception("live subscriber %r failed; unsubscribed", callback)
                    if entry in self._subscribers:
                        self._drop(entry)

    # -- data ------------------------------------------------------------------------------
    def sensor(self, sensor_id: str, fs_hz: float) -> LiveSensor:
        """The live sensor of ``sensor_id`` (created at its first batch)."""
        s = self.sensors.get(sensor_id)
        if s is None:
            s = LiveSensor(
                sensor_id,
                self.placements.get(sensor_id, ""),
                fs_hz,
                self.params,
                self.calibrations.get(sensor_id),
            )
            self.sensors[sensor_id] = s
            cur = self._current_event()
            if cur is not None:
                s.start_repetition(cur)
        return s

    def on_batch(self, batch: SampleBatch) -> None:
        """A sensor link's decoded batch (``SensorLink.on_batch``): live metrics now.

        Once per BLE packet in a recording, so it builds nothing for screens (they pull,
        :class:`LiveView`): the sensor's live path, the arrival times for the latencies and
        the views, and a :class:`LiveSamples` message only while someone subscribed to
        ``samples``."""
        n = len(batch)
        if n == 0:
            return
        sensor = self.sensors.get(batch.sensor_id)
        if sensor is None:
            sensor = self.sensor(batch.sensor_id, batch.fs_hz)
        results = sensor.add_samples(batch)
        h = batch.host_time_s  # one arrival time per packet, in order
        last = h.item(n - 1)
        if last == h.item(0):  # one packet (the usual live batch)
            arrivals: tuple[float, ...] = (last,)
            self.latency.add_one("metric", last)
            for view in self._views:
                view.arrivals.append(last)
        else:
            arrivals = tuple(h[[*np.flatnonzero(h[1:] != h[:-1]).tolist(), n - 1]].tolist())
            self.latency.add("metric", arrivals)
            for view in self._views:
                view.arrivals.extend(arrivals)
        if self._samples_wanted:
            update = sensor.last_update()
            self._publish(
                "samples",
                LiveSamples(
                    sensor.sensor_id,
                    sensor.placement,
                    update.n_samples,
                    update.trace,
                    update.running,
                    last,
                    arrivals,
                    update.batch,
                    update.time_s,
                    update.signals,
                ),
            )
        if results:
            self._results(results)

    def _results(self, results: list[RepetitionResult]) -> None:
        for r in results:
            self.results.append(r)
            self._publish("repetition", r)

    def finish(self) -> list[RepetitionResult]:
        """End of the recording (after the links stopped): measure every repetition still open."""
        done: list[RepetitionResult] = []
        for s in self.sensors.values():
            res = s.flush()
            self._results(res)
            done.extend(res)
        return done

    def set_link_state(self, sensor_id: str, **fields: Any) -> None:
        """A link's placement/state/battery/loss as the screens show them (``status`` messages on change)."""
        old = self.link_states.get(sensor_id)
        new = {**(old or {}), **fields, "sensor_id": sensor_id}
        if new != old:
            self.link_states[sensor_id] = new
            if fields.get("placement"):
                self.placements.setdefault(sensor_id, fields["placement"])
            self._publish("status", dict(new))

    # -- tags --------------------------------------------------------------------------------
    def attach_tagger(self, tagger: Any) -> None:
        """Follow ``tagger`` (a :class:`~dmi_sensors.session.Tagger`): its closed rows and repetition starts."""
        self.tagger = tagger
        previous = tagger.on_event

        def on_event(rec: EventRecord) -> None:
            if previous is not None:
                previous(rec)
            self.on_tag(rec)

        tagger.on_event = on_event
        self.tagger_changed()

    def on_tag(self, rec: EventRecord) -> None:
        """A closed tag row: stored for the screens; a repetition row is measured."""
        self.tags.append(rec)
        self._publish("tag", rec)
        if rec.kind == "repetition":
            cur = self._current_rep
            if cur is not None and (cur[0], cur[1]) == (rec.exercise, rec.repetition):
                self._current_rep = None
            for s in self.sensors.values():
                self._results(s.add_repetition(rec))

    def _current_event(self) -> EventRecord | None:
        cur = self._current_rep
        t = self.tagger
        if cur is None or t is None or t.current is None:
            return None
        ex = t.current
        return EventRecord(
            cur[2],
            0.0,
            exercise=cur[0],
            repetition=cur[1],
            support=ex.support,
            kind="repetition",
            posture=ex.expected_posture,
        )

    def tagger_changed(self, action: str = "") -> None:
        """After an action on the tagger: notice a repetition that started (the tagger writes
        a row only when one closes)."""
        t = self.tagger
        if t is None:
            return
        onset = getattr(t, "repetition_onset_s", None)
        ex = t.current
        now = (ex.exercise_id, t.repetition, onset) if ex is not None and onset is not None else None
        if now != self._current_rep:
            self._current_rep = now
            ev = self._current_event()
            if ev is not None:
                for s in self.sensors.values():
                    s.start_repetition(ev)
        if action:
            self._publish("tag", {"action": action, "at_s": self.now_s()})

    def tag_state(self) -> dict[str, Any]:
        """What the screens show of the tagging: exercise, repetition, support, hold timer."""
        t = self.tagger
        if t is None:
            return {"active": False}
        ex = t.current
        upcoming = t.upcoming()
        plan = t.plan
        out: dict[str, Any] = {
            "active": not t.stopped,
            "stopped": bool(t.stopped),
            "paused": bool(t.paused),
            "now_s": self.now_s(),
            "exercise": None,
            "upcoming": None if upcoming is None else {"id": upcoming.exercise_id, "name": upcoming.name},
            "plan_index": t.plan_index,
            "plan_length": None if plan is None else len(plan),
        }
        if ex is not None:
            out["exercise"] = {
                "id": ex.exercise_id,
                "name": ex.name,
                "support": ex.support,
                "posture": ex.expected_posture,
                "hold_s": ex.hold_s,
                "target_repetitions": ex.target_repetitions,
            }
            out["repetition"] = t.repetition
            out["repetition_onset_s"] = getattr(t, "repetition_onset_s", None)
        return out
