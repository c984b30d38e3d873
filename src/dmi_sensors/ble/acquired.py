"""Every acquired notification socket of an event loop, read together.

With BlueZ's ``AcquireNotify`` each characteristic's notifications arrive as datagrams on
a socket (``SOCK_SEQPACKET``). Watching each socket with the event loop wakes the loop once
per notification: at 16 sensors x 1 kHz (19 samples a packet) about 850 wake-ups a second,
each a pass of asyncio's loop and an ``epoll_wait``, more CPU than the toolkit's own work
on the packets. :class:`AcquiredSocketPoller` instead keeps all acquired sockets of a loop
in one private ``epoll`` set whose own descriptor the loop watches: the first notification
on any socket arms one pass ``delay_s`` later (``delay_s`` 0: at once), and that pass reads
every socket that is ready until it is empty (one datagram from each ready socket per
round, then epoll says which are still ready; at most ``max_reads`` datagrams a socket a
pass), then hands each socket's datagrams to its owner at once. While data flows (a pass
read something) the next pass follows on the timer, ``delay_s`` later, without watching
the descriptor in between; a pass that finds nothing goes back to waiting for a socket to
be ready. So the loop wakes about ``1 / delay_s`` times a second while data flows (once
per pass, not twice), and not at all while none does; no notification waits more than
``delay_s`` for its pass.

Each datagram keeps the time it arrived, not the time it was read: the kernel stamps it as
it is queued (``SO_TIMESTAMPNS``, on ``CLOCK_REALTIME``, the clock of ``time.time()``). A
pass maps the stamps onto ``time.monotonic()`` (the links' clock) with the offset between
the two clocks measured in the same pass (:func:`wall_to_monotonic`: the tightest of three
monotonic-wall-monotonic readings; the offset moves only when NTP slews or steps the wall
clock, by at most 0.5 ms a second when it slews), clipped so that no arrival lies after
the read. An owner on another clock maps them by their age (:func:`arrival_times`). Where
the stamp is missing (a socket that refused the option), the read time is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import struct
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from dmi_sensors.errors import ParameterError

__all__ = ["SO_TIMESTAMPNS", "AcquiredSocketPoller", "DatagramReader", "arrival_times", "wall_to_monotonic"]

log = logging.getLogger(__name__)

#: ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``) of Linux's generic socket ABI (x86, ARM, RISC-V;
#: Python's ``socket`` module does not name it). Elsewhere the option is not set and the read
#: time is used.
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else -1
_TIMESPEC = struct.Struct("@ll")  # struct timespec: seconds, nanoseconds (native longs)
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0

#: ``reader(datagrams, monotonic_now_s)``: the datagrams read from one socket in one pass, in
#: arrival order, each ``(kernel receive stamp on time.monotonic() in s, or None, bytes)``,
#: and ``time.monotonic()`` after the last of them.
DatagramReader = Callable[[list[tuple[float | None, bytes]], float], None]


def wall_to_monotonic(tries: int = 3) -> tuple[int, int]:
    """``(offset_ns, monotonic_now_ns)``: ``time.time_ns() - offset_ns`` is the same instant
    on ``time.monotonic_ns()``. The wall clock is read between two monotonic readings, whose
    midpoint it is taken to be; of ``tries`` such readings the tightest (a thread switched
    out between the reads makes one wide) is used."""
    best_width, offset_ns, now_ns = -1, 0, 0
    for _ in range(tries):
        m1 = time.monotonic_ns()
        w = time.time_ns()
        m2 = time.monotonic_ns()
        if best_width < 0 or m2 - m1 < best_width:
            best_width, offset_ns, now_ns = m2 - m1, w - (m1 + m2) // 2, m2
    return offset_ns, now_ns


def arrival_times(
    datagrams: list[tuple[float | None, bytes]], ref_now_s: float, clock_now_s: float
) -> list[tuple[float, bytes]]:
    """Datagrams ``(stamp on a reference clock or None, bytes)`` with their arrival times on
    a clock read at ``clock_now_s`` instead, by their age at ``ref_now_s`` (read together with
    ``clock_now_s``): ``clock_now_s - max(0, ref_now_s - stamp)``; a missing stamp is "now".
    Non-decreasing when the stamps are; with the same clock (``clock_now_s == ref_now_s``)
    each is its stamp, clipped to "now"."""
    return [(clock_now_s if s is None else clock_now_s - max(0.0, ref_now_s - s), d) for s, d in datagrams]


@dataclass(slots=True)
class _Socket:
    fd: int
    sock: socket.socket  # wraps fd without owning it: always detached, never closed here
    reader: DatagramReader
    on_closed: Callable[[str], None]
    stamped: bool
    delay_s: float
    max_reads: int
    after_pass: Callable[[], None] | None


class AcquiredSocketPoller:
    """The acquired notification sockets of one event loop, read together (module docstring).

    Use :meth:`for_loop` (one poller per loop). The poller never owns a socket: whoever
    acquired it (bleak) closes it; :meth:`remove` must come first, or the owner's
    ``on_closed`` when the peer hangs up (then the poller closes it, as bleak's reader does).

    Parameters
    ----------
    loop
        The event loop whose callbacks run the passes.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AcquiredSocketPoller]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._sockets: dict[int, _Socket] = {}
        self._armed = False  # the loop watches the epoll descriptor
        self._pass_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        #: passes run, datagrams read, wake-ups by a socket becoming ready (for tests and profiles)
        self.passes = 0
        self.datagrams = 0
        self.wakeups = 0

    @property
    def delay_s(self) -> float:
        """From the first notification since the last pass to the next pass: the shortest
        ``delay_s`` of the sockets read here."""
        return min((e.delay_s for e in self._sockets.values()), default=0.0)

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> AcquiredSocketPoller:
        """The poller of ``loop`` (default: the running loop), made on first use."""
        loop = loop or asyncio.get_running_loop()
        poller = cls._by_loop.get(loop)
        if poller is None or poller._epoll.closed:
            poller = cls._by_loop[loop] = cls(loop)
        return poller

    def __len__(self) -> int:
        return len(self._sockets)

    def add(
        self,
        fd: int,
        reader: DatagramReader,
        on_closed: Callable[[str], None],
        *,
        delay_s: float = 0.005,
        max_reads: int = 256,
        after_pass: Callable[[], None] | None = None,
    ) -> None:
        """Read socket ``fd`` in every pass: its datagrams go to ``reader``; ``on_closed(why)``
        after the peer hung up or a read failed (the poller has closed the socket then).
        The socket is made non-blocking and asked for kernel receive stamps.

        ``delay_s``: a pass runs at most this long after a notification on this socket (0:
        at once). ``max_reads``: at most this many datagrams from it per pass (then the next
        pass runs at once, after the loop's other callbacks), so one busy socket cannot
        hold the loop. ``after_pass()``: called once after a pass in which this socket had
        datagrams, after every socket was read (sockets with the same ``after_pass``, e.g.
        one sensor's data and status sockets, share one call: the owner merges them by
        their stamps and processes them once)."""
        if not delay_s >= 0:
            raise ParameterError(f"delay_s must be >= 0, got {delay_s}")
        if max_reads < 1:
            raise ParameterError(f"max_reads must be >= 1, got {max_reads}")
        if fd in self._sockets:
            self.remove(fd)
        os.set_blocking(fd, False)
        sock = socket.socket(fileno=fd)
        stamped = False
        if SO_TIMESTAMPNS >= 0 and _ANC_SIZE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                stamped = True
            except OSError as exc:
                log.debug("acquired socket %d: no kernel receive stamps (%s); read times are used", fd, exc)
        with contextlib.suppress(OSError):  # a stale registration of a reused descriptor number
            self._epoll.unregister(fd)
        self._epoll.register(fd, select.EPOLLIN)
        self._sockets[fd] = _Socket(fd, sock, reader, on_closed, stamped, float(delay_s), int(max_reads), after_pass)
        self._arm()

    def remove(self, fd: int) -> bool:
        """Stop reading ``fd`` (it stays open: its owner closes it). False if not read here."""
        entry = self._sockets.pop(fd, None)
        if entry is None:
            return False
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        entry.sock.detach()
        if not self._sockets:
            self._disarm()
        return True

    def read_now(self) -> int:
        """Run a pass now (also when none is due); returns the datagrams read."""
        before = self.datagrams
        self._pass()
        return self.datagrams - before

    # -- the loop's side -----------------------------------------------------------------
    def _arm(self) -> None:
        if not self._armed and self._pass_handle is None and self._sockets:
            self._loop.add_reader(self._epoll.fileno(), self._on_ready)
            self._armed = True

    def _disarm(self) -> None:
        if self._armed:
            with contextlib.suppress(RuntimeError, ValueError):  # a closed loop
                self._loop.remove_reader(self._epoll.fileno())
            self._armed = False
        if self._pass_handle is not None:
            self._pass_handle.cancel()
            self._pass_handle = None

    def _on_ready(self) -> None:
        """A socket became readable: one pass ``delay_s`` from now (the loop stops watching
        until then, so the notifications in between do not wake it)."""
        self._loop.remove_reader(self._epoll.fileno())
        self._armed = False
        self.wakeups += 1
        delay_s = self.delay_s
        if delay_s > 0:
            self._pass_handle = self._loop.call_later(delay_s, self._pass)
        else:
            self._pass_handle = self._loop.call_soon(self._pass)

    def _pass(self) -> None:
        if self._pass_handle is not None:
            self._pass_handle.cancel()
            self._pass_handle = None
        self.passes += 1
        more = False
        read_any = False
        ends: dict[Callable[[], None], None] = {}
        # fd -> (its socket, its datagrams, why it closed or ""), in the order they became ready
        reads: dict[int, tuple[_Socket, list[tuple[int | None, bytes]], list[str]]] = {}
        try:
            # One datagram from every ready socket, then ask epoll again which are still ready
            # (level-triggered), until none is: one epoll_wait per round instead of a read that
            # fails with EAGAIN on every socket (a system call and an exception each).
            ready = self._epoll.poll(0)
            while ready:
                progress = False
                for fd, _events in ready:
                    entry = self._sockets.get(fd)
                    if entry is None:
                        continue
                    r = reads.get(fd)
                    if r is None:
                        r = reads[fd] = (entry, [], [])
                    if r[2] or len(r[1]) >= entry.max_reads:
                        continue  # closed, or its share of this pass read
                    closed = self._read(entry, r[1])
                    if closed is None:
                        continue  # nothing there after all
                    if closed:
                        r[2].append(closed)
                    else:
                        progress = True
                if not progress:
                    break
                ready = self._epoll.poll(0)
            offset_ns, now_ns = wall_to_monotonic()
            now_s = now_ns * 1e-9
            for entry, got, closed_why in reads.values():
                self.datagrams += len(got)
                try:
                    if got:
                        read_any = True
                        if entry.after_pass is not None:
                            ends[entry.after_pass] = None
                        entry.reader(
                            [(None if ns is None else min(ns - offset_ns, now_ns) * 1e-9, d) for ns, d in got],
                            now_s,
                        )
                except Exception:  # one owner's failure must not cost the other sockets their data
                    log.exception("acquired socket %d: its reader failed", entry.fd)
                finally:
                    if closed_why:
                        self.remove(entry.fd)
                        with contextlib.suppress(OSError):
                            os.close(entry.fd)
                        entry.on_closed(closed_why[0])
                    elif len(got) == entry.max_reads:
                        more = True
        finally:
            for end in ends:
                try:
                    end()
                except Exception:
                    log.exception("acquired sockets: a pass's after_pass callback failed")
            delay_s = self.delay_s
            if more and self._sockets:  # a socket still holds datagrams: the next pass at once
                self._pass_handle = self._loop.call_soon(self._pass)
            elif read_any and delay_s > 0 and self._sockets:
                # Data flows: the next pass on the timer, delay_s from now, without watching
                # the sockets in between (a notification after this pass waits at most
                # delay_s, as after a wake-up; no wake-up and no epoll_ctl pair per pass).
                # A pass that finds nothing goes back to waiting for a socket to be ready.
                self._pass_handle = self._loop.call_later(delay_s, self._pass)
            else:
                self._arm()

    def _read(self, entry: _Socket, got: list[tuple[int | None, bytes]]) -> str | None:
        """Read one datagram of a ready socket into ``got`` as ``(wall-clock stamp in ns or
        None, bytes)``: "" when one was read, None when none was there, else why the socket
        closed (nothing added)."""
        try:
            data, anc, _flags, _addr = entry.sock.recvmsg(1024, _ANC_SIZE if entry.stamped else 0)
        except BlockingIOError:
            return None
        except OSError as exc:
            return f"read error: {exc}"
        if not data and _hung_up(entry.fd):
            return "socket closed"
        stamp = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(value)
                stamp = sec * 1_000_000_000 + nsec
        got.append((stamp, data))
        return ""


def _hung_up(fd: int) -> bool:
    """True when the peer closed the socket (an empty read is then the end, not an empty
    notification; bleak's reader tells them apart the same way)."""
    poll = select.poll()
    poll.register(fd, select.POLLHUP)
    return bool(poll.poll(0))
