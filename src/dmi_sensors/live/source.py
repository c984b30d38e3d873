"""A live calibration source: guided steps recorded from one sensor over Bluetooth LE.

:class:`LiveSource` is an :class:`~dmi_sensors.calibration.guided.AsyncStepSource`. It
connects once (a :class:`~dmi_sensors.ble.SensorLink`: bleak-retry-connector, time sync,
streaming, automatic reconnection) and keeps the sensor streaming for the whole
procedure; the link's :class:`~dmi_sensors.protocol.StreamDecoder` output is collected as
it arrives. Waiting for the therapist between steps therefore never stalls the link (the
samples of the pause are simply not used).

A step, on the host clock (seconds since the source started):

1. ``t_start`` = now (after ``on_step_start``, e.g. "the hand moves" in the emulator);
   the step ends at ``t_end = t_start + step.duration_s``;
2. wait (asyncio) until a packet arrives ``latency_margin_s`` after ``t_end`` — packets
   arrive in order, so every sample taken before ``t_end`` is in by then (or was lost). A
   link that is down then is waited for (up to ``connect_timeout_s``): after it reconnects,
   the sample counters say exactly how many samples of the step were lost, however long the
   reconnection took;
3. sample times: :func:`dmi_sensors.timing.fit_clock` on counters and arrival times of the
   recent stream (drift-corrected, lower-envelope fit);
4. the step's samples are those with ``t_start <= time <= t_end`` (plus one on each side
   for interpolation). The step is **incomplete** if samples were lost inside it (counter
   gap, e.g. the link dropped), or its start or end is not covered; an incomplete step is
   recorded again (``max_attempts`` in all; the therapist is told to repeat it), then
   :class:`LiveCalibrationError`. Nothing is ever interpolated across lost samples;
5. :func:`dmi_sensors.timing.resample_uniform` puts the samples on the grid ``k / fs_hz``
   (``fs_hz`` = the rate streamed); grid points in ``[t_start, t_end)`` are returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dmi_sensors.ble import SensorLink, StreamConfig, Target
from dmi_sensors.calibration.guided import Step
from dmi_sensors.errors import DeviceError, ParameterError
from dmi_sensors.timing import fit_clock, resample_uniform
from dmi_sensors.types import SampleBatch

__all__ = ["IncompleteStepError", "LiveCalibrationError", "LiveSource"]


class LiveCalibrationError(DeviceError):
    """The live sensor could not deliver a complete step (not found, link lost, samples lost)."""


class IncompleteStepError(LiveCalibrationError):
    """One attempt at a step lost samples or did not cover the step (it is recorded again)."""


class LiveSource:
    """Guided calibration steps from a streaming :class:`SensorLink` (see the module docstring).

    Parameters
    ----------
    link
        A link that has not been started (``LiveSource`` starts and stops it; use
        ``async with``). Its ``t0_s``/``clock`` define the host clock used here.
    connect_timeout_s
        How long to wait for data at the start and after a link loss.
    max_attempts
        Recordings of one step before giving up (an attempt that lost samples is repeated).
    latency_margin_s
        How long after the step's end a packet must have arrived before the step is cut.
    on_step_start
        ``await on_step_start(step, attempt)`` right before a step is recorded (e.g. the
        emulated hand performs it).
    say
        Where messages to the therapist go.
    """

    def __init__(
        self,
        link: SensorLink,
        *,
        connect_timeout_s: float = 30.0,
        max_attempts: int = 3,
        latency_margin_s: float = 0.5,
        on_step_start: Callable[[Step, int], Awaitable[None]] | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        if max_attempts < 1:
            raise ParameterError(f"max_attempts must be at least 1, got {max_attempts}")
        self.link = link
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_attempts = int(max_attempts)
        self.latency_margin_s = float(latency_margin_s)
        self.on_step_start = on_step_start
        self.say = say
        # a third-party sensor streams at the rate its setup exchange sets (the link's vendor session)
        self.fs_hz = float(link.vendor.rate_hz if link.vendor is not None else link.config.fs_hz)
        self.attempts: list[tuple[str, int, str]] = []  # (step key, attempt, "ok" or why not)
        self._batches: list[SampleBatch] = []
        self._last_arrival_s = -np.inf
        self._task: asyncio.Task[None] | None = None
        link.on_batch = self._on_batch

    # -- lifecycle ---------------------------------------------------------------------
    def _on_batch(self, batch: SampleBatch) -> None:
        self._batches.append(batch)
        self._last_arrival_s = float(batch.host_time_s[-1])

    def _now(self) -> float:
        return self.link._clock() - self.link.t0_s

    @property
    def sensor_serial(self) -> str:
        """The sensor's serial (Device Information), known once connected."""
        info = self.link.info
        return info.serial if info is not None else self.link.sensor_id

    async def start(self) -> None:
        """Connect and wait until data flows (:class:`LiveCalibrationError` if it does not)."""
        self._task = self.link.start()
        await self._wait_streaming()

    async def stop(self) -> None:
        """Stop streaming and disconnect."""
        await self.link.stop()

    async def __aenter__(self) -> LiveSource:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _wait_streaming(self) -> None:
        task = self._task
        waiter = asyncio.ensure_future(self.link.wait_streaming(self.connect_timeout_s))
        watch = {waiter} if task is None else {waiter, task}
        done, _ = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done and waiter.exception() is None:
            return
        waiter.cancel()
        why = f" (last error: {self.link.error})" if self.link.error is not None else ""
        if task is not None and task in done:
            raise LiveCalibrationError(f"sensor {self.link.address}: link gave up{why}")
        raise LiveCalibrationError(
            f"sensor {self.link.address}: no data within {self.connect_timeout_s:.0f} s{why}; "
            "is it switched on, charged and near?"
        )

    # -- recording ---------------------------------------------------------------------
    async def arecord_step(self, step: Step) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Record ``step``: ``(acc_mps2, gyr_rps)``, each ``(n, 3)``, sensor frame, on ``k / fs_hz``."""
        last: IncompleteStepError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if not self.link.is_streaming:
                self.say("  waiting for the sensor to reconnect ...")
            await self._wait_streaming()
            if self.on_step_start is not None:
                await self.on_step_start(step, attempt)
            t_start = self._now()
            t_end = t_start + step.duration_s
            await self._wait_until_covered(t_end)
            try:
                out = self.extract(t_start, t_end)
            except IncompleteStepError as exc:
                last = exc
                self.attempts.append((step.key, attempt, str(exc)))
                if attempt < self.max_attempts:
                    self.say(f"  step incomplete ({exc}); please repeat it")
                continue
            self.attempts.append((step.key, attempt, "ok"))
            return out
        raise LiveCalibrationError(f"step {step.key!r} incomplete after {self.max_attempts} attempt(s): {last}")

    async def _wait_until_covered(self, t_end: float) -> None:
        """Until a packet arrived ``latency_margin_s`` after ``t_end``; a link that is down is
        waited for up to ``connect_timeout_s`` (then, or when it gave up, extract() says what
        is missing)."""
        need = t_end + self.latency_margin_s
        while self._last_arrival_s < need:
            now = self._now()
            if now >= need + self.connect_timeout_s:
                return
            if self._task is not None and self._task.done():
                return  # the link gave up
            await asyncio.sleep(min(0.1, max(0.01, need - now)))

    def extract(self, t_start: float, t_end: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The samples of ``[t_start, t_end)`` on the uniform grid; :class:`IncompleteStepError` if any are missing."""
        if not self._batches:
            raise IncompleteStepError("no samples received")
        batch = SampleBatch.concat(self._batches)
        self._batches = [batch]
        c = batch.counter
        # the recent stream: after the last counter reset (a restarted sensor counts from 0 again)
        back = np.flatnonzero(np.diff(c) <= 0)
        first = int(back[-1]) + 1 if back.size else 0
        keep = slice(first, None)
        c, host, gap = c[keep], batch.host_time_s[keep], batch.gap_before[keep]
        if c.shape[0] < 2:
            raise IncompleteStepError("no samples received since the sensor restarted")
        fit = fit_clock(c, host, self.fs_hz)
        t = fit.time_s(c)
        dt = 1.0 / self.fs_hz
        inside = np.flatnonzero((t >= t_start - dt) & (t <= t_end + dt))
        if inside.size < 2:
            raise IncompleteStepError(f"no samples between {t_start:.2f} s and {t_end:.2f} s (link down?)")
        i0, i1 = int(inside[0]), int(inside[-1])
        if t[i0] > t_start + dt:
            raise IncompleteStepError(f"the first {t[i0] - t_start:.2f} s of the step are missing")
        if t[i1] < t_end - dt:
            raise IncompleteStepError(f"the last {t_end - t[i1]:.2f} s of the step are missing")
        steps = np.diff(c[i0 : i1 + 1])
        lost = int((steps - 1).sum())
        if lost:
            where = t[i0 + 1 + int(np.argmax(steps > 1))] - t_start
            raise IncompleteStepError(f"{lost} samples lost {where:.1f} s into the step")
        if gap[i0 + 1 : i1 + 1].any():
            raise IncompleteStepError("samples lost inside the step")
        sel = slice(i0 + first, i1 + first + 1)
        values = np.hstack([batch.acc_mps2[sel], batch.gyr_rps[sel]])
        grid, v, valid = resample_uniform(t[i0 : i1 + 1], values, self.fs_hz)
        on = (grid >= t_start) & (grid < t_end)
        if not valid[on].all():  # cannot happen after the checks above; never hand out NaN
            raise IncompleteStepError("samples missing inside the step")
        v = v[on]
        return v[:, :3].copy(), v[:, 3:].copy()


def monotonic_link(target: Target, fs_hz: int, **link_kwargs: Any) -> SensorLink:
    """A :class:`SensorLink` for calibration: ``fs_hz``, host clock ``time.monotonic``, started now.

    ``link_kwargs`` go to :class:`SensorLink` (``policy``, ``adapter``, ...).
    """
    return SensorLink(target, "", config=StreamConfig(fs_hz=int(fs_hz)), clock=time.monotonic, **link_kwargs)
