"""Guided calibration procedures: the steps a therapist follows, and where samples come from.

A procedure is a list of :class:`Step` (an instruction and a recording length). A
:class:`StepSource` records one step and returns the samples of that step in the sensor
frame. :func:`run_procedure` prints each instruction, waits for the user if asked, lets
the source record, and joins the steps into one :class:`~dmi_sensors.types.Trial` that
the fitting functions (which find poses and still periods by themselves) then use.

Sources: :class:`~dmi_sensors.sim.calibration.SimulatedSource` (virtual sensor
with known errors, no hardware). A live source collects ``step.duration_s`` seconds of
decoded samples from the streaming sensor, puts them on a uniform time grid and returns
them; being asyncio, it implements :class:`AsyncStepSource` and is driven by
:func:`arun_procedure` (:class:`dmi_sensors.live.LiveSource`, over Bluetooth LE; see
``docs/calibration.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import Trial

__all__ = ["PROCEDURES", "AsyncStepSource", "Step", "StepSource", "arun_procedure", "procedure", "run_procedure"]


@dataclass(frozen=True)
class Step:
    """One step of a procedure.

    ``key`` names what the step does (``"still"``, ``"pose+x"``, ``"upright"``, ``"lean"``,
    ``"step"``); for poses, ``pose`` is the sensor axis that points up (``"+x"`` ...).
    ``duration_s`` includes ``settle_s`` seconds to get into position.
    """

    key: str
    instruction: str
    duration_s: float
    settle_s: float = 0.0
    pose: str = ""


_AXIS_WORDS = {"x": "X", "y": "Y", "z": "Z"}


def _pose_step(pose: str) -> Step:
    up = "UP" if pose[0] == "+" else "DOWN"
    axis = _AXIS_WORDS[pose[1]]
    return Step(
        f"pose{pose}",
        f"Turn the sensor so that its {axis} arrow points {up}; press it flat against the side of the box "
        "(or lay it on the table) and hold it still until the next instruction.",
        duration_s=6.0,
        settle_s=1.5,
        pose=pose,
    )


def procedure(kind: str, posture: str = "standing", movement: str = "lean") -> list[Step]:
    """The steps of a procedure: ``kind`` in ``gyro``, ``accel``, ``alignment``."""
    if kind == "gyro":
        return [
            Step("still", "Lay the sensor on a table and do not touch it (10 s).", duration_s=12.0, settle_s=1.0),
        ]
    if kind == "accel":
        return [_pose_step(p) for p in ("+z", "-z", "+x", "-x", "+y", "-y")]
    if kind == "alignment":
        if posture == "sitting":
            first = Step(
                "upright",
                "Sensor on the child's back. Sit the child upright on the box or table, hands on the thighs, "
                "looking ahead; keep still for 5 s (support at the hips is fine).",
                duration_s=6.0,
                settle_s=1.0,
            )
            lean = "Let the child lean (or reach) forward slowly as far as comfortable, then sit back up."
        else:
            first = Step(
                "upright",
                "Sensor on the child's back. Stand the child upright, feet together, looking ahead; "
                "keep still for 5 s.",
                duration_s=6.0,
                settle_s=1.0,
            )
            lean = "Ask the child to bend forward slowly (as if to pick up a toy), then stand up again."
        if movement == "step":
            return [first, Step("step", "Ask the child to take one step forward and stop.", duration_s=5.0)]
        return [first, Step("lean", lean, duration_s=7.0)]
    raise ParameterError(f"unknown calibration kind {kind!r}; expected gyro, accel or alignment")


#: The default procedures, by kind (alignment: standing, forward bend).
PROCEDURES = {k: procedure(k) for k in ("gyro", "accel", "alignment")}


class StepSource(Protocol):
    """Where a guided procedure gets its samples from (virtual or live sensor).

    ``sensor_serial`` and ``fs_hz`` are only read (a plain attribute or a property will do).
    """

    @property
    def sensor_serial(self) -> str: ...

    @property
    def fs_hz(self) -> float: ...

    def record_step(self, step: Step) -> tuple[np.ndarray, np.ndarray]:
        """Record one step; returns ``(acc_mps2, gyr_rps)``, each ``(n, 3)``, sensor frame, uniform rate."""
        ...


class AsyncStepSource(Protocol):
    """An asyncio :class:`StepSource` (a live sensor): ``await arecord_step(step)``."""

    @property
    def sensor_serial(self) -> str: ...

    @property
    def fs_hz(self) -> float: ...

    async def arecord_step(self, step: Step) -> tuple[np.ndarray, np.ndarray]:
        """Record one step; returns ``(acc_mps2, gyr_rps)``, each ``(n, 3)``, sensor frame, uniform rate."""
        ...


def _join(accs: list[NDArray[np.float64]], gyrs: list[NDArray[np.float64]], fs_hz: float, serial: str) -> Trial:
    acc = np.vstack(accs)
    gyr = np.vstack(gyrs)
    return Trial(np.arange(acc.shape[0]) / fs_hz, acc, gyr, fs_hz, serial)


def run_procedure(
    steps: list[Step],
    source: StepSource,
    say: Callable[[str], None] = print,
    wait: Callable[[Step], None] | None = None,
) -> Trial:
    """Walk through ``steps``: say the instruction, ``wait(step)`` (e.g. for Enter), record.

    Returns the whole recording as one :class:`Trial` (sensor frame, ``sensor_id`` =
    the source's serial).
    """
    accs: list[NDArray[np.float64]] = []
    gyrs: list[NDArray[np.float64]] = []
    for i, step in enumerate(steps, start=1):
        say(f"Step {i}/{len(steps)}: {step.instruction}")
        if wait is not None:
            wait(step)
        acc, gyr = source.record_step(step)
        say(f"  recorded {acc.shape[0] / source.fs_hz:.1f} s")
        accs.append(np.asarray(acc, dtype=np.float64))
        gyrs.append(np.asarray(gyr, dtype=np.float64))
    return _join(accs, gyrs, source.fs_hz, source.sensor_serial)


async def arun_procedure(
    steps: list[Step],
    source: AsyncStepSource,
    say: Callable[[str], None] = print,
    wait: Callable[[Step], Awaitable[None]] | None = None,
) -> Trial:
    """:func:`run_procedure` for an asyncio source: ``await wait(step)``, ``await source.arecord_step(step)``.

    ``wait`` must not block the event loop (the sensor keeps streaming meanwhile).
    """
    accs: list[NDArray[np.float64]] = []
    gyrs: list[NDArray[np.float64]] = []
    for i, step in enumerate(steps, start=1):
        say(f"Step {i}/{len(steps)}: {step.instruction}")
        if wait is not None:
            await wait(step)
        acc, gyr = await source.arecord_step(step)
        say(f"  recorded {acc.shape[0] / source.fs_hz:.1f} s")
        accs.append(np.asarray(acc, dtype=np.float64))
        gyrs.append(np.asarray(gyr, dtype=np.float64))
    return _join(accs, gyrs, source.fs_hz, source.sensor_serial)
