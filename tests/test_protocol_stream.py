"""Vectorised stream decoder: unwrap across wraps, exact gap counts, malformed packets, chunking."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors import protocol as P
from dmi_sensors.protocol.stream import StreamDecoder, decode_stream
from dmi_sensors.types import RawPacket, SampleBatch


def _recording(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32768, (n, 3)), rng.integers(-32768, 32768, (n, 3))


def _raw(packets: list[bytes], fs_hz: float, spp: int, sensor: str = "S1") -> list[RawPacket]:
    return [RawPacket(sensor, 0.05 + i * spp / fs_hz, p) for i, p in enumerate(packets)]


def _reference(packets: list[RawPacket]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Slow per-packet reference: counter unwrap by forward difference (no resets in the inputs)."""
    counters, times, gaps, last = [], [], [], None
    for raw in packets:
        try:
            pkt = P.decode(raw.data)
        except P.ProtocolError:
            continue
        if not isinstance(pkt, P.DataPacket):
            continue
        if last is None:
            u, t_us = pkt.counter, pkt.timestamp_us
            gaps.append(0)
        else:
            lu, ln, lc, lt, ltu = last
            d = (pkt.counter - lc - ln) % pkt.counter_modulus
            u = lu + ln + d
            dt = (pkt.timestamp_us - lt) % pkt.timestamp_modulus
            expected = (u - lu) * 1e6 / pkt.fs_hz
            t_us = ltu + dt + round((expected - dt) / pkt.timestamp_modulus) * pkt.timestamp_modulus
            gaps.append(d)
        for k in range(pkt.n_samples):
            counters.append(u + k)
            times.append((t_us + k * 1e6 / pkt.fs_hz) / 1e6)
        last = (u, pkt.n_samples, pkt.counter, pkt.timestamp_us, t_us)
    return np.array(counters), np.array(times), gaps


@pytest.mark.parametrize("compact", [False, True])
def test_unwrap_across_counter_and_timestamp_wrap(compact):
    n, fs = 4000 if compact else 6000, 1000
    acc, gyr = _recording(n)
    first_c = 65536 - 1000 if compact else (1 << 32) - 3000
    first_t = (1 << 24) - 2_000_000 if compact else (1 << 32) - 2_500_000
    spp = 1 if compact else 19
    raws = _raw(P.packetize(acc, gyr, first_c, first_t, fs, 16, 2000, spp, compact=compact), fs, spp)
    out = decode_stream(raws, "S1")
    b = out.batch
    np.testing.assert_array_equal(b.counter, first_c + np.arange(n))
    np.testing.assert_allclose(b.device_time_s, (first_t + np.arange(n) * 1000) / 1e6, rtol=0, atol=1e-9)
    assert out.samples_lost == 0 and out.malformed_packets == 0 and not b.gap_before.any()
    assert out.packets_ok == len(raws) and b.fs_hz == fs
    np.testing.assert_allclose(b.acc_mps2, acc * 16 * 9.80665 / 32768)
    np.testing.assert_allclose(b.gyr_rps, np.radians(gyr * 2000 / 32768))


def test_compact_timestamp_wraps_several_times():
    # 24-bit µs wraps every 16.8 s: 60 s at 50 Hz wraps three times
    n, fs = 3000, 50
    acc, gyr = _recording(n)
    raws = _raw(P.packetize(acc, gyr, 0, 123, fs, 8, 500, compact=True), fs, 1)
    b = decode_stream(raws, "S1").batch
    np.testing.assert_allclose(b.device_time_s, (123 + np.arange(n) * 20_000) / 1e6, atol=1e-9)


def test_gaps_are_counted_exactly():
    n, fs, spp = 19 * 200, 500, 19
    acc, gyr = _recording(n)
    pk = P.packetize(acc, gyr, (1 << 32) - 19 * 100, 0, fs, 8, 1000, spp)
    rng = np.random.default_rng(3)
    drop = set(rng.choice(np.arange(1, len(pk) - 1), size=23, replace=False).tolist())
    raws = [r for i, r in enumerate(_raw(pk, fs, spp)) if i not in drop]
    out = decode_stream(raws, "S1")
    assert out.samples_lost == 19 * len(drop)
    kept = np.array(sorted(set(range(len(pk))) - drop))
    expected_counter = ((1 << 32) - 19 * 100 + (kept[:, None] * spp + np.arange(spp))).ravel()
    np.testing.assert_array_equal(out.batch.counter, expected_counter)
    # one gap flag per run of dropped packets, on the first sample after it
    runs = sum(1 for i in drop if i - 1 not in drop)
    assert out.batch.gap_before.sum() == runs
    ref_counter, ref_time, _ = _reference(raws)
    np.testing.assert_array_equal(out.batch.counter, ref_counter)
    np.testing.assert_allclose(out.batch.device_time_s, ref_time, atol=1e-9)


def test_long_pause_in_compact_mode_uses_host_time_for_whole_wraps():
    # at 1 kHz the 16-bit counter wraps every 65.5 s; lose 100 s worth of packets
    fs = 1000
    acc, gyr = _recording(200_000 + 50)
    pk = P.packetize(acc[:50], gyr[:50], 0, 0, fs, 8, 1000, compact=True)
    later = P.packetize(acc[:10], gyr[:10], 200_000, 200_000 * 1000, fs, 8, 1000, compact=True)
    raws = [RawPacket("S1", i / fs, p) for i, p in enumerate(pk)]
    raws += [RawPacket("S1", (200_000 + i) / fs, p) for i, p in enumerate(later)]
    out = decode_stream(raws, "S1")
    assert out.batch.counter[50] == 200_000
    assert out.samples_lost == 200_000 - 50
    np.testing.assert_allclose(out.batch.device_time_s[50:], (200_000 + np.arange(10)) / 1000, atol=1e-9)


def test_outage_over_half_a_compact_wrap_is_a_gap_not_a_reset():
    # 50 s at 1 kHz = 50 000 samples > 2**15: the forward difference alone would look like
    # the counter went back; the arrival times say it went forward
    fs, lost = 1000, 50_000
    acc, gyr = _recording(40)
    pk = P.packetize(acc[:20], gyr[:20], 0, 0, fs, 8, 1000, compact=True)
    pk += P.packetize(acc[20:], gyr[20:], 20 + lost, (20 + lost) * 1000, fs, 8, 1000, compact=True)
    host = np.r_[np.arange(20), 20 + lost + np.arange(20)] / fs + 0.03
    out = decode_stream([RawPacket("S1", float(t), p) for t, p in zip(host, pk, strict=True)], "S1")
    assert out.samples_lost == lost and out.counter_resets == 0
    np.testing.assert_array_equal(out.batch.counter, np.r_[np.arange(20), 20 + lost + np.arange(20)])
    np.testing.assert_allclose(out.batch.device_time_s[20:], (20 + lost + np.arange(20)) / fs, atol=1e-9)
    # without usable arrival times (all equal) the same bytes are read as a restart
    same = decode_stream([RawPacket("S1", 0.0, p) for p in pk], "S1")
    assert same.counter_resets == 1 and same.samples_lost == 0


def test_malformed_packets_are_counted_and_skipped():
    n, fs, spp = 19 * 10, 100, 19
    acc, gyr = _recording(n)
    raws = _raw(P.packetize(acc, gyr, 0, 0, fs, 8, 1000, spp), fs, spp)
    bad = [
        b"",
        b"\x10",
        raws[0].data[:-1],  # truncated
        bytes([0x20]) + raws[0].data[1:],  # unknown major version
        b"\x10\x77" + bytes(10),  # unknown type
        raws[0].data[:3] + bytes([0xE0]) + raws[0].data[4:],  # gyro code 7
        raws[0].data[:4] + bytes([20]) + raws[0].data[5:],  # sample count 20
        P.encode_status(50, 20.0)[:-2],  # truncated status
    ]
    status = P.encode_status(80, 30.5, 0, 1, 5, 0)
    response = P.encode_response(P.Response(P.Opcode.STOP_STREAMING, 9))
    mixed = list(raws[:5])
    mixed += [RawPacket("S1", 0.5, b) for b in bad]
    mixed += [RawPacket("S1", 0.6, status), RawPacket("S1", 0.6, response)]
    mixed += raws[5:]
    out = decode_stream(mixed, "S1")
    assert out.malformed_packets == len(bad)
    assert out.malformed_reasons == {
        "too_short": 2,
        "status": 1,
        "bad_length": 1,
        "unsupported_version": 1,
        "unknown_type": 1,
        "bad_config": 1,
        "bad_sample_count": 1,
    }
    assert out.packets_ok == len(raws) + 2 and out.samples_lost == 0
    np.testing.assert_array_equal(out.batch.counter, np.arange(n))
    assert out.status == [P.decode(status)] and out.responses == [P.decode(response)]


def test_restart_is_a_reset_not_a_huge_gap():
    fs, spp = 100, 10
    acc, gyr = _recording(100)
    first = P.packetize(acc[:50], gyr[:50], 1000, 0, fs, 8, 1000, spp)
    second = P.packetize(acc[50:], gyr[50:], 0, 2_000_000, fs, 8, 1000, spp)  # counter restarted at 0
    raws = [RawPacket("S1", i * 0.1, p) for i, p in enumerate(first)]
    raws += [RawPacket("S1", 2.0 + i * 0.1, p) for i, p in enumerate(second)]
    out = decode_stream(raws, "S1")
    assert decode_stream([RawPacket("S1", 0.0, r.data) for r in raws], "S1").counter_resets == 1
    assert out.counter_resets == 1 and out.samples_lost == 0
    assert np.all(np.diff(out.batch.counter) == 1)
    assert out.batch.gap_before.sum() == 1 and out.batch.gap_before[50]
    np.testing.assert_allclose(out.batch.device_time_s[50:], 2.0 + np.arange(50) / fs, atol=1e-9)


@pytest.mark.parametrize("split", [1, 7, 33, 100])
def test_chunked_feeding_equals_one_shot(split):
    fs, spp = 1000, 19
    acc, gyr = _recording(19 * 120)
    pk = P.packetize(acc, gyr, (1 << 32) - 19 * 60, (1 << 32) - 50_000, fs, 8, 1000, spp, clock_scale=1 - 80e-6)
    raws = [r for i, r in enumerate(_raw(pk, fs, spp)) if i % 17 != 5]
    raws.insert(40, RawPacket("S1", 1.0, b"\x10\x01garbage"))
    whole = decode_stream(raws, "S1")
    dec = StreamDecoder("S1")
    parts = [dec.process(raws[i : i + split]) for i in range(0, len(raws), split)]
    chunked = SampleBatch.concat(parts)
    for name in ("counter", "device_time_s", "host_time_s", "acc_mps2", "gyr_rps", "gap_before"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole.batch, name), err_msg=name)
    assert (dec.samples_lost, dec.malformed_packets, dec.packets_ok) == (
        whole.samples_lost,
        whole.malformed_packets,
        whole.packets_ok,
    )


def test_empty_and_foreign_sensor():
    out = decode_stream([], "S1")
    assert len(out.batch) == 0 and out.packets_ok == 0
    with pytest.raises(ValueError, match="fed packets of"):
        decode_stream([RawPacket("S2", 0.0, b"")], "S1")


def test_warm_up_loads_the_kernels_and_decodes_a_packet():
    """warm_up() runs a real packet through a throwaway decoder (the live recorders call it first)."""
    import sys

    from dmi_sensors.protocol.stream import warm_up

    warm_up()
    assert "dmi_sensors.protocol._stream_kernels" in sys.modules
