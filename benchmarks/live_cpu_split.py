"""Where the recorder's event-loop thread spends its CPU at full load (a diagnosis, not a benchmark).

Runs ``dmi-sensors record ARGS...`` in this process with the event loop's callbacks, the
selector's ``select()`` and the live path's stages timed by *thread CPU time*
(``time.thread_time``) over a window of the recording, and prints the split on stderr::

    python -m benchmarks.live_cpu_split 12 27 record --simulate-sensors 16 --fs-hz 1000 \\
        --duration-s 20 --live --live-port 0 --subject-id B001 --com-height-m 0.55 --db /tmp/x.sqlite

(the window: from 12 s to 27 s after the start; the recording streams from about 3 s on.)

Each timed stage costs about 1 µs a call (two ``thread_time()`` system calls and the
bookkeeping; the report prints the figure measured at start-up), and a stage that calls
other timed stages counts their wrappers too. ``DMI_CPU_SPLIT_STAGES`` (comma-separated
``Class.method`` names of :data:`STAGES`) times only those, e.g.
``SensorLink._drain,StreamDecoder.process,LiveHub.on_batch`` for what a drain does before
the live path: ``_drain - process - on_batch`` less two wrappers.
A sampling profiler (``py-spy record --idle``) attributes time spent inside ``epoll_wait``
and short callbacks poorly at this load (about 1 ms of work per 10 ms, in pieces of 0.1 ms);
CPU time measured around each stage does not. Each wrapper adds about 1 µs per call.
"""

from __future__ import annotations

import asyncio.events
import atexit
import importlib
import os
import selectors
import sys
import time
from typing import Any

#: (module, class, method) whose thread CPU time is summed
STAGES = [
    ("dmi_sensors.ble.acquired", "AcquiredSocketPoller", "_read"),
    ("dmi_sensors.ble.link", "SensorLink", "_on_datagrams"),
    ("dmi_sensors.ble.link", "SensorLink", "_drain"),
    ("dmi_sensors.ble.link", "SensorLink", "_account"),
    ("dmi_sensors.protocol.stream", "StreamDecoder", "process"),
    ("dmi_sensors.live.hub", "LiveHub", "on_batch"),
    ("dmi_sensors.live.metrics", "LiveSensor", "add_samples"),
    ("dmi_sensors.live.hub", "LiveView", "pull"),
    ("dmi_sensors.timing.streaming", "StreamingClock", "process"),
    ("dmi_sensors.live.signals", "LiveSignals", "process"),
    ("dmi_sensors.store.writer", "PacketWriter", "append"),
]


class _Split:
    def __init__(self, start_s: float, end_s: float) -> None:
        self.t_start = time.monotonic()
        self.window = (start_s, end_s)
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.select_s = 0.0
        self.callbacks: dict[str, float] = {}
        self.stages: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def active(self) -> bool:
        t = time.monotonic() - self.t_start
        if t < self.window[0]:
            return False
        if t > self.window[1]:
            if len(self.cpu) == 1:
                self.cpu.append(time.thread_time())
                self.wall.append(time.monotonic())
            return False
        if not self.cpu:
            self.cpu.append(time.thread_time())
            self.wall.append(time.monotonic())
        return True

    def install(self) -> None:
        split = self
        select0 = selectors.EpollSelector.select

        def select(sel: Any, timeout: float | None = None) -> Any:
            if not split.active():
                return select0(sel, timeout)
            c = time.thread_time()
            try:
                return select0(sel, timeout)
            finally:
                split.select_s += time.thread_time() - c

        run0 = asyncio.events.Handle._run

        def run(handle: Any) -> None:
            if not split.active():
                return run0(handle)
            cb = getattr(handle, "_callback", None)  # before running: a pass cancels its own handle
            name = getattr(cb, "__qualname__", type(cb).__name__)
            task = getattr(cb, "__self__", None)
            if isinstance(task, asyncio.Task):  # a task's step: named by its coroutine
                name = f"{name} [{getattr(task.get_coro(), '__qualname__', '?')}]"
            c = time.thread_time()
            run0(handle)
            split.callbacks[name] = split.callbacks.get(name, 0.0) + time.thread_time() - c
            return None

        selectors.EpollSelector.select = select  # type: ignore[method-assign]
        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        chosen = {name for name in os.environ.get("DMI_CPU_SPLIT_STAGES", "").split(",") if name}
        for module, cls_name, meth in STAGES:
            if not chosen or f"{cls_name}.{meth}" in chosen:
                self._wrap(getattr(importlib.import_module(module), cls_name), meth)
        self.wrapper_us = self._wrapper_cost_us()
        atexit.register(self.report)

    def _wrapper_cost_us(self) -> float:
        """Thread CPU per call that a timed stage adds around its method (a no-op here, timed
        by the same wrapper while the window is open)."""

        class Probe:
            def noop(self) -> None:
                return None

        plain_probe = Probe()
        plain = Probe.noop
        self._wrap(Probe, "noop")
        probe = Probe()
        saved = self.window, self.t_start, self.cpu, self.wall, self.stages, self.calls
        self.window, self.t_start, self.stages, self.calls = (-1e9, 1e9), time.monotonic(), {}, {}
        self.cpu, self.wall = [0.0], [0.0]  # "window open", without touching the real window's marks
        n = 20_000
        try:
            c = time.thread_time()
            for _ in range(n):
                probe.noop()
            wrapped = time.thread_time() - c
            c = time.thread_time()
            for _ in range(n):
                plain(plain_probe)
            bare = time.thread_time() - c
        finally:
            self.window, self.t_start, self.cpu, self.wall, self.stages, self.calls = saved
        return 1e6 * (wrapped - bare) / n

    def _wrap(self, cls: type, meth: str) -> None:
        f = getattr(cls, meth)
        key = f"{cls.__name__}.{meth}"
        split = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not split.active():
                return f(*args, **kwargs)
            c = time.thread_time()
            try:
                return f(*args, **kwargs)
            finally:
                split.stages[key] = split.stages.get(key, 0.0) + time.thread_time() - c
                split.calls[key] = split.calls.get(key, 0) + 1

        setattr(cls, meth, timed)

    def report(self) -> None:
        if len(self.cpu) < 2:
            print("live_cpu_split: the recording ended before the window did", file=sys.stderr)
            return
        wall = self.wall[1] - self.wall[0]
        total = self.cpu[1] - self.cpu[0]
        cbs = sum(self.callbacks.values())

        def pct(x: float) -> str:
            return f"{100 * x / wall:.2f} %"

        print(
            f"event-loop thread over {wall:.1f} s: CPU {pct(total)} of one core = callbacks {pct(cbs)}"
            f" + select() {pct(self.select_s)} + the loop's own code {pct(total - cbs - self.select_s)}",
            file=sys.stderr,
        )
        print(
            f"  (each timed stage adds about {self.wrapper_us:.1f} µs a call, to itself and to the stage calling it)",
            file=sys.stderr,
        )
        for name, v in sorted(self.callbacks.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  callback {name}: {pct(v)}", file=sys.stderr)
        for key, v in sorted(self.stages.items(), key=lambda kv: -kv[1]):
            n = self.calls[key]
            print(f"  stage {key}: {pct(v)} ({n / wall:.0f} calls/s, {1e6 * v / n:.0f} µs a call)", file=sys.stderr)


def main(argv: list[str]) -> int:
    start_s, end_s, *cli_args = argv
    _Split(float(start_s), float(end_s)).install()
    from dmi_sensors.cli import main as cli_main

    return cli_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
