"""How ``dmi-sensors record`` meets faults and says how a recording went.

A recording ends one of three ways, each with its exit status (``docs/ble.md``):

====  ====================  ===============================================================
0     complete              it ran to its end (or ``q``) and every expected sample arrived
3     data lost             it ran to its end, but samples were lost: counter gaps, samples
                            missing at the start or end, a sensor lost for good (missing the
                            last second or more) or never found (then the session is
                            *incomplete*, with the reason)
4     stopped early         a fault stopped it: the disk filled up (or nearly: the free-space
                            check stops while the store can still record why), the session
                            store failed, the system D-Bus or BlueZ went away. The session is
                            *incomplete* with the reason; what was stored is intact
1     error                 it did not start (bad option or file, no Bluetooth stack): one line
====  ====================  ===============================================================

Every fault gets one line on stderr naming it and what to do, and the summary (stdout, and
``--json``) has a row for every sensor, found or not: samples expected (nominal rate x the
time it should have streamed), received and lost (:func:`dmi_sensors.ble.stats.account`).
What is written into the database (the reason, the summary) carries no addresses and no
paths: it is exported with the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dmi_sensors.ble import LinkStats, RecordingContext, RecordingFault

__all__ = [
    "BYTES_PER_SAMPLE_STORED",
    "COMMIT_LATENCY_S",
    "EXIT_DATA_LOST",
    "EXIT_OK",
    "EXIT_STOPPED_EARLY",
    "LOST_FOR_GOOD_S",
    "DiskWatch",
    "Outcome",
    "fault_text",
    "is_address",
    "outcome",
]

EXIT_OK = 0
EXIT_DATA_LOST = 3
EXIT_STOPPED_EARLY = 4

#: The recorder's packet writer commits this long after a notification arrived, so that with
#: the commit itself and a busy machine a SIGKILL loses at most 0.5 s (docs/store.md).
COMMIT_LATENCY_S = 0.25

#: A sensor not streaming at the stop that missed at least this much of the end is *lost*
#: (the session is then incomplete); a shorter miss (a reconnection under way) is counted as
#: lost samples only.
LOST_FOR_GOOD_S = 1.0

#: Database bytes per stored sample (12 bytes of sample, the packet header, the row, the
#: index and SQLite's pages), measured on recordings of 19-sample packets (docs/store.md).
BYTES_PER_SAMPLE_STORED = 16.0


def is_address(text: str) -> bool:
    """A Bluetooth address (``AA:BB:CC:DD:EE:FF``, or the UUID macOS gives a device): the
    protocol's one rule, :func:`dmi_sensors.protocol.advertising.looks_like_address`
    (ble.preflight checks command-line addresses with it too)."""
    # imported here: the protocol package loads numpy, and `record --help` must stay light
    from dmi_sensors.protocol.advertising import looks_like_address

    return looks_like_address(text)


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


# --------------------------------------------------------------------------- disk space
@dataclass
class DiskWatch:
    """Write-ahead check of the free space beside the session database.

    ``need_bps`` is the expected write rate (sensors x rate x :data:`BYTES_PER_SAMPLE_STORED`);
    the measured rate (free space going down) takes over when higher. :meth:`at_start` warns
    when the planned recording may not fit; while recording (:meth:`companion`, checked every
    ``interval_s``) it warns once when less than ``warn_s`` of recording is left, and ends the
    recording with a ``"disk_space"`` fault when less than ``reserve_bytes`` is free, so that
    the store can still record why the session is incomplete.
    """

    path: Path
    need_bps: float
    reserve_bytes: int
    warn_s: float = 600.0
    interval_s: float = 1.0
    free: Callable[[Path], int] | None = None
    warnings: list[str] = field(default_factory=list)

    def _free(self) -> int:
        from dmi_sensors.store.paths import free_bytes

        return (self.free or free_bytes)(self.path)

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        print(f"dmi-sensors record: warning: {text}", file=sys.stderr, flush=True)

    def at_start(self, planned_s: float) -> None:
        """Warn when the free space will not hold the planned recording (and the reserve)."""
        free = self._free()
        usable = free - self.reserve_bytes
        need = self.need_bps * planned_s
        if usable < need:
            lasts = max(0.0, usable) / self.need_bps if self.need_bps > 0 else float("inf")
            self._warn(
                f"disk space: {_mb(free)} free beside the session database, enough for about {lasts:.0f} s of"
                f" the planned {planned_s:.0f} s (the recording stops with {_mb(self.reserve_bytes)} left);"
                " free space or record with --db on another disk"
            )

    def companion(self) -> Callable[[RecordingContext], Coroutine[Any, Any, None]]:
        """A :func:`dmi_sensors.ble.record` companion running the check."""

        async def disk_watch(ctx: RecordingContext) -> None:
            warned = False
            last: tuple[float, int] | None = None
            rate = self.need_bps
            while not ctx.stop.is_set():
                free = await asyncio.to_thread(self._free)
                now = ctx.elapsed_s()
                if last is not None and now > last[0] and last[1] > free:
                    rate = max(self.need_bps, (last[1] - free) / (now - last[0]))
                last = (now, free)
                if free < self.reserve_bytes:
                    ctx.fail(
                        "disk_space",
                        f"only {_mb(free)} free beside the session database (the reserve is"
                        f" {_mb(self.reserve_bytes)}): stopped before the disk fills",
                    )
                    return
                left_s = (free - self.reserve_bytes) / rate if rate > 0 else float("inf")
                if not warned and left_s < self.warn_s:
                    warned = True
                    self._warn(
                        f"disk space: {_mb(free)} free beside the session database, about {left_s:.0f} s of recording"
                        " left before it stops; free space now or stop with q"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.stop.wait(), self.interval_s)

        return disk_watch


# --------------------------------------------------------------------------- fault texts
def _disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.Error):
            text = str(exc).lower()
            if "disk is full" in text or "disk i/o error" in text:
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def fault_text(fault: RecordingFault) -> tuple[str, str]:
    """``(what happened, what to do)`` for a fault, one line each, with no path or address."""
    if fault.kind == "disk_space":
        return (f"disk almost full: {fault.detail}", "free space or record with --db on another disk")
    if fault.kind == "sink":
        if _disk_full(fault.error):
            return (
                "disk full: the session database could not store more packets",
                "free space or record with --db on another disk",
            )
        cause = fault.error.__cause__ if fault.error is not None and fault.error.__cause__ else fault.error
        what = f"{type(cause).__name__}: {cause}" if cause is not None else fault.detail
        return (
            f"the session store failed ({what})",
            "check the disk and the database (dmi-sensors sessions list), then record again",
        )
    if fault.kind == "bus":
        return (
            f"the system D-Bus went away ({fault.detail})",
            "Bluetooth cannot work without it: restart it (or the computer) and record again",
        )
    if fault.kind == "bluez":
        return (
            f"BlueZ stopped ({fault.detail})",
            "restart it (sudo systemctl restart bluetooth; dmi-sensors doctor checks it) and record again",
        )
    return (f"{fault.kind}: {fault.detail}", "see the message above and record again")


# --------------------------------------------------------------------------- outcome
@dataclass
class Outcome:
    """The end of a recording: per-sensor rows, lines for stderr, the session's state, exit status."""

    exit_status: int
    status: str
    sensors: dict[str, dict[str, Any]]
    messages: list[str]
    incomplete_reasons: list[str]
    fault: dict[str, Any] | None


def outcome(
    stats: Mapping[str, LinkStats],
    ctx: RecordingContext,
    *,
    fs_hz: float,
    planned_s: float,
    not_found: set[str],
    store_failure: BaseException | None = None,
) -> Outcome:
    """Account every sensor and decide the exit status (see the module docstring).

    ``not_found``: the addresses the scan did not find (their links kept looking for them).
    ``store_failure``: what closing the packet writer raised, if it failed.
    """
    from dmi_sensors.ble.stats import account

    start_s = float(ctx.started_s or 0.0)
    stop_s = float(ctx.stopped_s if ctx.stopped_s is not None else start_s)
    fault = ctx.fault
    messages: list[str] = []
    reasons: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    reported: set[str] = set()
    for sensor_id, s in stats.items():
        rate_hz = s.fs_hz or fs_hz  # a third-party sensor runs at the rate its setup chose
        acc = account(s, rate_hz, start_s, stop_s)
        streaming = ctx.streaming_at_stop.get(sensor_id, False)
        tail_s = stop_s - (s.last_sample_s + 1.0 / rate_hz) if s.last_sample_s is not None else 0.0
        if streaming:
            state = "streaming"
        elif s.samples_received == 0:
            state = "never_found" if s.address.upper() in not_found else "no_data"
        elif fault is not None:
            state = "interrupted"
        elif tail_s >= LOST_FOR_GOOD_S:
            state = "lost"
        else:
            state = "reconnecting"  # down for a moment at the stop: its last samples are counted lost
        rows[sensor_id] = {"state": state, **acc.to_dict()}
        who = f"sensor {sensor_id} ({s.placement or 'no placement'})"
        if state in ("never_found", "no_data") and fault is None:
            what = "was never found" if state == "never_found" else "was found but never streamed"
            messages.append(
                f"warning: {who} {what}: {acc.samples_lost} samples missing; is it switched on, charged and within"
                " range? (dmi-sensors scan lists the sensors advertising)"
            )
            label = f"the {s.placement} sensor" if s.placement else "a sensor"
            reasons.append(f"{label if is_address(sensor_id) else who} {what} ({acc.samples_lost} samples missing)")
            reported.add(sensor_id)
        elif state == "lost":
            at = s.last_sample_s if s.last_sample_s is not None else stop_s
            messages.append(
                f"warning: {who} lost at {at:.1f} s and not back by the end: {acc.samples_lost} of"
                f" {acc.samples_expected} samples missing; check its battery and that it stays within range"
            )
            reasons.append(f"{who} lost at {at:.1f} s ({acc.samples_lost} samples missing)")
            reported.add(sensor_id)
    losses = {sid: r for sid, r in rows.items() if r["samples_lost"] and sid not in reported}
    if losses:
        per = ", ".join(
            f"{sid} {r['samples_lost']} ({r['samples_lost_gaps']} in link gaps, {r['samples_lost_edges']} at the"
            " start or end)"
            for sid, r in losses.items()
        )
        messages.append(
            f"warning: {sum(r['samples_lost'] for r in losses.values())} samples lost: {per}; gaps are counted from"
            " the sample counters, the start and end from the sample times"
        )
    for sid, r in rows.items():
        if r["counter_resets"]:
            messages.append(
                f"warning: sensor {sid}: {r['counter_resets']} counter discontinuities (a restart, or an impossible"
                " jump treated as corruption): samples there are unknown, not counted as lost"
            )
    fault_row = None
    recorded_s = stop_s - start_s
    if fault is not None:
        what, remedy = fault_text(fault)
        fault_row = {"kind": fault.kind, "detail": fault.detail, "at_s": fault.at_s, "what": what, "remedy": remedy}
        messages.insert(
            0, f"error: {what}; the recording stopped after {recorded_s:.1f} s of the planned {planned_s:g} s; {remedy}"
        )
        reasons.insert(0, f"recording stopped early, after {recorded_s:.1f} s of the planned {planned_s:g} s: {what}")
    elif store_failure is not None:
        messages.insert(0, f"error: the session store failed at the end of the recording ({store_failure})")
        reasons.insert(0, "the session store failed at the end of the recording")
    if fault is not None or store_failure is not None:
        status, code = "stopped_early", EXIT_STOPPED_EARLY
    elif any(r["samples_lost"] for r in rows.values()):
        status, code = "data_lost", EXIT_DATA_LOST
    else:
        status, code = "complete", EXIT_OK
    return Outcome(code, status, rows, messages, reasons, fault_row)
