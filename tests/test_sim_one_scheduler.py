"""Every simulated path delivers packets through the one link scheduler (dmi_sensors.sim.link).

For the same simulation seed, link parameters and losses, the offline packets of a
simulation (``SimResult.packets``), a virtual sensor received in process (``SensorLink``,
used by the simulated session), the recorder on a simulated clock (``packet_schedule``)
and in real time (``SimulatedHost.stream``), the emulated BlueZ's air (``Air`` over a
``SensorPeripheral``, what the emulator's device timer runs) and the guided calibration
sensor give the same packets, losses and arrival times — bit for bit. The last test runs
bleak against the emulator: the samples it receives and the ones it misses are exactly
the offline stream's.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from dmi_sensors import protocol
from dmi_sensors.sim import (
    ImuErrors,
    LinkModel,
    LinkScheduler,
    PacketLoss,
    Segment,
    SensorLink,
    SimulatedHost,
    VirtualSensor,
    simulate,
    simulated_sensor_id,
)
from dmi_sensors.sim.bluez.air import Air
from dmi_sensors.sim.bluez.guided import GuidedVirtualSensor, calibration_sensors
from dmi_sensors.sim.bluez.sensor import CONTROL, SensorPeripheral, virtual_sensors
from dmi_sensors.sim.calibration import random_imu_errors, simulated_imu_errors
from dmi_sensors.sim.recorder import MOTION_S, packet_schedule
from dmi_sensors.types import RawPacket

LINK = LinkModel(connection_interval_s=0.0225, max_packets_per_event=2, latency_s=0.003, jitter_s=0.004)
LOSS = PacketLoss(random_prob=0.03, burst_start_prob=0.005, burst_mean_packets=3.0)
SPP = 5  # 40 packets/s at 200 Hz on a 22.5 ms link with 2 slots per event: the limit sometimes binds


def _start(spp: int = SPP) -> bytes:
    return protocol.encode_command(protocol.StartStreaming(samples_per_packet=spp))


def _air_run(air: Air, until_s: float) -> list:
    """The emulator's device timer with a perfect clock: step at every wake until ``until_s``."""
    air.up = True
    air.write(CONTROL, _start(), 0.0)
    out = []
    while (wake := air.next_wake_s()) is not None and wake <= until_s:
        down, arrived = air.step(max(wake, 0.0))
        assert down == []  # the link is up throughout
        out += [d for d in arrived if d.data]
    return out


@pytest.fixture(scope="module")
def sim():
    errors = ImuErrors(clock_drift_ppm=30.0, packet_loss=LOSS)
    return simulate([Segment("standing", 12.0)], fs_hz=200, seed=21, imu_errors=errors)


def test_offline_packets_equal_a_virtual_sensor_received_in_process(sim):
    offline = sim.packets(sensor_id="S", samples_per_packet=SPP, link=LINK)
    link = SensorLink(VirtualSensor(1, sim, fs_hz=200, link=LINK), "S")
    link.start(0.0, SPP)
    got = link.receive_until(11.0)
    got += link.receive_until(sim.duration_s - 1e-6)  # any chunking: the same result
    n = link.sensor.packets_sent
    assert link.packets_lost > 0 and link.scheduler.in_flight <= 2
    delivered = [(p.host_time_s, p.data) for p in offline.packets[: len(got)]]
    assert [(p.host_time_s, p.data) for p in got] == delivered  # bytes and arrival times, bit for bit
    assert link.lost_counters == [int(k) for k in offline.first_sample[:n][offline.lost[:n]]]


def test_the_real_time_driver_is_the_simulated_clock_driver_when_the_clock_keeps_up(sim):
    def host() -> SimulatedHost:
        links = [SensorLink(VirtualSensor(k + 1, sim, fs_hz=200, link=LINK, link_seed=k), f"S{k}") for k in range(2)]
        h = SimulatedHost(links)
        h.start(0.0, SPP)
        return h

    offline = host().packets(6.0)
    clock = [0.0]

    async def sleep(delay_s: float) -> None:  # a clock that wakes exactly when asked
        clock[0] += delay_s

    async def paced() -> list[RawPacket]:
        return [p async for p in host().stream(6.0, lambda: clock[0], sleep)]

    real_time = asyncio.run(paced())
    assert len(offline) > 400
    assert [(p.sensor_id, p.data) for p in real_time] == [(p.sensor_id, p.data) for p in offline]
    # stamped with the clock when handed over: the arrival time itself on a clock that keeps up
    np.testing.assert_allclose([p.host_time_s for p in real_time], [p.host_time_s for p in offline], atol=1e-12)


def test_the_recorder_schedule_is_the_offline_schedule_of_each_sensor():
    link = LinkModel(jitter_s=0.002)
    packets = packet_schedule(2, 100, 8.0, 5, seed=4, link=link)
    motion = simulate([Segment("sitting", MOTION_S, support="hips")], fs_hz=100, seed=4, com_height_m=0.40)
    ids = [simulated_sensor_id(0), simulated_sensor_id(1)]
    assert sorted({p.sensor_id for p in packets}) == ids
    assert [p.host_time_s for p in packets] == sorted(p.host_time_s for p in packets)
    first = [p for p in packets if p.sensor_id == ids[0]]
    offline = motion.packets(ids[0], samples_per_packet=5, link=link)  # link seed = the simulation seed
    assert [(p.host_time_s, p.data) for p in first] == [(p.host_time_s, p.data) for p in offline.packets[: len(first)]]
    second = [p for p in packets if p.sensor_id == ids[1]]
    k = np.arange(len(second))  # sensor 1's link seed is seed + 1: the same rule, its own draws
    arrival = LinkScheduler[int](link, None, seed=5).schedule((5 * k + 4) / 100.0).arrival_s
    assert [p.host_time_s for p in second] == arrival.tolist()
    assert [p.data for p in second] == offline.sent[: len(second)]  # same motion, same firmware


def test_the_emulated_bluez_air_delivers_the_offline_schedule(sim):
    offline = sim.packets(sensor_id="S", samples_per_packet=SPP, link=LINK)
    peripheral = SensorPeripheral(VirtualSensor(1, sim, fs_hz=200, link=LINK), "D0:31:5E:00:00:01")
    got = _air_run(Air(peripheral), 10.0)
    assert len(got) > 300
    assert [d.data for d in got] == [True] * len(got)
    n = len(got)
    sent = [(d.arrival_s, d.item.data, d.lost) for d in got]
    expected = [(float(offline.host_time_s[j]) if not offline.lost[j] else None, offline.sent[j], bool(offline.lost[j]))
                for j in range(n)]  # fmt: skip
    assert [(a if not lost else None, b, lost) for a, b, lost in sent] == expected
    # lost ones still had an arrival slot; the emulator counts them as dropped on the air
    assert sum(d.lost for d in got) == int(offline.lost[:n].sum()) > 0


def test_the_emulator_factory_and_the_guided_calibration_sensor_use_the_same_scheduler():
    """Emulator device factory vs the same virtual sensor in process; the guided sensor likewise."""
    (peripheral,) = virtual_sensors(1, fs_hz=100, seed=5, link=LINK.to_dict(), packet_loss={"random_prob": 0.05})
    air = _air_run(Air(peripheral), 6.0)
    # simulated sensor 0 with its unit's hardware errors (sim.identity) and the air losses
    errors = dataclasses.replace(simulated_imu_errors(0), packet_loss=PacketLoss(random_prob=0.05))
    twin = VirtualSensor(simulated_sensor_id(0), fs_hz=100, seed=5, link=LINK, imu_errors=errors)
    link = SensorLink(twin)
    link.start(0.0, SPP)
    received = link.receive_until(6.0)
    assert [(d.arrival_s, d.item.data) for d in air if not d.lost] == [(p.host_time_s, p.data) for p in received]
    assert sum(d.lost for d in air) == link.packets_lost > 0

    (guided,) = calibration_sensors(seed=2, fs_hz=100)
    twin_g = SensorLink(GuidedVirtualSensor(simulated_sensor_id(0), random_imu_errors(2), fs_hz=100, seed=2))
    step = {"key": "pose-z", "instruction": "Z down", "duration_s": 2.0, "settle_s": 0.5, "pose": "-z"}
    guided.act(step, 0.0)
    twin_g.sensor.act(step, 0.0)
    twin_g.start(0.0, SPP)
    air_g = _air_run(Air(guided), 5.0)
    received_g = twin_g.receive_until(5.0)
    assert len(received_g) > 50
    assert [(d.arrival_s, d.item.data) for d in air_g if not d.lost] == [(p.host_time_s, p.data) for p in received_g]
    acc = protocol.decode_stream(received_g, twin_g.sensor_id).batch.acc_mps2
    assert acc[0, 2] > 9.0 and acc[-1, 2] < -9.0  # lying +z up, then turned over by the step


@pytest.mark.bluez
async def test_bleak_receives_the_offline_packets_and_misses_the_offline_losses(bluez):
    """Through D-Bus and bleak: received samples and missed samples are the offline stream's."""
    from dmi_sensors.ble import ReconnectPolicy, SensorHub, discover

    loss = {"random_prob": 0.04, "burst_start_prob": 0.004, "burst_mean_packets": 3.0}
    bluez(factory_kwargs={"n": 1, "fs_hz": 200, "seed": 8, "packet_loss": loss})
    adverts = await discover(1.0)
    hub = SensorHub([(adverts[0], "trunk")], policy=ReconnectPolicy(scan_timeout_s=1.0), keep_packets=True,
                    log_interval_s=None)  # fmt: skip
    await hub.start()
    assert await hub.wait_streaming(30) == 1
    await asyncio.sleep(2.0)
    stats = await hub.stop()
    (link,) = hub.links
    decoded = protocol.decode_stream(link.packets, link.sensor_id)
    batch = decoded.batch
    data = [m for m in (protocol.decode(p.data) for p in link.packets) if isinstance(m, protocol.DataPacket)]
    spp = int(data[0].n_samples)
    last = int(batch.counter[-1])
    # the emulated sensor: simulated sensor 0 (its unit's errors), 60 s of standing at 200 Hz,
    # seed 8, the losses above; offline:
    errors = dataclasses.replace(simulated_imu_errors(0), packet_loss=PacketLoss(**loss))
    offline = simulate([Segment("standing", 60.0)], fs_hz=200, seed=8, imu_errors=errors).packets(
        samples_per_packet=spp
    )
    upto = offline.first_sample <= last
    expected_got = offline.delivered_sample_indices
    expected_got = expected_got[expected_got <= last]
    np.testing.assert_array_equal(batch.counter, expected_got)  # what arrived ...
    lost = offline.lost_sample_indices
    assert stats[link.sensor_id].samples_lost == int((lost < last).sum()) > 0  # ... and what did not
    assert int(offline.lost[upto].sum()) > 0
    sim = simulate([Segment("standing", 60.0)], fs_hz=200, seed=8, imu_errors=errors)
    np.testing.assert_array_equal(batch.acc_mps2, sim.acc_mps2[batch.counter])
