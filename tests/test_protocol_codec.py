"""Protocol v1 codec: byte layouts, SI conversion, commands, responses, status, advertising."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from dmi_sensors import protocol as P
from dmi_sensors.protocol import ProtocolError


def _counts(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32768, (n, 3)), rng.integers(-32768, 32768, (n, 3))


def test_full_packet_layout_is_byte_exact():
    acc = np.array([[1, -2, 32767]])
    gyr = np.array([[-32768, 0, 258]])
    data = P.encode_data_packet(0x01020304, 0xA0B0C0D0, 200, 4, 500, acc, gyr, flags=P.DataFlags.TIME_SYNCED)
    # config: rate code 2 (200 Hz) | acc code 1 (±4 g) << 3 | gyro code 2 (±500 dps) << 5 = 0x4A
    assert data[:6] == bytes([0x10, 0x01, 0x01, 0x4A, 0x01, 0x00])
    assert struct.unpack_from("<II", data, 6) == (0x01020304, 0xA0B0C0D0)
    assert struct.unpack_from("<6h", data, 14) == (1, -2, 32767, -32768, 0, 258)
    assert len(data) == 14 + 12


def test_max_full_packet_fits_244_and_compact_fits_20():
    acc, gyr = _counts(P.MAX_SAMPLES_PER_PACKET)
    assert P.MAX_SAMPLES_PER_PACKET == 19
    assert len(P.encode_data_packet(0, 0, 1000, 16, 2000, acc, gyr)) == 242 <= 244
    assert len(P.encode_compact_packet(0, 0, 100, 8, 1000, acc[:1], gyr[:1])) == 20
    with pytest.raises(ProtocolError, match=r"1\.\.19"):
        P.encode_data_packet(0, 0, 1000, 16, 2000, *_counts(20))


def test_samples_per_notification_by_mtu():
    assert P.samples_per_notification(247) == 19
    assert P.samples_per_notification(185) == 14
    assert P.samples_per_notification(23) == 0  # the full header does not fit: use the compact format


def test_si_conversion_uses_full_scale_codes():
    acc = np.array([[-32768, 16384, 0]])
    gyr = np.array([[-32768, 16384, 1]])
    for g in P.ACC_RANGES_G:
        for dps in P.GYR_RANGES_DPS:
            pkt = P.decode(P.encode_data_packet(5, 6, 100, g, dps, acc, gyr))
            np.testing.assert_allclose(pkt.acc_mps2[0], [-g * 9.80665, g * 9.80665 / 2, 0.0], rtol=1e-15)
            np.testing.assert_allclose(pkt.gyr_rps[0], np.radians([-dps, dps / 2, dps / 32768]), rtol=1e-15)


def test_every_rate_and_range_code_roundtrips():
    acc, gyr = _counts(3)
    for fs in P.RATES_HZ:
        for g in P.ACC_RANGES_G:
            for dps in P.GYR_RANGES_DPS:
                pkt = P.decode(P.encode_data_packet(1, 2, fs, g, dps, acc, gyr))
                assert (pkt.fs_hz, pkt.acc_range_g, pkt.gyr_range_dps) == (fs, g, dps)
                np.testing.assert_array_equal(pkt.acc_counts, acc)
                np.testing.assert_array_equal(pkt.gyr_counts, gyr)


def test_invalid_codes_and_values_raise():
    acc, gyr = _counts(1)
    with pytest.raises(ProtocolError, match="not supported"):
        P.encode_data_packet(0, 0, 150, 8, 1000, acc, gyr)
    with pytest.raises(ProtocolError, match="int16"):
        P.encode_data_packet(0, 0, 100, 8, 1000, acc + 40000, gyr)
    good = bytearray(P.encode_data_packet(0, 0, 100, 8, 1000, acc, gyr))
    good[3] |= 0xE0  # gyro code 7
    with pytest.raises(ProtocolError, match="gyroscope range code 7"):
        P.decode(bytes(good))


def test_versioning_newer_minor_decodes_unknown_major_rejected():
    acc, gyr = _counts(2)
    data = bytearray(P.encode_data_packet(7, 8, 100, 8, 1000, acc, gyr))
    data[0] = 0x13  # v1.3, with 4 trailing extension bytes
    pkt = P.decode(bytes(data) + b"\x01\x02\x03\x04")
    assert pkt.version == (1, 3) and pkt.counter == 7
    np.testing.assert_array_equal(pkt.acc_counts, acc)
    with pytest.raises(ProtocolError, match=r"need 14"):
        P.decode(bytes([0x10]) + bytes(data[1:]) + b"\x00")  # v1.0 with trailing bytes: wrong length
    data[0] = 0x20
    with pytest.raises(ProtocolError, match="unsupported protocol major version 2"):
        P.decode(bytes(data))


def test_truncated_and_wrong_length_packets_raise():
    acc, gyr = _counts(4)
    data = P.encode_data_packet(0, 0, 100, 8, 1000, acc, gyr)
    for cut in range(len(data)):
        with pytest.raises(ProtocolError):
            P.decode(data[:cut])
    with pytest.raises(ProtocolError, match="need 14"):
        P.decode(data + b"\x00")
    compact = P.encode_compact_packet(1, 2, 50, 2, 125, acc[:1], gyr[:1])
    with pytest.raises(ProtocolError, match="expected 20"):
        P.decode(compact[:-1])
    with pytest.raises(ProtocolError, match="expected bytes"):
        P.decode("not bytes")  # type: ignore[arg-type]


def test_compact_packet_wraps_counter_16_and_timestamp_24_bits():
    acc, gyr = _counts(1)
    pkt = P.decode(P.encode_compact_packet(65536 + 5, (1 << 24) + 17, 100, 8, 1000, acc, gyr))
    assert pkt.compact and pkt.counter == 5 and pkt.timestamp_us == 17 and pkt.flags == 0
    assert (pkt.counter_modulus, pkt.timestamp_modulus) == (1 << 16, 1 << 24)


def test_packetize_wraps_like_firmware_and_models_clock_drift():
    acc, gyr = _counts(50)
    first_c, first_t = (1 << 32) - 20, (1 << 32) - 15_000
    pk = P.packetize(acc, gyr, first_c, first_t, 1000, 8, 1000, samples_per_packet=19, clock_scale=1 + 100e-6)
    assert [len(p) for p in pk] == [242, 242, 14 + 12 * 12]
    pkts = [P.decode(p) for p in pk]
    assert [p.counter for p in pkts] == [(first_c + k) % (1 << 32) for k in (0, 19, 38)]
    # device clock runs 100 ppm fast: 19 samples at 1 kHz advance floor(19 * 1000.1) = 19001 µs
    assert [p.timestamp_us for p in pkts] == [(first_t + math.floor(k * 1000.1)) % (1 << 32) for k in (0, 19, 38)]
    np.testing.assert_array_equal(np.concatenate([p.acc_counts for p in pkts]), acc)
    np.testing.assert_array_equal(np.concatenate([p.gyr_counts for p in pkts]), gyr)
    compact = P.packetize(acc, gyr, 65530, (1 << 24) - 2500, 1000, 8, 1000, compact=True)
    assert len(compact) == 50 and all(len(p) == 20 for p in compact)
    cp = [P.decode(p) for p in compact]
    assert [p.counter for p in cp[:8]] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    assert cp[3].timestamp_us == (1 << 24) - 2500 + 3000 - (1 << 24)


def test_commands_roundtrip_and_layout():
    cmds = [
        P.StartStreaming(P.DataFormat.FULL, 0, seq=1),
        P.StartStreaming(P.DataFormat.COMPACT, 1, seq=2),
        P.StopStreaming(seq=3),
        P.SetRate(1000, seq=4),
        P.SetRanges(16, 2000, seq=5),
        P.Identify(10, seq=6),
        P.GetInfo(seq=7),
        P.TimeSync(0xDEADBEEF, seq=8),
    ]
    for cmd in cmds:
        data = P.encode_command(cmd)
        assert data[0] == 0x10 and data[1] == cmd.opcode and data[2] == cmd.seq
        assert P.decode_command(data) == cmd
    assert P.encode_command(P.SetRate(1000, seq=4)) == bytes.fromhex("104304e803")
    assert P.encode_command(P.TimeSync(0xDEADBEEF, seq=8)) == bytes.fromhex("104708efbeadde")


@pytest.mark.parametrize(
    ("data", "result"),
    [
        (b"", P.Result.INVALID_LENGTH),
        (b"\x10\x43", P.Result.INVALID_LENGTH),
        (b"\x20\x42\x01", P.Result.UNSUPPORTED_VERSION),
        (b"\x10\x99\x01", P.Result.UNKNOWN_OPCODE),
        (b"\x10\x43\x01\x64", P.Result.INVALID_LENGTH),
        (b"\x10\x43\x01\x96\x00", P.Result.INVALID_PARAMETER),  # 150 Hz
        (b"\x10\x44\x01\x03\xe8\x03", P.Result.INVALID_PARAMETER),  # ±3 g
        (b"\x10\x41\x01\x01\x05", P.Result.INVALID_PARAMETER),  # compact with 5 samples
        (b"\x10\x41\x01\x02\x00", P.Result.INVALID_PARAMETER),  # format 2
    ],
)
def test_bad_commands_carry_the_result_code(data, result):
    with pytest.raises(ProtocolError) as info:
        P.decode_command(data)
    assert info.value.result == result
    if len(data) >= 3:
        assert info.value.opcode == data[1] and info.value.seq == data[2]


def test_responses_roundtrip():
    responses = [
        P.Response(P.Opcode.START_STREAMING, 1, P.Result.OK, P.StreamingStarted(P.DataFormat.FULL, 19, 1000)),
        P.Response(P.Opcode.STOP_STREAMING, 2),
        P.Response(P.Opcode.SET_RATE, 3, P.Result.INVALID_STATE),
        P.Response(P.Opcode.GET_INFO, 4, P.Result.OK, P.DeviceInfo(0x00A1B2C3, (1, 0, 7), 2, 200, 8, 1000, 0)),
        P.Response(P.Opcode.TIME_SYNC, 5, P.Result.OK, P.TimeSyncReply(1, 2, 3)),
        P.Response(0x99, 6, P.Result.UNKNOWN_OPCODE),
    ]
    for r in responses:
        data = P.encode_response(r)
        assert len(data) <= 20, "every response fits the 20-byte payload of ATT_MTU 23"
        back = P.decode(data)
        assert back == r and P.decode_response(data) == r
    with pytest.raises(ProtocolError, match="expected 17 bytes"):
        P.decode_response(P.encode_response(responses[4])[:-1])


def test_status_roundtrip_and_unknowns():
    data = P.encode_status(55, -3.21, P.StatusErrors.LOW_BATTERY | P.StatusErrors.TX_QUEUE_FULL, 1, 2**32 + 9, 12)
    st = P.decode(data)
    assert (st.battery_pct, st.temperature_c, st.error_flags, st.state, st.device_time_us, st.samples_dropped) == (
        55,
        -3.21,
        0x000C,
        1,
        9,
        12,
    )
    unknown = P.decode_status(P.encode_status(None, None))
    assert unknown.battery_pct is None and unknown.temperature_c is None
    with pytest.raises(ProtocolError, match="battery 101"):
        P.decode_status(data[:2] + bytes([101]) + data[3:])


def test_manufacturer_data_and_name():
    data = P.encode_manufacturer_data("DMI-00A1B2C3")
    assert data == bytes.fromhex("c3b2a10010")
    assert P.decode_manufacturer_data(data) == ("00A1B2C3", (1, 0))
    assert P.decode_manufacturer_data(P.encode_manufacturer_data(5, (1, 2)) + b"\xff") == ("00000005", (1, 2))
    assert P.device_name(0xA1B2C3) == "DMI-00A1B2C3"
    with pytest.raises(ProtocolError, match="major version 3"):
        P.decode_manufacturer_data(bytes.fromhex("c3b2a10030"))
    with pytest.raises(ProtocolError, match="5 bytes"):
        P.decode_manufacturer_data(data[:4])


@pytest.mark.parametrize(
    ("text", "value_any", "value_8"),
    [
        ("00A1B2C3", 0xA1B2C3, 0xA1B2C3),
        ("dmi-00a1b2c3", 0xA1B2C3, 0xA1B2C3),  # the prefix in any case
        ("DMI-A1", 0xA1, None),  # short: a serial, but not as a person names a sensor
        ("00A1B2C3D", None, None),
        ("DMI-", None, None),
        ("00A1B2CG", None, None),
    ],
)
def test_one_serial_rule_with_an_exact_width_for_people(text, value_any, value_8):
    from dmi_sensors.ble.preflight import check_sensor_address
    from dmi_sensors.errors import ParameterError
    from dmi_sensors.protocol.advertising import parse_serial

    for width, want in ((None, value_any), (8, value_8)):
        if want is None:
            with pytest.raises(ProtocolError, match="hex digits"):
                parse_serial(text, width=width)
        else:
            assert parse_serial(text, width=width) == want
    if value_8 is None:
        with pytest.raises(ParameterError, match="DMI sensor serial"):
            check_sensor_address(text)
    else:
        assert check_sensor_address(f" {text} ") == text
