"""Movella DOT: byte-exact payloads from the BLE services specification, exact timing, bad input.

Section references are to *Xsens DOT BLE Services Specifications* XD0506P Rev F (28 Oct
2021) unless stated; "Rev C" is *Movella DOT BLE Service Specification* XD0506P Rev C
(July 2023). The DOT documents publish no measurement payload with decoded values, so the
payload vectors are ours, written from the tables; the message-service examples (Rev C
§5.2.1, §5.3.1) are the vendor's own bytes.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from dmi_sensors.errors import ParameterError, ProtocolError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import DotDecoder, decode_vendor_stream, dot, identify

DEG = math.pi / 180.0
P60_US = 16_667  # user manual §4.2.5: "the time interval between two SampleTimeFine is 16667 µs" at 60 Hz


def _pk(data: bytes, host: float = 0.0) -> RawPacket:
    return RawPacket("D1", host, data)


def _stream(stamps_us, host=None, mode=21, acc=(0.0, 0.0, 9.81), gyr=(1.5, -2.0, 0.25)):
    host = np.arange(len(stamps_us)) / 60 + 0.02 if host is None else host
    return [
        _pk(dot.encode_measurement(t, acc, gyr, payload_mode=mode), float(h))
        for t, h in zip(stamps_us, host, strict=True)
    ]


# ---------------------------------------------------------------------------------- layouts
def test_mode_21_rate_quantities_byte_exact():
    """§3.3 Table 15 (Rate quantities: timestamp, acceleration, angular velocity; 28 bytes), §3.5 Table 17."""
    wire = bytes.fromhex("785634120000000000000000C3F51C410000C03F000000C00000803E")
    assert dot.encode_measurement(0x12345678, [0.0, 0.0, 9.81], [1.5, -2.0, 0.25]) == wire
    b = DotDecoder("D1").process([_pk(wire)])
    assert len(b) == 1
    np.testing.assert_allclose(b.acc_mps2[0], [0.0, 0.0, 9.81], rtol=1e-7)  # f32 of 9.81
    np.testing.assert_allclose(b.gyr_rps[0], np.array([1.5, -2.0, 0.25]) * DEG, rtol=1e-12)  # deg/s on the wire
    assert b.device_time_s[0] == pytest.approx(305_419_896e-6)


def test_mode_20_with_magnetometer_and_mode_26_with_quaternion():
    """Table 15 mode 20 (magnetic field int16 fixed point at 28, 34 bytes); Rev C mode 26 (quaternion at 4)."""
    m20 = dot.encode_measurement(1000, [1, 2, 3], [4, 5, 6], payload_mode=20, mag_au=[1.0, -0.5, 2.0])
    assert len(m20) == 34 and m20[28:] == bytes.fromhex("001000F80020")
    m26 = dot.encode_measurement(1000, [1, 2, 3], [4, 5, 6], payload_mode=26, quat=[0.5, 0.5, -0.5, 0.5])
    assert len(m26) == 44 and struct.unpack_from("<4f", m26, 4) == (0.5, 0.5, -0.5, 0.5)
    for mode, wire in ((20, m20), (26, m26)):
        b = DotDecoder("D1", payload_mode=mode).process([_pk(wire)])
        np.testing.assert_allclose(b.acc_mps2[0], [1, 2, 3])
        np.testing.assert_allclose(b.gyr_rps[0], np.array([4, 5, 6]) * DEG)


def test_padded_notification_is_accepted():
    """§3.3: "Unused bytes are all set to 0x00": a 40-byte medium-characteristic value decodes like 28 bytes."""
    wire = dot.encode_measurement(5, [0.5, -0.25, 9.0], [10, 20, 30], length=40)
    assert len(wire) == 40 and wire[28:] == bytes(12)
    b = DotDecoder("D1").process([_pk(wire)])
    np.testing.assert_allclose(b.acc_mps2[0], [0.5, -0.25, 9.0])


def test_sign_and_extremes_of_float_fields():
    wire = dot.encode_measurement(0, [-156.9, 156.9, -0.0], [-2000.0, 2000.0, 1e-3])
    b = DotDecoder("D1").process([_pk(wire)])
    np.testing.assert_allclose(b.acc_mps2[0], [-156.9, 156.9, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.gyr_rps[0], np.array([-2000.0, 2000.0, 1e-3]) * DEG, rtol=1e-6)


def test_control_and_device_control_bytes():
    """§3.1 Table 13 (type 1, action, payload mode) and §2.2 Table 7 (visit index b4, output rate at 24-25)."""
    assert dot.control_bytes(True, 21) == bytes([0x01, 0x01, 0x15])
    assert dot.control_bytes(False, 21) == bytes([0x01, 0x00, 0x15])
    read = bytes(range(32))
    written = dot.set_output_rate(read, 30)
    assert written[0] == 0x10 and written[24:26] == bytes([30, 0]) and written[1:24] == read[1:24]
    with pytest.raises(ParameterError, match="rate_hz"):
        dot.set_output_rate(read, 120)  # recording only (user manual Table 6)
    assert dot.payload_char_uuid(21) == dot.MEDIUM_PAYLOAD_CHAR_UUID == "15172003-4947-11e9-8646-d663bd873d93"
    assert dot.payload_char_uuid(26) == dot.LONG_PAYLOAD_CHAR_UUID


def test_device_info_characteristic():
    """§2.1 Table 6: address 6, version 3 × u8, build year u16 + 5 × u8, SoftDevice u32, serial u64, product code 6."""
    raw = (
        bytes([0xCC, 0xBB, 0xAA, 0xCD, 0x22, 0xD4])
        + bytes([2, 0, 1])
        + struct.pack("<HBBBBB", 2021, 6, 30, 12, 5, 59)
        + struct.pack("<IQ", 0x100, 0x0123456789)
        + b"XS-T02"
    )
    info = dot.decode_device_info(raw)
    assert info.address == "D4:22:CD:AA:BB:CC" and info.firmware == "2.0.1" and info.serial == 0x0123456789
    assert info.model == "DOT v2" and info.build == "2021-06-30T12:05:59"
    with pytest.raises(ProtocolError, match="34 bytes"):
        dot.decode_device_info(raw[:-1])


@pytest.mark.parametrize(
    ("message", "ok"),
    [
        ("01 01 02 FC", True),  # GetState (Rev C §5.2.1)
        ("01 03 01 06 02 F3", True),  # its acknowledge
        ("01 02 60 01 9C", True),  # RequestFileInfo
        ("01 09 74 00 01 05 06 07 08 09 0A 54", True),  # SelectExportData
        ("02 07 01 CC BB AA CD 22 D4 02", True),  # StartSync, root D4:22:CD:AA:BB:CC (§5.3.1)
        ("02 02 50 00 AC", True),  # StopSync result
        ("01 07 40 DF 50 3B 5B 08 07 E0", False),  # StartRecording as printed: its checksum does not add up
    ],
)
def test_message_service_examples_of_the_specification(message, ok):
    """The vendor's own message examples: ``MID LEN DATA CHECKSUM``, every byte summing to 0 mod 256."""
    raw = bytes.fromhex(message)
    assert dot.message_checksum_ok(raw) is ok
    if ok:
        assert dot.encode_message(raw[0], raw[2:-1]) == raw


# ---------------------------------------------------------------------------------- timing
def test_timestamp_rollover_is_not_a_gap():
    """User manual §4.2.5: SampleTimeFine wraps at 0xFFFFFFFF; FF FF FF FF then 10 41 00 00 is Δ = 16657 µs."""
    pk = [_pk(dot.encode_measurement(0xFFFFFFFF, [0, 0, 9.8], [0, 0, 0]), 0.0)]
    pk.append(_pk(bytes.fromhex("10410000") + pk[0].data[4:], 1 / 60))
    d = DotDecoder("D1")
    b = d.process(pk)
    assert list(b.counter) == [0, 1] and not b.gap_before.any() and d.samples_lost == 0
    assert b.device_time_s[1] - b.device_time_s[0] == pytest.approx(16_657e-6)


def test_lost_samples_are_counted_exactly_across_a_wrap():
    stamps = [((1 << 32) - 100 * P60_US + i * P60_US) % (1 << 32) for i in range(400)]
    keep = [i for i in range(400) if i not in (50, 51, 52, 99, 100, 101, 102, 350)]
    r = decode_vendor_stream(_stream([stamps[i] for i in keep], np.array(keep) / 60 + 0.02), "dot", "D1")
    b = r.batch
    assert r.samples_lost == 8 and r.loss_accounting == "exact" and r.timing_source == "device_timestamps"
    np.testing.assert_array_equal(b.counter, keep)  # counters are the sample numbers themselves
    assert np.flatnonzero(b.gap_before).tolist() == [keep.index(53), keep.index(103), keep.index(351)]
    np.testing.assert_allclose(np.diff(b.device_time_s), np.diff(keep) * P60_US * 1e-6, atol=1e-9)


def test_device_clock_off_nominal_is_measured_not_taken_for_loss():
    """A sensor whose clock runs 4 % slow (17 334 µs steps at "60 Hz") loses nothing; one real loss is still seen."""
    step = 17_334
    stamps = [1_000 + i * step for i in range(300) if i != 200]
    r = decode_vendor_stream(_stream(stamps), "dot", "D1")
    assert r.samples_lost == 1 and r.batch.gap_before.sum() == 1


def test_reboot_restarts_the_clock_and_is_a_reset():
    """User manual §4.2.5: SampleTimeFine restarts from 0 after a reboot: a new clock run, nothing counted lost."""
    before = [3_000_000_000 + i * P60_US for i in range(100)]
    after = [400_000 + i * P60_US for i in range(100)]
    host = np.concatenate([np.arange(100) / 60, 20.0 + np.arange(100) / 60])
    r = decode_vendor_stream(_stream(before + after, host), "dot", "D1")
    b = r.batch
    assert r.counter_resets == 1 and r.samples_lost == 0
    assert b.gap_before[100] and b.counter[100] == b.counter[99] + 1  # a reset: step 1 with gap_before


def test_truncated_malformed_and_repeated_notifications_are_counted_and_skipped():
    good = _stream([i * P60_US for i in range(10)])
    nan = dot.encode_measurement(10 * P60_US, [float("nan"), 0, 0], [0, 0, 0])
    bad = [
        _pk(good[3].data[:27], 0.05),  # one byte short of mode 21
        _pk(b"", 0.06),
        _pk(nan, 0.07),
        good[4],  # the same notification twice
    ]
    d = DotDecoder("D1")
    b = d.process(good[:5] + bad + good[5:])
    assert len(b) == 10 and d.samples_lost == 0
    assert d.malformed_reasons == {"too_short": 2, "non_finite": 1, "duplicate": 1}
    assert d.malformed_packets == 4 and d.packets_ok == 10  # every notification counted once


def test_identification_and_parameter_checks():
    assert identify("Movella DOT") == identify("xsens dot") == identify(None, manufacturer_data={0x0886: b""})
    assert identify("Movella DOT").vendor == "dot"
    assert identify("Dotty") is None
    with pytest.raises(ParameterError, match="payload_mode"):
        DotDecoder("D1", payload_mode=5)  # orientation only: no calibrated acceleration
    with pytest.raises(ParameterError, match="rate_hz"):
        DotDecoder("D1", rate_hz=120)
