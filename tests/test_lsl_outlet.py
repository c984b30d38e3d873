"""``dmi-sensors record --lsl``: the recorder's LSL outlets, received by real liblsl inlets on
loopback (tests/lsl_helpers.py).

* Through the CLI: two emulated sensors recorded with ``--lsl --lsl-wait-s`` (the recorder
  waits for this test's inlets before the sensors stream); the inlets receive every sample
  the recorder stored, for each sensor, with the stored values and timestamps within 1 ms
  of the toolkit's drift-corrected times (``store.recorded_samples``, the offline clock fit
  of the stored packets), from the first sample on, mapped by the session start the summary
  reports. The comparison is between the published timestamps and the stored packets'
  times, never the wall clock, so a loaded machine changes the packets, not the check.
* In process: a live hub fed decoded packets and a tagger: the markers arrive as the tag
  rows (JSON, stamped with their onsets), the COM stream carries every sample of the live
  path's COM with the lever of the repetition in progress (the live trace's values times
  its ``com_lever_frac``), NaN outside repetitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import lsl_helpers  # noqa: F401  (the private loopback configuration, before pylsl is used)
import numpy as np
import pytest
from lsl_helpers import pylsl

from dmi_sensors import protocol
from dmi_sensors.live import LiveHub, LiveParams
from dmi_sensors.live.lsl_outlet import MARKER_STREAM, LslOutlet
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.session import CATALOGUE, Plan, Tagger
from dmi_sensors.store import SessionStore
from dmi_sensors.store.lsl_layout import describe, imu_channels
from dmi_sensors.store.samples import recorded_samples
from dmi_sensors.timing import LookaheadClock, StreamingClock
from dmi_sensors.types import RawPacket

BOUND_S = 90.0


def _inlet(name: str, since: float):
    """An inlet on the stream ``name`` created at or after LSL time ``since`` (this test's
    outlet, never one of an earlier test still being torn down)."""
    end = time.monotonic() + BOUND_S
    infos: list = []
    while not infos and time.monotonic() < end:
        found = pylsl.resolve_bypred(f"name='{name}'", 1, max(0.1, end - time.monotonic()))
        infos = [i for i in found if i.created_at() >= since]
    assert infos, f"stream {name!r} created after {since:.3f} not found"
    # recover=True: what arrived stays pullable after the recorder (and its outlets) ended
    inlet = pylsl.StreamInlet(infos[0], max_buflen=360, recover=True, processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(BOUND_S)
    return inlet


def _pull_all(inlets: dict, until) -> dict:
    """Pull every inlet until ``until()`` and then until each is empty (or its outlet is gone)."""
    got: dict = {k: ([], []) for k in inlets}
    done: set = set()

    def pull(k, inlet, timeout):
        try:
            values, stamps = inlet.pull_chunk(timeout=timeout, max_samples=4096)
        except pylsl.util.LostError:
            done.add(k)
            return 0
        got[k][0].extend(values)
        got[k][1].extend(stamps)
        return len(stamps)

    end = time.monotonic() + BOUND_S * 2
    while not until():
        assert time.monotonic() < end, "the recorder did not end"
        for k, inlet in inlets.items():
            if k not in done:
                pull(k, inlet, 0.02)
    for k, inlet in inlets.items():
        while k not in done and pull(k, inlet, 1.0) > 0:
            pass
    return got


def test_record_lsl_publishes_every_stored_sample_on_the_toolkit_clock(tmp_path):
    db = tmp_path / "s.sqlite"
    args = [sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", "2", "--fs-hz", "100",
            "--duration-s", "4", "--lsl", "--lsl-wait-s", str(BOUND_S), "--subject-id", "C001",
            "--com-height-m", "0.5", "--db", str(db), "--json", str(tmp_path / "summary.json")]  # fmt: skip
    since = pylsl.local_clock()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    while True:
        line = proc.stderr.readline()
        assert line, "".join(lines) + proc.stderr.read()
        lines.append(line)
        if line.startswith("lsl: publishing "):
            break
    names = line.removeprefix("lsl: publishing ").strip().split(", ")
    assert MARKER_STREAM in names and len(names) == 5, names  # 2 x (IMU, COM) + markers
    try:
        try:
            inlets = {n: _inlet(n, since) for n in names}
        except AssertionError as exc:  # say what the recorder did meanwhile
            proc.kill()
            raise AssertionError(f"{exc}; recorder exit {proc.wait()}: {''.join(lines)}{proc.stderr.read()}") from exc
        # the stream layout a consumer reads: labels, units, serial, placement; no subject
        for n in names:
            if n.endswith(" IMU"):
                full = inlets[n].info(BOUND_S).as_xml()
                desc = describe(ET.fromstring(full))
                assert not isinstance(imu_channels(desc.labels, desc.units), str)
                assert desc.units == ("m/s^2",) * 3 + ("rad/s",) * 3 and desc.serial == n.removesuffix(" IMU")
                assert desc.placement in ("trunk", "pelvis") and "C001" not in full
        got = _pull_all(inlets, lambda: proc.poll() is not None)
    finally:
        out, err = proc.communicate(timeout=BOUND_S)
    assert proc.returncode == 0, out + err + "".join(lines)
    summary = json.loads((tmp_path / "summary.json").read_text())
    t0_lsl = summary["lsl"]["t0_lsl_s"]
    with SessionStore(db) as store:
        timed = recorded_samples(store, summary["session_id"])
        replay = _outlet_times(store, summary["session_id"], summary["lsl"]["delay_s"])
    assert sorted(timed) == sorted(n.removesuffix(" IMU") for n in names if n.endswith(" IMU"))
    for sensor_id, timed_samples in timed.items():
        ts = timed_samples.batch
        values, stamps = got[f"{sensor_id} IMU"]
        values, stamps = np.asarray(values), np.asarray(stamps)
        assert len(stamps) == len(ts) > 300  # every sample stored, no more
        np.testing.assert_array_equal(values[:, :3], ts.acc_mps2)  # uncalibrated: the decoded values
        np.testing.assert_array_equal(values[:, 3:], ts.gyr_rps)
        # the outlet's clock replayed on the stored packets (deterministic): the same times
        np.testing.assert_allclose(stamps - t0_lsl, replay[sensor_id], rtol=0, atol=1e-4)
        # the toolkit's offline times (the session analysis's clock fit), from the first sample
        # on: later by at most the least delay (relative to that fit) of a sample the outlet's
        # clock could use (its past, or up to delay_s of arrivals after it), plus the drift
        # allowance times the distance to it: the first packet is no longer stamped late by
        # its own arrival (what the causal live clock does). Not within 1 ms: the offline fit
        # is one line through the whole recording (docs/interop.md, "Timestamps").
        err_s = (stamps - t0_lsl) - ts.time_s
        assert np.all(err_s <= _lookahead_bound(ts, summary["lsl"]["delay_s"]) + 1e-6)
        causal_s = StreamingClock(ts.fs_hz).process(ts.counter, ts.host_time_s) - ts.time_s
        first = ts.host_time_s == ts.host_time_s[0]
        assert err_s[first].max() < causal_s[first].max() - 0.05  # 19 samples at 100 Hz: >= 0.18 s before
        # the COM stream: every sample, the same timestamps; no repetition tagged: no lever, NaN
        com_values, com_stamps = got[f"{sensor_id} com"]
        np.testing.assert_allclose(com_stamps, stamps, rtol=0, atol=1e-4)  # each inlet's clock sync: us
        assert np.asarray(com_values).shape == (len(stamps), 2) and np.isnan(com_values).all()
    assert summary["lsl"]["samples"] == {k: len(v.batch) for k, v in timed.items()}


def _lookahead_bound(ts, delay_s: float, r: float = 500e-6):
    """Per sample, ``min_j (latency_j + |drift| · |c_i - c_j| / fs + r · |host_i - host_j|)`` over
    the samples the outlet's clock may use for sample i (all before it, and after it up to
    ``delay_s`` of arrival), latency and drift those of the offline fit: how late its time
    can be at most relative to that fit."""
    lat = ts.host_time_s - ts.time_s
    period_s = (ts.time_s[-1] - ts.time_s[0]) / float(ts.counter[-1] - ts.counter[0])  # one clock run
    slope = abs(period_s * ts.fs_hz - 1.0)  # the fit's drift: its offset's rate on the host clock
    h = ts.host_time_s
    k_s = ts.counter / ts.fs_hz
    cost = [lat + slope * np.abs(k_s - k_s[i]) + r * np.abs(h - h[i]) for i in range(len(h))]
    return np.array([np.min(c[h <= h[i] + delay_s]) for i, c in enumerate(cost)])


def _outlet_times(store, session_id: int, delay_s: float) -> dict:
    """The outlet's clock (``LookaheadClock``, chunk invariant) on every stored packet of each
    sensor at once: each sample's session-clock time as published."""
    info = store.session_info(session_id)
    times = {}
    for s in info.sensors:
        b = StreamDecoder(s.sensor_id).process(store.raw_packets(session_id, s.sensor_id))
        clock = LookaheadClock(b.fs_hz, lookahead_s=delay_s)
        times[s.sensor_id] = np.concatenate([clock.process(b.counter, b.host_time_s), clock.flush()])
    return times


def _packets(sensor_id: str, n: int) -> list[RawPacket]:
    """A child tilting slowly forward: decoded by the protocol's own packetizer."""
    t = np.arange(n) / 200.0
    tilt = 0.05 * np.sin(2 * np.pi * 0.2 * t)
    acc = np.column_stack([-9.81 * np.sin(tilt), 0 * t, 9.81 * np.cos(tilt)]) / protocol.acc_scale_mps2(8)
    gyr = np.column_stack([0 * t, np.gradient(tilt, t), 0 * t]) / protocol.gyr_scale_rps(1000)
    pk = protocol.packetize(acc.round().astype(np.int16), gyr.round().astype(np.int16), 0, 0, 200, 8, 1000, 19)
    return [RawPacket(sensor_id, 0.095 * (k + 1), d) for k, d in enumerate(pk)]


def test_markers_and_the_com_stream_carry_the_tags_and_the_live_trace():
    clock_s = [100.0]
    hub = LiveHub(LiveParams(com_height_m=0.55), {"S1": "trunk"}, t0_s=100.0, clock=lambda: clock_s[0])
    since = pylsl.local_clock()
    outlet = LslOutlet(hub)
    outlet.open_sensor("S1", "trunk", 200.0)
    inlets = {n: _inlet(n, since) for n in ("S1 IMU", "S1 com", MARKER_STREAM)}
    plan = Plan("p", [CATALOGUE["sit_table_trunk"].replace(target_repetitions=2, hold_s=2.0)])
    tagger = Tagger(plan, clock=lambda: clock_s[0], start_s=100.0)
    hub.attach_tagger(tagger)
    msgs: list = []
    hub.subscribe(msgs.append, kinds=["samples"])
    decoder = StreamDecoder("S1")
    packets = _packets("S1", 1900)
    for k, packet in enumerate(packets):
        clock_s[0] = 100.0 + packet.host_time_s
        if k == 10:
            tagger.next_exercise(at_s=1.0)
            tagger.next_repetition(at_s=1.5)
            hub.tagger_changed("next_repetition")
        if k == 60:
            tagger.next_repetition(at_s=5.5)
            hub.tagger_changed("next_repetition")
            tagger.note("child smiled", at_s=6.0)
        hub.on_batch(decoder.process([packet]))
    events = tagger.stop(at_s=9.0)
    hub.finish()
    rows = events.sort_values("onset_s").to_dict("records")
    outlet.flush()  # what the look-ahead still holds
    got = _pull_all(inlets, lambda: True)
    outlet.close()
    markers = [(json.loads(v[0]), t) for v, t in zip(*got[MARKER_STREAM], strict=True)]
    assert len(markers) == len(rows) >= 4  # exercise, 2 repetitions, note
    by_onset = sorted(markers, key=lambda m: m[1])
    for row, (marker, stamp) in zip(rows, by_onset, strict=True):
        assert marker["kind"] == row["kind"] and marker["exercise"] == row["exercise"]
        assert marker["repetition"] == row["repetition"] and marker["duration_s"] == pytest.approx(row["duration_s"])
        assert stamp == pytest.approx(float(outlet.lsl_time(row["onset_s"])), abs=1e-3)
    assert any(m["note"] == "child smiled" for m, _ in markers)
    # the COM stream: every sample; at the live trace's samples the trace's COM times the
    # lever of the repetition in progress (sitting: 0.188 of the COM height), NaN outside one
    com_values, com_stamps = got["S1 com"]
    imu_values, imu_stamps = got["S1 IMU"]
    assert len(imu_values) == len(com_values) == 1900
    np.testing.assert_allclose(com_stamps, imu_stamps, rtol=0, atol=1e-4)  # each inlet's clock sync: us
    com = np.asarray(com_values)
    decim, start, levers = 8, 0, set()  # 200 Hz -> the 25 Hz trace: every 8th sample
    for m in msgs:
        idx = start + (-start) % decim + decim * np.arange(len(m.trace["t"]))
        lever = m.running["com_lever_frac"]
        levers.add(lever)
        want = np.asarray(m.trace["com_ap_mm"]) * (np.nan if lever is None else lever)
        np.testing.assert_array_equal(com[idx, 0], want)
        assert np.isnan(com[start : start + m.n_samples]).all() == (lever is None)
        start += m.n_samples
    assert None in levers and sorted(x for x in levers if x is not None) == [pytest.approx(0.188, abs=1e-3)]
    assert np.nanmax(np.abs(com[:, 0])) > 0.5  # the tilt 0.05 rad x 0.19 x 0.55 m: ~5 mm
    # timestamps: the outlet's clock on the decoded packets, from the first sample on
    b = StreamDecoder("S1").process(packets)
    clock = LookaheadClock(200.0, lookahead_s=outlet.delay_s)
    want_s = np.concatenate([clock.process(b.counter, b.host_time_s), clock.flush()])
    np.testing.assert_allclose(np.asarray(imu_stamps), outlet.lsl_time(want_s), rtol=0, atol=1e-4)


def test_an_outlet_attached_mid_recording_publishes_the_live_paths_own_signals():
    """The outlet publishes the tilt the live path computed (carried by the hub's ``samples``
    messages), not a second chain of its own: attached after 30 packets, its tilt stream
    equals the live path's signals run from the first sample (a chain started at the
    outlet's first batch would begin from a fresh orientation and differ)."""
    from dmi_sensors.live import LiveSignals

    hub = LiveHub(LiveParams(), {"S1": "trunk"}, t0_s=0.0, clock=lambda: 0.0)
    decoder = StreamDecoder("S1")
    packets = _packets("S1", 1900)
    for packet in packets[:30]:
        hub.on_batch(decoder.process([packet]))
    since = pylsl.local_clock()
    outlet = LslOutlet(hub)
    outlet.open_sensor("S1", "trunk", 200.0)
    inlets = {n: _inlet(n, since) for n in ("S1 IMU", "S1 tilt")}
    for packet in packets[30:]:
        hub.on_batch(decoder.process([packet]))
    outlet.flush()
    got = _pull_all(inlets, lambda: True)
    outlet.close()
    b = StreamDecoder("S1").process(packets)
    params = hub.params
    assert isinstance(params.signals(200.0), LiveSignals)
    sig = params.signals(200.0).process(b.acc_mps2, b.gyr_rps, b.gap_before)
    want = np.degrees(np.column_stack([sig.tilt_ap_rad, sig.tilt_ml_rad]))[30 * 19 :]
    tilt, imu = np.asarray(got["S1 tilt"][0]), np.asarray(got["S1 IMU"][0])
    assert tilt.shape == want.shape == (1330, 2)
    np.testing.assert_array_equal(imu[:, :3], b.acc_mps2[30 * 19 :])
    np.testing.assert_array_equal(tilt, want)
    fresh = params.signals(200.0).process(b.acc_mps2[570:], b.gyr_rps[570:], b.gap_before[570:])
    assert np.abs(np.degrees(fresh.tilt_ap_rad) - want[:, 0]).max() > 1e-3  # what a second chain gives
