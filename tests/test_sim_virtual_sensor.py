"""VirtualSensor: the firmware state machine over simulated physics."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors import protocol
from dmi_sensors.protocol import DataFormat, DeviceState, Result
from dmi_sensors.sim import ImuErrors, PacketLoss, Segment, SensorLink, VirtualSensor, simulate
from dmi_sensors.types import RawPacket

SEGS = [Segment("standing", 5.0), Segment("sitting", 5.0, repetitions=1)]


def _cmd(sensor: VirtualSensor, cmd, now_s=None) -> protocol.Response:
    (reply,) = sensor.handle_control(protocol.encode_command(cmd), now_s)
    resp = protocol.decode(reply)
    assert isinstance(resp, protocol.Response)
    assert resp.seq == cmd.seq and resp.opcode == cmd.opcode
    return resp


def test_identity_and_get_info():
    s = VirtualSensor("DMI-00C0FFEE", SEGS)
    assert s.serial == 0x00C0FFEE and s.name == "DMI-00C0FFEE"
    serial, version = protocol.decode_manufacturer_data(s.manufacturer_data[protocol.COMPANY_ID])
    assert serial == "00C0FFEE" and tuple(version) == protocol.PROTOCOL_VERSION
    assert s.device_information[protocol.SERIAL_NUMBER_CHAR_UUID] == protocol.format_serial(0x00C0FFEE)
    info = _cmd(s, protocol.GetInfo(seq=7)).body
    assert (info.serial, info.fs_hz, info.acc_range_g, info.gyr_range_dps) == (0x00C0FFEE, 100, 8, 1000)


def test_streaming_chunked_equals_whole_and_equals_simresult_packets():
    errors = ImuErrors(clock_drift_ppm=40.0)
    a = VirtualSensor(1, SEGS, seed=4, imu_errors=errors, boot_time_us=123_456)
    b = VirtualSensor(1, SEGS, seed=4, imu_errors=errors, boot_time_us=123_456)
    for s in (a, b):
        assert _cmd(s, protocol.SetRate(200, seq=1)).ok
        resp = _cmd(s, protocol.StartStreaming(DataFormat.FULL, 10, seq=2))
        assert resp.ok and resp.body.samples_per_packet == 10 and resp.body.fs_hz == 200
    whole = a.packets_until(9.9999)
    chunks = []
    for t in np.arange(0.0, 10.0, 0.0137):
        chunks.extend(b.packets_until(float(t)))
    chunks.extend(b.packets_until(9.9999))
    assert chunks == whole
    assert a.samples_sent == 2000 and a.packets_sent == 200 and len(whole) == 200
    # the same bytes as the offline packetizer over the same simulation
    offline = a.result.packets(samples_per_packet=10, first_timestamp_us=123_456)
    assert whole == offline.sent
    # and the stream decodes to the simulation's readings
    batch = protocol.decode_stream([RawPacket("x", 0.0, p) for p in whole], "x").batch
    np.testing.assert_array_equal(batch.acc_mps2, a.result.acc_mps2)
    assert batch.counter.tolist() == list(range(2000))


def test_device_rules_invalid_state_and_malformed_commands():
    s = VirtualSensor(2, SEGS)
    assert _cmd(s, protocol.StartStreaming(seq=1)).ok
    assert _cmd(s, protocol.StartStreaming(seq=2)).result == Result.INVALID_STATE
    assert _cmd(s, protocol.SetRate(50, seq=3)).result == Result.INVALID_STATE
    assert _cmd(s, protocol.SetRanges(4, 500, seq=4)).result == Result.INVALID_STATE
    (reply,) = s.handle_control(bytes([0x10, 0x99, 5]))
    resp = protocol.decode(reply)
    assert (resp.opcode, resp.seq, resp.result) == (0x99, 5, Result.UNKNOWN_OPCODE)
    (reply,) = s.handle_control(bytes([0x10, protocol.Opcode.SET_RATE, 6, 0x01]))
    assert protocol.decode(reply).result == Result.INVALID_LENGTH
    (reply,) = s.handle_control(bytes([0x20, protocol.Opcode.GET_INFO, 8]))
    assert protocol.decode(reply).result == Result.UNSUPPORTED_VERSION
    (reply,) = s.handle_control(b"")
    assert protocol.decode(reply).result == Result.INVALID_LENGTH
    assert _cmd(s, protocol.StopStreaming(seq=9)).ok
    assert _cmd(s, protocol.SetRanges(4, 500, seq=10)).ok
    info = _cmd(s, protocol.GetInfo(seq=11)).body
    assert (info.acc_range_g, info.gyr_range_dps) == (4, 500)


def test_stop_flushes_a_partial_packet_and_restart_resets_the_counter():
    s = VirtualSensor(3, SEGS)
    _cmd(s, protocol.StartStreaming(DataFormat.FULL, 19, seq=1), now_s=0.0)
    first = s.packets_until(1.0)  # 101 samples taken -> 5 full packets
    assert len(first) == 5
    _cmd(s, protocol.StopStreaming(seq=2), now_s=1.0)
    flushed = s.packets_until(2.0)
    assert len(flushed) == 1 and protocol.decode(flushed[0]).n_samples == 101 - 95
    assert s.samples_sent == 101 and not s.streaming
    assert s.packets_until(3.0) == []
    _cmd(s, protocol.StartStreaming(DataFormat.FULL, 19, seq=3), now_s=5.0)
    again = s.packets_until(5.5)
    assert protocol.decode(again[0]).counter == 0
    # device clock kept running: the new stream starts ~5 s later on the device clock
    assert protocol.decode(again[0]).timestamp_us == pytest.approx(5_000_000, abs=2)


def test_compact_format_at_the_default_mtu():
    s = VirtualSensor(4, SEGS, att_mtu=23)
    assert _cmd(s, protocol.StartStreaming(DataFormat.FULL, seq=1)).result == Result.INVALID_STATE
    resp = _cmd(s, protocol.StartStreaming(DataFormat.COMPACT, seq=2))
    assert resp.ok and resp.body.samples_per_packet == 1
    pkts = s.packets_until(0.5)
    assert len(pkts) == 51 and all(len(p) == 20 for p in pkts)
    status = protocol.decode(s.status_packet())
    assert status.state & DeviceState.COMPACT_FORMAT and status.state & DeviceState.STREAMING


def test_time_sync_identify_status_and_battery():
    s = VirtualSensor(5, SEGS, imu_errors=ImuErrors(clock_drift_ppm=100.0), boot_time_us=1000, battery_pct=16.4)
    st = protocol.decode(s.status_packet(now_s=2.0))
    assert st.error_flags & protocol.StatusErrors.CLOCK_NOT_SYNCED
    assert st.battery_pct == 16 and not st.error_flags & protocol.StatusErrors.LOW_BATTERY
    reply = _cmd(s, protocol.TimeSync(host_time_us=42, seq=1), now_s=10.0).body
    assert reply.host_time_us == 42
    assert reply.device_rx_us == 1000 + int(10.0 * 1e6 * (1 + 100e-6))
    assert reply.device_tx_us > reply.device_rx_us
    assert _cmd(s, protocol.Identify(3, seq=2), now_s=10.0).ok
    assert protocol.decode(s.status_packet(now_s=11.0)).state & DeviceState.IDENTIFYING
    assert not protocol.decode(s.status_packet(now_s=14.0)).state & DeviceState.IDENTIFYING
    _cmd(s, protocol.StartStreaming(seq=3), now_s=14.0)
    pkt = protocol.decode(s.packets_until(15.0)[0])
    assert pkt.flags & protocol.DataFlags.TIME_SYNCED
    before = s.battery_pct
    s.packets_until(14.0 + 6 * 60)  # streaming drains the battery
    assert s.battery_pct < before and s.battery_pct < 15
    st = protocol.decode(s.status_packet())
    assert st.error_flags & protocol.StatusErrors.LOW_BATTERY
    assert protocol.decode(s.packets_until(14.0 + 6 * 60 + 1)[0]).flags & protocol.DataFlags.LOW_BATTERY


def test_long_streams_loop_over_the_motion_and_the_link_counts_losses():
    """The firmware sends everything; its link loses packets (ImuErrors.packet_loss), counted exactly."""
    loss = PacketLoss(random_prob=0.02)
    s = VirtualSensor(6, [Segment("standing", 4.0)], imu_errors=ImuErrors(packet_loss=loss), seed=1)
    link = SensorLink(s, "x")
    _cmd(s, protocol.StartStreaming(DataFormat.FULL, 10, seq=1))
    pkts = link.receive_until(11.999)  # sample 1199 is taken at 11.99 s
    assert s.samples_sent == 1200 and s.packets_sent == 120
    in_flight = link.scheduler.in_flight  # sent, not yet arrived
    assert in_flight <= 3  # 15 ms events + 2 ms + Exp(3 ms): at most the last few
    assert len(pkts) + link.packets_lost + in_flight == 120
    assert link.packets_lost == len(link.lost_counters) > 0
    decoded = protocol.decode_stream(pkts, "x")
    got = set(decoded.batch.counter.tolist())
    lost = {c + i for c in link.lost_counters for i in range(10)}
    assert got.isdisjoint(lost)
    assert got | lost == set(range(1200 - 10 * in_flight))
    sim = s.result
    k = decoded.batch.counter
    np.testing.assert_array_equal(decoded.batch.acc_mps2, sim.acc_mps2[k % len(sim)])


def test_a_simresult_source_is_used_as_is():
    r = simulate(SEGS, fs_hz=100, seed=8)
    s = VirtualSensor(7, r)
    assert s.result is r
    _cmd(s, protocol.SetRate(50, seq=1))
    assert s.result.fs_hz == 50 and s.result.seed == 8
