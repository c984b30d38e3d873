"""dmi_sensors.ble end to end: bleak's real BlueZ backend against the emulated BlueZ serving
virtual DMI sensors (protocol v1), with the emulator's truth as the reference.

Each test streams a few seconds only; counts are compared with what the emulator really
sent, dropped and corrupted, never with fixed numbers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from dmi_sensors.sim.bluez import PROFILES, FaultProfile
from dmi_sensors.sim.identity import simulated_sensor_id

pytestmark = pytest.mark.bluez

FS_HZ = 200
FAST = {"initial_backoff_s": 0.1, "max_backoff_s": 0.5, "scan_timeout_s": 1.0}


def sensors(bluez, n, faults=None, seed=0):
    return bluez(factory_kwargs={"n": n, "fs_hz": FS_HZ, "seed": seed}, faults=faults, seed=seed)


async def scan(n_expected, timeout_s=0.6):
    from dmi_sensors.ble import discover

    adverts = await discover(timeout_s)
    assert len(adverts) == n_expected, adverts
    return sorted(adverts, key=lambda a: a.address)


async def _until(cond, timeout_s: float = 30.0) -> None:
    """Wait for an event (a condition), not for a time: ``timeout_s`` only bounds a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def _received(hub) -> dict[str, int]:
    return {sid: s.samples_received for sid, s in hub.stats().items()}


def assert_matches_truth(stats, truth):
    """The host's counter-based accounting equals what the emulator really did."""
    for s in stats.values():
        t = truth[s.address]
        assert s.samples_received == t["samples_sent"], (s, t)
        assert s.samples_lost == t["samples_dropped"], (s, t)
        assert s.malformed_packets == t["packets_malformed"], (s, t)


def test_discover_and_cli_scan_report_address_name_rssi_serial_version(bluez, capsys):
    from dmi_sensors import cli
    from dmi_sensors.ble import discover_sync

    sensors(bluez, 3)
    adverts = discover_sync(1.0)
    assert len(adverts) == 3
    for a in adverts:
        assert a.name == f"DMI-{a.serial}"
        assert a.protocol_version == (1, 0)
        assert a.problem is None
        assert isinstance(a.rssi_dbm, int) and -100 < a.rssi_dbm < 0
    assert len({a.serial for a in adverts}) == 3
    # the CLI scans the same (emulated) radio
    assert cli.main(["scan", "--timeout-s", "1", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert sorted(f["serial"] for f in found) == sorted(a.serial for a in adverts)
    assert all(f["protocol_version"] == "1.0" and f["name"] == f"DMI-{f['serial']}" for f in found)


async def test_four_sensors_stream_200hz_without_loss(bluez):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub
    from dmi_sensors.protocol import decode_stream

    emu = sensors(bluez, 4)
    adverts = await scan(4)
    placements = ["trunk", "pelvis", "thigh_left", "thigh_right"]
    hub = SensorHub(
        zip(adverts, placements, strict=True), policy=ReconnectPolicy(**FAST), keep_packets=True, log_interval_s=None
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 4
    await _until(lambda: min(_received(hub).values()) >= 2.5 * FS_HZ)  # 2.5 s of samples each
    stats = await hub.stop()
    truth = await emu.atruth()
    assert_matches_truth(stats, truth)
    for link in hub.links:
        s = stats[link.sensor_id]
        assert s.placement in placements and s.state == "stopped"
        assert s.samples_lost == 0 and s.malformed_packets == 0 and s.reconnects == 0
        assert truth[s.address]["samples_dropped_total"] == 0
        assert s.samples_received >= 2.5 * FS_HZ  # the rate itself: device times below
        assert s.battery_pct is not None and 0 <= s.battery_pct <= 100
        assert s.latency_ms_p50 is not None and s.latency_ms_p99 >= s.latency_ms_p50 >= 0
        # the raw packets decode to a continuous counter and physical values
        decoded = decode_stream(link.packets, link.sensor_id)
        batch = decoded.batch
        assert len(batch) == s.samples_received and decoded.samples_lost == 0
        assert np.array_equal(np.diff(batch.counter), np.ones(len(batch) - 1))
        dt = np.diff(batch.device_time_s)
        assert np.allclose(dt, 1.0 / FS_HZ, rtol=1e-3)
        g = np.linalg.norm(batch.acc_mps2, axis=1).mean()
        assert 7.0 < g < 12.5, f"specific force magnitude {g} m/s^2 is not gravity-like"
        assert link.info is not None and link.info.serial == link.sensor_id
        assert link.clock_sync is not None and link.clock_sync.rtt_s >= 0


async def _record_until_reconnected(hub, min_reconnects, timeout_s):
    await _until(
        lambda: (
            all(s.reconnects >= min_reconnects for s in hub.stats().values())
            and all(link.is_streaming for link in hub.links)
        ),
        timeout_s,
    )
    before = _received(hub)
    await _until(lambda: all(n >= before[sid] + 20 for sid, n in _received(hub).items()))  # data after it
    return await hub.stop()


async def test_flaky_links_reconnect_and_count_lost_samples_exactly(bluez):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub

    # every drop costs at least 20 samples, however fast the link comes back or late the emulator polls
    profile = PROFILES["flaky"].with_(down_samples=20)
    emu = sensors(bluez, 2, faults=profile, seed=7)
    adverts = await scan(2)
    hub = SensorHub(zip(adverts, ["trunk", "pelvis"], strict=True), policy=ReconnectPolicy(**FAST), log_interval_s=None)
    await hub.start()
    assert await hub.wait_streaming(30) == 2
    stats = await _record_until_reconnected(hub, 1, 20)
    truth = await emu.atruth()
    assert_matches_truth(stats, truth)
    for s in stats.values():
        t = truth[s.address]
        assert s.reconnects >= 1 and s.disconnects >= 1
        assert t["connect_aborts"] >= 1 and t["busy_writes"] >= 1  # retried by bleak / retry-connector
        assert t["samples_link_down"] >= 20 and s.samples_lost >= 20  # the gap while the link was down is counted
        assert s.samples_received > 0


async def test_malformed_notifications_are_counted_never_fatal(bluez):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub

    emu = sensors(bluez, 2, faults=FaultProfile(malformed_p=0.15, drop_p=0.05), seed=3)
    adverts = await scan(2)
    hub = SensorHub(zip(adverts, ["trunk", "pelvis"], strict=True), policy=ReconnectPolicy(**FAST), log_interval_s=None)
    await hub.start()
    assert await hub.wait_streaming(30) == 2
    await _until(lambda: all(s.malformed_packets >= 3 for s in hub.stats().values()))
    assert all(link.is_streaming for link in hub.links)
    stats = await hub.stop()
    truth = await emu.atruth()
    assert_matches_truth(stats, truth)
    for s in stats.values():
        assert s.malformed_packets > 0 and s.reconnects == 0 and s.state == "stopped"


async def test_a_sensor_that_never_comes_back_does_not_stop_the_others(bluez):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub
    from dmi_sensors.sim.bluez.sensor import sensor_address

    gone = sensor_address(1)
    emu = sensors(bluez, 3, faults={gone: FaultProfile(vanish_after_s=1.0)})
    adverts = await scan(3)
    hub = SensorHub(
        zip(adverts, ["trunk", "pelvis", "head"], strict=True), policy=ReconnectPolicy(**FAST), log_interval_s=None
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 3
    by_address = {link.address: link for link in hub.links}
    await _until(lambda: by_address[gone].state == "reconnecting")  # it vanished
    n_gone = by_address[gone].stats.samples_received
    await _until(lambda: all(link.stats.samples_received > n_gone for link in hub.links if link.address != gone))
    assert by_address[gone].state == "reconnecting" and not by_address[gone].is_streaming
    assert all(link.is_streaming for a, link in by_address.items() if a != gone)
    stats = await hub.stop(timeout_s=5.0)
    truth = await emu.atruth()
    assert truth[gone]["vanished"]
    assert_matches_truth(stats, truth)
    for s in stats.values():
        assert s.state == "stopped"
        if s.address == gone:
            assert s.disconnects == 1 and s.reconnects == 0
        else:
            assert s.samples_lost == 0 and s.disconnects == 0
            assert s.samples_received > stats[by_address[gone].sensor_id].samples_received


def test_record_sync_entry_point(bluez):
    from dmi_sensors.ble import ReconnectPolicy, discover_sync, record_sync

    emu = sensors(bluez, 2)
    adverts = discover_sync(1.0)
    assert len(adverts) == 2
    stats = record_sync({a: "trunk" for a in adverts}, 1.0, policy=ReconnectPolicy(**FAST), log_interval_s=None)
    assert_matches_truth(stats, emu.truth())
    assert all(s.samples_received > 0 and s.samples_lost == 0 for s in stats.values())


def test_cli_record_simulated_summary_equals_emulator_truth(tmp_path, capsys):
    from dmi_sensors import cli

    out = tmp_path / "summary.json"
    code = cli.main(
        [
            "record",
            "--simulate-sensors",
            "2",
            "--fault-profile",
            "flaky",
            "--duration-s",
            "3",
            "--scan-timeout-s",
            "1",
            "--no-store",
            "--json",
            str(out),
            "--seed",
            "5",
        ]
    )
    summary = json.loads(out.read_text())
    # flaky links lose samples: the documented exit status says so (0 only when nothing was lost)
    lost = sum(row["samples_lost"] for row in summary["sensors"].values())
    assert code == summary["exit_status"] == (3 if lost else 0)
    assert summary["simulated"] and summary["fault_profile"] == "flaky"
    assert len(summary["sensors"]) == 2
    for row in summary["sensors"].values():
        assert row["samples_received"] == row["samples_sent"] > 0
        assert row["samples_lost_gaps"] == row["samples_dropped"]  # counted exactly from the counters
        assert row["samples_lost"] == row["samples_lost_gaps"] + row["samples_lost_edges"]
        for key in ("packets_received", "reconnects", "malformed_packets", "samples_expected"):
            assert isinstance(row[key], int)
    printed = capsys.readouterr().out
    assert "expected" in printed and "lost" in printed and "sent (sim)" in printed


def test_cli_scan_simulated(capsys):
    from dmi_sensors import cli

    assert cli.main(["scan", "--simulate-sensors", "2", "--timeout-s", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("DMI-00D1000") == 2 and "1.0" in out


def test_cli_record_stores_every_raw_packet_in_the_session_store(tmp_path):
    pytest.importorskip("dmi_sensors.store")
    from dmi_sensors import cli
    from dmi_sensors.protocol import decode_stream
    from dmi_sensors.store import SessionStore

    db, out = tmp_path / "sessions.sqlite", tmp_path / "summary.json"
    args = ["record", "--simulate-sensors", "2", "--fault-profile", "flaky", "--duration-s", "2"]
    code = cli.main([*args, "--scan-timeout-s", "1", "--db", str(db), "--json", str(out), "--subject-id", "C001"])
    summary = json.loads(out.read_text())
    assert code == summary["exit_status"] in (0, 3)  # 3: flaky links lost samples
    store = SessionStore(db)
    info = store.session_info(summary["session_id"])
    assert info.subject_id == "C001" and info.status == summary["session_status"]
    assert info.recording["sensors"].keys() == summary["sensors"].keys()  # the summary is kept, addresses are not
    assert "address" not in str(info.recording)
    assert {s.sensor_id: s.placement for s in info.sensors} == {
        k: row["placement"] for k, row in summary["sensors"].items()
    }
    for sensor_id, row in summary["sensors"].items():
        packets = store.raw_packets(summary["session_id"], sensor_id)
        assert len(packets) == row["packets_received"]
        decoded = decode_stream(packets, sensor_id)  # re-decoding what was stored gives the live counts
        assert len(decoded.batch) == row["samples_received"] == row["samples_sent"]
        assert decoded.samples_lost == row["samples_lost_gaps"] == row["samples_dropped"]


async def test_a_failing_packet_sink_stops_that_sensor_loudly_not_the_others(bluez):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub

    sensors(bluez, 2)
    adverts = await scan(2)
    broken = adverts[0].serial
    kept = []

    class Sink:
        def append(self, packet):
            if packet.sensor_id == broken and len(kept) > 5:
                raise OSError("disk full")
            kept.append(packet)

    hub = SensorHub(zip(adverts, ["trunk", "pelvis"], strict=True), sink=Sink(), policy=ReconnectPolicy(**FAST))
    await hub.start()
    await hub.wait_streaming(30)
    await _until(lambda: hub.links[0].state == "failed" and hub.links[1].stats.samples_received >= 100)
    stats = await hub.stop()
    assert stats[broken].state == "failed"
    assert isinstance(hub.links[0].error, OSError)
    other = stats[adverts[1].serial]
    assert other.state == "stopped" and other.samples_lost == 0
    assert sum(p.sensor_id == adverts[1].serial for p in kept) == other.packets_received


async def test_key_tagging_companion_tags_on_the_packet_clock_and_q_stops(bluez):
    import io
    import os
    import pty

    from dmi_sensors.ble import ReconnectPolicy, record
    from dmi_sensors.commands.record import key_tagging
    from dmi_sensors.session import example_plan

    sensors(bluez, 1)
    adverts = await scan(1)
    plan = example_plan()
    master, slave = pty.openpty()  # a real terminal, driven from this test

    async def press_keys(ctx) -> None:
        """n (first exercise), r (second repetition), q (stop), each after 50 more samples arrived."""
        for key in (b"n", b"r", b"q"):
            before = _received(ctx.hub)
            await _until(lambda b=before: all(n >= b.get(sid, 0) + 50 for sid, n in _received(ctx.hub).items()))
            os.write(master, key)

    with os.fdopen(slave, "r") as tty_in:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stats, ctx = await record(
            {adverts[0]: "trunk"},
            60.0,
            policy=ReconnectPolicy(**FAST),
            companions=[key_tagging(plan, stdin=tty_in, output=io.StringIO()), press_keys],
            keep_packets=True,
        )
        elapsed = loop.time() - t0
    os.close(master)
    assert elapsed < 30, "q ended the 60 s recording"
    events = ctx.results["tagging"]
    exercise = events[events["kind"] == "exercise"]
    assert list(exercise["exercise"]) == [plan.exercises[0].exercise_id]
    reps = events[events["kind"] == "repetition"]
    assert list(reps["repetition"]) == [1, 2]
    # tags are on the packets' clock: the exercise ends when the recording's last packets arrive
    (link_stats,) = stats.values()
    assert link_stats.samples_received > 0
    end_s = float(exercise["onset_s"].iloc[0] + exercise["duration_s"].iloc[0])
    assert abs(end_s - ctx.hub.links[0].packets[-1].host_time_s) < 1.0


def test_cli_record_links_each_sensors_calibration_to_the_session(tmp_path):
    """--calibration-dir: the latest calibrations of a recorded serial are stored with the session."""
    pytest.importorskip("dmi_sensors.store")
    from dmi_sensors import cli
    from dmi_sensors.analysis import load_calibration
    from dmi_sensors.calibration import read_calibration
    from dmi_sensors.store import SessionStore

    examples = Path(__file__).resolve().parents[1] / "calibration" / "examples"
    cal_dir = tmp_path / "calibrations"
    cal_dir.mkdir()
    serial = simulated_sensor_id(0)  # where calibrate --simulate / --via-bluez put their calibrations
    for src in examples.glob("*.json"):
        data = json.loads(src.read_text())
        data["sensor_serial"] = serial
        (cal_dir / src.name.replace("SIM-0001", serial)).write_text(json.dumps(data))
    db, out = tmp_path / "sessions.sqlite", tmp_path / "summary.json"
    args = ["record", "--simulate-sensors", "2", "--duration-s", "1", "--scan-timeout-s", "1", "--subject-id", "C001"]
    assert cli.main([*args, "--db", str(db), "--json", str(out), "--calibration-dir", str(cal_dir)]) == 0
    summary = json.loads(out.read_text())
    assert set(summary["sensors"][serial]["calibration"]) == {"accel", "gyro", "alignment"}
    other = next(s for s in summary["sensors"] if s != serial)
    assert summary["sensors"][other]["calibration"] == {}
    store = SessionStore(db)
    used = load_calibration(store, summary["session_id"], serial)
    assert used is not None
    for part in used.parts():
        original = read_calibration(cal_dir / next(p.name for p in cal_dir.glob(f"*_{part.kind}_*.json")))
        assert part.to_dict() == original.to_dict()
    assert load_calibration(store, summary["session_id"], other) is None
    info = {s.sensor_id: s for s in store.session_info(summary["session_id"]).sensors}
    assert len(info[serial].calibration_ids) == 3 and info[other].calibration_ids == ()


def test_cli_record_rejects_a_bad_calibration_file_before_recording(tmp_path, capsys):
    from dmi_sensors import cli

    cal_dir = tmp_path / "calibrations"
    cal_dir.mkdir()
    (cal_dir / "broken.json").write_text('{"format_version": 1, "kind": "gyro"}')
    db = tmp_path / "sessions.sqlite"
    args = ["--subject-id", "C001", "--db", str(db), "--calibration-dir", str(cal_dir)]
    code = cli.main(["record", "--simulate-sensors", "1", "--duration-s", "1", *args])
    assert code == 1
    assert "broken.json" in capsys.readouterr().err
    assert not db.exists()  # nothing was recorded


def test_clock_sync_probe_arithmetic():
    """NTP offset/rtt from one probe, device clock wrap, and a fast device clock never gives rtt < 0."""
    from dmi_sensors.ble.link import clock_sync_from_probe

    # device clock = host + 5 s; 10 ms each way, 1 ms processing on the device
    s = clock_sync_from_probe(1.000, 1.021, 6_010_000, 6_011_000)
    assert s.rtt_s == pytest.approx(0.020) and s.offset_s == pytest.approx(5.0) and s.host_time_s == 1.0
    # the device's u32 µs clock wraps between receive and transmit
    s = clock_sync_from_probe(1.000, 1.021, 2**32 - 500, 500)
    assert s.rtt_s == pytest.approx(0.020)
    # a slow device (0.6 s processing) whose clock runs +50 ppm: the raw rtt is -30 µs + 20 µs
    proc_dev_us = round(0.6 * (1 + 50e-6) * 1e6)
    s = clock_sync_from_probe(1.0, 1.6 + 20e-6, 6_000_000, 6_000_000 + proc_dev_us)
    assert s.rtt_s == 0.0
    assert s.offset_s == pytest.approx(6.0 - 1.0 - ((0.6 + 20e-6) - proc_dev_us / 1e6) / 2)
