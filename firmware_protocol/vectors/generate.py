#!/usr/bin/env python3
"""Write ``vectors.tsv``: byte-exact test vectors of protocol v1, shared by C and Python.

This script packs bytes with ``struct`` directly from SPEC.md's tables; it does not use
the ``dmi_sensors`` package, so the vectors are an independent check of both codecs.
The committed ``vectors.tsv`` is the reference: tests read it and never regenerate it.
Run ``python3 firmware_protocol/vectors/generate.py`` only when the spec changes, and
review the diff.

Format (see README.md): one vector per line, five TAB-separated columns::

    name  kind  hex  expect  fields

``kind`` in data|status|command|response|mfg; ``hex`` the bytes (``-`` = empty);
``expect`` ``ok`` or ``error``; ``fields`` space-separated ``key=value`` pairs (lists are
comma-separated integers). For errors, ``error=<CODE>`` names the expected error class.
``encode=1`` marks vectors whose fields must re-encode to exactly these bytes.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

G = 9.80665
RATES = (50, 100, 200, 250, 400, 500, 800, 1000)
ACC = (2, 4, 8, 16)
GYR = (125, 250, 500, 1000, 2000)
OUT = Path(__file__).with_name("vectors.tsv")

rows: list[tuple[str, str, bytes, str, str]] = []


def add(name: str, kind: str, data: bytes, fields: dict | None = None, error: str | None = None, encode: bool = False):
    parts = []
    if error:
        parts.append(f"error={error}")
    for k, v in (fields or {}).items():
        if isinstance(v, list | tuple):
            v = ",".join(str(x) for x in v)
        parts.append(f"{k}={v}")
    if encode:
        parts.append("encode=1")
    rows.append((name, kind, data, "error" if error else "ok", " ".join(parts)))


def cfg(fs, g, dps):
    return RATES.index(fs) | ACC.index(g) << 3 | GYR.index(dps) << 5


def samples_bytes(acc, gyr):
    return b"".join(struct.pack("<6h", *a, *w) for a, w in zip(acc, gyr, strict=True))


def data_fields(ver, flags, counter, ts, fs, g, dps, acc, gyr, compact):
    return {
        "ver": f"{ver >> 4}.{ver & 15}",
        "compact": int(compact),
        "flags": flags,
        "counter": counter,
        "timestamp_us": ts,
        "fs_hz": fs,
        "acc_range_g": g,
        "gyr_range_dps": dps,
        "n": len(acc),
        "acc": [x for a in acc for x in a],
        "gyr": [x for w in gyr for x in w],
        # SI of the first sample, 17 significant digits
        "acc0_mps2": [f"{c * g * G / 32768:.17g}" for c in acc[0]],
        "gyr0_rps": [f"{c * dps / 32768 * math.pi / 180:.17g}" for c in gyr[0]],
    }


def full(counter, ts, fs, g, dps, acc, gyr, flags=0, ver=0x10, reserved=0, trailing=b""):
    hdr = struct.pack("<BBBBBBII", ver, 0x01, flags, cfg(fs, g, dps), len(acc), reserved, counter, ts)
    return hdr + samples_bytes(acc, gyr) + trailing


def compact(counter, ts, fs, g, dps, acc, gyr, ver=0x10, trailing=b""):
    hdr = struct.pack("<BBBH", ver, 0x02, cfg(fs, g, dps), counter) + ts.to_bytes(3, "little")
    return hdr + samples_bytes(acc, gyr) + trailing


def add_data(name, counter, ts, fs, g, dps, acc, gyr, flags=0, ver=0x10, reserved=0, trailing=b"", encode=True):
    data = full(counter, ts, fs, g, dps, acc, gyr, flags, ver, reserved, trailing)
    add(name, "data", data, data_fields(ver, flags, counter, ts, fs, g, dps, acc, gyr, False), encode=encode)


def add_compact(name, counter, ts, fs, g, dps, acc, gyr, ver=0x10, trailing=b"", encode=True):
    data = compact(counter, ts, fs, g, dps, acc, gyr, ver, trailing)
    add(name, "data", data, data_fields(ver, 0, counter, ts, fs, g, dps, acc, gyr, True), encode=encode)


# --- data packets ---------------------------------------------------------------------
A2 = [(0, 0, 4096), (1, -1, 4095)]
W2 = [(10, -10, 0), (-20, 20, 1)]
add_data("data_basic", 0, 0, 100, 8, 1000, A2, W2)
add_data("data_counter_max", 0xFFFFFFFF, 0x12345678, 200, 4, 500, A2 + [(7, 8, 9)], W2 + [(-7, -8, -9)])
add_data("data_counter_wrapped", 0x00000002, 0x12345678 + 15000, 200, 4, 500, A2, W2)
add_data("data_timestamp_max", 1234, 0xFFFFFFFF, 1000, 16, 2000, A2, W2, flags=0x01)
add_data("data_timestamp_wrapped", 1236, 0x000007CF, 1000, 16, 2000, A2, W2, flags=0x01)
ext = [-32768, 32767, 0, -1, 1]
acc19 = [tuple(ext[(3 * i + j) % 5] for j in range(3)) for i in range(19)]
gyr19 = [tuple(ext[(3 * i + j + 2) % 5] for j in range(3)) for i in range(19)]
add_data("data_int16_extremes_19", 0x80000000, 0x7FFFFFFF, 1000, 16, 2000, acc19, gyr19, flags=0x04)
for fs_i, fs in enumerate(RATES):
    g = ACC[fs_i % 4]
    dps = GYR[fs_i % 5]
    add_data(f"data_codes_{fs}hz_{g}g_{dps}dps", fs_i, fs_i * 1000, fs, g, dps, [(-32768, 16384, 1)], [(32767, -16384, -1)])
add_data("data_all_flags", 5, 6, 50, 2, 125, [(1, 2, 3)], [(4, 5, 6)], flags=0x0F)
add_data("data_reserved_bits_ignored", 5, 6, 50, 2, 125, [(1, 2, 3)], [(4, 5, 6)], flags=0xF0, reserved=0xAB, encode=False)
add_data("data_newer_minor_trailing", 77, 88, 100, 8, 1000, A2, W2, ver=0x13, trailing=b"\xde\xad", encode=False)
add_data("data_newer_minor_exact", 77, 88, 100, 8, 1000, A2, W2, ver=0x1F, encode=False)
good = full(0, 0, 100, 8, 1000, A2, W2)
add("data_empty", "data", b"", error="TOO_SHORT")
add("data_one_byte", "data", b"\x10", error="TOO_SHORT")
add("data_truncated_header", "data", good[:10], error="TOO_SHORT")
add("data_header_only_13", "data", good[:13], error="TOO_SHORT")
add("data_truncated_samples", "data", good[:-1], error="LENGTH")
add("data_extra_byte_v1_0", "data", good + b"\x00", error="LENGTH")
add("data_unknown_major_2", "data", bytes([0x20]) + good[1:], error="VERSION")
add("data_unknown_major_0", "data", bytes([0x01]) + good[1:], error="VERSION")
add("data_major_15", "data", bytes([0xF0]) + good[1:], error="VERSION")
add("data_count_zero", "data", good[:4] + b"\x00" + good[5:14], error="COUNT")
add("data_count_20", "data", good[:4] + bytes([20]) + good[5:] + bytes(12 * 18), error="COUNT")
add("data_count_mismatch", "data", good[:4] + b"\x03" + good[5:], error="LENGTH")
add("data_gyro_code_5", "data", good[:3] + bytes([good[3] & 0x1F | 5 << 5]) + good[4:], error="CONFIG")
add("data_gyro_code_7", "data", good[:3] + bytes([good[3] | 0xE0]) + good[4:], error="CONFIG")
add("unknown_type_0x77", "data", b"\x10\x77" + bytes(12), error="TYPE")
add("unknown_type_0x00", "data", b"\x10\x00", error="TYPE")
add("command_on_data_char", "data", bytes.fromhex("104201"), error="TYPE")

# --- compact (degraded, 20-byte) data packets ---------------------------------------------
add_compact("compact_basic", 0, 0, 100, 8, 1000, [(0, 0, 4096)], [(10, -10, 0)])
add_compact("compact_counter_max", 0xFFFF, 0x00ABCDEF, 50, 2, 125, [(1, 2, 3)], [(4, 5, 6)])
add_compact("compact_counter_wrapped", 0x0000, 0x00ABCDEF + 20000, 50, 2, 125, [(1, 2, 3)], [(4, 5, 6)])
add_compact("compact_timestamp_max", 300, 0xFFFFFF, 250, 16, 250, [(1, 2, 3)], [(4, 5, 6)])
add_compact("compact_timestamp_wrapped", 301, 0x000F9F, 250, 16, 250, [(1, 2, 3)], [(4, 5, 6)])
add_compact("compact_int16_extremes", 1, 2, 1000, 16, 2000, [(-32768, 32767, -1)], [(32767, -32768, 0)])
add_compact("compact_newer_minor_trailing", 9, 10, 100, 8, 1000, [(1, 1, 1)], [(2, 2, 2)], ver=0x11, trailing=b"\x55", encode=False)
cgood = compact(9, 10, 100, 8, 1000, [(1, 1, 1)], [(2, 2, 2)])
add("compact_19_bytes", "data", cgood[:-1], error="LENGTH")
add("compact_21_bytes_v1_0", "data", cgood + b"\x00", error="LENGTH")
add("compact_header_only", "data", cgood[:8], error="LENGTH")
add("compact_gyro_code_6", "data", cgood[:2] + bytes([cgood[2] & 0x1F | 6 << 5]) + cgood[3:], error="CONFIG")
add("compact_unknown_major", "data", bytes([0x21]) + cgood[1:], error="VERSION")


# --- status ----------------------------------------------------------------------------
def status(bat, state, temp, errors, t_us, dropped, ver=0x10):
    return struct.pack("<BBBBhHII", ver, 0x10, bat, state, temp, errors, t_us, dropped)


def add_status(name, bat, state, temp, errors, t_us, dropped, ver=0x10, trailing=b"", encode=True):
    f = {"ver": f"{ver >> 4}.{ver & 15}", "battery_pct": bat, "state": state, "temperature_cdeg": temp}
    f |= {"error_flags": errors, "device_time_us": t_us, "samples_dropped": dropped}
    add(name, "status", status(bat, state, temp, errors, t_us, dropped, ver) + trailing, f, encode=encode)


add_status("status_basic", 87, 0x01, 3125, 0x0000, 123456, 0)
add_status("status_unknowns", 255, 0x00, -32768, 0x0010, 0, 0)
add_status("status_all_errors", 3, 0x07, -4050, 0x007F, 0xFFFFFFFF, 0xFFFFFFFF)
add_status("status_full_battery", 100, 0x0C, 32767, 0x0000, 1, 17)
add_status("status_newer_minor_longer", 50, 0x01, 2500, 0x0000, 99, 0, ver=0x12, trailing=b"\x01\x02\x03\x04", encode=False)
sgood = status(87, 1, 3125, 0, 123456, 0)
add("status_truncated", "status", sgood[:-1], error="LENGTH")
add("status_too_long_v1_0", "status", sgood + b"\x00", error="LENGTH")
add("status_battery_101", "status", sgood[:2] + bytes([101]) + sgood[3:], error="PARAM")
add("status_unknown_major", "status", bytes([0x30]) + sgood[1:], error="VERSION")
add("status_wrong_type", "status", sgood[:1] + b"\x20" + sgood[2:], error="TYPE")


# --- commands --------------------------------------------------------------------------
def cmd(op, seq, params=b"", ver=0x10):
    return bytes([ver, op, seq]) + params


def add_cmd(name, op, seq, params, fields, ver=0x10, trailing=b"", encode=True):
    f = {"ver": f"{ver >> 4}.{ver & 15}", "opcode": op, "seq": seq} | fields
    add(name, "command", cmd(op, seq, params, ver) + trailing, f, encode=encode)


add_cmd("cmd_start_full_auto", 0x41, 1, b"\x00\x00", {"format": 0, "samples_per_packet": 0})
add_cmd("cmd_start_full_19", 0x41, 2, b"\x00\x13", {"format": 0, "samples_per_packet": 19})
add_cmd("cmd_start_compact", 0x41, 3, b"\x01\x01", {"format": 1, "samples_per_packet": 1})
add_cmd("cmd_stop", 0x42, 4, b"", {})
for i, fs in enumerate(RATES):
    add_cmd(f"cmd_set_rate_{fs}", 0x43, 10 + i, struct.pack("<H", fs), {"fs_hz": fs})
add_cmd("cmd_set_ranges_16g_2000dps", 0x44, 20, struct.pack("<BH", 16, 2000), {"acc_range_g": 16, "gyr_range_dps": 2000})
add_cmd("cmd_set_ranges_2g_125dps", 0x44, 21, struct.pack("<BH", 2, 125), {"acc_range_g": 2, "gyr_range_dps": 125})
add_cmd("cmd_identify_5s", 0x45, 30, b"\x05", {"duration_s": 5})
add_cmd("cmd_identify_stop", 0x45, 31, b"\x00", {"duration_s": 0})
add_cmd("cmd_get_info", 0x46, 40, b"", {})
add_cmd("cmd_time_sync", 0x47, 255, struct.pack("<I", 0xDEADBEEF), {"host_time_us": 0xDEADBEEF})
add_cmd("cmd_newer_minor_trailing", 0x43, 7, struct.pack("<H", 200), {"fs_hz": 200}, ver=0x14, trailing=b"\x00\x01", encode=False)
add("cmd_empty", "command", b"", error="LENGTH")
add("cmd_version_only", "command", b"\x10", error="LENGTH")
add("cmd_no_seq", "command", b"\x10\x42", error="LENGTH", fields={"opcode": 0x42})
add("cmd_unknown_major", "command", cmd(0x42, 5, ver=0x20), error="VERSION", fields={"opcode": 0x42, "seq": 5})
add("cmd_unknown_opcode", "command", cmd(0x99, 6), error="OPCODE", fields={"opcode": 0x99, "seq": 6})
add("cmd_data_type_as_opcode", "command", cmd(0x01, 6), error="OPCODE", fields={"opcode": 0x01, "seq": 6})
add("cmd_set_rate_short", "command", cmd(0x43, 7, b"\x64"), error="LENGTH", fields={"opcode": 0x43, "seq": 7})
add("cmd_stop_too_long_v1_0", "command", cmd(0x42, 8, b"\x00"), error="LENGTH", fields={"opcode": 0x42, "seq": 8})
add("cmd_set_rate_150", "command", cmd(0x43, 9, struct.pack("<H", 150)), error="PARAM", fields={"opcode": 0x43, "seq": 9})
add("cmd_set_rate_0", "command", cmd(0x43, 9, b"\x00\x00"), error="PARAM", fields={"opcode": 0x43, "seq": 9})
add("cmd_set_ranges_3g", "command", cmd(0x44, 1, struct.pack("<BH", 3, 1000)), error="PARAM", fields={"opcode": 0x44, "seq": 1})
add("cmd_set_ranges_4000dps", "command", cmd(0x44, 1, struct.pack("<BH", 8, 4000)), error="PARAM", fields={"opcode": 0x44, "seq": 1})
add("cmd_start_format_2", "command", cmd(0x41, 2, b"\x02\x00"), error="PARAM", fields={"opcode": 0x41, "seq": 2})
add("cmd_start_full_20", "command", cmd(0x41, 2, b"\x00\x14"), error="PARAM", fields={"opcode": 0x41, "seq": 2})
add("cmd_start_compact_2", "command", cmd(0x41, 2, b"\x01\x02"), error="PARAM", fields={"opcode": 0x41, "seq": 2})


# --- responses -------------------------------------------------------------------------
def resp(op, seq, result, body=b"", ver=0x10):
    return bytes([ver, 0x20, op, seq, result]) + body


def add_resp(name, op, seq, result, body, fields, ver=0x10, trailing=b"", encode=True):
    f = {"ver": f"{ver >> 4}.{ver & 15}", "opcode": op, "seq": seq, "result": result} | fields
    add(name, "response", resp(op, seq, result, body, ver) + trailing, f, encode=encode)


add_resp("resp_start_ok", 0x41, 1, 0, struct.pack("<BBH", 0, 19, 1000), {"format": 0, "samples_per_packet": 19, "fs_hz": 1000})
add_resp("resp_start_compact_ok", 0x41, 3, 0, struct.pack("<BBH", 1, 1, 100), {"format": 1, "samples_per_packet": 1, "fs_hz": 100})
add_resp("resp_stop_ok", 0x42, 4, 0, b"", {})
add_resp("resp_set_rate_ok", 0x43, 10, 0, b"", {})
add_resp("resp_set_ranges_ok", 0x44, 20, 0, b"", {})
add_resp("resp_identify_ok", 0x45, 30, 0, b"", {})
info = struct.pack("<IBBBBHBHB", 0x00A1B2C3, 1, 2, 3, 4, 200, 8, 1000, 0x01)
info_f = {"serial": 0x00A1B2C3, "firmware": [1, 2, 3], "hardware_revision": 4, "fs_hz": 200}
info_f |= {"acc_range_g": 8, "gyr_range_dps": 1000, "state": 1}
add_resp("resp_get_info_ok", 0x46, 40, 0, info, info_f)
ts_body = struct.pack("<III", 0xDEADBEEF, 0xFFFFFFF0, 0x00000010)
add_resp("resp_time_sync_ok", 0x47, 255, 0, ts_body, {"host_time_us": 0xDEADBEEF, "device_rx_us": 0xFFFFFFF0, "device_tx_us": 16})
add_resp("resp_set_rate_invalid_state", 0x43, 11, 4, b"", {})
add_resp("resp_set_rate_invalid_param", 0x43, 12, 3, b"", {})
add_resp("resp_unknown_opcode", 0x99, 6, 1, b"", {})
add_resp("resp_bad_length", 0x43, 7, 2, b"", {})
add_resp("resp_unsupported_version", 0x42, 5, 5, b"", {})
add_resp("resp_internal_error", 0x41, 5, 6, b"", {})
add_resp("resp_newer_minor_trailing", 0x42, 4, 0, b"", {}, ver=0x11, trailing=b"\x09", encode=False)
add("resp_truncated_header", "response", resp(0x42, 4, 0)[:4], error="TOO_SHORT")
add("resp_get_info_truncated", "response", resp(0x46, 40, 0, info)[:-1], error="LENGTH")
add("resp_time_sync_no_body", "response", resp(0x47, 1, 0), error="LENGTH")
add("resp_error_with_body_v1_0", "response", resp(0x43, 1, 3, b"\x00"), error="LENGTH")
add("resp_unknown_result_v1_0", "response", resp(0x42, 1, 0x42), error="PARAM")
add("resp_ok_unknown_opcode_v1_0", "response", resp(0x99, 1, 0), error="OPCODE")
bad_info = struct.pack("<IBBBBHBHB", 1, 1, 0, 0, 0, 150, 8, 1000, 0)
add("resp_get_info_bad_rate", "response", resp(0x46, 2, 0, bad_info), error="PARAM")
add("resp_unknown_major", "response", resp(0x42, 4, 0, ver=0x20), error="VERSION")
add("resp_wrong_type", "response", bytes([0x10, 0x10, 0x42, 4, 0]), error="TYPE")

# --- advertising manufacturer data ------------------------------------------------------
add("mfg_basic", "mfg", struct.pack("<IB", 0x00A1B2C3, 0x10), {"serial": "00A1B2C3", "ver": "1.0"}, encode=True)
add("mfg_serial_max", "mfg", struct.pack("<IB", 0xFFFFFFFF, 0x10), {"serial": "FFFFFFFF", "ver": "1.0"}, encode=True)
add("mfg_newer_minor_longer", "mfg", struct.pack("<IB", 5, 0x12) + b"\x07", {"serial": "00000005", "ver": "1.2"})
add("mfg_short", "mfg", struct.pack("<IB", 5, 0x10)[:4], error="LENGTH")
add("mfg_too_long_v1_0", "mfg", struct.pack("<IB", 5, 0x10) + b"\x00", error="LENGTH")
add("mfg_unknown_major", "mfg", struct.pack("<IB", 5, 0x20), error="VERSION")


def render() -> str:
    """The text of vectors.tsv."""
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), "duplicate vector names"
    lines = [
        "# dmi-sensors firmware protocol v1 test vectors (reference; see README.md for the format)",
        "# name\tkind\thex\texpect\tfields",
    ]
    lines += ["\t".join((name, kind, data.hex() or "-", expect, fields)) for name, kind, data, expect, fields in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.write_text(render())
    print(f"wrote {len(rows)} vectors to {OUT}")


if __name__ == "__main__":
    main()
