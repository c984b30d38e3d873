"""Fast unit tests of the BLE layer's pure parts (no bus, no emulator)."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import protocol as P
from dmi_sensors.ble import CommandError, LinkStatsTracker, ReconnectPolicy, SensorLink, parse_advert
from dmi_sensors.ble.link import response_body
from dmi_sensors.sim.bluez import PROFILES, FaultProfile, fault_profile
from dmi_sensors.types import RawPacket


def _advert(name, uuids, mfg, rssi=-60):
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    device = BLEDevice("AA:BB:CC:DD:EE:01", name, {"path": "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01"})
    adv = AdvertisementData(name, mfg, {}, uuids, None, rssi, ())
    return device, adv


def test_parse_advert_reads_serial_and_version_from_manufacturer_data():
    mfg = {P.COMPANY_ID: P.encode_manufacturer_data(0x00A1B2C3)}
    a = parse_advert(*_advert("DMI-00A1B2C3", [P.SERVICE_UUID], mfg, rssi=-48))
    assert a is not None
    assert (a.address, a.name, a.rssi_dbm, a.serial, a.protocol_version) == (
        "AA:BB:CC:DD:EE:01",
        "DMI-00A1B2C3",
        -48,
        "00A1B2C3",
        (1, 0),
    )
    assert a.sensor_id == "00A1B2C3" and a.problem is None


def test_parse_advert_reports_an_unsupported_major_version_as_a_problem():
    payload = bytes(P.encode_manufacturer_data(7)[:4]) + bytes([0x20])  # v2.0
    a = parse_advert(*_advert("DMI-00000007", [P.SERVICE_UUID], {P.COMPANY_ID: payload}))
    assert a is not None and a.serial is None and a.protocol_version is None
    assert "major version 2" in a.problem
    assert a.sensor_id == a.address


def test_parse_advert_ignores_other_devices_and_matches_name_prefix_alone():
    assert parse_advert(*_advert("Polar H10", ["0000180d-0000-1000-8000-00805f9b34fb"], {})) is None
    a = parse_advert(*_advert("DMI-00000001", [], {}), service_uuid=None)
    assert a is not None and a.problem == "no manufacturer data"


def test_latency_is_measured_above_the_fastest_notification():
    # packets of 10 samples at 200 Hz; arrival = device time of the last sample + offset + latency
    rng = np.random.default_rng(1)
    offset, fs = 123.456, 200.0
    latency = np.concatenate([[0.002], rng.uniform(0.002, 0.032, 499)])  # 2 ms fastest
    tr = LinkStatsTracker("s", "a", "", 0.0)
    for k in range(0, 500, 50):  # fed in chunks, like the drain
        host, dev = [], []
        for j in range(k, k + 50):
            d = (j * 10 + np.arange(10)) / fs
            host.append(np.full(10, d[-1] + offset + latency[j]))
            dev.append(d)
        tr.add_timing(np.concatenate(host), np.concatenate(dev))
    snap = tr.snapshot(10.0)
    expected = (latency - latency.min()) * 1e3
    assert snap.latency_ms_p50 == pytest.approx(np.percentile(expected, 50), abs=1e-3)
    assert snap.latency_ms_p99 == pytest.approx(np.percentile(expected, 99), abs=1e-3)


def test_latency_percentiles_are_those_of_the_latest_4096_notifications():
    """The tracker keeps latencies in a ring (no Python floats to convert per snapshot) and
    recomputes its percentiles only when one was added: the values are those of the latest
    4096 notifications, whether they came one packet per batch or many, and a snapshot
    after more arrived sees them."""
    rng = np.random.default_rng(7)
    fs, offset = 1000.0, 50.0
    latency = np.concatenate([[0.001], rng.uniform(0.001, 0.040, 6999)])
    tr = LinkStatsTracker("s", "a", "", 0.0)
    j, snaps = 0, []
    sizes = rng.integers(1, 300, 200)
    for size in sizes:  # single packets and batches of many (> the ring at the end)
        size = min(int(size) if j % 3 else 1, latency.size - j)
        if size == 0:
            break
        host, dev = [], []
        for k in range(j, j + size):
            d = (k * 19 + np.arange(19)) / fs
            host.append(np.full(19, d[-1] + offset + latency[k]))
            dev.append(d)
        tr.add_timing(np.concatenate(host), np.concatenate(dev))
        j += size
        if len(snaps) < 3 and j > 2000 * (len(snaps) + 1):
            snaps.append((j, tr.snapshot(1.0), tr.latency_ms_percentiles()))
    big = latency[j - 5000 : j]
    host = np.repeat(np.arange(j, j + 5000) * 19 / fs + 18 / fs + offset + big, 19)
    dev = (np.arange(j * 19, (j + 5000) * 19)) / fs
    tr.add_timing(host, dev)  # one batch larger than the ring
    everything = np.concatenate([latency[:j], big])
    snaps.append((everything.size, tr.snapshot(1.0), tr.latency_ms_percentiles()))
    for n, snap, (p50, p99) in snaps:
        expected = (everything[:n][-4096:] - latency.min()) * 1e3
        assert p50 == pytest.approx(np.percentile(expected, 50), rel=1e-12)
        assert p99 == pytest.approx(np.percentile(expected, 99), rel=1e-12)
        assert (snap.latency_ms_p50, snap.latency_ms_p99) == (round(p50, 3), round(p99, 3))
    assert len({p for _, _, (p, _) in snaps}) == len(snaps) == 4
    tr.reset_timing()
    assert tr.snapshot(1.0).latency_ms_p50 is None


def test_packets_per_second_over_the_window():
    tr = LinkStatsTracker("s", "a", "", started_s=0.0, window_s=5.0)
    for i in range(100):  # 20 packets per second for 5 s... then 10 s of silence
        tr.add_packets(i * 0.05, 1)
    assert tr.packets_per_s(5.0) == pytest.approx(20.0, rel=0.02)
    assert tr.packets_per_s(20.0) == 0.0
    assert tr.packets_received == 100


@given(st.integers(1, 30), st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_backoff_grows_geometrically_within_jitter_and_cap(failures, seed):
    policy = ReconnectPolicy(initial_backoff_s=0.25, max_backoff_s=8.0, factor=2.0, jitter=0.2)
    wait = policy.backoff_s(failures, random.Random(seed))
    base = min(8.0, 0.25 * 2.0 ** (failures - 1))
    assert 0.8 * base <= wait <= 1.2 * base


def test_fault_profiles_round_trip_and_validate():
    for profile in PROFILES.values():
        assert FaultProfile.from_dict(profile.to_dict()) == profile
    assert fault_profile("flaky").disconnect_after_s == (1.0, 2.0)
    with pytest.raises(ValueError, match="unknown fault profile"):
        fault_profile("chaotic")
    with pytest.raises(ValueError, match="drop_p"):
        FaultProfile(drop_p=1.5)
    with pytest.raises(ValueError, match="unknown fault fields"):
        FaultProfile.from_dict({"drop": 0.1})


_INFO = P.DeviceInfo(0x00A1B2C3, (1, 0, 2), 3, 200, 8, 1000, 0)


def test_response_body_is_checked_against_the_expected_kind():
    reply = P.TimeSyncReply(1, 2, 3)
    assert response_body(P.Response(P.Opcode.TIME_SYNC, 5, body=reply), P.TimeSyncReply) is reply
    # an answer of another kind (here GET_INFO's) is a clear CommandError, not an AttributeError later
    with pytest.raises(CommandError, match="not a TimeSyncReply"):
        response_body(P.Response(P.Opcode.GET_INFO, 5, body=_INFO), P.TimeSyncReply, "S1")
    with pytest.raises(CommandError, match=r"S1: .*not a DeviceInfo"):
        response_body(P.Response(P.Opcode.GET_INFO, 5), P.DeviceInfo, "S1")


async def test_a_response_resolves_only_the_command_with_its_seq_and_opcode():
    link = SensorLink("AA:BB:CC:DD:EE:01")
    fut: asyncio.Future = asyncio.get_running_loop().create_future()
    link._pending[7] = (P.Opcode.TIME_SYNC, fut)

    def arrive(t: float, response: P.Response) -> None:
        link._handle_control(RawPacket(link.sensor_id, t, P.encode_response(response)))

    arrive(1.0, P.Response(P.Opcode.GET_INFO, 7, body=_INFO))  # stale answer to another command
    arrive(1.5, P.Response(P.Opcode.TIME_SYNC, 8, body=P.TimeSyncReply(0, 0, 0)))  # another seq
    assert not fut.done()
    arrive(2.0, P.Response(P.Opcode.TIME_SYNC, 7, body=P.TimeSyncReply(1, 2, 3)))
    resp, host_time_s = fut.result()
    assert response_body(resp, P.TimeSyncReply) == P.TimeSyncReply(1, 2, 3) and host_time_s == 2.0
