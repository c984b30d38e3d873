"""Live metrics of one sensor: decoded samples -> calibrated -> timed -> sway signals ->
a live trace, the running sway of the current repetition and each repetition's result.

:class:`LiveSensor` takes the :class:`~dmi_sensors.types.SampleBatch` of every drain of a
sensor link (``SensorLink.on_batch``), in arrival order:

1. calibration (:func:`dmi_sensors.calibration.apply_to_batch`) when the sensor has one;
2. time (:class:`dmi_sensors.timing.StreamingClock`: counters + arrival times, causal);
3. signals (:class:`~dmi_sensors.live.signals.LiveSignals`: orientation, tilt, COM);
4. the running sway of the repetition in progress (RMS AP/ML of its hold so far) and, for
   every closed repetition (:meth:`LiveSensor.add_repetition`), its result
   (:func:`repetition_result`) as soon as samples past its end have arrived.

A repetition is measured on its *hold*, as the session analysis does
(:class:`~dmi_sensors.analysis.session.SessionAnalysisParams`): from
``repetition_movement_s`` after its onset to its end, when at least ``min_hold_s`` long.
The samples of an interval ``[a, b)`` are those from the first sample (in arrival order)
timed at or after ``a`` to the first timed at or after ``b``: a rule that depends on the
samples only, so the stored recording replayed at once (:func:`replay_stored`) gives every
result bit for bit (tests/test_live_metrics.py).

Which measures: in standing and sitting (where the inverted-pendulum model holds) with a
known COM height, the Prieto 1996 COM measures of :func:`dmi_sensors.metrics.prieto_measures`;
otherwise (four-point, kneeling, lying, or no COM height) the same measures of the trunk
tilt in degrees (``tilt_rms_ap_deg``, ...: RMS, range, path length, mean angular velocity).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmi_sensors.analysis.session import SessionAnalysisParams
from dmi_sensors.calibration import apply_to_batch
from dmi_sensors.errors import ParameterError
from dmi_sensors.live._live_kernels import live_rows_into, running_sums_add
from dmi_sensors.live.signals import LiveSignals, LiveSignalsOutput
from dmi_sensors.metrics import prieto_measures
from dmi_sensors.metrics.levers import com_lever
from dmi_sensors.session.events import EventRecord
from dmi_sensors.timing import StreamingClock
from dmi_sensors.types import SampleBatch

__all__ = [
    "COM_POSTURES",
    "LiveParams",
    "LiveSensor",
    "RepetitionResult",
    "com_lever_frac",
    "repetition_result",
    "replay_stored",
    "warm_up",
]

#: the kernel, typed loosely: its middle arguments come as one tuple (``LiveSensor._kernel_args``)
_live_rows_into: Callable[..., None] = live_rows_into

#: Postures where the inverted-pendulum COM is measured (elsewhere: trunk tilt); the lever
#: follows the posture and support (:func:`com_lever_frac`).
COM_POSTURES = ("standing", "supported_standing", "sitting")
#: The measures a repetition result carries (COM in mm, or tilt in degrees).
COM_MEASURES = (
    "com_rms_ap_mm",
    "com_rms_ml_mm",
    "com_range_ap_mm",
    "com_range_ml_mm",
    "com_ellipse_area_mm2",
    "com_mean_velocity_mm_s",
    "com_path_length_mm",
)
TILT_MEASURES = (
    "tilt_rms_ap_deg",
    "tilt_rms_ml_deg",
    "tilt_range_ap_deg",
    "tilt_range_ml_deg",
    "tilt_mean_velocity_deg_s",
    "tilt_path_length_deg",
)


@dataclass(frozen=True)
class LiveParams:
    """Everything that changes a live number (kept with the results).

    Attributes
    ----------
    com_height_m
        COM height above the pivot, m; None: tilt measures only.
    repetition_movement_s, min_hold_s
        A repetition's hold starts this long after its onset and is measured when at least
        ``min_hold_s`` long (the session analysis's defaults).
    orientation_filter, mahony_kp, mahony_ki, madgwick_gain, com_lowpass_hz, ellipse_method
        As :class:`~dmi_sensors.analysis.trial.TrialAnalysisParams` (the analysis defaults).
    trace_hz
        Rate of the live trace sent to screens, Hz (every ``round(fs / trace_hz)``-th sample).
    buffer_s
        Seconds of signals kept for repetitions still open (longer than any repetition).
    """

    com_height_m: float | None = None
    repetition_movement_s: float = 2.0
    min_hold_s: float = 2.0
    orientation_filter: str = "mahony"
    mahony_kp: float = 0.3
    mahony_ki: float = 0.0
    madgwick_gain: float = 0.001
    com_lowpass_hz: float | None = 5.0
    ellipse_method: str = "prediction_F"
    trace_hz: float = 25.0
    buffer_s: float = 300.0

    def __post_init__(self) -> None:
        if self.com_height_m is not None and not self.com_height_m > 0:
            raise ParameterError(f"com_height_m must be positive (or None), got {self.com_height_m}")
        if not self.trace_hz > 0 or not self.buffer_s > 0:
            raise ParameterError("trace_hz and buffer_s must be positive")

    @classmethod
    def from_analysis(
        cls, session: SessionAnalysisParams | None, com_height_m: float | None, **changes: Any
    ) -> LiveParams:
        """The live parameters that match a session analysis (same movement, hold and metric settings)."""
        s = session or SessionAnalysisParams()
        metrics = dict(s.metrics)
        known = {f.name for f in dataclasses.fields(cls)}
        taken = {k: v for k, v in metrics.items() if k in known}
        return cls(
            com_height_m=com_height_m,
            repetition_movement_s=s.repetition_movement_s,
            min_hold_s=s.min_hold_s,
            **{**taken, **changes},
        )

    def signals(self, fs_hz: float) -> LiveSignals:
        """The :class:`LiveSignals` of a sensor sampled at ``fs_hz``."""
        return LiveSignals(
            fs_hz,
            com_height_m=self.com_height_m,
            orientation_filter=self.orientation_filter,
            mahony_kp=self.mahony_kp,
            mahony_ki=self.mahony_ki,
            madgwick_gain=self.madgwick_gain,
            com_lowpass_hz=self.com_lowpass_hz,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RepetitionResult:
    """One repetition of one sensor, measured on its hold.

    ``measures`` maps registered names (``com_rms_ap_mm`` ... or ``tilt_rms_ap_deg`` ...) to
    values; empty with a ``status`` saying why when the hold could not be measured.
    """

    sensor_id: str
    placement: str
    exercise: str
    repetition: int
    support: str
    posture: str
    onset_s: float
    end_s: float
    hold_start_s: float
    kind: str  # "com" or "tilt"
    status: str  # "ok" or why not measured
    n_samples: int
    measures: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["measures"] = {k: (v if math.isfinite(v) else None) for k, v in self.measures.items()}
        return d


def com_lever_frac(event: EventRecord | None, params: LiveParams) -> float | None:
    """The COM lever of an event's posture and support as a multiple of ``com_height_m``
    (:func:`dmi_sensors.metrics.levers.com_lever`, the session analysis's pendulum: 1.0
    standing free or held at the ankles, 0.56 held at the knees, 0.19 at the hips or
    sitting); None where tilt is measured instead (no pendulum, or no COM height).

    The live COM signal is ``1000 · com_height_m · sin θ`` low-passed (linear), so a
    repetition's COM is that signal times this fraction.
    """
    if event is None or params.com_height_m is None:
        return None
    lever = com_lever(event.posture or "", event.support or "none")
    return None if lever is None else lever.lever_frac


def repetition_result(
    sensor_id: str,
    placement: str,
    event: EventRecord,
    fs_hz: float,
    tilt_ap_rad: np.ndarray,
    tilt_ml_rad: np.ndarray,
    com_ap_mm: np.ndarray,
    com_ml_mm: np.ndarray,
    gap_before: np.ndarray,
    params: LiveParams,
) -> RepetitionResult:
    """Measures of one repetition's hold from its samples (gap-free, in order; see the module docstring).

    ``com_ap_mm`` / ``com_ml_mm``: the COM signal at the full ``com_height_m`` lever; the
    measures use the lever of the repetition's posture and support (:func:`com_lever_frac`).
    """
    posture = event.posture or ""
    lever_frac = com_lever_frac(event, params)
    kind = "tilt" if lever_frac is None else "com"
    hold0 = event.onset_s + params.repetition_movement_s
    n = int(tilt_ap_rad.shape[0])

    def result(status: str, measures: dict[str, float] | None = None) -> RepetitionResult:
        return RepetitionResult(
            sensor_id=sensor_id,
            placement=placement,
            exercise=event.exercise,
            repetition=int(event.repetition),
            support=event.support,
            posture=posture,
            onset_s=float(event.onset_s),
            end_s=float(event.end_s),
            hold_start_s=float(hold0),
            kind=kind,
            status=status,
            n_samples=n,
            measures=measures or {},
        )

    if event.end_s - hold0 < params.min_hold_s:
        return result(f"hold shorter than {params.min_hold_s:g} s")
    if n < 3:
        return result("no samples (link down?)")
    if gap_before[1:].any():
        return result("samples lost in the hold")
    if n < 0.9 * (event.end_s - hold0) * fs_hz:
        return result("the hold is not fully covered by samples")
    if lever_frac is not None:
        # no sample entropy: not shown live, and its O(N²) kernel would hold the event loop
        m = prieto_measures(com_ap_mm * lever_frac, com_ml_mm * lever_frac, fs_hz, params.ellipse_method, sampen=None)
        measures = {k: float(m[k]) for k in COM_MEASURES}
    else:
        m = prieto_measures(np.degrees(tilt_ap_rad), np.degrees(tilt_ml_rad), fs_hz, params.ellipse_method, sampen=None)
        measures = {
            "tilt_rms_ap_deg": float(m["com_rms_ap_mm"]),
            "tilt_rms_ml_deg": float(m["com_rms_ml_mm"]),
            "tilt_range_ap_deg": float(m["com_range_ap_mm"]),
            "tilt_range_ml_deg": float(m["com_range_ml_mm"]),
            "tilt_mean_velocity_deg_s": float(m["com_mean_velocity_mm_s"]),
            "tilt_path_length_deg": float(m["com_path_length_mm"]),
        }
    return result("ok", measures)


class _Buffer:
    """The recent signals of one sensor, indexed by absolute sample number (arrival order).

    Rows live in a preallocated array (doubled when full, compacted when trimmed), so an
    append costs the copy of the new rows only.
    """

    COLUMNS = ("time_s", "tilt_ap_rad", "tilt_ml_rad", "com_ap_mm", "com_ml_mm", "gap")

    def __init__(self, capacity: int = 4096) -> None:
        self.first = 0  # absolute index of row 0
        self._rows = np.empty((capacity, len(self.COLUMNS)))
        self._start = 0  # row of self._rows holding absolute index `first`
        self._n = 0

    @property
    def data(self) -> np.ndarray:
        return self._rows[self._start : self._start + self._n]

    @property
    def end(self) -> int:
        return self.first + self._n

    def reserve(self, m: int) -> np.ndarray:
        """``m`` new rows at the end (to be filled by the caller)."""
        stop = self._start + self._n
        if stop + m > self._rows.shape[0]:
            keep = self.data.copy()
            cap = max(self._rows.shape[0], 2 * (self._n + m))
            self._rows = np.empty((cap, len(self.COLUMNS)))
            self._rows[: self._n] = keep
            self._start, stop = 0, self._n
        self._n += m
        return self._rows[stop : stop + m]

    def first_time_s(self) -> float:
        """Time of the oldest sample kept (inf when empty)."""
        return self._rows.item(self._start, 0) if self._n else math.inf

    def trim_before(self, index: int) -> None:
        k = index - self.first
        if k > 0:
            k = min(k, self._n)
            self._start += k
            self._n -= k
            self.first += k

    def first_at_or_after(self, t_s: float, start: int = 0) -> int | None:
        """Absolute index of the first sample (arrival order, from ``start``) timed >= ``t_s``."""
        k0 = max(0, start - self.first)
        hits = np.flatnonzero(self.data[k0:, 0] >= t_s)
        return None if hits.size == 0 else self.first + k0 + int(hits[0])


@dataclass
class LiveUpdate:
    """What one batch changed for one sensor (for screens and subscribers)."""

    sensor_id: str
    n_samples: int
    trace: dict[str, list[float]]
    running: dict[str, Any]
    results: list[RepetitionResult]
    batch: SampleBatch | None = None
    time_s: np.ndarray | None = None
    signals: LiveSignalsOutput | None = None


class LiveSensor:
    """The live path of one sensor after decoding (see the module docstring).

    Parameters
    ----------
    sensor_id, placement
        Which sensor, where it sits.
    fs_hz
        Its nominal rate, Hz.
    params
        :class:`LiveParams`.
    calibration
        Its calibration (:class:`dmi_sensors.calibration.SensorCalibration`), or None.
    """

    def __init__(
        self,
        sensor_id: str,
        placement: str,
        fs_hz: float,
        params: LiveParams | None = None,
        calibration: Any = None,
    ) -> None:
        self.sensor_id = sensor_id
        self.placement = placement
        self.fs_hz = float(fs_hz)
        self.params = params or LiveParams()
        self.calibration = calibration
        self.clock = StreamingClock(self.fs_hz)
        self.signals = self.params.signals(self.fs_hz)
        self._buf = _Buffer()
        self._decim = max(1, round(self.fs_hz / self.params.trace_hz))
        self._pending: list[EventRecord] = []
        self.results: list[RepetitionResult] = []
        self.samples = 0
        self.last_time_s = -math.inf
        # the repetition in progress: hold start time and the running sums from its first sample
        self._current: EventRecord | None = None
        self._run_index: int | None = None
        #: running sums of the repetition's hold: n, Σap, Σml, Σap², Σml² (COM mm or tilt rad)
        self._run: np.ndarray = np.zeros(5)
        self._kernel_args: tuple[Any, ...] = (*self.clock.kernel_arrays(), *self.signals.kernel_arrays())
        self._com = self.params.com_height_m is not None
        self._trace_keys = ("t", "tilt_ap_deg", "tilt_ml_deg", *(("com_ap_mm", "com_ml_mm") if self._com else ()))
        #: the batch add_samples added last: (calibrated batch, absolute index of its first sample, its rows)
        self._last: tuple[SampleBatch, int, np.ndarray] | None = None
        self._set_current(None)

    # -- input -------------------------------------------------------------------------
    def add_samples(self, batch: SampleBatch) -> list[RepetitionResult]:
        """Process the next decoded samples of this sensor (arrival order); returns the
        repetitions that became measurable.

        The live path of a recording (:meth:`LiveHub.on_batch
        <dmi_sensors.live.hub.LiveHub.on_batch>`, once per BLE packet): nothing is built for
        screens here. They pull what is new when they draw (:meth:`trace_since`,
        :meth:`running`); :meth:`last_update` describes the batch just added.
        """
        n = len(batch)
        if n == 0:
            return []
        if self.calibration is not None:
            batch = apply_to_batch(self.calibration, batch)
        buf = self._buf
        start = buf.end
        rows = buf.reserve(n)  # time, tilt AP/ML, COM AP/ML, gap: written in place
        in_hold = self._current is not None and self._run_index is not None
        _live_rows_into(
            batch.counter, batch.host_time_s, batch.acc_mps2, batch.gyr_rps, batch.gap_before,
            *self._kernel_args, rows, in_hold, self._run_col, self._run,
        )  # fmt: skip
        if self._current is not None and not in_hold:  # the hold's first sample may be in this batch
            self._update_running(start)
        self.samples += n
        self.last_time_s = max(self.last_time_s, rows.item(n - 1, 0), rows.item(0, 0))
        self._last = (batch, start, rows)
        results = self._finish_due() if self._pending else []
        if buf.first_time_s() < self.last_time_s - self.params.buffer_s - 30.0:
            self._trim()
        return results

    def add_batch(self, batch: SampleBatch) -> LiveUpdate:
        """Process the next decoded samples of this sensor (arrival order) and describe
        them (:meth:`add_samples`, then :meth:`last_update`: this batch's trace samples and
        the running sway after it)."""
        if len(batch) == 0:
            return LiveUpdate(self.sensor_id, 0, {}, self.running(), [])
        return self.last_update(self.add_samples(batch))

    def last_update(self, results: list[RepetitionResult] | None = None) -> LiveUpdate:
        """The :class:`LiveUpdate` of the batch :meth:`add_samples` added last (with
        ``results``, what that call returned): the calibrated batch, its samples' times and
        signals (read-only views of the buffer), its trace samples and the running sway now."""
        if self._last is None:
            return LiveUpdate(self.sensor_id, 0, {}, self.running(), list(results or []))
        batch, start, rows = self._last
        rows.flags.writeable = False  # time_s and signals are views of these rows
        out = LiveSignalsOutput(rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4])
        return LiveUpdate(
            self.sensor_id, len(batch), self._trace(rows, start), self.running(), list(results or []),
            batch, rows[:, 0], out,
        )  # fmt: skip

    # -- the live trace (pulled by screens) ------------------------------------------------
    @property
    def end_index(self) -> int:
        """Absolute index (arrival order, from 0) after this sensor's newest sample."""
        return self._buf.end

    @property
    def trace_decim(self) -> int:
        """The live trace holds every ``trace_decim``-th sample by absolute index
        (``round(fs_hz / trace_hz)``)."""
        return self._decim

    def has_trace_since(self, index: int) -> bool:
        """True when a trace sample (absolute index a multiple of :attr:`trace_decim`) at or
        after ``index`` is in the buffer."""
        i0 = max(index, self._buf.first)
        return i0 + (-i0) % self._decim < self._buf.end

    def trace_since(self, index: int) -> tuple[dict[str, list[float]], int]:
        """The live trace from absolute sample index ``index`` on (what a screen has not
        drawn yet) and the index to ask from next time (:attr:`end_index`).

        The trace is every :attr:`trace_decim`-th sample by absolute index: ``t`` (s),
        ``tilt_ap_deg``, ``tilt_ml_deg`` and, with a COM height, ``com_ap_mm``, ``com_ml_mm``
        (continuous, at the full COM height: see :meth:`running`), lists of equal length
        (empty without a trace sample). Samples already dropped from the buffer (older than
        ``buffer_s``) are not in it. Any split of a recording into batches and of the
        buffer into calls gives the same trace samples, each once.
        """
        buf = self._buf
        i0 = max(index, buf.first)
        return self._trace(buf.data[i0 - buf.first :], i0), buf.end

    def _trace(self, rows: np.ndarray, start: int) -> dict[str, list[float]]:
        """The trace samples among ``rows`` (absolute indices from ``start``)."""
        first = (-start) % self._decim
        if first >= rows.shape[0]:
            return {key: [] for key in self._trace_keys}
        sel = rows[first :: self._decim]
        trace = {
            "t": sel[:, 0].tolist(),
            "tilt_ap_deg": np.degrees(sel[:, 1]).tolist(),
            "tilt_ml_deg": np.degrees(sel[:, 2]).tolist(),
        }
        if self._com:  # continuous, at the full COM height (see running())
            trace["com_ap_mm"] = sel[:, 3].tolist()
            trace["com_ml_mm"] = sel[:, 4].tolist()
        return trace

    def start_repetition(self, event: EventRecord) -> None:
        """A repetition started (``event``: its exercise, number, posture and onset; duration unknown)."""
        self._set_current(event)
        self._run_index = None
        self._run[:] = 0.0
        self._update_running(self._buf.first)

    def add_repetition(self, event: EventRecord) -> list[RepetitionResult]:
        """A repetition closed (a ``kind="repetition"`` record): measured once samples past its end arrived."""
        if event.kind != "repetition":
            raise ParameterError(f"add_repetition takes repetition records, got kind {event.kind!r}")
        if self._current is not None and (self._current.exercise, self._current.repetition) == (
            event.exercise,
            event.repetition,
        ):
            self._set_current(None)
            self._run_index = None
        self._pending.append(event)
        return self._finish_due()

    def flush(self) -> list[RepetitionResult]:
        """End of the recording: measure every pending repetition with the samples there are."""
        return self._finish_due(final=True)

    # -- state ---------------------------------------------------------------------------
    def _set_current(self, event: EventRecord | None) -> None:
        """The repetition in progress, with its measure's kind and COM lever (asked every batch)."""
        self._current = event
        self._cur_lever = com_lever_frac(event, self.params)
        self._cur_kind = "tilt" if self._cur_lever is None else "com"
        self._run_col = 3 if self._cur_kind == "com" else 1  # the buffer's AP column of that measure

    def running(self) -> dict[str, Any]:
        """The running sway of the repetition in progress: RMS AP/ML of its hold so far
        (mm for COM, degrees for tilt), with the posture-chosen kind and the COM lever of
        its posture and support (``com_lever_frac``: the trace's COM, at the full COM
        height, times this is the repetition's COM; None for tilt)."""
        ev = self._current
        n = float(self._run[0])
        kind = self._cur_kind
        lever_frac = self._cur_lever
        if ev is None or n < 2:
            return {"kind": kind, "com_lever_frac": lever_frac, "rms_ap": None, "rms_ml": None, "hold_s": None}
        _, s_ap, s_ml, ss_ap, ss_ml = self._run.tolist()
        mean_ap, mean_ml = s_ap / n, s_ml / n
        scale = math.degrees(1.0) if lever_frac is None else lever_frac
        return {
            "kind": kind,
            "com_lever_frac": lever_frac,
            "rms_ap": math.sqrt(max(ss_ap / n - mean_ap * mean_ap, 0.0)) * scale,
            "rms_ml": math.sqrt(max(ss_ml / n - mean_ml * mean_ml, 0.0)) * scale,
            "hold_s": n / self.fs_hz,
        }

    def _update_running(self, start: int) -> None:
        """Add the buffer's rows from absolute index ``start`` on to the running sums (from
        the hold's first sample, found first if not yet)."""
        ev = self._current
        if ev is None:
            return
        if self._run_index is None:
            hit = self._buf.first_at_or_after(ev.onset_s + self.params.repetition_movement_s, start)
            if hit is None:
                return
            self._run_index = hit
            start = hit
        k = max(start, self._run_index) - self._buf.first
        running_sums_add(self._buf.data, k, self._run_col, self._run)

    def _finish_due(self, final: bool = False) -> list[RepetitionResult]:
        done = []
        keep = []
        for ev in self._pending:
            hold0 = ev.onset_s + self.params.repetition_movement_s
            i0 = self._buf.first_at_or_after(hold0)
            i1 = self._buf.first_at_or_after(ev.end_s, i0 or 0)
            if i1 is None and not final:
                keep.append(ev)  # samples past its end have not arrived yet
                continue
            if i0 is None:
                i0 = i1 = self._buf.end
            elif i1 is None:
                i1 = self._buf.end
            rows = self._buf.data[i0 - self._buf.first : i1 - self._buf.first]
            res = repetition_result(
                self.sensor_id,
                self.placement,
                ev,
                self.fs_hz,
                rows[:, 1],
                rows[:, 2],
                rows[:, 3],
                rows[:, 4],
                rows[:, 5] > 0,
                self.params,
            )
            done.append(res)
        self._pending = keep
        self.results.extend(done)
        return done

    def _trim(self) -> None:
        """Drop the samples older than ``buffer_s`` before the newest (called once the oldest
        is 30 s past that, so trimming is rare)."""
        idx = self._buf.first_at_or_after(self.last_time_s - self.params.buffer_s)
        if idx is not None:
            self._buf.trim_before(idx)


def warm_up() -> None:
    """Load (or compile) every Numba kernel and library the live path uses, now.

    A first batch or a first repetition result would otherwise pay it on the event loop
    (a second or more). ``record --live`` runs this in a worker thread while it scans.
    """
    from dmi_sensors.protocol.stream import warm_up as warm_up_decoder

    warm_up_decoder()
    n = 600
    acc = np.tile([0.0, 0.0, 9.80665], (n, 1))
    batch = SampleBatch(
        "warm-up", 200.0, np.arange(n), np.arange(n) / 200.0, np.arange(n) / 200.0, acc, np.zeros((n, 3))
    )
    for com in (0.5, None):
        sensor = LiveSensor("warm-up", "", 200.0, LiveParams(com_height_m=com))
        posture = "standing" if com else "four_point"
        sensor.start_repetition(EventRecord(0.0, 0.0, exercise="x", repetition=1, kind="repetition", posture=posture))
        sensor.add_batch(batch)
        sensor.add_repetition(EventRecord(0.0, 2.9, exercise="x", repetition=1, kind="repetition", posture=posture))
        sensor.flush()


def replay_stored(
    packets: Sequence[Any],
    sensor_id: str,
    placement: str,
    events: Sequence[EventRecord],
    params: LiveParams,
    calibration: Any = None,
    decoder: Any = None,
) -> LiveSensor:
    """The live path run offline on a whole stored recording of one sensor at once.

    ``packets``: the sensor's raw packets (arrival order, e.g. ``SessionStore.raw_packets``);
    ``events``: the session's event records (repetitions are measured; their starts set the
    running value). Returns the :class:`LiveSensor` with :attr:`LiveSensor.results` filled:
    by chunk invariance, equal to what the live view showed. ``decoder``: a third-party
    sensor's fresh decoder (``dmi_sensors.vendors.stored_decoder(SensorInfo.decoder, id)``);
    None: our own protocol's.
    """
    from dmi_sensors.protocol import StreamDecoder
    from dmi_sensors.types import SampleBatch

    dec = StreamDecoder(sensor_id) if decoder is None else decoder
    batch = dec.process(list(packets))
    flush = getattr(dec, "flush", None)
    if flush is not None:  # what a vendor decoder still holds at the end
        rest = flush()
        batch = SampleBatch.concat([batch, rest]) if len(rest) else batch
    sensor = LiveSensor(sensor_id, placement, batch.fs_hz if len(batch) else 1.0, params, calibration)
    sensor.add_samples(batch)
    for ev in sorted((e for e in events if e.kind == "repetition"), key=lambda e: e.onset_s):
        sensor.add_repetition(ev)
    sensor.flush()
    return sensor


def events_from_table(table: Any) -> list[EventRecord]:
    """Event records of an events DataFrame (``contract.EVENT_COLUMNS`` + kind, posture, note)."""
    fields_ = {f.name for f in dataclasses.fields(EventRecord)}
    return [EventRecord(**{k: v for k, v in row.items() if k in fields_}) for row in table.to_dict("records")]


def results_by_key(results: Sequence[RepetitionResult]) -> Mapping[tuple[str, str, int], RepetitionResult]:
    """``{(sensor_id, exercise, repetition): result}``."""
    return {(r.sensor_id, r.exercise, r.repetition): r for r in results}
