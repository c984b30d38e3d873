"""Record a simulated DMI session through bleak and the emulated BlueZ (``demo --via-bluez``).

The emulator process (:class:`dmi_sensors.sim.bluez.harness.EmulatedBluez`) serves virtual
sensors whose motion is the session plan (:func:`dmi_session_sensors`, its device factory);
this process discovers them with bleak, records with :func:`dmi_sensors.ble.record` into
the store's packet writer, and a companion task presses the therapist's keys on a
:class:`~dmi_sensors.session.Tagger` at the right moments of the live session clock. It
runs in real time: a session lasts as long as its plan.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from dmi_sensors.ble import RecordingContext, StreamConfig, discover, record
from dmi_sensors.errors import EmulatorError, ParameterError
from dmi_sensors.session import Plan, Subject, Tagger
from dmi_sensors.sim.bluez.harness import EmulatedBluez
from dmi_sensors.sim.bluez.model import Peripheral
from dmi_sensors.sim.bluez.sensor import SensorPeripheral, sensor_address
from dmi_sensors.sim.body import BodyParams
from dmi_sensors.sim.session import (
    SimulatedSensor,
    SimulatedSession,
    default_sensors,
    press,
    simulate_session,
    tag_schedule,
    tagger_last_s,
)
from dmi_sensors.store import SessionStore

__all__ = ["dmi_session_sensors", "record_via_bluez"]


def dmi_session_sensors(
    plan_toml: str,
    seed: int,
    com_height_m: float,
    noise_scale: float = 1.0,
    fs_hz: int = 100,
    sensors: list[dict[str, Any]] | None = None,
) -> list[Peripheral]:
    """Emulator device factory: the plan's virtual sensors as BLE peripherals.

    ``sensors``: dicts of :class:`~dmi_sensors.sim.session.SimulatedSensor` fields;
    default trunk and pelvis (:func:`~dmi_sensors.sim.session.default_sensors`). Sensor
    ``i`` keeps the link it has in process (:func:`~dmi_sensors.sim.session.simulate_session`)
    and appears at simulated address ``i``.
    """
    plan = Plan.from_toml(plan_toml)
    specs = [SimulatedSensor(**s) for s in sensors] if sensors else default_sensors(com_height_m)
    body = BodyParams(com_height_m=com_height_m, noise_scale=noise_scale)
    sim = simulate_session(plan, com_height_m=com_height_m, seed=seed, sensors=specs, fs_hz=fs_hz, body=body)
    return [SensorPeripheral(link.sensor, sensor_address(i)) for i, link in enumerate(sim.sensors.values())]


async def _record(
    store: SessionStore,
    subject: Subject,
    plan: Plan,
    sim: SimulatedSession,
    *,
    seed: int,
    start_utc: str,
    fs_hz: int,
    duration_s: float,
) -> int:
    wanted = set(sim.placements)
    adverts = [a for a in await discover(5.0) if a.sensor_id in wanted]
    if {a.sensor_id for a in adverts} != wanted:
        raise EmulatorError(f"emulated sensors not found: {sorted(wanted - {a.sensor_id for a in adverts})}")
    targets = [(a, sim.placements[a.sensor_id]) for a in sorted(adverts, key=lambda a: a.sensor_id)]
    session_id = store.create_session(subject, plan, dict(sim.placements), therapist_id="TDEMO1", start_utc=start_utc)
    schedule = tag_schedule(plan, sim.truth_events, seed=seed)
    tagger_box: dict[str, Tagger] = {}

    async def therapist(ctx: RecordingContext) -> None:
        # record() starts companions once every sensor streams: the plan's clock starts now
        t0 = ctx.elapsed_s()
        tagger = Tagger(plan, clock=ctx.elapsed_s, start_s=0.0, source="manual")
        tagger_box["t"] = tagger
        for t, action, exercise in schedule:
            delay = t0 + t - ctx.elapsed_s()
            if delay > 0:
                await asyncio.sleep(delay)
            press(tagger, action, exercise, ctx.elapsed_s())

    writer = store.packet_writer(session_id)
    try:
        await record(
            targets,
            duration_s,
            sink=writer,
            config=StreamConfig(fs_hz=fs_hz),
            companions=[therapist],
            connect_timeout_s=30.0,
            log_interval_s=None,
        )
    finally:
        await asyncio.to_thread(writer.close)
    tagger = tagger_box.get("t")
    if tagger is not None:
        store.add_events(session_id, tagger.stop(at_s=tagger_last_s(tagger)))
    store.finalise(session_id)
    return session_id


def record_via_bluez(
    store: SessionStore,
    subject: Subject,
    plan: Plan,
    *,
    seed: int,
    start_utc: str,
    body: BodyParams | None = None,
    fs_hz: int = 100,
) -> int:
    """Simulate the plan in an emulated BlueZ and record it with bleak; returns the session id.

    Blocking (``asyncio.run``): call it from scripts, not from inside a running event loop.
    """
    noise = getattr(body, "noise_scale", 1.0)
    if subject.com_height_m is None:
        raise ParameterError("a simulated session needs the subject's com_height_m (the simulated body's COM height)")
    # the same simulation in this process: truth events for the therapist's schedule, sensor ids
    sim = simulate_session(plan, com_height_m=subject.com_height_m, seed=seed, fs_hz=fs_hz, body=body)
    duration_s = float(sum(s.duration_s for s in sim.segments)) + 1.0
    kwargs = {
        "plan_toml": plan.to_toml(),
        "seed": seed,
        "com_height_m": subject.com_height_m,
        "noise_scale": noise,
        "fs_hz": fs_hz,
        "sensors": [dataclasses.asdict(s) for s in default_sensors(subject.com_height_m)],
    }
    emu = EmulatedBluez(factory="dmi_sensors.demo.bluez:dmi_session_sensors", factory_kwargs=kwargs, seed=seed)
    emu.start()
    try:
        with emu.activated():
            return asyncio.run(
                _record(store, subject, plan, sim, seed=seed, start_utc=start_utc, fs_hz=fs_hz, duration_s=duration_s)
            )
    finally:
        emu.stop()
