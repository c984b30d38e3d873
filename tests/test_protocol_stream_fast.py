"""The Numba stream decoder equals the previous numpy decoder bit for bit, on any input.

``ReferenceStreamDecoder`` (``tests/protocol_stream_reference.py``) is the numpy
implementation the kernel replaced. Both are fed the same packets in the same chunks:
every output array must be identical (``array_equal``, NaN in the same places), and so
must the totals, the order of ``malformed_reasons``, status/responses and the carried state.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_stream_reference import ReferenceStreamDecoder

from dmi_sensors import protocol as P
from dmi_sensors.protocol._stream_kernels import REASONS
from dmi_sensors.protocol.stream import StreamDecoder
from dmi_sensors.types import RawPacket

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
