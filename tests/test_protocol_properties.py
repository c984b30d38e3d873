"""Property tests: arbitrary bytes only ever raise ProtocolError; encode -> decode is identity."""

from __future__ import annotations

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmi_sensors import protocol as P
from dmi_sensors.protocol.stream import decode_stream
from dmi_sensors.types import RawPacket

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# bytes that often look almost valid: right version/type prefixes, plausible lengths
_prefixes = st.sampled_from(
    [b"", b"\x10\x01", b"\x10\x02", b"\x10\x10", b"\x10\x20", b"\x13\x01", b"\x20\x01", b"\x10\x41"]
)
almost = st.builds(lambda p, b: p + b, _prefixes, st.binary(max_size=260))

VALID = [
    P.encode_data_packet(1, 2, 100, 8, 1000, np.ones((3, 3), int), np.ones((3, 3), int)),
    P.encode_compact_packet(1, 2, 100, 8, 1000, np.ones((1, 3), int), np.ones((1, 3), int)),
    P.encode_status(50, 20.0, 1, 1, 5, 0),
    P.encode_response(P.Response(P.Opcode.GET_INFO, 1, P.Result.OK, P.DeviceInfo(5, (1, 0, 0), 1, 100, 8, 1000))),
    P.encode_response(P.Response(P.Opcode.TIME_SYNC, 1, P.Result.OK, P.TimeSyncReply(1, 2, 3))),
    P.encode_command(P.SetRanges(8, 1000, seq=3)),
    P.encode_command(P.StartStreaming(P.DataFormat.FULL, 19, seq=3)),
    P.encode_manufacturer_data(5),
]


@st.composite
def mutated(draw):
    """A valid message with a few bytes replaced, then possibly cut or extended."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data) + 4))
    return bytes(data[:cut]) + draw(st.binary(max_size=max(0, cut - len(data))))


anybytes = st.one_of(st.binary(max_size=300), almost, mutated())

DECODERS = (P.decode, P.decode_command, P.decode_response, P.decode_status, P.decode_manufacturer_data)


@SETTINGS
@given(anybytes)
def test_arbitrary_bytes_raise_only_protocol_error(data):
    for fn in DECODERS:
        with contextlib.suppress(P.ProtocolError):
            fn(data)


@SETTINGS
@given(st.lists(anybytes, max_size=20))
def test_stream_decoder_never_raises_on_garbage(datas):
    raws = [RawPacket("S", i * 0.01, d) for i, d in enumerate(datas)]
    out = decode_stream(raws, "S")
    assert out.packets_ok + out.malformed_packets == len(datas)
    singles = 0
    for d in datas:
        try:
            P.decode(d)
            singles += 1
        except P.ProtocolError:
            pass
    assert singles == out.packets_ok  # the vectorised path accepts exactly what decode() accepts


int16 = st.integers(-32768, 32767)


@st.composite
def data_packets(draw):
    n = draw(st.integers(1, P.MAX_SAMPLES_PER_PACKET))
    counts = draw(st.lists(int16, min_size=6 * n, max_size=6 * n))
    arr = np.array(counts).reshape(n, 6)
    return dict(
        counter=draw(st.integers(0, 2**32 - 1)),
        timestamp_us=draw(st.integers(0, 2**32 - 1)),
        fs_hz=draw(st.sampled_from(P.RATES_HZ)),
        acc_range_g=draw(st.sampled_from(P.ACC_RANGES_G)),
        gyr_range_dps=draw(st.sampled_from(P.GYR_RANGES_DPS)),
        acc_counts=arr[:, :3],
        gyr_counts=arr[:, 3:],
        flags=draw(st.integers(0, 255)),
    )


@SETTINGS
@given(data_packets())
def test_data_packet_encode_decode_identity(kw):
    data = P.encode_data_packet(**kw)
    pkt = P.decode(data)
    for key in ("counter", "timestamp_us", "fs_hz", "acc_range_g", "gyr_range_dps", "flags"):
        assert getattr(pkt, key) == kw[key]
    np.testing.assert_array_equal(pkt.acc_counts, kw["acc_counts"])
    np.testing.assert_array_equal(pkt.gyr_counts, kw["gyr_counts"])
    assert pkt.version == P.PROTOCOL_VERSION and not pkt.compact


@SETTINGS
@given(data_packets())
def test_compact_packet_encode_decode_identity(kw):
    kw.pop("flags")
    kw["acc_counts"], kw["gyr_counts"] = kw["acc_counts"][:1], kw["gyr_counts"][:1]
    pkt = P.decode(P.encode_compact_packet(**kw))
    assert pkt.compact and pkt.counter == kw["counter"] % 2**16 and pkt.timestamp_us == kw["timestamp_us"] % 2**24
    np.testing.assert_array_equal(pkt.acc_counts, kw["acc_counts"])


commands = st.one_of(
    st.builds(P.StartStreaming, st.just(P.DataFormat.FULL), st.integers(0, 19), st.integers(0, 255)),
    st.builds(P.StartStreaming, st.just(P.DataFormat.COMPACT), st.integers(0, 1), st.integers(0, 255)),
    st.builds(P.StopStreaming, st.integers(0, 255)),
    st.builds(P.SetRate, st.sampled_from(P.RATES_HZ), st.integers(0, 255)),
    st.builds(P.SetRanges, st.sampled_from(P.ACC_RANGES_G), st.sampled_from(P.GYR_RANGES_DPS), st.integers(0, 255)),
    st.builds(P.Identify, st.integers(0, 255), st.integers(0, 255)),
    st.builds(P.GetInfo, st.integers(0, 255)),
    st.builds(P.TimeSync, st.integers(0, 2**32 - 1), st.integers(0, 255)),
)


@SETTINGS
@given(commands)
def test_command_encode_decode_identity(cmd):
    assert P.decode_command(P.encode_command(cmd)) == cmd


@SETTINGS
@given(anybytes)
def test_valid_bytes_reencode_to_the_same_bytes(data):
    """Whatever v1.0 bytes decode, re-encoding the decoded value gives the bytes back."""
    for decode, encode in (
        (P.decode_command, P.encode_command),
        (P.decode_response, P.encode_response),
    ):
        try:
            value = decode(data)
        except P.ProtocolError:
            continue
        if data[0] == 0x10:
            assert encode(value) == data
    try:
        st_ = P.decode_status(data)
    except P.ProtocolError:
        return
    if data[0] == 0x10:
        re = P.encode_status(
            st_.battery_pct, st_.temperature_c, st_.error_flags, st_.state, st_.device_time_us, st_.samples_dropped
        )
        assert re == data
