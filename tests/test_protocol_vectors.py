"""The committed byte-exact vectors (firmware_protocol/vectors/vectors.tsv) against the Python codec."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dmi_sensors import protocol as P
from dmi_sensors.protocol.stream import decode_stream
from dmi_sensors.types import RawPacket

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "firmware_protocol" / "vectors" / "vectors.tsv"

#: vector error class -> reason counted by the stream decoder for data packets
STREAM_REASON = {
    "TOO_SHORT": "too_short",
    "VERSION": "unsupported_version",
    "TYPE": "unknown_type",
    "LENGTH": "bad_length",
    "COUNT": "bad_sample_count",
    "CONFIG": "bad_config",
}
#: vector error class -> result code a device answers a bad command with
COMMAND_RESULT = {
    "LENGTH": P.Result.INVALID_LENGTH,
    "VERSION": P.Result.UNSUPPORTED_VERSION,
    "OPCODE": P.Result.UNKNOWN_OPCODE,
    "PARAM": P.Result.INVALID_PARAMETER,
}


def _load() -> list[tuple[str, str, bytes, str, dict[str, str]]]:
    out = []
    for line in VECTORS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, kind, hexbytes, expect, fields = line.split("\t")
        data = b"" if hexbytes == "-" else bytes.fromhex(hexbytes)
        kv = dict(item.split("=", 1) for item in fields.split(" ") if item)
        out.append((name, kind, data, expect, kv))
    return out


ALL = _load()


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _ver(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def test_vector_file_covers_the_required_cases():
    names = {v[0] for v in ALL}
    kinds = {v[1] for v in ALL}
    assert kinds == {"data", "status", "command", "response", "mfg"}
    assert len(ALL) > 100
    for needed in ("data_counter_max", "data_timestamp_wrapped", "data_int16_extremes_19", "compact_counter_wrapped"):
        assert needed in names
    opcodes_ok = {int(v[4]["opcode"]) for v in ALL if v[1] == "command" and v[3] == "ok"}
    assert opcodes_ok == {int(op) for op in P.Opcode}
    resp_ok = {int(v[4]["opcode"]) for v in ALL if v[1] == "response" and v[3] == "ok"}
    assert {int(op) for op in P.Opcode} <= resp_ok
    errors = {v[4]["error"] for v in ALL if v[3] == "error"}
    assert errors == {"TOO_SHORT", "VERSION", "TYPE", "LENGTH", "COUNT", "CONFIG", "PARAM", "OPCODE"}


def test_generator_reproduces_committed_vectors():
    """The generator and the committed reference agree (the reference itself is what the tests read)."""
    spec = importlib.util.spec_from_file_location("_vectors_generate", VECTORS.with_name("generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == VECTORS.read_text()


@pytest.mark.parametrize(("name", "kind", "data", "expect", "f"), ALL, ids=[v[0] for v in ALL])
def test_vector(name, kind, data, expect, f):
    if expect == "error":
        _check_error(kind, data, f)
        return
    encode = f.get("encode") == "1"
    if kind == "data":
        pkt = P.decode(data)
        assert isinstance(pkt, P.DataPacket)
        assert pkt.version == _ver(f["ver"]) and pkt.compact == (f["compact"] == "1")
        for key in ("flags", "counter", "timestamp_us", "fs_hz", "acc_range_g", "gyr_range_dps"):
            assert getattr(pkt, key) == int(f[key]), key
        assert pkt.n_samples == int(f["n"])
        np.testing.assert_array_equal(pkt.acc_counts.ravel(), _ints(f["acc"]))
        np.testing.assert_array_equal(pkt.gyr_counts.ravel(), _ints(f["gyr"]))
        np.testing.assert_allclose(pkt.acc_mps2[0], [float(x) for x in f["acc0_mps2"].split(",")], rtol=1e-14)
        np.testing.assert_allclose(pkt.gyr_rps[0], [float(x) for x in f["gyr0_rps"].split(",")], rtol=1e-14)
        if encode:
            args = (pkt.counter, pkt.timestamp_us, pkt.fs_hz, pkt.acc_range_g, pkt.gyr_range_dps)
            acc = np.array(_ints(f["acc"])).reshape(-1, 3)
            gyr = np.array(_ints(f["gyr"])).reshape(-1, 3)
            if pkt.compact:
                assert P.encode_compact_packet(*args, acc, gyr) == data
            else:
                assert P.encode_data_packet(*args, acc, gyr, flags=int(f["flags"])) == data
        out = decode_stream([RawPacket("V", 0.0, data)], "V")
        assert out.packets_ok == 1 and len(out.batch) == int(f["n"])
    elif kind == "status":
        st = P.decode(data)
        assert isinstance(st, P.StatusPacket) and st == P.decode_status(data)
        bat = int(f["battery_pct"])
        temp = int(f["temperature_cdeg"])
        assert st.version == _ver(f["ver"])
        assert st.battery_pct == (None if bat == 255 else bat)
        assert st.temperature_c == (None if temp == -32768 else temp / 100)
        assert (st.state, st.error_flags, st.device_time_us, st.samples_dropped) == tuple(
            int(f[k]) for k in ("state", "error_flags", "device_time_us", "samples_dropped")
        )
        if encode:
            assert P.encode_status(st.battery_pct, st.temperature_c, st.error_flags, st.state, st.device_time_us,
                                   st.samples_dropped) == data  # fmt: skip
    elif kind == "command":
        cmd = P.decode_command(data)
        assert (int(cmd.opcode), cmd.seq) == (int(f["opcode"]), int(f["seq"]))
        for key in (
            "format",
            "samples_per_packet",
            "fs_hz",
            "acc_range_g",
            "gyr_range_dps",
            "duration_s",
            "host_time_us",
        ):
            if key in f:
                assert getattr(cmd, key) == int(f[key]), key
        if encode:
            assert P.encode_command(cmd) == data
    elif kind == "response":
        r = P.decode(data)
        assert isinstance(r, P.Response) and r == P.decode_response(data)
        assert (r.version, int(r.opcode), r.seq, int(r.result)) == (
            _ver(f["ver"]),
            int(f["opcode"]),
            int(f["seq"]),
            int(f["result"]),
        )
        body = r.body
        if "serial" in f:
            assert isinstance(body, P.DeviceInfo)
            assert body.firmware == tuple(_ints(f["firmware"]))
            for key in ("serial", "hardware_revision", "fs_hz", "acc_range_g", "gyr_range_dps", "state"):
                assert getattr(body, key) == int(f[key]), key
        elif "device_rx_us" in f:
            assert body == P.TimeSyncReply(int(f["host_time_us"]), int(f["device_rx_us"]), int(f["device_tx_us"]))
        elif "samples_per_packet" in f:
            assert body == P.StreamingStarted(int(f["format"]), int(f["samples_per_packet"]), int(f["fs_hz"]))
        else:
            assert body is None
        if encode:
            assert P.encode_response(r) == data
    elif kind == "mfg":
        assert P.decode_manufacturer_data(data) == (f["serial"], _ver(f["ver"]))
        if encode:
            assert P.encode_manufacturer_data(f["serial"], _ver(f["ver"])) == data
    else:  # pragma: no cover - the coverage test above pins the kinds
        pytest.fail(f"unknown kind {kind}")


def _check_error(kind: str, data: bytes, f: dict[str, str]) -> None:
    decoder = {
        "data": P.decode,
        "status": P.decode_status,
        "command": P.decode_command,
        "response": P.decode_response,
        "mfg": P.decode_manufacturer_data,
    }[kind]
    with pytest.raises(P.ProtocolError) as info:
        decoder(data)
    error = f["error"]
    if error == "VERSION":
        assert "major version" in str(info.value)
    if kind == "command":
        assert info.value.result == COMMAND_RESULT[error]
        if "opcode" in f:
            assert info.value.opcode == int(f["opcode"])
        if "seq" in f:
            assert info.value.seq == int(f["seq"])
    if kind == "data":
        out = decode_stream([RawPacket("V", 0.0, data)], "V")
        assert out.malformed_reasons == {STREAM_REASON[error]: 1}
    if kind in ("status", "response"):
        with pytest.raises(P.ProtocolError):
            P.decode(data)
