"""Several sensors on one event loop: :class:`SensorHub`.

Each sensor gets its own :class:`~dmi_sensors.ble.link.SensorLink` (and so its own
reconnection cycle: one sensor that never comes back does not stop the others); they share
the session clock ``t0_s``, the packet sink and a scan lock (one scan at a time per
adapter). The hub logs every link's statistics every ``log_interval_s``.

>>> async with SensorHub({"AA:BB:CC:DD:EE:01": "trunk", "AA:BB:CC:DD:EE:02": "pelvis"}) as hub:  # doctest: +SKIP
...     await hub.wait_streaming(30)
...     await asyncio.sleep(60)
...     print(hub.stats())

Scripts without an event loop use :func:`record_sync`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dmi_sensors.ble.link import PacketSink, ReconnectPolicy, SensorLink, StreamConfig, Target
from dmi_sensors.ble.stats import LinkStats
from dmi_sensors.errors import ParameterError

__all__ = ["RecordingContext", "SensorHub", "record", "record_sync"]

log = logging.getLogger(__name__)

#: The sensors of a hub: ``{target: placement}`` or ``(target, placement)`` pairs.
Sensors = Mapping[Target, str] | Iterable[tuple[Target, str]]


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

    async def start(self) -> None:
        """Create the links (session clock starts now) and start connecting them all."""
        if self.links:
            return
        self.t0_s = self._clock()
        scan_lock = asyncio.Lock()
        for target, placement in self._pairs:
            link = SensorLink(
                target,
                placement,
                config=self.config,
                policy=self.policy,
                sink=self.sink,
                t0_s=self.t0_s,
                clock=self._clock,
                scan_lock=scan_lock,
                **self._link_kwargs,
            )
            self.links.append(link)
            link.start()
        if self.log_interval_s:
            self._log_task = asyncio.get_running_loop().create_task(self._log_stats())

    async def wait_streaming(self, timeout_s: float | None = None, at_least: int | None = None) -> int:
        """Wait until ``at_least`` (default: all) links stream, or the timeout; returns how many do."""
        need = len(self.links) if at_least is None else at_least
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while sum(link.is_streaming for link in self.links) < need:
            if deadline is not None and self._clock() >= deadline:
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
    packets' ``host_time_s``); setting ``stop`` ends the recording early.
    """

    hub: SensorHub
    stop: asyncio.Event
    clock: Callable[[], float] = time.monotonic
    results: dict[str, Any] = field(default_factory=dict)

    def elapsed_s(self) -> float:
        return self._t() - (self.hub.t0_s or self._t())

    def _t(self) -> float:
        return self.clock()


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
    **hub_kwargs: Any,
) -> tuple[dict[str, LinkStats], RecordingContext]:
    """Record for ``duration_s`` seconds of streaming (counted from when all sensors stream
    or ``connect_timeout_s`` passed), then stop cleanly.

    ``companions`` are coroutine functions run alongside (each gets a
    :class:`RecordingContext`; their return values land in ``context.results`` under their
    ``__name__``) — the hook for a key tagger or a live display. They start once every
    sensor streams (or ``connect_timeout_s`` passed); ``on_hub(hub)`` is called as soon as
    the hub started (its session clock ``t0_s`` set, links connecting), before any data.
    Returns the final statistics per sensor and the context.
    """
    hub = SensorHub(sensors, sink=sink, **hub_kwargs)
    stop = asyncio.Event()
    ctx = RecordingContext(hub, stop, hub._clock)
    await hub.start()
    if on_hub is not None:
        on_hub(hub)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await hub.wait_streaming(connect_timeout_s)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(c(ctx), name=getattr(c, "__name__", "companion")) for c in companions]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
    finally:
        stop.set()
        stats = await hub.stop()
        for task in tasks:
            try:
                ctx.results[task.get_name()] = await asyncio.wait_for(task, 5.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception as exc:  # a companion's failure must not lose the recording
                log.error("companion %s failed: %s", task.get_name(), exc)
    return stats, ctx


def record_sync(sensors: Sensors, duration_s: float, **kwargs: Any) -> dict[str, LinkStats]:
    """:func:`record` for scripts (``asyncio.run``; not inside a running loop)."""
    stats, _ = asyncio.run(record(sensors, duration_s, **kwargs))
    return stats
