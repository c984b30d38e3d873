"""Polar PMD: the SDK's published frames with their decoded values, byte layouts, exact timing, bad input.

Vendor-published vectors (P1-P10) are copied, with their expected values, from
``polarofficial/polar-ble-sdk`` @ 8fb5311c: ``sources/Android/android-communications/library/
src/test/java/com/polar/androidcommunications/api/ble/model/gatt/client/pmd/`` —
``model/AccDataTest.kt`` (P1-P3), ``model/GyrDataTest.kt`` (P4-P5), ``PmdSettingTest.kt``
(P9), ``BlePmdClientControlPointResponseTest.kt`` (P10) — and from the *PMD Specification
for 3rd Party* (2021), "Delta frame sample example from Polar Verity Sense" (P8).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmi_sensors.errors import ParameterError, ProtocolError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import PolarDecoder, decode_vendor_stream, identify, polar

G0 = 9.80665
DEG = math.pi / 180

# AccDataTest.kt "process acc raw data frame type 1": header + 216 payload bytes (36 samples)
P1 = bytes.fromhex(
    "02009435770000000001"
    "F7FFFFFFE703F8FFFEFFE503F9FFFFFFE503FAFFFFFFE603FAFFFEFFE603F9FFFFFFE503F8FFFFFFE603F8FFFEFFE603FAFFFFFFE503"
    "FAFFFFFFE703FAFFFFFFE503F8FFFFFFE603F7FFFFFFE603F8FFFEFFE603F9FFFEFFE703F9FF0000E603F9FFFFFFE603F7FFFEFFE503"
    "F9FFFFFFE503F9FFFFFFE503FAFF0000E603F9FFFEFFE603F8FFFFFFE603F8FFFFFFE503F9FFFFFFE603F9FFFFFFE503FAFFFFFFE603"
    "F9FFFFFFE503F9FFFFFFE503F8FFFEFFE603F9FFFFFFE603F9FFFFFFE603F9FF0000E503F9FFFEFFE603F8FFFEFFE603F7FFFEFFE603"
)
# AccDataTest.kt "process acc compressed data type 0": one 10-bit block of 56 deltas after the reference
P2 = bytes.fromhex(
    "02009435770000000080"
    "7107F06A9E8D0A38BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB2F8FD3DE4BE3B5F7D2B8EDBD30"
    "7E7B2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC18FE3B2F8403BFCBE0C2EF32B8F0BB044EBC2E8113AF0BE0C6EF"
    "F2F7F1B9FC7DBC2E7D279F4BDFCAEBC2F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8E00DFD2D774B7FCBDDD2DF6237F5B7D44DBD2D745B"
    "6FCBDCD7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD2C6F7B3F4BDBE0CFD236F8B2B02DBE2C6C8F1FCBDAE3C7A276F9"
)
P3 = bytes.fromhex("02650000000000000081F1FF1400F00306017B0F08")
P4 = bytes.fromhex("05FFFFFFFFFFFFFF7F80EAFF08000D000301DF00")
P5 = bytes.fromhex("050094357700000000810000803F000020410000A0411C010000A001000008CDCCEC0D")


def _pk(data: bytes, host: float) -> RawPacket:
    return RawPacket("P1", host, data)


# ------------------------------------------------------------------------- vendor vectors
def test_p1_raw_acc_frame_type_1():
    frame = polar.decode_frame(P1)
    assert frame.measurement == polar.ACC and frame.frame_type == 0x01 and frame.timestamp_ns == 2_000_000_000
    assert frame.samples.shape == (36, 3)
    np.testing.assert_array_equal(frame.samples[:2], [[-9, -1, 999], [-8, -2, 997]])  # mG


def test_p2_compressed_acc_type_0_with_factor():
    """Expected values are the test's ``(factor * raw * 1000f).toInt()`` with factor 2.44E-4f."""
    factor = float(np.float32(2.44e-4))
    frame = polar.decode_frame(P2, factor=factor)
    assert frame.samples.shape == (57, 3)
    raw0 = np.array([1905, 27376, -29282])
    raw1 = raw0 + np.array([190, -105, -85])
    want = np.trunc(np.float32(factor) * np.array([raw0, raw1], dtype=np.float32) * np.float32(1000))
    np.testing.assert_array_equal(np.trunc(frame.samples[:2]), want)
    assert np.all(np.abs(frame.samples) <= 8 * 1000)  # "validate data in range" (±8 g)


def test_p3_compressed_acc_type_1_and_the_sdk_first_timestamp_rule():
    frame = polar.decode_frame(P3)
    np.testing.assert_array_equal(frame.samples, [[-15, 20, 1008], [-20, 17, 1008]])
    assert frame.timestamp_ns == 101


def test_p4_p5_compressed_gyro_types_0_and_1():
    np.testing.assert_array_equal(polar.decode_frame(P4).samples, [[-22, 8, 13], [-23, 11, 16]])
    assert polar.decode_frame(P4).timestamp_ns == (1 << 63) - 1
    f5 = polar.decode_frame(P5).samples
    want = np.array([[0x3F800000, 0x41200000, 0x41A00000]], dtype=np.uint32)
    want = np.vstack([want, want + np.array([0x01A00000, 0x00800000, 0xFDECCCCD], dtype=np.uint32)])
    np.testing.assert_array_equal(f5, want.view(np.float32).astype(np.float64))
    np.testing.assert_allclose(f5, [[1.0, 10.0, 20.0], [10.0, 20.0, 1.1]], rtol=1e-7)
    np.testing.assert_array_equal(polar.decode_frame(P5, factor=0.5).samples, f5 * 0.5)  # "...with factor"


def test_p8_delta_example_of_the_2021_specification():
    """Reference ``D0 FF 65 01 E4 0F``, 8-bit deltas ``FC 07 FF``, ``0C 13 F2`` (the first two of the example's 29)."""
    payload = bytes.fromhex("D0FF6501E40F0802FC07FF0C13F2")
    s = polar.decode_delta_samples(payload, channels=3, resolution=16)
    np.testing.assert_array_equal(s, [[-48, 357, 4068], [-52, 364, 4067], [-40, 383, 4053]])


def test_p9_settings_and_start_stop_commands():
    got = polar.decode_settings(bytes.fromhex("00013400010110000204F500F401E803D007040103"))
    assert got == {"sample_rate": [52], "resolution": [16], "range": [245, 500, 1000, 2000], "channels": [3]}
    # Verity ACC 52 Hz, 16 bit, ±8 g, 3 channels, as captured in polar-ble-sdk issues #331 and #443
    start = polar.start_command(polar.ACC, {"sample_rate": 52, "resolution": 16, "range": 8, "channels": 3})
    assert start == bytes.fromhex("0202000134000101100002010800040103")
    assert polar.stop_command(polar.ACC) == bytes([0x03, 0x02])
    factor = polar.decode_settings(bytes.fromhex("0501") + np.float32(2.44e-4).tobytes())["factor"]
    assert factor == [pytest.approx(2.44e-4)]
    with pytest.raises(ProtocolError, match="cut off"):
        polar.decode_settings(bytes([0x00]))


def test_p10_control_point_responses():
    ok = polar.decode_control_point_response(bytes.fromhex("F001020000FFFFFF"))
    assert ok.ok and not ok.more and ok.opcode == 1 and ok.measurement == 2 and ok.parameters == b"\xff\xff\xff"
    bad = polar.decode_control_point_response(bytes.fromhex("F001060700"))
    assert bad.status == 7 and not bad.ok and bad.parameters == b""
    with pytest.raises(ProtocolError):
        polar.decode_control_point_response(b"\x01\x02")


# ------------------------------------------------------------------------- layouts we wrote
def test_raw_frame_types_sign_and_width():
    """PMD 2024 Tables 7-9: ACC raw type 0 int8, 1 int16, 2 int24 (LE, two's complement)."""
    ts = (5).to_bytes(8, "little")
    t2 = bytes([2]) + ts + bytes([0x02]) + bytes.fromhex("FFFF7F000080010000")
    np.testing.assert_array_equal(polar.decode_frame(t2).samples, [[(1 << 23) - 1, -(1 << 23), 1]])
    t0 = bytes([2]) + ts + bytes([0x00]) + bytes([0x7F, 0x80, 0x01])
    np.testing.assert_array_equal(polar.decode_frame(t0, model="H10").samples, [[127, -128, 1]])  # mG
    np.testing.assert_array_equal(polar.decode_frame(t0, model="Verity Sense").samples, [[127e3, -128e3, 1e3]])  # G
    with pytest.raises(ProtocolError, match="whole number"):
        polar.decode_frame(t2[:-1])


def test_delta_compression_round_trip_and_bit_order():
    rng = np.random.default_rng(3)
    for resolution in (16, 32):
        hi = 1 << (resolution - 2)
        s = np.cumsum(rng.integers(-hi // 64, hi // 64, size=(150, 3)), axis=0)
        s[:, 0] += rng.integers(-3, 3, size=150)
        if resolution == 32:
            s = s % (1 << 32)
        enc = polar.encode_delta_samples(s, resolution)
        np.testing.assert_array_equal(polar.decode_delta_samples(enc, 3, resolution), s)
    # one 3-bit block of one sample: fields are taken LSB first, channel after channel
    np.testing.assert_array_equal(
        polar.decode_delta_samples(bytes(6) + bytes([3, 1]) + bytes([0b11011111, 0]), 3, 16),
        [[0, 0, 0], [-1, 3, 3]],
    )


def test_frame_encoder_is_the_inverse_of_the_decoder():
    acc = np.array([[-9, -1, 999], [-8, -2, 997], [30000, -30000, 0]])
    for ftype in (0x01, 0x02, 0x81):
        frame = polar.decode_frame(polar.encode_frame(polar.ACC, 123, ftype, acc))
        np.testing.assert_array_equal(frame.samples, acc)
    gyr = np.array([[1.5, -2.25, 1000.0], [0.0, 3.0, -4.0]], dtype=np.float32)
    np.testing.assert_array_equal(polar.decode_frame(polar.encode_frame(polar.GYRO, 1, 0x81, gyr)).samples, gyr)


# ------------------------------------------------------------------------- the decoder
def _frames(n_frames, n, fs, *, skip_acc=(), gyro=True, start_ns=10**17, step_ns=None, host0=0.1):
    step_ns = 1e9 / fs if step_ns is None else step_ns
    out = []
    for k in range(n_frames):
        idx = np.arange(k * n, (k + 1) * n)
        last = start_ns + round(idx[-1] * step_ns)
        acc = np.column_stack([idx % 1000, -idx % 1000, np.full(n, 1000)])
        host = host0 + (idx[-1] + 1) / fs + 0.01 * (k % 3)
        if k not in skip_acc:
            out.append(_pk(polar.encode_frame(polar.ACC, last, 0x81, acc), host))
        if gyro:
            gyr = np.column_stack([idx % 1000, idx % 7, -(idx % 5)]).astype(np.float32)
            out.append(_pk(polar.encode_frame(polar.GYRO, last + 1500, 0x81, gyr), host + 0.004))
    return out


def test_decoder_si_units_timing_and_pairing():
    fs, n = 52, 30
    r = decode_vendor_stream(_frames(20, n, fs), "polar", "P1", model="Verity Sense", rate_hz=fs)
    b = r.batch
    assert len(b) == 600 and r.samples_lost == 0 and r.loss_accounting == "exact"
    np.testing.assert_allclose(b.acc_mps2[:, 2], G0)  # 1000 mG
    np.testing.assert_array_equal(np.round(b.acc_mps2[:, 0] / G0 * 1000), np.arange(600) % 1000)
    np.testing.assert_array_equal(np.round(b.gyr_rps[:, 0] / DEG), np.arange(600) % 1000)  # paired sample by sample
    # device time: the frame's timestamp is its LAST sample; samples 1/fs apart before it
    assert b.device_time_s[n - 1] == pytest.approx((10**17 + round((n - 1) * 1e9 / fs)) * 1e-9, abs=1e-9)
    np.testing.assert_allclose(np.diff(b.device_time_s), 1 / fs, rtol=1e-6)


def test_a_lost_frame_is_counted_exactly_and_unpaired_gyro_samples_are_not_invented():
    fs, n = 52, 30
    r = decode_vendor_stream(_frames(20, n, fs, skip_acc=(7,)), "polar", "P1", rate_hz=fs)
    b = r.batch
    assert r.samples_lost == n and len(b) == 600 - n
    i = int(np.flatnonzero(b.gap_before)[0])
    assert b.counter[i] - b.counter[i - 1] == n + 1
    np.testing.assert_array_equal(np.round(b.acc_mps2[:, 0] / G0 * 1000), np.round(b.gyr_rps[:, 0] / DEG))


def test_device_rate_off_nominal_is_measured():
    """A Verity whose "52 Hz" is 53.3 Hz (2.5 % fast): no loss is invented, a lost frame is still exact."""
    r = decode_vendor_stream(
        _frames(40, 36, 52, step_ns=1e9 / 53.3, skip_acc=(25,)), "polar", "P1", rate_hz=52, gyroscope=True
    )
    assert r.samples_lost == 36 and r.counter_resets == 0


def test_h10_acc_only_and_a_clock_set_back_is_a_reset():
    """TimeSystemExplained.md: the H10 clock resets to 2019-01-01 after a shutdown: timestamps go back."""
    fs, n = 100, 40
    first = _frames(5, n, fs, gyro=False, start_ns=700 * 10**15)
    second = _frames(5, n, fs, gyro=False, start_ns=599_616_000 * 10**9, host0=30.0)
    d = PolarDecoder("P1", model="H10", rate_hz=fs, gyroscope=False)
    b = d.process(first + second)
    assert len(b) == 400 and d.counter_resets == 1 and d.samples_lost == 0
    assert np.isnan(b.gyr_rps).all()  # the H10 has no gyroscope
    assert b.gap_before[200] and b.counter[200] == b.counter[199] + 1


def test_malformed_frames_are_counted_and_skipped():
    good = _frames(4, 20, 52)
    ecg = _pk(bytes([0]) + bytes(9) + bytes(30), 0.5)  # another measurement on the same characteristic
    bad = [
        _pk(P3[:9], 0.2),  # header cut
        _pk(P2[:-5], 0.3),  # last block cut
        _pk(bytes([2]) + bytes(8) + bytes([0x83]) + bytes(6), 0.4),  # unknown ACC frame type
        _pk(bytes([5]) + bytes(8) + bytes([0x01]) + bytes(6), 0.45),  # raw GYRO frames are not in use
    ]
    d = PolarDecoder("P1")
    b = d.process(good[:2] + bad + [ecg] + good[2:])
    assert len(b) == 80 and d.samples_lost == 0
    assert d.malformed_reasons == {"too_short": 1, "truncated": 1, "unknown_frame_type": 2}
    assert d.extra["ignored_frames"] == 1


def test_identification_and_parameters():
    assert identify("Polar H10 1A2B3C4D") == polar_id("H10")
    assert identify("Polar Sense 1A2B3C4D") == polar_id("Verity Sense")
    assert identify(None, manufacturer_data={0x006B: bytes.fromhex("72089 7C9C300000000".replace(" ", ""))})
    assert identify("Polarized") is None
    with pytest.raises(ParameterError, match="no gyroscope"):
        PolarDecoder("P1", model="H10", rate_hz=100, gyroscope=True)
    with pytest.raises(ParameterError, match="rate_hz"):
        PolarDecoder("P1", model="H10", rate_hz=52, gyroscope=False)


def polar_id(model: str):
    from dmi_sensors.vendors import Identification

    return Identification("polar", model)
