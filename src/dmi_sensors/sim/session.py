"""Record a simulated DMI session into a store exactly as ``dmi-sensors record`` would.

Virtual sensors (:class:`dmi_sensors.sim.VirtualSensor`: the firmware state machine over
simulated body physics) are started with a real START_STREAMING command; their data
packets are collected at every BLE connection event (``connection_interval_s``) and
appended, with their host arrival time, to the store's
:class:`~dmi_sensors.store.PacketWriter`. The therapist's key presses are replayed on a
:class:`dmi_sensors.session.Tagger` from the simulation's ground truth (exercise start at
the first repetition, "next repetition", exercise end), each late by a human reaction time
(uniform 0.2–0.6 s), and the events are stored with the session.

This path does not go through bleak; ``dmi-sensors demo --via-bluez`` records through
bleak and the emulated BlueZ instead (:mod:`dmi_sensors.demo.bluez`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket

__all__ = ["SimulatedSensor", "SimulatedSession", "record_simulated_session", "simulate_session", "tag_from_truth"]


@dataclass(frozen=True)
class SimulatedSensor:
    """A virtual sensor of a simulated session.

    ``sensor_height_m``: height above the ankles when standing (trunk: above the COM,
    pelvis: at about the COM height); ``clock_drift_ppm`` and ``loss_prob`` describe the
    unit's crystal and its radio link; ``serial`` its 32-bit serial number;
    ``mounting_euler_deg`` how the case sits on the body (``ImuErrors``: roll, pitch, yaw).
    """

    serial: int
    placement: str
    sensor_height_m: float
    clock_drift_ppm: float = 0.0
    loss_prob: float = 0.0
    burst_prob: float = 0.0
    mounting_euler_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class SimulatedSession:
    """What :func:`simulate_session` prepared: the plan's segments, the simulation truth of
    each sensor and the virtual sensors themselves."""

    plan: object
    segments: list
    sims: dict[str, object]  # sensor_id -> SimResult
    sensors: dict[str, object]  # sensor_id -> VirtualSensor
    placements: dict[str, str]
    fs_hz: int
    seed: int
    truth_events: object = None
    extra: dict = field(default_factory=dict)


def default_sensors(com_height_m: float) -> list[SimulatedSensor]:
    """Trunk (above the COM) and pelvis (at the COM) with realistic clocks and links."""
    return [
        SimulatedSensor(
            0x00D31A01, "trunk", 1.25 * com_height_m, clock_drift_ppm=35.0, loss_prob=0.004, burst_prob=0.0008
        ),
        SimulatedSensor(0x00D31A02, "pelvis", 1.0 * com_height_m, clock_drift_ppm=-20.0, loss_prob=0.003),
    ]


def simulate_session(
    plan,
    *,
    com_height_m: float,
    seed: int,
    sensors: Sequence[SimulatedSensor] | None = None,
    fs_hz: int = 100,
    rest_s: float = 2.0,
    body=None,
) -> SimulatedSession:
    """Simulate the plan (``plan_to_segments``) once per sensor and wrap each in a VirtualSensor.

    All sensors share the seed, so they see the same body motion; each has its own height
    on the trunk, clock drift and packet loss. ``body`` (a :class:`dmi_sensors.sim.BodyParams`)
    changes the child's control (e.g. more sway); default from ``com_height_m``.
    """
    from dmi_sensors import protocol
    from dmi_sensors.sim import ImuErrors, PacketLoss, VirtualSensor, simulate
    from dmi_sensors.sim.plan import plan_to_segments

    segments = plan_to_segments(plan, rest_s=rest_s)
    sensors = list(sensors) if sensors is not None else default_sensors(com_height_m)
    sims, virtual, placements = {}, {}, {}
    for s in sensors:
        errors = ImuErrors(
            clock_drift_ppm=s.clock_drift_ppm,
            mounting_euler_deg=tuple(s.mounting_euler_deg),
            packet_loss=PacketLoss(random_prob=s.loss_prob, burst_start_prob=s.burst_prob, burst_mean_packets=4.0),
        )
        kwargs = {"body": body} if body is not None else {"com_height_m": com_height_m}
        sim = simulate(segments, fs_hz=fs_hz, seed=seed, sensor_height_m=s.sensor_height_m, imu_errors=errors, **kwargs)
        name = protocol.format_serial(s.serial)  # the sensor id the BLE recorder uses
        sims[name] = sim
        virtual[name] = VirtualSensor(s.serial, sim, fs_hz=fs_hz)
        placements[name] = s.placement
    first = next(iter(sims.values()))
    return SimulatedSession(plan, segments, sims, virtual, placements, fs_hz, seed, truth_events=first.truth.events)


def tag_schedule(plan, truth_events, *, seed: int, reaction_s: tuple[float, float] = (0.2, 0.6)) -> list[tuple]:
    """The therapist's key presses as ``(time_s, action, exercise_id)``, in time order.

    From the simulation truth: ``start`` at the first repetition's onset (the child is in
    position), ``next`` at every further repetition, ``end`` at the end of the exercise;
    each press is late by a uniform reaction time (``end`` by a quarter of one). Times are
    seconds since the sensor started streaming.
    """
    rng = np.random.default_rng([int(seed), 0x7A6])
    ev = truth_events
    exercises = ev[ev["kind"] == "exercise"].sort_values("onset_s")
    labels = {e.exercise_id for e in plan}
    out: list[tuple] = []
    for row in exercises.itertuples(index=False):
        if row.exercise not in labels:
            continue  # rest segments
        reps = ev[(ev["kind"] == "repetition") & (ev["exercise"] == row.exercise)]
        reps = reps[(reps["onset_s"] >= row.onset_s) & (reps["onset_s"] < row.onset_s + row.duration_s)]
        reps = reps.sort_values("onset_s")
        delay = rng.uniform(*reaction_s, size=len(reps) + 1)
        start = float(reps["onset_s"].iloc[0]) if len(reps) else float(row.onset_s)
        out.append((start + delay[0], "start", row.exercise))
        for k, onset in enumerate(reps["onset_s"].iloc[1:], start=1):
            out.append((float(onset) + delay[k], "next", row.exercise))
        out.append((float(row.onset_s + row.duration_s) + delay[-1] * 0.25, "end", row.exercise))
    return out


def press(tagger, action: str, exercise: str, at_s: float) -> None:
    """One key press of a :func:`tag_schedule` on a :class:`~dmi_sensors.session.Tagger`."""
    if action == "start":
        tagger.start_exercise(exercise, at_s=at_s)
    elif action == "next":
        tagger.next_repetition(at_s=at_s)
    elif action == "end":
        tagger.end_exercise(at_s=at_s)
    else:  # pragma: no cover - schedule entries come from tag_schedule
        raise ParameterError(f"unknown tagging action {action!r}")


def tag_from_truth(plan, truth_events, *, seed: int, offset_s: float = 0.0):
    """The events a therapist would have tagged (:func:`tag_schedule` on a
    :class:`~dmi_sensors.session.Tagger`, times shifted by ``offset_s``)."""
    from dmi_sensors.session import Tagger

    tagger = Tagger(plan, clock=lambda: 0.0, start_s=0.0, source="manual")
    for t, action, exercise in tag_schedule(plan, truth_events, seed=seed):
        press(tagger, action, exercise, t + offset_s)
    return tagger.stop(at_s=tagger_last_s(tagger))


def tagger_last_s(tagger) -> float:
    """The latest time the tagger has seen (to stop it without going back in time)."""
    return max([0.0, *(r.onset_s + r.duration_s for r in tagger.records)])


def stream_packets(
    sensors: dict[str, object],
    duration_s: float,
    connection_interval_s: float = 0.030,
    latency_s: float = 0.004,
    seed: int = 0,
):
    """Start every virtual sensor and yield ``RawPacket``\\ s in host arrival order.

    At each connection event ``t = k · connection_interval_s`` every sensor hands over the
    packets due by then; they arrive ``latency_s`` plus an exponential jitter (mean 2 ms)
    later. The generator stops after ``duration_s``.
    """
    from dmi_sensors import protocol

    rng = np.random.default_rng([int(seed), 0x11A7])
    start = protocol.encode_command(protocol.StartStreaming())
    for vs in sensors.values():
        vs.handle_control(start, now_s=0.0)
    n_events = int(np.ceil(duration_s / connection_interval_s))
    for k in range(1, n_events + 1):
        t = k * connection_interval_s
        for name, vs in sensors.items():
            data = vs.packets_until(t)
            if not data:
                continue
            arrival = np.maximum.accumulate(t + latency_s + rng.exponential(0.002, size=len(data)))
            for d, h in zip(data, arrival, strict=True):
                yield RawPacket(name, float(h), d)


def record_simulated_session(
    store,
    subject,
    plan,
    *,
    seed: int,
    start_utc: str,
    therapist_id: str = "T-DEMO",
    sensors: Sequence[SimulatedSensor] | None = None,
    fs_hz: int = 100,
    body=None,
) -> tuple[int, SimulatedSession]:
    """Simulate, stream into the store's packet writer, tag, finalise; returns ``(session_id, sim)``."""
    sim = simulate_session(plan, com_height_m=subject.com_height_m, seed=seed, sensors=sensors, fs_hz=fs_hz, body=body)
    session_id = store.create_session(subject, plan, sim.placements, therapist_id=therapist_id, start_utc=start_utc)
    duration = float(sum(s.duration_s for s in sim.segments))
    writer = store.packet_writer(session_id)
    try:
        for packet in stream_packets(sim.sensors, duration, seed=seed):
            writer.append(packet)
    finally:
        writer.close()
    events = tag_from_truth(plan, sim.truth_events, seed=seed)
    store.add_events(session_id, events)
    store.finalise(session_id)
    sim.extra["events"] = events
    return session_id, sim
