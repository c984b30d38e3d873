"""MetaMotion (MetaWear protocol): the SDK's published byte vectors, configuration bytes, timing modes, bad input.

Vendor-published vectors (M1-M13) are the bytes and expected values of MbientLab's SDK unit
tests (``mbientlab/MetaWear-SDK-Cpp`` @ f67699e5 ``test/test_accelerometer_bmi160.py``,
``test_accelerometer_bmi270.py``, ``test_gyro_bmi160.py``, ``test_settings.py``,
``test_dataprocessor.py``; Android SDK @ b20fdd59 ``TestGyro270Data.java``,
``TestGyro270PackedData.java``), compared with the SDK's tolerance ``is_close``:
|a − b| ≤ max(0.1 % of the larger, 0.001). The decoder was written from the bytes, not the SDK.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import MetaMotionDecoder, decode_vendor_stream, identify
from dmi_sensors.vendors import metamotion as mm

G0 = 9.80665
DEG = math.pi / 180


def _is_close(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    tol = np.maximum(0.001 * np.maximum(np.abs(got), np.abs(want)), 0.001)
    assert np.all(np.abs(got - want) <= tol), (got, want)


def _decode(data: bytes, **settings):
    """One notification's samples (acc-only or gyro-only: the other half is given by a partner notification)."""
    d = MetaMotionDecoder("M1", gyroscope=False, **settings)
    return d, d.process([RawPacket("M1", 0.0, data)])


def _gyro_only(data: bytes, chip="bmi160", packed=False, **settings):
    """Decode a gyro notification by giving it an accelerometer partner with zero counts."""
    d = MetaMotionDecoder("M1", chip=chip, packed=packed, **settings)
    acc = mm.encode_samples(chip, False, np.zeros((3 if packed else 1, 3)), packed=packed)
    b = d.process([RawPacket("M1", 0.0, acc), RawPacket("M1", 0.001, data)])
    return b.gyr_rps / DEG


# ------------------------------------------------------------------------- vendor vectors
@pytest.mark.parametrize("chip", ["bmi160", "bmi270"])
def test_m1_acceleration_at_4_g(chip):
    _, b = _decode(bytes.fromhex("030416C494A22AD0"), chip=chip, acc_range_g=4)
    _is_close(b.acc_mps2[0] / G0, [-1.872, -2.919, -1.495])


@pytest.mark.parametrize(("chip", "header"), [("bmi160", "031C"), ("bmi270", "0305")])
def test_m2_m3_packed_acceleration_at_8_g(chip, header):
    wire = bytes.fromhex(header + "62B7530DE9FD16D04D0E5702 8AFFA1050A01".replace(" ", ""))
    _, b = _decode(wire, chip=chip, acc_range_g=8, packed=True)
    _is_close(b.acc_mps2 / G0, [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]])


@pytest.mark.parametrize(("chip", "header"), [("bmi160", "1305"), ("bmi270", "1304")])
def test_m4_m5_angular_rate_at_500_dps(chip, header):
    dps = _gyro_only(bytes.fromhex(header + "3E43FF7F0080"), chip=chip, gyr_range_dps=500)
    _is_close(dps[0], [262.409, 499.497, -499.512])
    # Android TestGyro270Data: floats with bits 0x4383344b, 0x43f9bf9c, 0xc3f9c190
    want = np.array([0x4383344B, 0x43F9BF9C, 0xC3F9C190], dtype=np.uint32).view(np.float32)
    np.testing.assert_allclose(dps[0], want, rtol=1e-6)


@pytest.mark.parametrize(("chip", "header"), [("bmi160", "1307"), ("bmi270", "1305")])
def test_m6_m7_packed_angular_rate_at_1000_dps(chip, header):
    wire = bytes.fromhex(header + "0915AD2608DE8A1A0D2665E48D20AC2773EC")
    dps = _gyro_only(wire, chip=chip, packed=True, gyr_range_dps=1000)
    _is_close(dps, [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457], [254.055, 309.634, -152.591]])


def test_m8_battery_reply():
    d, b = _decode(bytes.fromhex("118C633410"))
    assert len(b) == 0 and d.extra == {"battery_pct": 99, "battery_mv": 4148} and d.packets_ok == 1
    assert mm.encode_battery(99, 4148) == bytes.fromhex("118C633410")


def test_m9_m10_time_accounter():
    """M9: ``09 03 00 A6 33 0D 00 C1 00 B1 24 19 CD`` at ±2 g -> tick 865190, (0.0118, 0.573, −0.795) g.

    M10 (``test_time_offset``): ticks 0x0D33A6, AD, B4, BA, C1, C8 -> successive epoch differences
    [10, 11, 8, 11, 10] ms with the SDK's ``round(tick × 1.46484375)``.
    """
    d = MetaMotionDecoder("M1", gyroscope=False, timing="accounter_time", acc_range_g=2, acc_processor=0)
    wire = bytes.fromhex("090300A6330D00C100B12419CD")
    lows = [0xA6, 0xAD, 0xB4, 0xBA, 0xC1, 0xC8]
    pk = [RawPacket("M1", 0.01 * i, bytes([9, 3, 0, low]) + wire[4:]) for i, low in enumerate(lows)]
    b = d.process(pk)
    _is_close(b.acc_mps2[0] / G0, [0.0118, 0.573, -0.795])
    assert b.device_time_s[0] == pytest.approx(865190 * 48 / 32768)
    epoch_ms = np.round(b.device_time_s * 1000)
    assert np.diff(epoch_ms).tolist() == [10, 11, 8, 11, 10]
    assert d.samples_lost == 0 and d.loss_accounting == "exact" and d.timing_source == "device_timestamps"


def test_m11_count_accounter():
    d = MetaMotionDecoder("M1", gyroscope=False, timing="accounter_count", acc_processor=0)
    first = bytes.fromhex("090300EC010000010B9A074040")  # counter 492
    later = mm.encode_accounter(0, 492 + 4, [1, 2, 3])  # three samples lost in between
    b = d.process([RawPacket("M1", 0.0, first), RawPacket("M1", 0.04, later)])
    assert d.samples_lost == 3 and list(b.counter) == [0, 4] and b.gap_before.tolist() == [False, True]
    assert d.timing_source == "device_counter"


def test_m13_configuration_bytes():
    """The ODR table of ``test_set_odr`` (BMI160 with range byte 03, BMI270 with 02); ranges and gyro configs."""
    rates = (0.78125, 1.5625, 3.125, 6.25, 12.5, 25, 50, 100, 200, 400, 800, 1600)
    b160 = [0x81, 0x82, 0x83, 0x84, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C]
    b270 = [0x21, 0x22, 0x23, 0x24, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC]
    for rate, c160, c270 in zip(rates, b160, b270, strict=True):
        assert mm.acc_config_command("bmi160", rate, 2) == bytes([0x03, 0x03, c160, 0x03])
        assert mm.acc_config_command("bmi270", rate, 8) == bytes([0x03, 0x03, c270, 0x02])
    assert mm.acc_config_command("bmi160", 100, 16) == bytes.fromhex("0303280C")
    assert mm.gyr_config_command(200, 2000) == bytes.fromhex("13032900")
    assert mm.gyr_config_command(50, 125) == bytes.fromhex("13032704")
    with pytest.raises(ParameterError, match="range_g"):
        mm.acc_config_command("bmi160", 100, 3)


def test_third_party_capture_of_a_metamotion_r():
    """node-metawear issue #46: a MetaMotion R at 50 Hz, ±2 g logged ``03 04 E8 05 9C FE 73 42`` (1512, −356, 17011)."""
    _, b = _decode(bytes.fromhex("0304E8059CFE7342"), acc_range_g=2)
    np.testing.assert_allclose(b.acc_mps2[0] / G0, [0.09228515625, -0.021728515625, 1.03826904296875], rtol=1e-15)


def test_start_and_stop_command_sequences():
    """Start: subscribe, enable the data interrupt, power on; stop in reverse (research notes §1.5)."""
    assert mm.start_commands("bmi160", gyroscope=True) == [
        bytes.fromhex(h) for h in ("030401", "03020100", "030101", "130501", "13020100", "130101")
    ]
    assert mm.stop_commands("bmi270", gyroscope=True, packed=True) == [
        bytes.fromhex(h) for h in ("030100", "03020001", "030500", "130100", "13020001", "130500")
    ]


# ------------------------------------------------------------------------- streaming
def _stream(n, fs=100, drop_acc=(), drop_gyr=(), stall=None, seed=0, packed=False):
    """acc x-count = gyro x-count = sample index, so a pairing error shows in the values."""
    rng = np.random.default_rng(seed)
    out = []
    per = 3 if packed else 1
    last = 0.0
    for k in range(0, n, per):
        idx = np.arange(k, k + per)
        host = (k + per - 1) / fs + 0.0075 * rng.integers(0, 3) + 0.001 * rng.random()
        if stall is not None and stall[0] <= k < stall[1]:
            host += (stall[1] - k) / fs  # held back, then a burst: nothing lost
        host = last = max(host, last)  # BLE delivers in order
        ca = np.column_stack([idx, np.zeros(per), np.full(per, 4096)])
        cg = np.column_stack([idx, np.ones(per), np.full(per, 2)])
        if k not in drop_acc:
            out.append(RawPacket("M1", host, mm.encode_samples("bmi160", False, ca, packed=packed)))
        if k not in drop_gyr:
            out.append(RawPacket("M1", host + 0.0005, mm.encode_samples("bmi160", True, cg, packed=packed)))
    return out


def _pairs_ok(b):
    acc_idx = np.round(b.acc_mps2[:, 0] / (G0 / 4096))
    gyr_idx = np.round(b.gyr_rps[:, 0] / (DEG / 16.4))
    return acc_idx, gyr_idx


def test_host_timing_pairs_streams_and_survives_a_stall_without_inventing_loss():
    r = decode_vendor_stream(_stream(3000, stall=(1000, 1080)), "metamotion", "M1", acc_range_g=8)
    a, g = _pairs_ok(r.batch)
    assert len(r.batch) == 3000 and r.samples_lost == 0 and r.loss_accounting == "estimated"
    np.testing.assert_array_equal(a, g)
    np.testing.assert_array_equal(a, np.arange(3000))


def test_host_timing_estimates_a_run_of_lost_notifications():
    drop = set(range(1500, 1530))
    r = decode_vendor_stream(_stream(3000, drop_acc=drop, drop_gyr=drop), "metamotion", "M1", acc_range_g=8)
    a, g = _pairs_ok(r.batch)
    # estimated: the run is counted whole; jitter may place a few of its samples a chunk early
    assert len(r.batch) == 2970 and r.samples_lost == 30 and 1 <= r.batch.gap_before.sum() <= 3
    np.testing.assert_array_equal(a, g)
    assert np.mean(r.batch.counter == a) > 0.99  # counters are the true sample numbers


def test_packed_streams_keep_sample_order():
    r = decode_vendor_stream(_stream(900, packed=True), "metamotion", "M1", acc_range_g=8, packed=True)
    a, g = _pairs_ok(r.batch)
    np.testing.assert_array_equal(a, np.arange(900))
    np.testing.assert_array_equal(g, np.arange(900))


def test_time_accounter_pairs_on_the_board_clock_and_counts_loss_exactly():
    fs = 100
    out = []
    for k in range(400):
        tick = 1_000_000 + round(k / fs / mm.TICK_S)
        host = k / fs + 0.01 * (k % 4)
        if k not in (100, 101, 250):
            out.append(RawPacket("M1", host, mm.encode_accounter(3, tick, [k, 0, 4096])))
        if k not in (300,):
            out.append(RawPacket("M1", host + 0.001, mm.encode_accounter(4, tick + 1, [k, 1, 2])))
    d = MetaMotionDecoder("M1", timing="accounter_time", acc_processor=3, gyr_processor=4)
    b = d.process(out)
    a, g = _pairs_ok(b)
    assert d.samples_lost == 4 and len(b) == 396
    np.testing.assert_array_equal(a, g)
    np.testing.assert_array_equal(b.counter, a)


def test_malformed_notifications_are_counted_and_skipped():
    good = _stream(20)
    bad = [
        RawPacket("M1", 0.05, b"\x03"),  # too short
        RawPacket("M1", 0.06, bytes.fromhex("03040100")),  # acceleration of 2 bytes
        RawPacket("M1", 0.07, bytes.fromhex("C0FFEE")),  # no such module
    ]
    d = MetaMotionDecoder("M1")
    b = d.process(good[:10] + bad + good[10:])
    assert len(b) + len(d.flush()) == 20 and d.malformed_reasons == {
        "too_short": 1,
        "bad_length": 1,
        "unknown_module": 1,
    }


def test_identification_models_and_parameters():
    assert identify(None, service_uuids=[mm.SERVICE_UUID.upper()]).vendor == "metamotion"
    assert identify("MetaWear").model == "MetaMotion"
    assert mm.model_name("8") == "MetaMotion S" and mm.chip_for_model("8") == "bmi270"
    assert mm.model_name("5") == "MetaMotion R/RL" and mm.chip_for_model("6") == "bmi160"
    with pytest.raises(ParameterError, match="accounter"):
        MetaMotionDecoder("M1", timing="accounter_time", packed=True)
    with pytest.raises(ParameterError, match="chip"):
        MetaMotionDecoder("M1", chip="bmi088")


def test_accounter_tick_wraps_at_2_to_the_32():
    """The accounter's u32 board tick (48/32768 s) wraps after ~72.8 days: the step across it is one sample."""
    fs = 100
    ticks = [((1 << 32) - 20 + round(k / fs / mm.TICK_S)) % (1 << 32) for k in range(10)]
    pk = [RawPacket("M1", 0.01 * k, mm.encode_accounter(0, t, [k, 0, 4096])) for k, t in enumerate(ticks)]
    d = MetaMotionDecoder("M1", gyroscope=False, timing="accounter_time")
    b = d.process(pk)
    assert len(b) == 10 and d.samples_lost == 0 and d.counter_resets == 0
    np.testing.assert_allclose(np.diff(b.device_time_s), 0.01, atol=mm.TICK_S)
