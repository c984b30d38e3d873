"""The Numba stream decoder equals the previous numpy decoder bit for bit, on any input.

``ReferenceStreamDecoder`` (``tests/protocol_stream_reference.py``) is the numpy
implementation the kernel replaced. Both are fed the same packets in the same chunks:
every output array must be identical (``array_equal``, NaN in the same places), and so
must the totals, the order of ``malformed_reasons``, status/responses and the carried state.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_stream_reference import ReferenceStreamDecoder

from dmi_sensors import protocol as P
from dmi_sensors.protocol._stream_kernels import REASONS
from dmi_sensors.protocol.stream import StreamDecoder
from dmi_sensors.types import RawPacket, SampleBatch

FIELDS = ("counter", "device_time_s", "host_time_s", "acc_mps2", "gyr_rps", "gap_before", "time_s")


def _state(dec: StreamDecoder | ReferenceStreamDecoder) -> str:
    # the full state: totals, malformed_reasons with their insertion order, status/responses,
    # the last data packet and the first rate; repr so that NaN host times compare equal
    return repr(dec.state)


def assert_same_as_reference(raws: list[RawPacket], cuts: list[int] = ()) -> None:
    fast, ref = StreamDecoder("S1"), ReferenceStreamDecoder("S1")
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(raws))), len(raws)]
    for a, b in itertools.pairwise(bounds):
        with np.errstate(all="ignore"):  # the reference warns on inf - inf arrival times
            got, want = fast.process(raws[a:b]), ref.process(raws[a:b])
        assert got.fs_hz == want.fs_hz and got.sensor_id == want.sensor_id
        for name in FIELDS:
            x, y = getattr(got, name), getattr(want, name)
            assert x.dtype == y.dtype and x.shape == y.shape, name
            np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        assert _state(fast) == _state(ref)


def _segment(draw, rng: np.random.Generator) -> list[bytes]:
    compact = draw(st.booleans())
    fs = draw(st.sampled_from(P.RATES_HZ))
    n = draw(st.integers(1, 80))
    spp = 1 if compact else draw(st.integers(1, P.MAX_SAMPLES_PER_PACKET))
    mod_c, mod_t = ((1 << 16), (1 << 24)) if compact else ((1 << 32), (1 << 32))
    first_c = draw(st.sampled_from([0, mod_c - 1, mod_c - 7 * spp, draw(st.integers(0, mod_c - 1))]))
    first_t = draw(st.sampled_from([0, mod_t - 1000, draw(st.integers(0, mod_t - 1))]))
    acc = rng.integers(-32768, 32768, (n, 3))
    gyr = rng.integers(-32768, 32768, (n, 3))
    return P.packetize(
        acc,
        gyr,
        first_c,
        first_t,
        fs,
        draw(st.sampled_from(P.ACC_RANGES_G)),
        draw(st.sampled_from(P.GYR_RANGES_DPS)),
        spp,
        clock_scale=draw(st.sampled_from([1.0, 1 + 150e-6, 1 - 200e-6])),
        flags=draw(st.integers(0, 15)),
        compact=compact,
    )


_EXTRA = [
    b"",
    b"\x10",
    b"\x10\x77" + bytes(10),  # unknown type
    bytes([0x20, 0x01]) + bytes(40),  # unknown major version, data type
    bytes([0x20, 0x02]) + bytes(18),
    P.encode_status(80, 30.5, 0, 1, 5, 0),
    P.encode_status(50, 20.0)[:-2],  # truncated status
    P.encode_response(P.Response(P.Opcode.STOP_STREAMING, 9)),
    b"\x10\x01garbage",
    b"\x10\x02" + bytes(5),  # compact too short
]


@st.composite
def streams(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    datas: list[bytes] = []
    for _ in range(draw(st.integers(1, 3))):
        seg = _segment(draw, rng)
        drop = draw(st.sets(st.integers(0, len(seg) - 1), max_size=max(0, len(seg) // 3)))
        datas += [d for i, d in enumerate(seg) if i not in drop]
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(datas)))
        if draw(st.booleans()) and datas:  # a mutated data packet: truncated / version / config / count
            src = bytearray(datas[draw(st.integers(0, len(datas) - 1))]) or bytearray(b"\x10\x01")
            kind = draw(st.sampled_from(["cut", "long", "minor", "byte"]))
            if kind == "cut":
                src = src[: draw(st.integers(0, len(src) - 1))]
            elif kind == "long":
                src += bytes(draw(st.integers(1, 13)))
            elif kind == "minor":
                src[0] = (src[0] & 0xF0) | draw(st.integers(0, 15))
                src += bytes(draw(st.integers(0, 13)))
            else:
                src[draw(st.integers(0, len(src) - 1))] = draw(st.integers(0, 255))
            datas.insert(pos, bytes(src))
        else:
            datas.insert(pos, draw(st.sampled_from(_EXTRA)))
    host = np.cumsum(rng.uniform(0.0, 0.05, len(datas)))
    for _ in range(draw(st.integers(0, 3))):  # arrival-time oddities: NaN, inf, going back, long pauses
        if len(datas):
            host[draw(st.integers(0, len(datas) - 1))] = draw(st.sampled_from([np.nan, np.inf, -1.0, 1e4, 0.0]))
    raws = [RawPacket("S1", float(h), d) for h, d in zip(host, datas, strict=True)]
    cuts = draw(st.lists(st.integers(0, len(raws)), max_size=4))
    return raws, cuts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_fast_decoder_equals_numpy_reference(stream):
    raws, cuts = stream
    assert_same_as_reference(raws, cuts)
    assert_same_as_reference(raws)


def test_equal_on_a_long_stream_with_wraps_gaps_and_restarts():
    rng = np.random.default_rng(7)
    acc, gyr = rng.integers(-32768, 32768, (2, 4000, 3))
    first = P.packetize(acc, gyr, (1 << 32) - 1900, (1 << 32) - 90_000, 1000, 8, 1000, 19, clock_scale=1 + 80e-6)
    again = P.packetize(acc[:500], gyr[:500], 0, 5_000, 1000, 8, 1000, 19)  # restarted
    compact = P.packetize(acc[:300], gyr[:300], 65_000, (1 << 24) - 100_000, 200, 4, 500, compact=True)
    datas = [d for i, d in enumerate(first) if i % 13 != 4] + again + compact
    raws = [RawPacket("S1", 0.1 + 0.019 * i, d) for i, d in enumerate(datas)]
    assert_same_as_reference(raws)
    assert_same_as_reference(raws, [1, 50, 51, 200])


def test_malformed_reason_order_follows_length_then_check():
    good = P.packetize(np.zeros((19, 3), int), np.zeros((19, 3), int), 0, 0, 100, 8, 1000, 19)[0]
    bad_cfg = good[:3] + bytes([0xE0]) + good[4:]
    datas = [b"\x10\x77" + bytes(10), bad_cfg, bytes([0x20]) + good[1:], good[:-1], b"\x10", good]
    raws = [RawPacket("S1", 0.1 * i, d) for i, d in enumerate(datas)]
    assert_same_as_reference(raws)
    dec = StreamDecoder("S1")
    dec.process(raws)
    # shortest length first (1 byte), then 241 bytes (truncated), then 242 bytes (version before config)
    assert list(dec.malformed_reasons) == [
        "too_short",
        "bad_length",
        "unsupported_version",
        "bad_config",
        "unknown_type",
    ]
    assert REASONS[2] == REASONS[4] == "too_short"


def _per_packet_check(raws: list[RawPacket]) -> None:
    """One packet per call (the live drain's case, the decoder's one-packet path): every
    batch equals the reference's, the batches joined equal one call on the whole stream,
    and each packet's samples are what the independent per-packet decoder reads."""
    assert_same_as_reference(raws, list(range(len(raws))))
    one, whole = StreamDecoder("S1"), StreamDecoder("S1")
    batches, resets = [], []
    with np.errstate(all="ignore"):
        for r in raws:
            batches.append(one.process([r]))
            resets.append(one.counter_resets > 0)
        joined = whole.process(raws)
    # the same state, but for the order of malformed_reasons (one call counts by length)
    a, b = one.state, whole.state
    assert dict(a.malformed_reasons) == dict(b.malformed_reasons)
    assert repr(replace(a, malformed_reasons=())) == repr(replace(b, malformed_reasons=()))
    for name in FIELDS:
        got = np.concatenate([getattr(b, name) for b in batches])
        np.testing.assert_array_equal(got, getattr(joined, name), err_msg=name, strict=True)
    for raw, batch, reset in zip(raws, batches, resets, strict=True):
        try:
            pkt = P.decode_data_packet(raw.data)
        except P.ProtocolError:
            assert len(batch) == 0
            continue
        assert len(batch) == pkt.acc_counts.shape[0]
        np.testing.assert_array_equal(batch.acc_mps2, pkt.acc_counts * P.acc_scale_mps2(pkt.acc_range_g))
        np.testing.assert_array_equal(batch.gyr_rps, pkt.gyr_counts * P.gyr_scale_rps(pkt.gyr_range_dps))
        if not reset:  # gaps keep the wire counter's low bits; after a reset it continues from the last
            assert batch.counter[0] % (1 << 16 if pkt.compact else 1 << 32) == pkt.counter
        np.testing.assert_array_equal(np.diff(batch.counter), 1)
        np.testing.assert_array_equal(batch.host_time_s, raw.host_time_s)
        assert np.isnan(batch.time_s).all()
        assert not batch.gap_before[1:].any()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_one_packet_at_a_time_equals_the_reference_the_whole_and_the_packet_decoder(stream):
    raws, _ = stream
    _per_packet_check(raws)


def test_one_packet_at_a_time_on_wraps_gaps_restarts_and_foreign_packets():
    rng = np.random.default_rng(11)
    acc, gyr = rng.integers(-32768, 32768, (2, 1500, 3))
    first = P.packetize(acc, gyr, (1 << 32) - 400, (1 << 32) - 20_000, 1000, 8, 1000, 19)
    again = P.packetize(acc[:200], gyr[:200], 3, 5_000, 1000, 8, 1000, 19)  # restarted
    compact = P.packetize(acc[:300], gyr[:300], 65_400, (1 << 24) - 1_000, 200, 4, 500, compact=True)
    datas = [d for i, d in enumerate(first) if i % 9 != 4] + again + compact
    for k, extra in enumerate(_EXTRA):
        datas.insert(7 * k + 3, extra)
    raws = [RawPacket("S1", 0.1 + 0.019 * i, d) for i, d in enumerate(datas)]
    _per_packet_check(raws)
    dec = StreamDecoder("S1")
    for r in raws:
        dec.process([r])
    assert dec.counter_resets >= 2 and dec.samples_lost > 0 and dec.malformed_packets > 0
    assert len(dec.status) == 1 and len(dec.responses) == 1


def _pinned_stream() -> list[RawPacket]:
    rng = np.random.default_rng(2026)
    acc, gyr = rng.integers(-32768, 32768, (2, 2000, 3))
    first = P.packetize(acc, gyr, (1 << 32) - 600, (1 << 32) - 30_000, 1000, 16, 2000, 19, clock_scale=1 + 50e-6)
    again = P.packetize(acc[:300], gyr[:300], 10, 7_000, 1000, 16, 2000, 19)  # restarted
    compact = P.packetize(acc[:400], gyr[:400], 65_300, (1 << 24) - 2_000, 400, 2, 250, compact=True)
    slow = P.packetize(acc[:200], gyr[:200], 5, 0, 50, 4, 125, 7)
    datas = [d for i, d in enumerate(first) if i % 11 != 5] + again + compact + slow
    extras = [_EXTRA[i] for i in (0, 1, 2, 3, 5, 7, 8, 9)]  # malformed, a status, a response
    for k, extra in enumerate(extras):
        datas.insert(13 * k + 2, extra)
    host = 0.05 + 0.019 * np.arange(len(datas))
    host[40] = np.nan
    host[80] = host[79]
    return [RawPacket("S1", float(h), d) for h, d in zip(host, datas, strict=True)]


#: sha256 of the pinned stream's decoded arrays and totals, from the decoder before the
#: one-kernel-call decode (main at 064b143: two kernels and numpy around them)
PINNED_SHA256 = "b17480a7d0c25019978ff992965d89f2f9b41e7084f59fb61618a8b8f3d0b587"


@pytest.mark.parametrize("split", [None, 1, 7])
def test_decoded_arrays_equal_values_saved_from_the_previous_decoder(split):
    raws = _pinned_stream()
    dec = StreamDecoder("S1")
    with np.errstate(all="ignore"):
        if split is None:
            batches = [dec.process(raws)]
        else:
            batches = [dec.process(raws[i : i + split]) for i in range(0, len(raws), split)]
    joined = SampleBatch.concat(batches)
    h = hashlib.sha256()
    for name in FIELDS:
        h.update(np.ascontiguousarray(getattr(joined, name)).tobytes())
    totals = (dec.packets_ok, dec.malformed_packets, dec.samples_lost, dec.counter_resets, dec.data_flags, dec.fs_hz)
    h.update(repr((*totals, sorted(dec.malformed_reasons.items()))).encode())
    assert (len(raws), len(joined), *totals[:4]) == (549, 2710, 543, 6, 190, 3)
    assert h.hexdigest() == PINNED_SHA256


def test_one_packet_of_other_types_decodes_as_bytes_and_float():
    # bytes-like payloads and integer arrival times, as a batch of several would take them
    datas = P.packetize(np.ones((38, 3), int), np.zeros((38, 3), int), 5, 0, 1000, 8, 1000, 19)
    ref = StreamDecoder("S1").process([RawPacket("S1", 1.0, datas[0]), RawPacket("S1", 2.0, datas[1])])
    dec = StreamDecoder("S1")
    got = [
        dec.process([RawPacket("S1", 1, bytearray(datas[0]))]),
        dec.process([RawPacket("S1", 2, memoryview(datas[1]))]),
    ]
    for name in FIELDS:
        np.testing.assert_array_equal(np.concatenate([getattr(b, name) for b in got]), getattr(ref, name), strict=True)
