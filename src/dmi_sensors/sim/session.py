"""Record a simulated DMI session into a store exactly as ``dmi-sensors record`` would.

Virtual sensors (:class:`dmi_sensors.sim.VirtualSensor`: the firmware state machine over
simulated body physics) are started with a real START_STREAMING command and carried to the
host by the one packet scheduler (:class:`dmi_sensors.sim.stream.SimulatedHost` on a
simulated clock; the rule is in :mod:`dmi_sensors.sim.link`); every packet that arrived by
the end of the plan is appended, with its arrival time, to the store's
:class:`~dmi_sensors.store.PacketWriter`. The therapist's key presses are replayed on a
:class:`dmi_sensors.session.Tagger` from the simulation's ground truth (exercise start at
the first repetition, "next repetition", exercise end), each late by a human reaction time
(uniform 0.2–0.6 s), and the events are stored with the session.

This path does not go through bleak; ``dmi-sensors demo --via-bluez`` records through
bleak and the emulated BlueZ instead (:mod:`dmi_sensors.demo.bluez`), with the same
virtual sensors on the same links.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors.errors import ParameterError
from dmi_sensors.session import Plan, Subject, Tagger
from dmi_sensors.sim.body import BodyParams
from dmi_sensors.sim.identity import simulated_serial
from dmi_sensors.sim.imu import ImuErrors, PacketLoss
from dmi_sensors.sim.plan import plan_to_segments
from dmi_sensors.sim.segments import Segment
from dmi_sensors.sim.simulate import SimResult, simulate
from dmi_sensors.sim.stream import SensorLink, SimulatedHost
from dmi_sensors.sim.virtual_sensor import VirtualSensor
from dmi_sensors.store import SessionStore

__all__ = [
    "SimulatedSensor",
    "SimulatedSession",
    "default_sensors",
    "press",
    "record_simulated_session",
    "simulate_session",
    "tag_from_truth",
    "tag_schedule",
    "tagger_last_s",
]


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
    each sensor (``sims``) and the virtual sensors on their links (``sensors``; truth of
    the air: ``SensorLink.lost_counters``), all keyed by sensor id."""

    plan: Plan
    segments: list[Segment]
    sims: dict[str, SimResult]
    sensors: dict[str, SensorLink]
    placements: dict[str, str]
    fs_hz: int
    seed: int
    truth_events: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)


def default_sensors(com_height_m: float) -> list[SimulatedSensor]:
    """Trunk (above the COM; simulated sensor 0) and pelvis (at the COM; simulated sensor 1)
    with realistic clocks and links."""
    return [
        SimulatedSensor(
            simulated_serial(0),
            "trunk",
            1.25 * com_height_m,
            clock_drift_ppm=35.0,
            loss_prob=0.004,
            burst_prob=0.0008,
        ),
        SimulatedSensor(simulated_serial(1), "pelvis", 1.0 * com_height_m, clock_drift_ppm=-20.0, loss_prob=0.003),
    ]


def simulate_session(
    plan: Plan,
    *,
    com_height_m: float,
    seed: int,
    sensors: Sequence[SimulatedSensor] | None = None,
    fs_hz: int = 100,
    rest_s: float = 2.0,
    body: BodyParams | None = None,
) -> SimulatedSession:
    """Simulate the plan (``plan_to_segments``) once per sensor and wrap each in a VirtualSensor.

    All sensors share the seed, so they see the same body motion and their links the same
    draws (connection phase, jitter, the uniforms behind the losses: the link seed of a
    virtual sensor is its simulation seed, as for :meth:`SimResult.packets`); each has its
    own height on the trunk, clock drift and loss probabilities. ``body`` (a
    :class:`dmi_sensors.sim.BodyParams`) changes the child's control (e.g. more sway);
    default from ``com_height_m``.
    """
    segments = plan_to_segments(plan, rest_s=rest_s)
    specs = list(sensors) if sensors is not None else default_sensors(com_height_m)
    body = body if body is not None else BodyParams(com_height_m=com_height_m)
    sims: dict[str, SimResult] = {}
    links: dict[str, SensorLink] = {}
    placements: dict[str, str] = {}
    for s in specs:
        m = s.mounting_euler_deg
        errors = ImuErrors(
            clock_drift_ppm=s.clock_drift_ppm,
            mounting_euler_deg=(float(m[0]), float(m[1]), float(m[2])),
            packet_loss=PacketLoss(random_prob=s.loss_prob, burst_start_prob=s.burst_prob, burst_mean_packets=4.0),
        )
        sim = simulate(
            segments, fs_hz=fs_hz, seed=seed, sensor_height_m=s.sensor_height_m, imu_errors=errors, body=body
        )
        link = SensorLink(VirtualSensor(s.serial, sim, fs_hz=fs_hz))
        sims[link.sensor_id] = sim  # the sensor id the BLE recorder uses
        links[link.sensor_id] = link
        placements[link.sensor_id] = s.placement
    first = next(iter(sims.values()))
    return SimulatedSession(plan, segments, sims, links, placements, fs_hz, seed, truth_events=first.truth.events)


def tag_schedule(
    plan: Plan, truth_events: pd.DataFrame, *, seed: int, reaction_s: tuple[float, float] = (0.2, 0.6)
) -> list[tuple[float, str, str]]:
    """The therapist's key presses as ``(time_s, action, exercise_id)``, in time order.

    From the simulation truth: ``start`` at the first repetition's onset (the child is in
    position), ``next`` at every further repetition, ``end`` at the end of the exercise;
    each press is late by a uniform reaction time (``end`` by a quarter of one). Times are
    seconds since the sensor started streaming.
    """
    rng = np.random.default_rng([int(seed), 0x7A6])
    ev = truth_events
    kind = ev["kind"].to_numpy(dtype=object)
    name = ev["exercise"].to_numpy(dtype=object)
    onset = ev["onset_s"].to_numpy(dtype=np.float64)
    duration = ev["duration_s"].to_numpy(dtype=np.float64)
    labels = {e.exercise_id for e in plan}
    out: list[tuple[float, str, str]] = []
    exercises = np.flatnonzero(kind == "exercise")
    for i in exercises[np.argsort(onset[exercises], kind="stable")]:
        exercise = str(name[i])
        if exercise not in labels:
            continue  # rest segments
        t0, t1 = onset[i], onset[i] + duration[i]
        reps = np.sort(onset[(kind == "repetition") & (name == exercise) & (onset >= t0) & (onset < t1)])
        delay = rng.uniform(*reaction_s, size=len(reps) + 1)
        start = float(reps[0]) if len(reps) else float(t0)
        out.append((start + delay[0], "start", exercise))
        for k, rep_onset in enumerate(reps[1:], start=1):
            out.append((float(rep_onset) + delay[k], "next", exercise))
        out.append((float(t1) + delay[-1] * 0.25, "end", exercise))
    return out


def press(tagger: Tagger, action: str, exercise: str, at_s: float) -> None:
    """One key press of a :func:`tag_schedule` on a :class:`~dmi_sensors.session.Tagger`."""
    if action == "start":
        tagger.start_exercise(exercise, at_s=at_s)
    elif action == "next":
        tagger.next_repetition(at_s=at_s)
    elif action == "end":
        tagger.end_exercise(at_s=at_s)
    else:  # pragma: no cover - schedule entries come from tag_schedule
        raise ParameterError(f"unknown tagging action {action!r}")


def tag_from_truth(plan: Plan, truth_events: pd.DataFrame, *, seed: int, offset_s: float = 0.0) -> pd.DataFrame:
    """The events a therapist would have tagged (:func:`tag_schedule` on a
    :class:`~dmi_sensors.session.Tagger`, times shifted by ``offset_s``)."""
    tagger = Tagger(plan, clock=lambda: 0.0, start_s=0.0, source="manual")
    for t, action, exercise in tag_schedule(plan, truth_events, seed=seed):
        press(tagger, action, exercise, t + offset_s)
    return tagger.stop(at_s=tagger_last_s(tagger))


def tagger_last_s(tagger: Tagger) -> float:
    """The latest time the tagger has seen (to stop it without going back in time)."""
    return max([0.0, *(r.onset_s + r.duration_s for r in tagger.records)])


def record_simulated_session(
    store: SessionStore,
    subject: Subject,
    plan: Plan,
    *,
    seed: int,
    start_utc: str,
    therapist_id: str = "TDEMO1",
    sensors: Sequence[SimulatedSensor] | None = None,
    fs_hz: int = 100,
    body: BodyParams | None = None,
) -> tuple[int, SimulatedSession]:
    """Simulate, stream into the store's packet writer, tag, finalise; returns ``(session_id, sim)``.

    The sensors start streaming at t = 0 and are stopped (STOP_STREAMING) half a sample
    after the plan's last simulated sample, as the recorder stops them; every packet is
    stored with its arrival time.
    """
    if subject.com_height_m is None:
        raise ParameterError("a simulated session needs the subject's com_height_m (the simulated body's COM height)")
    sim = simulate_session(plan, com_height_m=subject.com_height_m, seed=seed, sensors=sensors, fs_hz=fs_hz, body=body)
    session_id = store.create_session(subject, plan, sim.placements, therapist_id=therapist_id, start_utc=start_utc)
    n_samples = len(next(iter(sim.sims.values())))
    stop_s = (n_samples - 0.5) / fs_hz
    host = SimulatedHost(list(sim.sensors.values()))
    host.start(0.0)
    writer = store.packet_writer(session_id)
    try:
        for packet in host.packets(stop_s):
            writer.append(packet)
        host.stop(stop_s)
        for packet in host.drain():
            writer.append(packet)
    finally:
        writer.close()
    events = tag_from_truth(plan, sim.truth_events, seed=seed)
    store.add_events(session_id, events)
    store.finalise(session_id)
    sim.extra["events"] = events
    return session_id, sim
