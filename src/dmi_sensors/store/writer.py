"""Append raw packets to the store in short transactions, off the recording event loop.

Commit policy (:class:`CommitPolicy`): pending packets are committed as soon as the oldest
of them has waited ``max_latency_s`` (default 0.5 s), or ``max_packets`` are pending, or on
:meth:`PacketWriter.flush` / :meth:`PacketWriter.close`. So a killed recorder loses at most
the packets that arrived in the last ``max_latency_s`` (plus the time one commit takes).

"Waited" counts from the packet's *arrival* once the writer knows the recording's clock
(:meth:`PacketWriter.set_arrival_origin`: arrival = origin + ``packet.host_time_s`` on the
writer's clock), so time a packet spent before reaching the writer (a notification queue)
counts too; otherwise from its :meth:`~PacketWriter.append`. :attr:`PacketWriter.commit_latency_max_s`
is the longest arrival-to-commit time seen. ``dmi-sensors record`` commits 0.25 s after
arrival, so that with the commit itself and a busy machine a SIGKILL loses at most 0.5 s.

Threading: by default a writer thread owns its own SQLite connection and does all encoding
and I/O; :meth:`PacketWriter.append` only takes a lock and appends to a list (microseconds),
so it can be called from the asyncio recorder's notification callbacks without blocking the
event loop. :meth:`flush` and :meth:`close` wait for the thread (up to one commit, a few ms
with ``synchronous=FULL``); from a coroutine use :meth:`aflush` / :meth:`aclose`, which
run them in a worker thread. With ``threaded=False`` commits happen inside ``append``/``poll`` in the
caller's thread (deterministic; used by tests with an injected clock).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dmi_sensors import protocol
from dmi_sensors.errors import ParameterError, StoreError
from dmi_sensors.store import db
from dmi_sensors.types import RawPacket

__all__ = ["CommitPolicy", "PacketWriter", "insert_packets"]

#: Called in the writer's thread after each commit with (packets committed so far, last packet).
CommitCallback = Callable[[int, RawPacket], None]


@dataclass(frozen=True)
class CommitPolicy:
    """When pending packets must be committed.

    Attributes
    ----------
    max_latency_s
        Longest time a packet may wait in memory before its transaction commits, s.
    max_packets
        Commit early once this many packets are pending.
    """

    max_latency_s: float = 0.5
    max_packets: int = 2000

    def __post_init__(self) -> None:
        if not self.max_latency_s > 0:
            raise ParameterError(f"max_latency_s must be positive, got {self.max_latency_s}")
        if self.max_packets < 1:
            raise ParameterError(f"max_packets must be >= 1, got {self.max_packets}")

    def due(self, n_pending: int, oldest_pending_time_s: float | None, now_s: float) -> bool:
        """True when ``n_pending`` packets, the oldest appended at ``oldest_pending_time_s``, must commit now."""
        if n_pending == 0 or oldest_pending_time_s is None:
            return False
        return n_pending >= self.max_packets or now_s - oldest_pending_time_s >= self.max_latency_s


def insert_packets(
    conn: sqlite3.Connection, session_id: int, packets: Iterable[RawPacket], known_sensors: set[str]
) -> int:
    """Insert ``packets`` in the current transaction; register unseen sensors. Returns the count."""
    rows = []
    new_sensors = []
    for p in packets:
        if p.sensor_id not in known_sensors:
            known_sensors.add(p.sensor_id)
            new_sensors.append((session_id, p.sensor_id))
        data = bytes(p.data)
        rows.append((session_id, p.sensor_id, float(p.host_time_s), protocol.data_packet_counter(data), data))
    if new_sensors:
        conn.executemany("INSERT OR IGNORE INTO sensors (session_id, sensor_id) VALUES (?, ?)", new_sensors)
    conn.executemany(
        "INSERT INTO raw_packets (session_id, sensor_id, host_time_s, counter, data) VALUES (?, ?, ?, ?, ?)", rows
    )
    return len(rows)


class PacketWriter:
    """Buffered, time-bounded appends of :class:`~dmi_sensors.types.RawPacket` to one session.

    Create it with :meth:`SessionStore.packet_writer`. Use as a context manager or call
    :meth:`close`. Thread-safe: any thread (or the event loop) may call :meth:`append`.

    Parameters
    ----------
    path
        The session database file.
    session_id
        The (incomplete) session the packets belong to.
    policy
        When to commit (:class:`CommitPolicy`).
    clock
        Monotonic clock in seconds used by the policy (injectable for tests).
    threaded
        Commit from a writer thread (default) or inline in ``append``/``poll``.
    on_commit
        Optional callback after each commit (in the committing thread).
    poll_s
        Longest sleep of the writer thread between policy checks, s (it also wakes at the
        policy's deadline and on every append that makes a commit due).
    """

    def __init__(
        self,
        path: str | Path,
        session_id: int,
        *,
        policy: CommitPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        threaded: bool = True,
        on_commit: CommitCallback | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.path = Path(path)
        self.session_id = int(session_id)
        self.policy = policy or CommitPolicy()
        self._clock = clock
        self._on_commit = on_commit
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self._pending: list[RawPacket] = []
        self._oldest: float | None = None
        self._flush_requested = 0
        self._flushes_done = 0
        self._closing = False
        self._closed = False
        self._error: BaseException | None = None
        self._known_sensors: set[str] = set()
        self.committed = 0  #: packets committed so far
        self.commits = 0  #: transactions committed so far
        self.commit_latency_max_s = 0.0  #: longest time from arrival (or append) to the end of its commit
        self._origin_s: float | None = None
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(ready,), name="dmi-packet-writer", daemon=True)
            self._thread.start()
            ready.wait()
            if self._error is not None:
                raise self._error
        else:
            self._conn = self._open()

    # -- public API ------------------------------------------------------------------------
    def set_arrival_origin(self, origin_s: float | None) -> None:
        """Count each packet's wait from its arrival, ``origin_s + packet.host_time_s`` on this
        writer's clock (a recorder passes its session clock's start, e.g. ``SensorHub.t0_s``
        with the default ``time.monotonic``). ``None``: from :meth:`append`."""
        with self._cond:
            self._origin_s = None if origin_s is None else float(origin_s)

    def append(self, packet: RawPacket) -> None:
        """Queue one packet; it is committed within ``policy.max_latency_s`` of its arrival."""
        with self._cond:
            self._check_usable()
            now = self._clock()
            arrived = now
            if self._origin_s is not None:
                at = self._origin_s + float(packet.host_time_s)
                if at == at:  # not NaN; never later than now
                    arrived = min(at, now)
            first = not self._pending
            if first or self._oldest is None:
                self._oldest = arrived
            else:
                self._oldest = min(self._oldest, arrived)
            self._pending.append(packet)
            if self._thread is not None:
                # wake the thread to recompute its deadline (the first pending packet sets it)
                if first or len(self._pending) >= self.policy.max_packets:
                    self._cond.notify_all()
                return
        self.poll()

    def extend(self, packets: Iterable[RawPacket]) -> None:
        """Queue several packets (same guarantee as :meth:`append`)."""
        for p in packets:
            self.append(p)

    def poll(self) -> bool:
        """Inline mode: commit now if the policy says so. Returns True if it committed."""
        if self._thread is not None:
            return False
        with self._cond:
            self._check_usable()
            due = self.policy.due(len(self._pending), self._oldest, self._clock())
        if due:
            self._commit_pending()
        return due

    @property
    def pending(self) -> int:
        """Packets appended but not yet committed."""
        with self._cond:
            return len(self._pending)

    def flush(self, timeout_s: float | None = None) -> None:
        """Commit everything appended so far and wait until it is on disk."""
        if self._thread is None:
            with self._cond:
                self._check_usable()
            self._commit_pending()
            return
        with self._cond:
            self._check_usable()
            self._flush_requested += 1
            ticket = self._flush_requested
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: self._flushes_done >= ticket or self._error is not None, timeout_s)
            if self._error is not None:
                raise self._failure() from self._error
            if not ok:
                raise TimeoutError(f"packet writer for {self.path}: flush did not finish in {timeout_s} s")

    def close(self) -> None:
        """Commit what is pending, stop the thread and close the connection (idempotent)."""
        if self._closed:
            return
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join()
            self._closed = True
            if self._error is not None:
                raise self._failure() from self._error
            return
        try:
            self._commit_pending()
        finally:
            self._closed = True
            if self._conn is not None:
                self._conn.close()

    async def aflush(self) -> None:
        """:meth:`flush` without blocking the event loop (runs in a worker thread)."""
        await asyncio.to_thread(self.flush)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop (runs in a worker thread)."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> PacketWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    @property
    def error(self) -> BaseException | None:
        """What made the writer fail (e.g. ``sqlite3.OperationalError('database or disk is full')``)."""
        return self._error

    def _failure(self) -> StoreError:
        lost = len(self._pending)
        return StoreError(
            f"packet writer for {self.path} failed ({type(self._error).__name__}: {self._error});"
            f" {self.committed} packets were committed, {lost} pending packets were not"
        )

    def _check_usable(self) -> None:
        if self._closed or self._closing:
            raise StoreError(f"packet writer for session {self.session_id} is closed")
        if self._error is not None:
            raise self._failure() from self._error

    def _open(self) -> sqlite3.Connection:
        conn = db.connect(self.path, create=False)
        for (sensor_id,) in conn.execute("SELECT sensor_id FROM sensors WHERE session_id = ?", (self.session_id,)):
            self._known_sensors.add(sensor_id)
        return conn

    def _commit_pending(self) -> None:
        with self._cond:
            batch = self._pending
            oldest = self._oldest
            self._pending = []
            self._oldest = None
        if not batch:
            return
        assert self._conn is not None
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                insert_packets(self._conn, self.session_id, batch, self._known_sensors)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except BaseException:
            with self._cond:  # keep the packets: nothing that arrived is dropped silently
                self._pending[:0] = batch
                self._oldest = oldest if self._oldest is None or oldest is None else min(oldest, self._oldest)
            raise
        with self._cond:
            self.committed += len(batch)
            self.commits += 1
            if oldest is not None:
                self.commit_latency_max_s = max(self.commit_latency_max_s, self._clock() - oldest)
        if self._on_commit is not None:
            self._on_commit(self.committed, batch[-1])

    def _run(self, ready: threading.Event) -> None:
        try:
            self._conn = self._open()
        except BaseException as exc:
            self._error = exc
            ready.set()
            return
        ready.set()
        try:
            while True:
                with self._cond:
                    while True:
                        now = self._clock()
                        flush = self._flush_requested > self._flushes_done
                        if self._closing or flush or self.policy.due(len(self._pending), self._oldest, now):
                            break
                        timeout = self._poll_s
                        if self._oldest is not None:
                            timeout = min(timeout, max(0.0, self._oldest + self.policy.max_latency_s - now))
                        self._cond.wait(timeout)
                    ticket = self._flush_requested
                    closing = self._closing
                self._commit_pending()
                with self._cond:
                    self._flushes_done = max(self._flushes_done, ticket)
                    self._cond.notify_all()
                if closing:
                    with self._cond:
                        if not self._pending:
                            break
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            self._conn.close()
