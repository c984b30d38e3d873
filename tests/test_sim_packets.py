"""Simulated packets: exact decode, quantisation, clock drift, packet loss, arrival times."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors import protocol
from dmi_sensors.sim import ImuErrors, LinkModel, PacketLoss, Perturbation, Segment, simulate
from dmi_sensors.sim.imu import lsb_acc_mps2, lsb_gyr_rps

SEGS = [Segment("standing", 6.0, perturbations=(Perturbation(2.0, force_n=120.0),)), Segment("sit_to_stand", 6.0)]


def test_packets_decode_back_exactly_to_the_quantised_samples():
    r = simulate(SEGS, fs_hz=200, seed=3, imu_errors=ImuErrors.typical())
    stream = r.packets(sensor_id="S1")
    decoded = protocol.decode_stream(stream.packets, "S1")
    assert decoded.malformed_packets == 0
    idx = stream.delivered_sample_indices
    np.testing.assert_array_equal(decoded.batch.acc_mps2, r.acc_mps2[idx])
    np.testing.assert_array_equal(decoded.batch.gyr_rps, r.gyr_rps[idx])
    np.testing.assert_array_equal(decoded.batch.counter, idx)


def test_quantisation_puts_readings_on_the_lsb_grid_and_saturates_at_full_scale():
    errors = ImuErrors(acc_range_g=2, gyr_range_dps=125)
    r = simulate(
        [Segment("sit_to_stand", 8.0, repetitions=1), Segment("supine", 6.0)], fs_hz=100, seed=1, imu_errors=errors
    )
    acc_steps = r.acc_mps2 / lsb_acc_mps2(2)
    gyr_steps = r.gyr_rps / lsb_gyr_rps(125)
    np.testing.assert_allclose(acc_steps, np.rint(acc_steps), atol=1e-9)
    np.testing.assert_allclose(gyr_steps, np.rint(gyr_steps), atol=1e-9)
    # a reading beyond the range clips at int16 full scale (z: 9.81 + 12 m/s^2 bias > 2 g)
    over = simulate(
        [Segment("standing", 2.0)], fs_hz=100, seed=1, imu_errors=ImuErrors(acc_range_g=2, acc_bias_mps2=(0, 0, 12.0))
    )
    np.testing.assert_array_equal(over.acc_mps2[:, 2], 32767 * lsb_acc_mps2(2))
    assert np.abs(over.acc_mps2[:, :2]).max() < 1.0
    acc_counts, _ = over.counts()
    assert acc_counts[:, 2].tolist() == [32767] * len(over)
    # quantisation error is at most half an LSB where not clipped
    ideal = simulate([Segment("standing", 4.0)], fs_hz=100, seed=1, imu_errors=ImuErrors(0.0, 0.0, quantise=False))
    quant = simulate([Segment("standing", 4.0)], fs_hz=100, seed=1, imu_errors=ImuErrors(0.0, 0.0))
    assert np.abs(quant.acc_mps2 - ideal.acc_mps2).max() <= 0.5 * lsb_acc_mps2(8) + 1e-12
    with pytest.raises(ValueError, match="range"):
        ImuErrors(acc_range_g=3)


@pytest.mark.parametrize("ppm", [-80.0, 250.0])
def test_clock_drift_shows_in_device_timestamps_by_the_right_ppm(ppm):
    r = simulate([Segment("standing", 30.0)], fs_hz=100, seed=0, imu_errors=ImuErrors(clock_drift_ppm=ppm))
    stream = r.packets(sensor_id="S")
    batch = protocol.decode_stream(stream.packets, "S").batch
    true_t = batch.counter / r.fs_hz
    slope, _ = np.polyfit(true_t, batch.device_time_s, 1)
    assert (slope - 1.0) * 1e6 == pytest.approx(ppm, abs=0.5)
    # packet timestamps follow the firmware rule exactly: t0 + floor(k 1e6 (1 + ppm 1e-6) / fs)
    k = np.arange(0, len(r), stream.samples_per_packet)
    expected = np.floor(k * 1e6 * (1 + ppm * 1e-6) / r.fs_hz)
    got = [protocol.decode(p).timestamp_us for p in stream.sent]
    np.testing.assert_array_equal(got, expected)


def test_packet_loss_removes_exactly_the_reported_packets():
    loss = PacketLoss(random_prob=0.05, burst_start_prob=0.02, burst_mean_packets=3.0)
    r = simulate([Segment("standing", 40.0)], fs_hz=100, seed=9, imu_errors=ImuErrors(packet_loss=loss))
    stream = r.packets(sensor_id="S", samples_per_packet=10)
    assert 0 < stream.lost.sum() < len(stream.sent) / 2
    decoded = protocol.decode_stream(stream.packets, "S")
    got = set(decoded.batch.counter.tolist())
    lost = set(stream.lost_sample_indices.tolist())
    assert got.isdisjoint(lost)
    assert got | lost == set(range(len(r)))
    # the decoder's gap count matches the truth (losses at the very end are invisible to it)
    last_delivered = max(got)
    assert decoded.samples_lost == sum(1 for i in lost if i < last_delivered)
    # same seed, same losses
    again = simulate([Segment("standing", 40.0)], fs_hz=100, seed=9, imu_errors=ImuErrors(packet_loss=loss))
    np.testing.assert_array_equal(again.packets(samples_per_packet=10).lost, stream.lost)


def test_host_arrival_times_follow_the_link_model():
    link = LinkModel(connection_interval_s=0.03, max_packets_per_event=2, latency_s=0.004, jitter_s=0.002)
    r = simulate([Segment("standing", 20.0)], fs_hz=200, seed=2, imu_errors=ImuErrors())
    stream = r.packets(samples_per_packet=5, link=link)
    host = np.array([p.host_time_s for p in stream.packets])
    ready = (stream.first_sample + stream.n_samples - 1) / r.fs_hz
    assert np.all(np.diff(host) >= 0)
    assert np.all(host >= ready + link.latency_s)
    # 40 packets/s but only 2 per 30 ms event (66/s): the queue never grows without bound
    assert np.max(host - ready) < 0.2
    assert np.median(host - ready) < 0.06


def test_packets_need_a_firmware_rate():
    r = simulate([Segment("standing", 2.0)], fs_hz=120, seed=0)
    with pytest.raises(protocol.ProtocolError, match="120"):
        r.packets()
