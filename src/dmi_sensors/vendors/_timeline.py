"""Vendor time information -> the toolkit's counters, device times and gap flags (one path for all vendors).

Every vendor decoder splits its notifications into *chunks*: the samples of one stream
(``0`` = accelerometer, or both sensors when the vendor sends them together; ``1`` =
gyroscope) carried by one notification, with what the vendor says about their time. A
*clock* turns each chunk into consecutive **local counters** (one per sample, holes where
samples were lost), device times and loss; the :class:`Merger` pairs the streams into one
sample per counter and numbers the output the way :mod:`dmi_sensors.timing` expects
(strictly increasing; ``gap_before`` with a step larger than 1 where samples were lost;
``gap_before`` with a step of exactly 1 at a *reset*, where the decoder cannot say how
many samples are missing and a new clock run starts).

Clocks
------
:class:`ExactClock` (**exact**; Movella DOT, Polar PMD, the MetaWear time accounter)
    The vendor stamps the *last* sample of each chunk with a device timestamp in ticks
    (``tick_s`` seconds; optionally wrapping at ``modulus`` ticks). For consecutive chunks
    p, q with ``d = T_q - T_p`` ticks (unwrapped: modulo ``modulus``, plus the whole number
    of wraps the host arrival times imply) and ``n_q`` samples in q, ``r = d / P`` with
    ``P`` the device's sample period in ticks (measured, see below):

    * ``r - n_q > max(0.5, tolerance * n_q)``: ``round(r) - n_q`` samples were lost before q;
    * ``|r - n_q| <= max(0.5, tolerance * n_q)``: no loss; ``d`` and ``n_q`` join the
      period estimate ``P = sum(d) / sum(n)`` over loss-free chunks (the nominal period
      until there are ``_MIN_PERIOD_SAMPLES`` samples, and clamped to ±``tolerance``
      of it), so a device whose crystal is off its nominal rate is measured, not taken
      for lossy;
    * ``d == 0``: a repeated notification, skipped (``duplicate``);
    * ``d < 0``, ``r - n_q < -max(0.5, tolerance * n_q)`` (the samples would overlap the
      previous chunk's), or the device clock advanced more than ``jump_s`` beyond the host
      clock (impossible: a sample cannot arrive before it was taken; a rebooted or re-set
      device clock): a **reset**.

    Sample k of q (0-based) has device time ``(T_q - (n_q - 1 - k) * P) * tick_s``.
:class:`CounterClock` (**exact**; the MetaWear count accounter)
    The vendor counts samples: the first sample of q has counter ``c_q`` (u32). With
    ``d = (c_q - c_p - n_p) mod 2**32``: ``d`` samples lost when ``d < 2**31``; a counter
    that went back is a reset, the same counter again a duplicate. Device time =
    counter / nominal rate.
:class:`HostClock` (**estimated**; WitMotion, plain MetaWear streaming)
    No device time at all: the local counter is estimated from host arrival times and the
    nominal period ``P`` (s). With ``base`` the lower envelope of
    ``h - c_last * P`` over the chunks so far (h: arrival, c_last: local counter of the
    chunk's last sample, assuming nothing was lost), a chunk's *lateness* is
    ``h - c_last * P - base``. Jitter only makes chunks later; a lost sample makes every
    later chunk a period later. A chunk no later than ``late_s`` (default P/2) is placed
    at once. A later one is **held**, with every chunk after it: as soon as a chunk comes
    back within ``late_s``, the held ones were only delayed (jitter, a stalled link) and
    are consecutive; if none does for ``hold_s`` of host time, ``round(least lateness /
    P)`` samples were lost before the first held chunk (the least lateness of the latter half
    of what is held, or of its last ``hold_s`` when the hold lasted longer). The evidence is
    judged on blocks of ``hold_s / 5`` worth of samples by their least lateness (BLE delivers
    in connection events, so single chunks jitter by several periods): only blocks arriving
    at the sampling pace whose least lateness does not come down count as evidence; a
    backlog being read (lateness falling) does not, and a block whose least lateness jumps
    well above the held ones' (a stall right after a chunk that was a little late) starts the
    count afresh. Chunks placed after a decided loss do not move ``base``: jitter can place a
    loss a few chunks early, and their counters, one too high, would lower it by up to a
    period.
    A device whose clock runs slower than nominal shows up as loss (the nominal rate is all
    there is).
    :meth:`HostClock.flush` decides what is still held (end of a recording).

All clocks number a reset's first sample one past the previous local counter and flag it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dmi_sensors.errors import ParameterError

__all__ = [
    "Chunk",
    "CounterClock",
    "CounterClockState",
    "ExactClock",
    "ExactClockState",
    "HostClock",
    "HostClockState",
    "Merger",
    "MergerState",
    "Placed",
]

#: Loss-free samples needed before the measured period replaces the nominal one.
_MIN_PERIOD_SAMPLES = 32


@dataclass(frozen=True)
class Chunk:
    """The samples of one stream carried by one notification (decoders build these).

    Attributes
    ----------
    stream
        0: accelerometer (or both sensors, 6 columns), 1: gyroscope.
    host_time_s
        Host arrival time of the notification, s.
    values
        ``(n, 3)`` or ``(n, 6)`` samples in SI units (m/s², rad/s), oldest first.
    stamp
        Device timestamp of the LAST sample in ticks (:class:`ExactClock`), or the counter
        of the FIRST sample (:class:`CounterClock`); None for :class:`HostClock`.
    """

    stream: int
    host_time_s: float
    values: NDArray[np.float64]
    stamp: int | None = None

    @property
    def n(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True)
class Placed:
    """A chunk with local counters: samples ``first .. first + n - 1`` of its stream."""

    stream: int
    first: int
    values: NDArray[np.float64]
    device_time_s: NDArray[np.float64]
    host_time_s: float
    missing: int
    reset: bool


@dataclass(frozen=True)
class ExactClockState:
    """State of an :class:`ExactClock`: the last chunk's timestamp and the period sums."""

    has_prev: bool
    prev_wire: int
    prev_unwrapped: int
    prev_host_s: float
    next_counter: int
    sum_ticks: int
    sum_samples: int


class ExactClock:
    """Device timestamps of each chunk's last sample -> local counters (module docstring)."""

    def __init__(
        self,
        tick_s: float,
        period_ticks: float,
        modulus: int | None = None,
        tolerance: float = 0.1,
        jump_s: float = 2.0,
    ) -> None:
        self.tick_s = float(tick_s)
        self.nominal_ticks = float(period_ticks)
        self.modulus = modulus
        self.tolerance = float(tolerance)
        self.jump_s = float(jump_s)
        self.reset()

    def reset(self) -> None:
        self.state = ExactClockState(False, 0, 0, 0.0, 0, 0, 0)

    @property
    def state(self) -> ExactClockState:
        return ExactClockState(
            self._has_prev,
            self._prev_wire,
            self._prev_unwrapped,
            self._prev_host,
            self._next,
            self._sum_ticks,
            self._sum_n,
        )

    @state.setter
    def state(self, s: ExactClockState) -> None:
        self._has_prev = bool(s.has_prev)
        self._prev_wire = int(s.prev_wire)
        self._prev_unwrapped = int(s.prev_unwrapped)
        self._prev_host = float(s.prev_host_s)
        self._next = int(s.next_counter)
        self._sum_ticks = int(s.sum_ticks)
        self._sum_n = int(s.sum_samples)

    @property
    def period_ticks(self) -> float:
        """The measured sample period (nominal until enough loss-free samples), ticks."""
        nominal = self.nominal_ticks
        if self._sum_n < _MIN_PERIOD_SAMPLES:
            return nominal
        p = self._sum_ticks / self._sum_n
        return min(max(p, nominal * (1.0 - self.tolerance)), nominal * (1.0 + self.tolerance))

    def place(self, chunk: Chunk) -> Placed | str:
        """Local counters for ``chunk``, or the reason it is skipped (``"duplicate"``)."""
        stamp = int(chunk.stamp if chunk.stamp is not None else 0)
        n = chunk.n
        host = chunk.host_time_s
        missing = 0
        reset = False
        period = self.period_ticks
        if not self._has_prev:
            unwrapped = stamp
        else:
            host_dt = host - self._prev_host
            if self.modulus is not None:
                m = self.modulus
                d = (stamp - self._prev_wire) % m
                if host_dt > 0 and np.isfinite(host_dt):
                    d += max(0, round((host_dt / self.tick_s - d) / m)) * m
            else:
                d = stamp - self._prev_wire
            unwrapped = self._prev_unwrapped + d
            r = d / period
            allowed = max(0.5, self.tolerance * n)
            if d == 0:
                return "duplicate"
            if d < 0 or r - n < -allowed or (np.isfinite(host_dt) and d * self.tick_s > host_dt + self.jump_s):
                reset = True
            elif r - n > allowed:
                missing = round(r) - n
            else:
                self._sum_ticks += d
                self._sum_n += n
                period = self.period_ticks
        first = self._next + missing
        self._has_prev = True
        self._prev_wire = stamp
        self._prev_unwrapped = unwrapped
        self._prev_host = host
        self._next = first + n
        k = np.arange(n, dtype=np.float64)
        device = (unwrapped - (n - 1 - k) * period) * self.tick_s
        return Placed(chunk.stream, first, chunk.values, device, host, missing, reset)


@dataclass(frozen=True)
class CounterClockState:
    """State of a :class:`CounterClock`."""

    has_prev: bool
    prev_wire: int
    prev_n: int
    next_counter: int


class CounterClock:
    """A vendor sample counter (u32, first sample of each chunk) -> local counters."""

    MODULUS = 1 << 32

    def __init__(self, period_s: float) -> None:
        self.period_s = float(period_s)
        self.reset()

    def reset(self) -> None:
        self.state = CounterClockState(False, 0, 0, 0)

    @property
    def state(self) -> CounterClockState:
        return CounterClockState(self._has_prev, self._prev_wire, self._prev_n, self._next)

    @state.setter
    def state(self, s: CounterClockState) -> None:
        self._has_prev = bool(s.has_prev)
        self._prev_wire = int(s.prev_wire)
        self._prev_n = int(s.prev_n)
        self._next = int(s.next_counter)

    def place(self, chunk: Chunk) -> Placed | str:
        stamp = int(chunk.stamp if chunk.stamp is not None else 0)
        n = chunk.n
        missing = 0
        reset = False
        if self._has_prev:
            if stamp == self._prev_wire:
                return "duplicate"
            d = (stamp - self._prev_wire - self._prev_n) % self.MODULUS
            if d >= self.MODULUS // 2:
                reset = True
            else:
                missing = d
        first = self._next + missing
        self._has_prev = True
        self._prev_wire = stamp
        self._prev_n = n
        self._next = first + n
        device = (first + np.arange(n, dtype=np.float64)) * self.period_s
        return Placed(chunk.stream, first, chunk.values, device, chunk.host_time_s, missing, reset)


#: Sample pairs over which the arrival difference of the two streams is averaged (host-timed pairs).
_PAIR_WINDOW = 32


@dataclass(frozen=True)
class HostClockState:
    """State of a :class:`HostClock`: the envelope and the held chunks ``(host_time_s, values)``."""

    started: bool
    next_counter: int
    base_s: float
    held: tuple[tuple[float, tuple[tuple[float, ...], ...]], ...]
    held_best_s: float
    held_since: int
    block_min_s: float = math.inf
    block_n: int = 0
    block_first_s: float = 0.0


class HostClock:
    """Host arrival times and the nominal period -> estimated local counters (module docstring).

    The lower envelope of ``h - c * period`` (``base``) is where an undelayed chunk lies;
    a lost sample lifts every later chunk's lateness by one period, while link jitter
    only spreads it upward and a stalled link delivers its backlog with ever smaller
    lateness. So a chunk more than ``late_s`` (default half a period) above the envelope
    starts a hold: the first later chunk back within ``late_s`` releases the held ones as
    consecutive (jitter, a stall), and when the least lateness of the held chunks, taken
    over blocks of ``hold_s / 5`` worth of samples, has not come down (by a quarter period)
    over ``hold_s`` worth of blocks arriving at the sampling pace (a backlog arriving at once
    is no evidence), ``round(least lateness / period)`` samples were lost (placed where the
    held chunks became that late). A block later than the least lateness by more than
    ``late_s`` + one period (a stall on top of a chunk that was only a little late) becomes
    the new least lateness: without that, the stall's backlog, read at a little above the
    sampling pace, never came below the first held chunk's lateness and was counted as lost
    (``benchmarks/bench_vendor_stalls.py``). Chunks placed after a decided loss do not move
    the envelope (module docs).
    """

    def __init__(self, period_s: float, late_s: float | None, hold_s: float, stream: int = 0) -> None:
        self.period_s = float(period_s)
        self.late_s = 0.5 * self.period_s if late_s is None else float(late_s)
        self.hold_s = float(hold_s)
        self.stream = int(stream)
        # the evidence is judged on the least lateness of blocks of samples, not chunk by
        # chunk: BLE delivers in connection events (7.5-50 ms apart), so single chunks
        # jitter by several periods and compared one by one they restarted the evidence
        # for good (a WitMotion on a busy host was held for a whole recording)
        self.block_s = max(self.hold_s / 5.0, self.period_s)
        self.reset()

    def reset(self) -> None:
        self._started = False
        self._next = 0
        self._base = 0.0
        self._held: list[Chunk] = []
        self._held_n = 0
        self._best = math.inf
        self._since = 0
        self._new_block()

    def _new_block(self) -> None:
        self._blk_min = math.inf
        self._blk_n = 0
        self._blk_first = 0.0

    @property
    def state(self) -> HostClockState:
        held = tuple((c.host_time_s, tuple(map(tuple, c.values.tolist()))) for c in self._held)
        return HostClockState(
            self._started,
            self._next,
            self._base,
            held,
            self._best,
            self._since,
            self._blk_min,
            self._blk_n,
            self._blk_first,
        )

    @state.setter
    def state(self, s: HostClockState) -> None:
        self._started = bool(s.started)
        self._next = int(s.next_counter)
        self._base = float(s.base_s)
        self._held = [Chunk(self.stream, float(h), np.array(v, dtype=np.float64)) for h, v in s.held]
        self._held_n = sum(c.n for c in self._held)
        self._best = float(s.held_best_s)
        self._since = int(s.held_since)
        self._blk_min = float(s.block_min_s)
        self._blk_n = int(s.block_n)
        self._blk_first = float(s.block_first_s)

    def place(self, chunk: Chunk) -> list[Placed]:
        """Placed chunks released by this one (none while held, several when a hold ends)."""
        if not self._started:
            self._started = True
            self._base = chunk.host_time_s - (chunk.n - 1) * self.period_s
            return self._release([chunk], 0)
        self._held.append(chunk)
        self._held_n += chunk.n
        c_last = self._next + self._held_n - 1
        late = chunk.host_time_s - c_last * self.period_s - self._base
        if late <= self.late_s:
            return self._release(self._held, 0)
        if self._blk_n == 0:
            self._blk_first = chunk.host_time_s
        self._blk_min = min(self._blk_min, late)
        self._blk_n += chunk.n
        if self._blk_n * self.period_s < self.block_s:
            return []
        m, n_blk, span = self._blk_min, self._blk_n, chunk.host_time_s - self._blk_first
        self._new_block()
        if m < self._best - 0.25 * self.period_s or m > self._best + self.late_s + self.period_s:
            # coming down: a backlog draining; or a new, larger delay on top of the held ones
            # (a stall after a chunk that was only a little late): evidence counts afresh
            self._best = m
            self._since = 0
        elif span >= 0.5 * (n_blk - 1) * self.period_s:
            self._since += n_blk  # evidence only from blocks arriving at the sampling pace, not a backlog
        if self._since * self.period_s >= self.hold_s:
            return self._decide()
        return []

    def flush(self) -> list[Placed]:
        """Decide what is held (end of the stream). One or two late chunks in the last
        ``hold_s`` are no evidence of a loss (nothing came after them, the last notifications
        of a link are often late): they are released as consecutive."""
        if not self._held:
            return []
        if len(self._held) < 3 and sum(chunk.n for chunk in self._held) * self.period_s < self.hold_s:
            held, self._held = self._held, []
            return self._release(held, 0)
        return self._decide()

    def _decide(self) -> list[Placed]:
        """Loss = the recent floor of lateness, placed where the held chunks became that late."""
        c = self._next - 1
        lateness = []
        for chunk in self._held:
            c += chunk.n
            lateness.append(chunk.host_time_s - c * self.period_s - self._base)
        late = np.array(lateness)
        # the recent floor: the latter half of what is held, or its last hold_s when the hold
        # lasted longer (several steps of lateness: a loss, then another)
        hosts = np.array([chunk.host_time_s for chunk in self._held])
        recent = int(np.searchsorted(hosts, hosts[-1] - self.hold_s))
        start = max(len(late) // 2, min(recent, len(late) - 3))
        floor = float(late[start:].min())
        missing = max(0, round(floor / self.period_s)) if floor > self.late_s else 0
        if missing == 0:
            return self._release(self._held, 0)
        # the k-th lost sample lies before the first chunk from which on every chunk is at
        # least (k - 1/2) periods late
        suffix_min = np.minimum.accumulate(late[::-1])[::-1]
        levels = (np.arange(1, missing + 1) - 0.5) * self.period_s
        starts = np.argmax(suffix_min[None, :] >= levels[:, None], axis=1)
        held, self._held = self._held, []
        out: list[Placed] = []
        cuts = [0, *sorted(set(starts.tolist())), len(held)]
        for a, b in itertools.pairwise(cuts):
            if b > a:
                # chunks after a placed loss do not move the envelope: with jitter a loss can be
                # placed a few chunks early, and their counters, one too high, would lower the
                # envelope by up to a period (every later chunk then looked late: phantom losses)
                out += self._release(held[a:b], int(np.count_nonzero(starts == a)), envelope=not np.any(starts <= a))
        return out

    def _release(self, chunks: list[Chunk], missing: int, envelope: bool = True) -> list[Placed]:
        out = []
        first = self._next + missing
        period = self.period_s
        for i, chunk in enumerate(chunks):
            n = chunk.n
            device = (first + np.arange(n, dtype=np.float64)) * period
            out.append(
                Placed(chunk.stream, first, chunk.values, device, chunk.host_time_s, missing if i == 0 else 0, False)
            )
            if envelope:
                self._base = min(self._base, chunk.host_time_s - (first + n - 1) * period)
            first += n
        self._next = first
        self._held = []
        self._held_n = 0
        self._best = math.inf
        self._since = 0
        self._new_block()
        return out


@dataclass(frozen=True)
class MergerState:
    """State of a :class:`Merger` (per stream: alignment and the samples awaiting their partner)."""

    offset: tuple[int, ...]
    aligned: tuple[bool, ...]
    last_common: tuple[int, ...]
    last_device_s: tuple[float, ...]
    last_host_s: tuple[float, ...]
    pending: tuple[tuple[tuple[int, float, float, tuple[float, ...]], ...], ...]
    max_common: int  # derived (the highest counter in use), kept for inspection
    last_emitted: int | None
    last_out: int
    reset_marks: tuple[int, ...]
    pair_deltas_s: tuple[float, ...]
    arrival_shift: int
    samples_lost: int
    counter_resets: int
    samples_out: int


@dataclass(frozen=True)
class Emitted:
    """Output samples of one :meth:`Merger.emit` call (arrays of equal length)."""

    counter: NDArray[np.int64]
    device_time_s: NDArray[np.float64]
    host_time_s: NDArray[np.float64]
    acc_mps2: NDArray[np.float64]
    gyr_rps: NDArray[np.float64]
    gap_before: NDArray[np.bool_]


def _empty_emitted() -> Emitted:
    return Emitted(
        np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, bool)
    )


class Merger:
    """Streams of placed chunks -> one sample per common counter, numbered for the timing stage.

    ``layout`` says what the streams carry: ``"combined"`` (one stream, 6 columns: acc then
    gyr), ``"acc"`` (one stream, 3 columns; the gyroscope is NaN: a sensor without one) or
    ``"pair"`` (stream 0 acc, stream 1 gyr, 3 columns each, paired by counter).

    Pairing: each stream's local counters are shifted onto a common grid when the stream
    starts and after each of its resets: by device time when both streams share one
    device clock (``shared_clock``), else by host arrival (estimated), relative to the
    other stream's newest sample. A common counter is emitted once every stream has
    passed it; it becomes a sample when both streams have it, and is lost otherwise.
    ``max_pending`` bounds what one stream may hold while the other is silent (the oldest
    is dropped).
    """

    def __init__(self, layout: str, period_s: float, shared_clock: bool, max_pending: int) -> None:
        if layout not in ("combined", "acc", "pair"):
            raise ParameterError(f"layout must be 'combined', 'acc' or 'pair', got {layout!r}")
        self.layout = layout
        self.n_streams = 2 if layout == "pair" else 1
        self.period_s = float(period_s)
        self.shared_clock = bool(shared_clock)
        self.max_pending = int(max_pending)
        self.width = 6 if layout == "combined" else 3
        self.reset()

    def reset(self) -> None:
        k = self.n_streams
        self._offset = [0] * k
        self._aligned = [False] * k
        self._last_common = [0] * k
        self._last_dev = [0.0] * k
        self._last_host = [0.0] * k
        self._pend_c: list[NDArray[np.int64]] = [np.zeros(0, np.int64) for _ in range(k)]
        self._pend_d: list[NDArray[np.float64]] = [np.zeros(0) for _ in range(k)]
        self._pend_h: list[NDArray[np.float64]] = [np.zeros(0) for _ in range(k)]
        self._pend_v: list[NDArray[np.float64]] = [np.zeros((0, self.width)) for _ in range(k)]
        self._last_emitted: int | None = None
        self._last_out = -1
        self._reset_marks: list[int] = []
        self._incoming: list[list[tuple[int, Placed]]] = [[] for _ in range(k)]
        self._incoming_n = [0] * k
        self._deltas: list[float] = []
        self._fixed = 0
        self.samples_lost = 0
        self.counter_resets = 0
        self.samples_out = 0

    @property
    def state(self) -> MergerState:
        for stream in range(self.n_streams):  # what is collected is pending
            self._absorb(stream)
        pending = tuple(
            tuple(
                (int(c), float(d), float(h), tuple(v))
                for c, d, h, v in zip(
                    self._pend_c[s].tolist(),
                    self._pend_d[s].tolist(),
                    self._pend_h[s].tolist(),
                    self._pend_v[s].tolist(),
                    strict=True,
                )
            )
            for s in range(self.n_streams)
        )
        return MergerState(
            tuple(self._offset),
            tuple(self._aligned),
            tuple(self._last_common),
            tuple(self._last_dev),
            tuple(self._last_host),
            pending,
            self._top_common(),
            self._last_emitted,
            self._last_out,
            tuple(self._reset_marks),
            tuple(self._deltas),
            self._fixed,
            self.samples_lost,
            self.counter_resets,
            self.samples_out,
        )

    @state.setter
    def state(self, s: MergerState) -> None:
        k = self.n_streams
        if len(s.offset) != k or len(s.pending) != k:
            raise ParameterError(f"Merger state must describe {k} stream(s), got {len(s.offset)}")
        self._offset = [int(v) for v in s.offset]
        self._aligned = [bool(v) for v in s.aligned]
        self._last_common = [int(v) for v in s.last_common]
        self._last_dev = [float(v) for v in s.last_device_s]
        self._last_host = [float(v) for v in s.last_host_s]
        for i, rows in enumerate(s.pending):
            self._pend_c[i] = np.array([r[0] for r in rows], dtype=np.int64)
            self._pend_d[i] = np.array([r[1] for r in rows], dtype=np.float64)
            self._pend_h[i] = np.array([r[2] for r in rows], dtype=np.float64)
            self._pend_v[i] = np.array([r[3] for r in rows], dtype=np.float64).reshape(len(rows), self.width)
        self._last_emitted = None if s.last_emitted is None else int(s.last_emitted)
        self._last_out = int(s.last_out)
        self._reset_marks = [int(v) for v in s.reset_marks]
        self._deltas = [float(v) for v in s.pair_deltas_s]
        self._fixed = int(s.arrival_shift)
        self.samples_lost = int(s.samples_lost)
        self.counter_resets = int(s.counter_resets)
        self.samples_out = int(s.samples_out)

    def _top_common(self) -> int:
        """The highest common counter in use (-1 before any)."""
        used = [c for c, a in zip(self._last_common, self._aligned, strict=True) if a]
        return max([*used, -1 if self._last_emitted is None else self._last_emitted])

    def _first_common(self, p: Placed) -> int:
        s = p.stream
        other = 1 - s if self.n_streams == 2 else None
        if other is not None and self._aligned[other]:
            if self.shared_clock:
                step = (p.device_time_s[0] - self._last_dev[other]) / self.period_s
            else:
                step = (p.host_time_s - self._last_host[other]) / self.period_s - (len(p.values) - 1)
            first = self._last_common[other] + round(step)
        else:
            first = self._top_common() + 1
        if self._aligned[s]:
            first = max(first, self._last_common[s] + 1)
        return first

    def add(self, p: Placed) -> None:
        """Take one placed chunk (call :meth:`emit` to collect what is complete).

        Chunks are only collected here; :meth:`emit` numbers and pairs them. That gives
        the same samples however often it is called: a stream's new counters are always
        above every counter both streams have passed (each stream's counters increase, and
        a re-aligned stream continues above its own last counter), so nothing that one call
        would have paired or dropped is decided differently by a later one.
        """
        s = p.stream
        n = len(p.values)
        if n == 0:
            return
        if p.reset or not self._aligned[s]:
            first = self._first_common(p)
            if p.reset:
                self._reset_marks.append(first)
            self._offset[s] = first - p.first
            self._aligned[s] = True
        if p.missing > 0 and self.n_streams == 2 and not self.shared_clock and self._fixed:
            # a stream's own clock now counts a loss that arrival re-alignment already shifted
            # the gyroscope for (gyroscope loss: shifted up; accelerometer loss: shifted down):
            # take that shift back for what follows instead of counting the loss twice
            if s == 1 and self._fixed > 0:
                take = min(p.missing, self._fixed)
                self._offset[1] -= take
                self._fixed -= take
            elif s == 0 and self._fixed < 0:
                take = min(p.missing, -self._fixed)
                self._offset[1] += take
                self._fixed += take
        c0 = p.first + self._offset[s]
        self._incoming[s].append((c0, p))
        self._incoming_n[s] += n
        self._last_common[s] = c0 + n - 1
        self._last_dev[s] = float(p.device_time_s[-1])
        self._last_host[s] = float(p.host_time_s)
        waiting = self._pend_c[s].shape[0] + self._incoming_n[s]
        if self.n_streams == 2 and not self._aligned[1 - s] and waiting > self.max_pending:
            self._absorb(s)
            self._take(s, self._pend_c[s].shape[0] - self.max_pending)

    def _absorb(self, s: int) -> None:
        """Move stream ``s``'s collected chunks into its pending arrays."""
        chunks, self._incoming[s] = self._incoming[s], []
        self._incoming_n[s] = 0
        if not chunks:
            return
        ns = np.array([len(p.values) for _, p in chunks], dtype=np.int64)
        starts = np.array([c0 for c0, _ in chunks], dtype=np.int64)
        offsets = np.cumsum(ns) - ns
        commons = np.repeat(starts - offsets, ns) + np.arange(int(ns.sum()), dtype=np.int64)
        self._pend_c[s] = np.concatenate([self._pend_c[s], commons])
        self._pend_d[s] = np.concatenate([self._pend_d[s], *(p.device_time_s for _, p in chunks)])
        hosts = np.repeat(np.array([p.host_time_s for _, p in chunks], dtype=np.float64), ns)
        self._pend_h[s] = np.concatenate([self._pend_h[s], hosts])
        self._pend_v[s] = np.concatenate([self._pend_v[s], *(p.values for _, p in chunks)])

    def _take(self, s: int, k: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray]:
        out = (self._pend_c[s][:k], self._pend_d[s][:k], self._pend_h[s][:k], self._pend_v[s][:k])
        self._pend_c[s] = self._pend_c[s][k:]
        self._pend_d[s] = self._pend_d[s][k:]
        self._pend_h[s] = self._pend_h[s][k:]
        self._pend_v[s] = self._pend_v[s][k:]
        return out

    def emit(self) -> Emitted:
        """The samples completed since the last call, in counter order.

        What is emitted does not depend on how often this is called (see :meth:`add`).
        """
        for stream in range(self.n_streams):
            self._absorb(stream)
        return self._emit_step()

    def _emit_step(self) -> Emitted:
        """The samples every stream has passed, in counter order (re-aligning by arrival if needed)."""
        if not all(self._aligned):
            return _empty_emitted()
        parts = []
        while True:
            bound = min(self._last_common)
            fix = self._arrival_fix(bound) if self.n_streams == 2 and not self.shared_clock else None
            parts.append(self._emit_upto(bound if fix is None else fix[0]))
            if fix is None:
                break
            shift = fix[1]
            self._pend_c[1] = self._pend_c[1] + shift
            self._offset[1] += shift
            self._last_common[1] += shift
            self._fixed += shift
            self._deltas = []
        parts = [e for e in parts if e.counter.shape[0]]
        if len(parts) <= 1:
            return parts[0] if parts else _empty_emitted()
        return Emitted(*(np.concatenate([getattr(e, f) for e in parts]) for f in Emitted.__dataclass_fields__))

    def _arrival_fix(self, bound: int) -> tuple[int, int] | None:
        """Where the gyroscope's counters drifted from the accelerometer's, and by how much.

        Both halves of one sample are sent together, so over :data:`_PAIR_WINDOW` pairs the
        median of ``arrival(gyr) - arrival(acc)`` is ``m × period`` when the gyroscope's
        counters are ``m`` samples off (a pair split over two connection events is an
        outlier the median ignores). Returns ``(common counter of the pair where |median|
        first passes half a period, m)`` or None.
        """
        k0 = int(np.searchsorted(self._pend_c[0], bound, side="right"))
        k1 = int(np.searchsorted(self._pend_c[1], bound, side="right"))
        c, i0, i1 = np.intersect1d(self._pend_c[0][:k0], self._pend_c[1][:k1], assume_unique=True, return_indices=True)
        if self._last_emitted is not None:
            keep = c > self._last_emitted
            c, i0, i1 = c[keep], i0[keep], i1[keep]
        if c.shape[0] == 0:
            return None
        new = self._pend_h[1][i1] - self._pend_h[0][i0]
        old = len(self._deltas)
        window = np.concatenate([np.array(self._deltas, dtype=np.float64), new])
        w = _PAIR_WINDOW
        ends = np.arange(max(w, old + 1), window.shape[0] + 1)
        if ends.size:
            # the median: a pair split over two connection events (the gyroscope one event
            # later) is an outlier, not a shift
            windows = np.lib.stride_tricks.sliding_window_view(window, w)[ends - w]
            means = np.median(windows, axis=1)
            hit = np.flatnonzero(np.abs(means) > 0.5 * self.period_s)
            if hit.size:
                end = int(ends[hit[0]])
                return int(c[end - old - 1]), round(float(means[hit[0]]) / self.period_s)
        self._deltas = window[-w:].tolist()
        return None

    def _emit_upto(self, bound: int) -> Emitted:
        """Number and pair the pending samples up to common counter ``bound``."""
        taken = []
        for s in range(self.n_streams):
            k = int(np.searchsorted(self._pend_c[s], bound, side="right"))
            taken.append(self._take(s, k))
        if self.n_streams == 1:
            c, dev, host, vals = taken[0]
            acc = vals[:, :3]
            gyr = vals[:, 3:6] if self.layout == "combined" else np.full((c.shape[0], 3), np.nan)
        else:
            (c0, d0, h0, v0), (c1, _d1, h1, v1) = taken
            c, i0, i1 = np.intersect1d(c0, c1, assume_unique=True, return_indices=True)
            dev = d0[i0]
            host = np.maximum(h0[i0], h1[i1])
            acc = v0[i0]
            gyr = v1[i1]
        if self._last_emitted is not None and c.shape[0]:
            keep = c > self._last_emitted
            c, dev, host, acc, gyr = c[keep], dev[keep], host[keep], acc[keep], gyr[keep]
        m = c.shape[0]
        if m == 0:
            return _empty_emitted()
        prev = self._last_emitted
        steps = np.diff(c, prepend=c[0] - 1 if prev is None else prev)
        reset_at = np.zeros(m, dtype=bool)
        if self._reset_marks:
            marks = np.array(self._reset_marks, dtype=np.int64)
            if prev is not None:
                marks = marks[marks > prev]
            idx = np.searchsorted(c, marks, side="left")
            hit = idx < m
            reset_at[idx[hit]] = True
            self._reset_marks = [int(v) for v in marks[~hit]]
            if prev is None:
                reset_at[0] = False
        gap = (steps > 1) | reset_at
        self.samples_lost += int((steps[(steps > 1) & ~reset_at] - 1).sum())
        self.counter_resets += int(reset_at.sum())
        inc = np.where(reset_at, 1, steps)
        out = self._last_out + np.cumsum(inc)
        self._last_out = int(out[-1])
        self._last_emitted = int(c[-1])
        self.samples_out += m
        return Emitted(
            out.astype(np.int64),
            np.ascontiguousarray(dev, dtype=np.float64),
            np.ascontiguousarray(host, dtype=np.float64),
            np.ascontiguousarray(acc, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            gap,
        )
