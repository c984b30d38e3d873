"""The live paths of ``dmi-sensors calibrate``: ``--sensor ADDRESS`` and ``--via-bluez``.

``--sensor``: one real sensor over Bluetooth LE (:class:`dmi_sensors.live.LiveSource`).
``--via-bluez``: the same code through bleak and the emulated BlueZ
(:mod:`dmi_sensors.sim.bluez`), with one virtual sensor whose IMU has the known errors
``random_imu_errors(--seed)`` and which performs each step when it is announced
(:mod:`dmi_sensors.sim.bluez.guided`). One ``asyncio.run`` here; everything below is asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    from dmi_sensors.calibration.guided import Step
    from dmi_sensors.sim import ImuErrors
    from dmi_sensors.sim.bluez import EmulatedBluez
    from dmi_sensors.types import Trial

#: Device factory of the emulator for ``--via-bluez``.
EMULATED_FACTORY = "dmi_sensors.sim.bluez.guided:calibration_sensors"
#: ... and for ``--via-bluez --simulate-vendor NAME`` (a third-party sensor's emulated peripheral).
EMULATED_VENDOR_FACTORY = "dmi_sensors.sim.bluez.guided:calibration_vendor_sensors"
#: How long the live paths scan for the sensor's advertisement (its vendor is told by it), s.
SCAN_S = 10.0


async def wait_for_enter(prompt: str = "  press Enter when ready ") -> None:
    """Wait for a line on stdin without blocking the event loop (the sensor keeps streaming)."""
    loop = asyncio.get_running_loop()
    print(prompt, end="", flush=True)
    fd = sys.stdin.fileno()
    done: asyncio.Future[str] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(sys.stdin.readline())

    try:
        loop.add_reader(fd, readable)
    except (NotImplementedError, ValueError, OSError):  # e.g. Windows' proactor loop
        await loop.run_in_executor(None, sys.stdin.readline)
        return
    try:
        await done
    finally:
        loop.remove_reader(fd)


async def _wait_for_enter(step: Step) -> None:
    await wait_for_enter()


def _waiter(args: argparse.Namespace) -> Callable[[Step], Awaitable[None]] | None:
    if not args.wait:
        return None
    if not sys.stdin.isatty():
        print("note: --wait ignored (stdin is not a terminal); the steps follow each other")
        return None
    return _wait_for_enter


async def _record(
    args: argparse.Namespace, steps: list[Step], emu: EmulatedBluez | None
) -> tuple[Trial, dict[str, Any]]:
    from dmi_sensors.ble import find_sensor
    from dmi_sensors.calibration.guided import arun_procedure
    from dmi_sensors.live import LiveSource, monotonic_link

    hook: Callable[[Step, int], Awaitable[None]] | None = None
    if emu is not None:
        from dmi_sensors.sim.identity import sensor_address

        address = sensor_address(args.sim_index)

        async def act(step: Step, attempt: int) -> None:  # the emulated hand performs the step
            await emu.acall("act", address=address, action=dataclasses.asdict(step))

        hook = act
    else:
        address = args.sensor
    # the advertisement says whether it is one of ours or a third-party sensor (and which vendor)
    advert = await find_sensor(address, min(SCAN_S, args.connect_timeout_s), adapter=args.adapter, vendors=True)
    rates = {advert.vendor: args.fs} if advert is not None and advert.vendor and args.fs_given else None
    link = monotonic_link(advert or address, int(args.fs), adapter=args.adapter, vendor_rates_hz=rates)
    source = LiveSource(link, connect_timeout_s=args.connect_timeout_s, max_attempts=args.attempts, on_step_start=hook)
    kind = ""
    if advert is not None and advert.vendor:
        kind = f" ({advert.vendor}{' ' + advert.model if advert.model else ''})"
    print(f"connecting to {address}{kind} ...")
    async with source:
        info = link.info
        print(
            f"connected: serial {source.sensor_serial}, firmware {(info.firmware if info else '') or '?'}, "
            f"streaming at {source.fs_hz:g} Hz"
        )
        settings = link.vendor.info.settings if link.vendor is not None and link.vendor.info is not None else {}
        if settings.get("gyroscope") is False and (args.kind == "gyro" or args.method == "step"):
            # said before any step is recorded (a Polar H10 streams its accelerometer only)
            what = "a gyroscope calibration" if args.kind == "gyro" else "the step alignment (a gyro strapdown)"
            raise ParameterError(f"sensor {source.sensor_serial} has no gyroscope: {what} does not apply")
        trial = await arun_procedure(steps, source, wait=_waiter(args))
    stats = link.stats
    retried = [a for a in source.attempts if a[2] != "ok"]
    provenance = {
        "live": True,
        "address": address,
        "firmware": info.firmware if info else "",
        "fs_hz": source.fs_hz,
        **({"vendor": link.vendor.vendor, "model": info.model if info else ""} if link.vendor is not None else {}),
        "steps_repeated": len(retried),
        "reconnects": stats.reconnects,
    }
    if retried:
        print(f"{len(retried)} step(s) repeated after lost samples; reconnects: {stats.reconnects}")
    return trial, provenance


def record_live(args: argparse.Namespace, steps: list[Step]) -> tuple[Trial, str, dict[str, Any], ImuErrors | None]:
    """Run the guided ``steps`` on the live (or emulated) sensor: ``(trial, serial, provenance, errors)``.

    ``errors`` is the emulated sensor's :class:`~dmi_sensors.sim.ImuErrors` (``None`` live).
    """
    logging.getLogger("bleak").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        emu: EmulatedBluez | None = None
        errors: ImuErrors | None = None
        if args.via_bluez:
            from dmi_sensors.commands.calibrate import simulated_errors_seed
            from dmi_sensors.sim.bluez import EmulatedBluez, fault_profile
            from dmi_sensors.sim.calibration import random_imu_errors
            from dmi_sensors.sim.identity import simulated_index

            index = simulated_index(args.serial or "") or 0
            args.sim_index = index
            args.seed = simulated_errors_seed(args.seed, args.serial or "")
            errors = random_imu_errors(args.seed)
            if args.simulate_vendor:
                factory = EMULATED_VENDOR_FACTORY
                kwargs: dict[str, Any] = {"vendor": args.simulate_vendor, "seed": args.seed, "index": index}
                if args.vendor_model:
                    kwargs["model"] = args.vendor_model
                what = f"a virtual {args.simulate_vendor} sensor"
            else:
                factory = EMULATED_FACTORY
                kwargs = {"seed": args.seed, "fs_hz": int(args.fs), "index": index}
                what = "a virtual sensor"
            emu = EmulatedBluez(
                factory=factory, factory_kwargs=kwargs, faults=fault_profile(args.fault_profile), seed=args.seed
            )
            stack.enter_context(emu)
            stack.enter_context(emu.activated())
            print(f"emulated BlueZ: {what} with known errors (seed {args.seed}, faults {args.fault_profile})")
        trial, provenance = asyncio.run(_record(args, steps, emu))
    if errors is not None:
        provenance.update(emulated=True, seed=args.seed)
    serial = args.serial or trial.sensor_id
    return trial, serial, provenance, errors
