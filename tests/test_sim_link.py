"""The one packet scheduler (dmi_sensors.sim.link): its rule, checked by hand, and its chunk invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim import LinkModel, LinkScheduler, PacketLoss
from dmi_sensors.sim.link import LossDraw


def test_the_rule_by_hand_events_per_event_limit_fifo_latency():
    """Interval 20 ms from phase 5 ms, two items per event, 1 ms processing, 3 ms latency, no jitter."""
    link = LinkModel(connection_interval_s=0.02, max_packets_per_event=2, processing_s=0.001, latency_s=0.003,
                     jitter_s=0.0, phase_s=0.005)  # fmt: skip
    sched = LinkScheduler[int](link)
    done = [0.000, 0.003, 0.004, 0.0041, 0.030, 0.0441, 0.200]
    s = sched.schedule(done)
    # ready = done + 1 ms -> first event at or after it: 5, 5, 5(full -> 25), 25, 45, 45(ready 45.1 ms -> 65), 205
    assert s.event.tolist() == [0, 0, 1, 1, 2, 3, 10]
    np.testing.assert_allclose(s.event_s, [0.005, 0.005, 0.025, 0.025, 0.045, 0.065, 0.205], atol=1e-15)
    np.testing.assert_allclose(s.arrival_s, s.event_s + 0.003, atol=1e-15)
    assert not s.lost.any()
    # FIFO: an item done earlier than the previous one never goes out before it
    assert sched.schedule([0.1]).event.tolist() == [10]


def test_ideal_link_delivers_each_packet_the_instant_it_is_done():
    sched = LinkScheduler[int](LinkModel.ideal())
    done = np.array([0.0, 0.045, 0.09, 0.09, 1.5])
    s = sched.schedule(done)
    assert s.arrival_s.tolist() == done.tolist() and (s.event == -1).all()


def test_jitter_is_exponential_and_arrivals_stay_in_order():
    link = LinkModel(connection_interval_s=0.0075, max_packets_per_event=8, latency_s=0.002, jitter_s=0.004)
    s = LinkScheduler[int](link, seed=11).schedule(np.arange(20000) * 0.01)
    assert np.all(np.diff(s.arrival_s) >= 0)
    delay = s.arrival_s - s.event_s - link.latency_s
    assert delay.min() >= 0
    # without reordering the mean of Exp(4 ms) would be 4 ms; in-order delivery only adds
    assert 0.0038 < np.median(delay) / math.log(2) < 0.0046


def test_losses_are_the_loss_draw_of_the_data_packets_and_take_their_slot():
    loss = PacketLoss(random_prob=0.1, burst_start_prob=0.01, burst_mean_packets=3.0)
    link = LinkModel(jitter_s=0.0, phase_s=0.0, max_packets_per_event=1)
    done = np.arange(5000) * 0.001  # 1000 packets/s on a 15 ms link with one slot per event: a queue
    s = LinkScheduler[int](link, loss, seed=4).schedule(done)
    np.testing.assert_array_equal(s.lost, LossDraw(loss, 4).mask(5000))
    assert np.all(np.diff(s.event) == 1)  # lost packets still used their event


def test_other_notifications_are_never_lost_and_do_not_shift_the_data():
    """Responses/status in the FIFO: no loss, no jitter draw; data arrivals are unchanged."""
    loss = PacketLoss(random_prob=0.3)
    link = LinkModel()
    data_done = np.arange(200) * 0.05
    plain = LinkScheduler[str](link, loss, seed=9).schedule(data_done)
    mixed = LinkScheduler[str](link, loss, seed=9)
    arrivals, lost = [], []
    for k, t in enumerate(data_done):
        if k % 7 == 0:
            d = mixed.send("status", float(t) - 0.01, data=False)
            assert not d.lost
        d = mixed.send("data", float(t))
        arrivals.append(d.arrival_s)
        lost.append(d.lost)
    assert arrivals == plain.arrival_s.tolist() and lost == plain.lost.tolist()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(0, 2**31))
def test_scheduling_in_any_chunks_is_bit_identical_to_all_at_once(chunks, seed):
    rng = np.random.default_rng(seed)
    done = np.cumsum(rng.exponential(0.02, sum(chunks)))
    link = LinkModel(connection_interval_s=0.0075 + 0.03 * rng.random(), max_packets_per_event=int(rng.integers(1, 5)))
    loss = PacketLoss(random_prob=0.05, burst_start_prob=0.01)
    whole = LinkScheduler[int](link, loss, seed).schedule(done)
    sched = LinkScheduler[int](link, loss, seed)
    parts, i = [], 0
    for n in chunks:
        if n == 1:  # one at a time through the in-flight queue, as the real-time drivers do
            d = sched.send(i, float(done[i]))
            parts.append((d.lost, d.arrival_s))
        else:
            s = sched.schedule(done[i : i + n])
            parts.extend(zip(s.lost.tolist(), s.arrival_s.tolist(), strict=True))
        i += n
    assert [p[0] for p in parts] == whole.lost.tolist()
    assert [p[1] for p in parts] == whole.arrival_s.tolist()  # bit-identical


def test_in_flight_items_are_handed_over_at_their_arrival_in_order():
    sched = LinkScheduler[int](LinkModel(phase_s=0.0, jitter_s=0.0))
    for k in range(5):
        sched.send(k, 0.01 * k)
    first = sched.next_arrival_s()
    assert first == pytest.approx(0.015 + 0.002)
    assert sched.arrived(first - 1e-9) == []
    got = sched.arrived(1.0)
    assert [d.item for d in got] == [0, 1, 2, 3, 4] and sched.in_flight == 0
    sched.send(5, 2.0)
    assert [d.item for d in sched.clear()] == [5] and sched.next_arrival_s() is None


def test_link_parameters_are_checked():
    with pytest.raises(ParameterError, match="connection_interval_s"):
        LinkModel(connection_interval_s=0.005)
    with pytest.raises(ParameterError, match="max_packets_per_event"):
        LinkModel(max_packets_per_event=0)
    with pytest.raises(ParameterError, match="jitter_s"):
        LinkModel(jitter_s=-1.0)
    assert LinkModel(connection_interval_s=0.0).is_ideal
