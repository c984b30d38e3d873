"""Record IMU and marker streams from any Lab Streaming Layer (LSL) outlet into a session.

``dmi-sensors record --lsl-source NAME_OR_TYPE`` (:mod:`dmi_sensors.commands.record_lsl`)
resolves the streams whose name or type is ``NAME_OR_TYPE`` (another vendor's app, a phone,
our own ``record --lsl``), opens an inlet on each and records them with
:class:`LslRecorder`:

* **IMU streams** (channels labelled ``AccX, AccY, AccZ`` [``GyrX, GyrY, GyrZ``], units as
  :mod:`dmi_sensors.store.lsl_layout` reads them) become one sensor each; their samples are
  stored as sample blocks (SI, the sensor frame) of an ``origin='import'`` session with
  ``recording.source = "lsl"`` (the store keeps samples, not packets, for streams that are
  not ours);
* **marker streams** (one string channel) become events (JSON event markers as such, any
  other text as a note).

**Crash safety** as the packet recorder's: every ``commit_s`` (0.25 s) the samples and
markers pulled so far are committed in one short transaction (WAL, ``synchronous=FULL``),
so a killed recorder loses at most the last half second; the session stays ``incomplete``
until :meth:`LslRecorder.close` finalises it.

**Times.** Each inlet maps its outlet's timestamps onto this computer's LSL clock
(``proc_clocksync``: LSL's own synchronisation); nothing is dejittered, so a gap stays a
gap. Session time 0 is the earliest timestamp of the first commit that holds an IMU
sample: markers pulled before any IMU sample wait for it (uncommitted), so a marker that
happens to reach the recorder first cannot move time 0 (a recording of markers alone starts
at its first marker, at the end). **Loss accounting** from
the timestamps at the nominal rate (:mod:`~dmi_sensors.store.lsl_layout`): sample numbers
``round((t - t_first) · fs)``, a jump is a gap; a stream that stops (its outlet gone, or it
falls silent) while others go on loses the samples up to the recording's end, which is the
last timestamp of any IMU stream: ``expected = round((t_end − t_first) · fs) + 1``.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors.errors import DeviceError, ParameterError
from dmi_sensors.session.events import check_events
from dmi_sensors.store import SessionStore
from dmi_sensors.store.lsl_layout import ImuChannels, StreamDesc, describe, marker_event, safe_sensor_id
from dmi_sensors.store.samples import write_sample_blocks
from dmi_sensors.types import SampleBatch

__all__ = ["LslRecorder", "LslStream", "resolve_lsl_sources"]

#: How long a resolved stream may take to send its full description and open, s.
OPEN_TIMEOUT_S = 10.0
#: Most samples pulled from one inlet per poll.
_MAX_PULL = 4096


@dataclass
class LslStream:
    """One resolved stream and what it becomes: a sensor (``layout``) or markers (``layout`` None)."""

    inlet: Any  # pylsl.StreamInlet (open)
    desc: StreamDesc
    sensor_id: str = ""
    placement: str = ""
    layout: ImuChannels | None = None
    source: str = ""  # the --lsl-source that selected it


def _open(info: Any, timeout_s: float) -> tuple[Any, StreamDesc]:
    """An inlet on a resolved stream and its full description (a resolved info lacks ``desc``).

    Timestamps are mapped onto this computer's clock (``proc_clocksync``); a stream whose
    outlet goes is lost for good (``recover=False``: the recorder reports it)."""
    import pylsl

    inlet = pylsl.StreamInlet(info, max_buflen=360, recover=False, processing_flags=pylsl.proc_clocksync)
    try:
        full = inlet.info(timeout_s)
        inlet.open_stream(timeout_s)
    except (TimeoutError, pylsl.util.LostError) as exc:
        raise DeviceError(
            f"LSL stream {info.name()!r} on {info.hostname()}: found, but it did not answer within {timeout_s:g} s"
            f" ({type(exc).__name__}); is its program still running?"
        ) from None
    return inlet, describe(ET.fromstring(full.as_xml()))


def resolve_lsl_sources(
    sources: Sequence[tuple[str, str]], timeout_s: float = 10.0, settle_s: float = 1.0
) -> list[LslStream]:
    """The streams named by ``sources`` (``(NAME_OR_TYPE, PLACEMENT)``; placement may be ``""``),
    each with an open inlet.

    Waits up to ``timeout_s`` for each source's first stream, then ``settle_s`` for more of
    the same name or type. A stream that is neither an IMU nor a marker stream, a source
    with no stream, or no IMU stream at all raise :class:`ParameterError` (one line naming
    the source and what was found).
    """
    import pylsl

    chosen: list[LslStream] = []
    seen: set[str] = set()
    for source, placement in sources:
        pred = f"name='{_xpath_text(source)}' or type='{_xpath_text(source)}'"
        infos = list(pylsl.resolve_bypred(pred, 1, timeout_s))
        if not infos:
            raise ParameterError(
                f"--lsl-source {source!r}: expected an LSL stream of that name or type on the network within "
                f"{timeout_s:g} s, found none (is the outlet running, on the same LSL session id?)"
            )
        infos += list(pylsl.resolve_bypred(pred, 1000, settle_s))
        for info in infos:
            uid = info.uid()
            if uid in seen:
                continue
            seen.add(uid)
            inlet, desc = _open(info, OPEN_TIMEOUT_S)
            stream = LslStream(inlet, desc, placement=placement or desc.placement, source=source)
            if not desc.is_markers:
                layout = desc.imu()
                if isinstance(layout, str):
                    raise ParameterError(
                        f"--lsl-source {source!r}: stream {desc.name!r} (type {desc.type!r}) is neither an IMU stream "
                        f"nor a marker stream: expected {layout}"
                    )
                if not desc.nominal_srate_hz > 0:
                    raise ParameterError(
                        f"--lsl-source {source!r}: stream {desc.name!r} has no nominal rate (irregular); an IMU "
                        "stream needs one for its loss accounting"
                    )
                stream.layout = layout
            chosen.append(stream)
    imus = [s for s in chosen if s.layout is not None]
    if not imus:
        names = ", ".join(repr(s.desc.name) for s in chosen)
        raise ParameterError(f"--lsl-source: expected at least one IMU stream, found only marker streams ({names})")
    for n, s in enumerate(imus):
        s.sensor_id = safe_sensor_id(s.desc.name, s.desc.serial, n)
        if not s.placement and len(imus) == 1:
            s.placement = "trunk"
    ids = [s.sensor_id for s in imus]
    for n, s in enumerate(imus):
        if ids.count(s.sensor_id) > 1:
            s.sensor_id = f"{s.sensor_id}-{n + 1}"
    return chosen


def _xpath_text(text: str) -> str:
    if "'" in text:
        raise ParameterError(f"--lsl-source {text!r}: expected a stream name or type without a quote (')")
    return text


@dataclass
class _Track:
    """Per stream: its inlet, what is waiting for the next commit, and its counts."""

    stream: LslStream
    inlet: Any
    pending_t: list[np.ndarray] = field(default_factory=list)
    pending_v: list[np.ndarray] = field(default_factory=list)
    pending_text: list[str] = field(default_factory=list)
    first_t: float | None = None
    last_t: float | None = None
    last_counter: int = -1
    received: int = 0
    gaps: int = 0
    lost_in_gaps: int = 0
    lost: bool = False  # the outlet went away
    stored: int = 0


class LslRecorder:
    """Pull every selected stream's data and commit it to a session (module docstring).

    Parameters
    ----------
    store
        The session store (its writes happen on the calling thread).
    session_id
        The session to fill (created with the streams' sensors; ``origin='import'``).
    streams
        From :func:`resolve_lsl_sources`.
    commit_s
        Commit what was pulled this long after the previous commit, s (0.25 s).
    clock
        This computer's LSL clock (``pylsl.local_clock``).
    """

    def __init__(
        self,
        store: SessionStore,
        session_id: int,
        streams: Sequence[LslStream],
        *,
        commit_s: float = 0.25,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.commit_s = commit_s
        if clock is None:
            import pylsl

            clock = pylsl.local_clock
        self.clock = clock
        self.t0: float | None = None  # session time 0 on the LSL clock
        self.events_stored = 0
        self.commits = 0
        self._tracks = [_Track(s, s.inlet) for s in streams]
        self.started = self.clock()
        self._last_commit = self.started

    @property
    def active(self) -> bool:
        """True while at least one IMU stream's outlet is there."""
        return any(not tr.lost for tr in self._tracks if tr.stream.layout is not None)

    def lost_streams(self) -> list[str]:
        """Names of the streams whose outlet went away."""
        return [tr.stream.desc.name for tr in self._tracks if tr.lost]

    def poll(self, timeout_s: float = 0.05) -> int:
        """Pull what every inlet has (waiting up to ``timeout_s`` on the first), commit when due;
        returns the samples pulled (IMU and markers)."""
        import pylsl

        n = 0
        wait = timeout_s  # on the first stream still there; the others give what they have
        for tr in self._tracks:
            if tr.lost:
                continue
            try:
                values, stamps = tr.inlet.pull_chunk(timeout=wait, max_samples=_MAX_PULL)
                wait = 0.0
            except pylsl.util.LostError:
                tr.lost = True
                continue
            if not stamps:
                continue
            t = np.asarray(stamps, dtype=np.float64)
            n += t.size
            if tr.stream.layout is None:
                tr.pending_t.append(t)
                tr.pending_text.extend(str(v[0]) for v in values)
            else:
                tr.pending_t.append(t)
                tr.pending_v.append(np.asarray(values, dtype=np.float64).reshape(t.size, -1))
        if self.clock() - self._last_commit >= self.commit_s:
            self.commit()
        return n

    def commit(self, final: bool = False) -> None:
        """Store what was pulled (one transaction per sensor, then the markers). Until an
        IMU sample was pulled, markers stay pending (they cannot set session time 0), unless
        ``final`` (the end of the recording)."""
        self._last_commit = self.clock()
        if self.t0 is None:
            if not final and not any(tr.pending_t for tr in self._tracks if tr.stream.layout is not None):
                return
            firsts = [float(tr.pending_t[0][0]) for tr in self._tracks if tr.pending_t]
            if not firsts:
                return
            self.t0 = min(firsts)
        t0 = self.t0
        rows: list[dict[str, Any]] = []
        for tr in self._tracks:
            if not tr.pending_t:
                continue
            t = np.concatenate(tr.pending_t)
            tr.pending_t.clear()
            if tr.stream.layout is None:
                texts = tr.pending_text
                rows += [marker_event(text, max(0.0, float(ts) - t0)) for ts, text in zip(t, texts, strict=True)]
                tr.pending_text.clear()
                continue
            values = np.concatenate(tr.pending_v)
            tr.pending_v.clear()
            self._store_samples(tr, t, values)
        if rows:
            events = check_events(pd.DataFrame(rows))
            self.store.add_events(self.session_id, events)
            self.events_stored += len(rows)
        self.commits += 1

    def _store_samples(self, tr: _Track, t: np.ndarray, values: np.ndarray) -> None:
        layout = tr.stream.layout
        assert layout is not None
        fs = tr.stream.desc.nominal_srate_hz
        if tr.first_t is None:
            tr.first_t = float(t[0])
        counter = np.round((t - tr.first_t) * fs).astype(np.int64)
        keep = np.ones(t.size, dtype=bool)  # a repeated or earlier sample number: the source's clock went back
        prev = tr.last_counter
        for i in range(t.size):  # short chunks: a plain loop keeps the rule obvious
            if counter[i] <= prev:
                keep[i] = False
            else:
                prev = int(counter[i])
        t, values, counter = t[keep], values[keep], counter[keep]
        if t.size == 0:
            return
        steps = np.diff(np.concatenate([[tr.last_counter], counter]))
        gap = steps > 1
        if tr.last_counter < 0:
            gap[0] = False
            steps[0] = 1
        tr.gaps += int(gap.sum())
        tr.lost_in_gaps += int((steps[gap] - 1).sum())
        tr.last_counter = int(counter[-1])
        tr.last_t = float(t[-1])
        tr.received += int(t.size)
        acc = values[:, list(layout.acc)] * layout.acc_scale
        gyr = values[:, list(layout.gyr)] * layout.gyr_scale if layout.gyr is not None else np.full_like(acc, np.nan)
        assert self.t0 is not None
        batch = SampleBatch(
            sensor_id=tr.stream.sensor_id,
            fs_hz=fs,
            counter=counter,
            device_time_s=t,
            host_time_s=t - self.t0,
            acc_mps2=acc,
            gyr_rps=gyr,
            gap_before=gap,
            time_s=t - self.t0,
        )
        tr.stored += write_sample_blocks(self.store, self.session_id, batch)

    def drain(self, grace_s: float = 0.5) -> None:
        """At the end: pull until the inlets are empty (at most ``grace_s`` of waiting), commit."""
        end = self.clock() + grace_s
        while self.clock() < end and self.poll(timeout_s=0.05) > 0:
            pass
        self.commit(final=True)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per sensor: samples expected / received / lost (gaps and the tail after it stopped)."""
        imus = [tr for tr in self._tracks if tr.stream.layout is not None]
        ends = [tr.last_t for tr in imus if tr.last_t is not None]
        t_end = max(ends) if ends else None
        rows: dict[str, dict[str, Any]] = {}
        for tr in imus:
            fs = tr.stream.desc.nominal_srate_hz
            # a stream that never sent counts from the session's start
            start = tr.first_t if tr.first_t is not None else self.t0
            expected = 0 if start is None or t_end is None else round((t_end - start) * fs) + 1
            tail = 0 if tr.last_t is None or t_end is None else max(0, round((t_end - tr.last_t) * fs))
            rows[tr.stream.sensor_id] = {
                "stream": tr.stream.desc.name,
                "placement": tr.stream.placement,
                "state": "lost" if tr.lost else ("no data" if tr.received == 0 else "streaming"),
                "fs_hz": fs,
                "samples_expected": expected,
                "samples_received": tr.received,
                "samples_lost": max(0, expected - tr.received),
                "gaps": tr.gaps,
                "samples_lost_in_gaps": tr.lost_in_gaps,
                "samples_lost_after_stop": tail,
                "first_sample_s": None if tr.first_t is None or self.t0 is None else tr.first_t - self.t0,
                "last_sample_s": None if tr.last_t is None or self.t0 is None else tr.last_t - self.t0,
            }
        return rows

    def close(self) -> None:
        """Close the inlets (the outlets see the consumer go)."""
        for tr in self._tracks:
            with contextlib.suppress(Exception):  # an inlet whose outlet is gone may refuse; nothing to keep
                tr.inlet.close_stream()


def require_pylsl() -> None:
    """Import pylsl (its wheel ships liblsl), or one clear line why not."""
    try:
        import pylsl  # noqa: F401
    except (ImportError, RuntimeError) as exc:  # pylsl raises RuntimeError when liblsl cannot be loaded
        raise DeviceError(f"LSL: pylsl and its liblsl could not be loaded ({exc}); pip install pylsl") from None
