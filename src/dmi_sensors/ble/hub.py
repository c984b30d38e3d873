"""Several sensors on one event loop: :class:`SensorHub`.

Each sensor gets its own :class:`~dmi_sensors.ble.link.SensorLink` (and so its own
reconnection cycle: one sensor that never comes back does not stop the others); they share
the session clock ``t0_s``, the packet sink and a scan lock (one scan at a time per
adapter). The hub logs every link's statistics every ``log_interval_s``.

Faults that concern the whole recording end it, once, with a :class:`RecordingFault`
(``hub.fault``; :func:`record` stops then): the shared packet sink failed (``"sink"``: the
store cannot keep raw data, e.g. the disk is full — the failing link stops at once, the
others with the recording), the system D-Bus or BlueZ went away (``"bus"``, ``"bluez"``,
seen by :class:`~dmi_sensors.ble.health.BusWatchdog` as it happens), or a companion called
:meth:`RecordingContext.fail` (e.g. the recorder's free-space check). A single sensor that is
lost is not such a fault: it keeps its own link retrying and the others record on.

>>> async with SensorHub({"AA:BB:CC:DD:EE:01": "trunk", "AA:BB:CC:DD:EE:02": "pelvis"}) as hub:  # doctest: +SKIP
...     await hub.wait_streaming(30)
...     await asyncio.sleep(60)
...     print(hub.stats())

Scripts without an event loop use :func:`record_sync`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dmi_sensors.ble.health import BusWatchdog
from dmi_sensors.ble.link import PacketSink, ReconnectPolicy, SensorLink, StreamConfig, Target
from dmi_sensors.ble.stats import LinkStats
from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket

__all__ = ["RecordingContext", "RecordingFault", "SensorHub", "record", "record_sync"]

log = logging.getLogger(__name__)

#: The sensors of a hub: ``{target: placement}`` or ``(target, placement)`` pairs.
Sensors = Mapping[Target, str] | Iterable[tuple[Target, str]]


@dataclass(frozen=True)
class RecordingFault:
    """What ended a recording early.

    Attributes
    ----------
    kind
        ``"sink"`` (the packet sink raised: the store could not keep raw data), ``"bus"``
        (the system D-Bus went away), ``"bluez"`` (BlueZ left the bus), or what a companion
        passed to :meth:`RecordingContext.fail` (the recorder uses ``"disk_space"``).
    detail
        One line saying what happened.
    at_s
        Session time when it was noticed, s.
    error
        The exception behind it, if any (for a ``"sink"`` fault: what ``sink.append`` raised).
    """

    kind: str
    detail: str
    at_s: float
    error: BaseException | None = None


class _GuardedSink:
    """The hub's shared sink: reports the first failure as a recording fault, then re-raises
    (so the link that met it stops at once, as it does with any failing sink)."""

    def __init__(self, sink: PacketSink, on_error: Callable[[BaseException], None]) -> None:
        self.sink = sink
        self._on_error = on_error

    def append(self, packet: RawPacket) -> None:
        try:
            self.sink.append(packet)
        except Exception as exc:
            self._on_error(exc)
            raise


class SensorHub:
    """Stream from several sensors at once (see the module docstring).

    Parameters
    ----------
    sensors
        ``{target: placement}`` or an iterable of ``(target, placement)``; a target is a
        :class:`SensorAdvert`, a bleak ``BLEDevice`` or an address string.
    config, policy
        Shared stream configuration and reconnection policy.
    sink
        Shared packet sink (all sensors' raw packets in arrival order).
    log_interval_s
        Period of the statistics log lines (``None``: no logging).
    watch_bus
        Watch the system D-Bus and BlueZ (Linux) and report their loss as a fault.
    link_kwargs
        Extra keyword arguments for every :class:`SensorLink`.
    """

    def __init__(
        self,
        sensors: Sensors,
        *,
        config: StreamConfig | None = None,
        policy: ReconnectPolicy | None = None,
        sink: PacketSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval_s: float | None = 5.0,
        watch_bus: bool = True,
        **link_kwargs: Any,
    ) -> None:
        pairs = list(sensors.items()) if isinstance(sensors, Mapping) else list(sensors)
        if not pairs:
            raise ParameterError("SensorHub needs at least one sensor")
        self._pairs = pairs
        self.config = config or StreamConfig()
        self.policy = policy or ReconnectPolicy()
        self.sink = sink
        self._clock = clock
        self.log_interval_s = log_interval_s
        self._link_kwargs = link_kwargs
        self.links: list[SensorLink] = []
        self.t0_s: float | None = None
        self._log_task: asyncio.Task[None] | None = None
        self.fault: RecordingFault | None = None
        self.fault_event = asyncio.Event()
        self._watchdog = BusWatchdog(self._stack_lost) if watch_bus else None

    def elapsed_s(self) -> float:
        """Session time now (seconds since :meth:`start`; 0 before it)."""
        return 0.0 if self.t0_s is None else self._clock() - self.t0_s

    def report_fault(self, kind: str, detail: str, error: BaseException | None = None) -> RecordingFault:
        """Record a fault that ends the recording (the first one wins; later ones are logged)."""
        fault = RecordingFault(kind, detail, round(self.elapsed_s(), 3), error)
        if self.fault is None:
            self.fault = fault
            self.fault_event.set()
            log.error("recording fault (%s) at %.1f s: %s", kind, fault.at_s, detail)
        elif kind != self.fault.kind:
            log.warning("further fault (%s): %s", kind, detail)
        return self.fault

    def _stack_lost(self, kind: str, detail: str) -> None:
        self.report_fault(kind, detail)

    def _sink_failed(self, exc: BaseException) -> None:
        self.report_fault("sink", f"{type(exc).__name__}: {exc}", exc)

    async def start(self) -> None:
        """Create the links (session clock starts now) and start connecting them all."""
        if self.links:
            return
        self.t0_s = self._clock()
        if self._watchdog is not None:
            await self._watchdog.start()
        scan_lock = asyncio.Lock()
        sink = None if self.sink is None else _GuardedSink(self.sink, self._sink_failed)
        for target, placement in self._pairs:
            link = SensorLink(
                target,
                placement,
                config=self.config,
                policy=self.policy,
                sink=sink,
                t0_s=self.t0_s,
                clock=self._clock,
                scan_lock=scan_lock,
                **self._link_kwargs,
            )
            self.links.append(link)
            link.start()
        if self.log_interval_s:
            self._log_task = asyncio.get_running_loop().create_task(self._log_stats())

    async def wait_streaming(
        self, timeout_s: float | None = None, at_least: int | None = None, until: asyncio.Event | None = None
    ) -> int:
        """Wait until ``at_least`` (default: all) links stream, the timeout, a fault, or the
        event ``until`` is set; returns how many stream."""
        need = len(self.links) if at_least is None else at_least
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while sum(link.is_streaming for link in self.links) < need:
            if deadline is not None and self._clock() >= deadline:
                break
            if self.fault is not None or (until is not None and until.is_set()):
                break
            await asyncio.sleep(0.05)
        return sum(link.is_streaming for link in self.links)

    async def stop(self, timeout_s: float = 10.0) -> dict[str, LinkStats]:
        """Stop every link (in parallel) and return the final statistics."""
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
            self._log_task = None
        if self._watchdog is not None:
            await self._watchdog.stop()
        await asyncio.gather(*(link.stop(timeout_s) for link in self.links), return_exceptions=True)
        stats = self.stats()
        for s in stats.values():
            log.info("final %s", s.line())
        return stats

    def stats(self) -> dict[str, LinkStats]:
        """Live statistics per sensor id."""
        return {link.sensor_id: link.stats for link in self.links}

    async def _log_stats(self) -> None:
        assert self.log_interval_s
        while True:
            await asyncio.sleep(self.log_interval_s)
            for link in self.links:
                log.info("%s", link.stats.line())

    async def __aenter__(self) -> SensorHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@dataclass
class RecordingContext:
    """Handed to companion tasks of :func:`record` (e.g. the terminal key tagger).

    ``hub`` gives live statistics; ``elapsed_s()`` the session time (the same clock as the
    packets' ``host_time_s``); setting ``stop`` ends the recording early (a user's stop);
    :meth:`fail` ends it with a fault. After :func:`record` returns: ``started_s`` is the
    session time when the duration began to count (every sensor streaming, or the connect
    timeout), ``stopped_s`` when the recording was told to stop, ``fault`` what stopped it
    early (None: the duration ran out or ``stop`` was set), and ``streaming_at_stop`` which
    sensors were streaming at ``stopped_s``.
    """

    hub: SensorHub
    stop: asyncio.Event
    clock: Callable[[], float] = time.monotonic
    results: dict[str, Any] = field(default_factory=dict)
    started_s: float | None = None
    stopped_s: float | None = None
    streaming_at_stop: dict[str, bool] = field(default_factory=dict)

    def elapsed_s(self) -> float:
        return self._t() - (self.hub.t0_s or self._t())

    def _t(self) -> float:
        return self.clock()

    @property
    def fault(self) -> RecordingFault | None:
        """The fault that ended (or is ending) the recording, if any."""
        return self.hub.fault

    def fail(self, kind: str, detail: str, error: BaseException | None = None) -> None:
        """End the recording with a fault (e.g. the disk is about to fill up)."""
        self.hub.report_fault(kind, detail, error)
        self.stop.set()


#: A coroutine function run beside a recording (:func:`record`).
Companion = Callable[[RecordingContext], Coroutine[Any, Any, Any]]


async def record(
    sensors: Sensors,
    duration_s: float,
    *,
    sink: PacketSink | None = None,
    connect_timeout_s: float = 30.0,
    companions: Iterable[Companion] = (),
    on_hub: Callable[[SensorHub], None] | None = None,
    freeze_gc: bool = True,
    **hub_kwargs: Any,
) -> tuple[dict[str, LinkStats], RecordingContext]:
    """Record for ``duration_s`` seconds of streaming (counted from when all sensors stream
    or ``connect_timeout_s`` passed), then stop cleanly.

    ``companions`` are coroutine functions run alongside (each gets a
    :class:`RecordingContext`; their return values land in ``context.results`` under their
    ``__name__``) — the hook for a key tagger or a live display. They start once every
    sensor streams (or ``connect_timeout_s`` passed); ``on_hub(hub)`` is called as soon as
    the hub started (its session clock ``t0_s`` set, links connecting), before any data.
    A fault of the whole
    recording (``hub.fault``, see the module docstring) ends it early. Returns the final
    statistics per sensor and the context (its ``started_s``, ``stopped_s``, ``fault`` and
    ``streaming_at_stop`` say how the recording went; :func:`~dmi_sensors.ble.stats.account`
    turns them into samples expected, received and lost).

    ``freeze_gc``: once every sensor streams, the objects that exist then (the imported
    modules, the links, the connections: some 150 000) are moved out of the garbage
    collector's reach (``gc.freeze()``) until the recording ends (``gc.unfreeze()``), so that
    a full collection during the recording scans only what was made since; a full
    collection of everything took 22-89 ms of the event loop on the 2-core test machine,
    long enough to delay every sensor's notifications that much. Nothing is collected
    less: what is unreachable among the frozen objects is collected after the recording.
    Not done when the caller froze objects already (``gc.get_freeze_count()``).
    """
    hub = SensorHub(sensors, sink=sink, **hub_kwargs)
    stop = asyncio.Event()
    ctx = RecordingContext(hub, stop, hub._clock)
    tasks: list[asyncio.Task[Any]] = []
    frozen = False
    try:
        await hub.start()
        if on_hub is not None:
            on_hub(hub)
        await hub.wait_streaming(connect_timeout_s, until=stop)
        ctx.started_s = hub.elapsed_s()
        if freeze_gc and gc.get_freeze_count() == 0:
            gc.freeze()
            frozen = True
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(c(ctx), name=getattr(c, "__name__", "companion")) for c in companions]
        ended = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(hub.fault_event.wait())}
        try:
            await asyncio.wait(ended, timeout=max(0.0, duration_s), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in ended:
                fut.cancel()
    finally:
        ctx.stopped_s = hub.elapsed_s()
        if ctx.started_s is None:
            ctx.started_s = ctx.stopped_s
        ctx.streaming_at_stop = {link.sensor_id: link.is_streaming for link in hub.links}
        stop.set()
        # the stack is gone: no graceful STOP_STREAMING to wait for
        dead_stack = hub.fault is not None and hub.fault.kind in ("bus", "bluez")
        try:
            stats = await hub.stop(2.0 if dead_stack else 10.0)
            for task in tasks:
                try:
                    ctx.results[task.get_name()] = await asyncio.wait_for(task, 5.0)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
                except Exception as exc:  # a companion's failure must not lose the recording
                    log.error("companion %s failed: %s", task.get_name(), exc)
        finally:
            if frozen:  # also when the stop failed
                gc.unfreeze()
    return stats, ctx


def record_sync(sensors: Sensors, duration_s: float, **kwargs: Any) -> dict[str, LinkStats]:
    """:func:`record` for scripts (``asyncio.run``; not inside a running loop)."""
    stats, _ = asyncio.run(record(sensors, duration_s, **kwargs))
    return stats
