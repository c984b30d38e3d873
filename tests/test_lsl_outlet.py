"""``dmi-sensors record --lsl``: the recorder's LSL outlets, received by real liblsl inlets on
loopback (tests/lsl_helpers.py).

* Through the CLI: two emulated sensors recorded with ``--lsl --lsl-wait-s`` (the recorder
  waits for this test's inlets before the sensors stream); the inlets receive every sample
  the recorder stored, for each sensor, with the stored values and timestamps within 1 ms
  of the toolkit's drift-corrected times (``store.recorded_samples``, the offline clock fit
  of the stored packets), mapped by the session start the summary reports.
* In process: a live hub fed decoded packets and a tagger: the markers arrive as the tag
  rows (JSON, stamped with their onsets), the COM stream carries the live path's trace.
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
from dmi_sensors.types import RawPacket

BOUND_S = 90.0


def _inlet(name: str):
    infos = pylsl.resolve_bypred(f"name='{name}'", 1, BOUND_S)
    assert infos, f"stream {name!r} not found"
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
        inlets = {n: _inlet(n) for n in names}
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
        live_times = _live_times(store, summary["session_id"], 0.5)
    assert sorted(timed) == sorted(n.removesuffix(" IMU") for n in names if n.endswith(" IMU"))
    for sensor_id, timed_samples in timed.items():
        ts = timed_samples.batch
        values, stamps = got[f"{sensor_id} IMU"]
        values, stamps = np.asarray(values), np.asarray(stamps)
        assert len(stamps) == len(ts) > 300  # every sample stored, no more
        np.testing.assert_array_equal(values[:, :3], ts.acc_mps2)  # uncalibrated: the decoded values
        np.testing.assert_array_equal(values[:, 3:], ts.gyr_rps)
        # the toolkit's live clock on the stored packets, mapped to LSL's clock: within 1 ms
        err_s = np.abs((stamps - t0_lsl) - live_times[sensor_id])
        assert err_s.max() < 1e-3, f"{sensor_id}: {err_s.max() * 1e3:.3f} ms"
        # and the offline clock fit of the same packets (the session analysis's times) agrees
        # with the live clock after its first packet within the link's latency
        assert np.median(np.abs((stamps - t0_lsl) - ts.time_s)) < 0.02
        com_values, com_stamps = got[f"{sensor_id} com"]
        assert len(com_stamps) == pytest.approx(len(stamps) / 4, abs=2)  # 100 Hz -> the 25 Hz trace
        assert np.all(np.isfinite(np.asarray(com_values)))
    assert summary["lsl"]["samples"] == {k: len(v.batch) for k, v in timed.items()}


def _live_times(store, session_id: int, com_height_m: float) -> dict:
    """Every stored packet replayed at once through the live path (the same code as the
    recorder's hub; chunk invariant): each sample's time on the session clock."""
    info = store.session_info(session_id)
    hub = LiveHub(LiveParams.from_analysis(None, com_height_m), {s.sensor_id: s.placement for s in info.sensors})
    times: dict = {}
    hub.subscribe(lambda m: times.setdefault(m.sensor_id, []).append(m.time_s), kinds=["samples"])
    for s in info.sensors:
        hub.on_batch(StreamDecoder(s.sensor_id).process(store.raw_packets(session_id, s.sensor_id)))
    return {k: np.concatenate(v) for k, v in times.items()}


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
    outlet = LslOutlet(hub)
    outlet.open_sensor("S1", "trunk", 200.0)
    inlets = {n: _inlet(n) for n in ("S1 IMU", "S1 com", MARKER_STREAM)}
    plan = Plan("p", [CATALOGUE["sit_table_trunk"].replace(target_repetitions=2, hold_s=2.0)])
    tagger = Tagger(plan, clock=lambda: clock_s[0], start_s=100.0)
    hub.attach_tagger(tagger)
    traces: list[dict] = []
    hub.subscribe(lambda m: traces.append(m.trace), kinds=["samples"])
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
    com_values, com_stamps = got["S1 com"]
    trace_ap = [v for tr in traces for v in tr["com_ap_mm"]]
    trace_t = [v for tr in traces for v in tr["t"]]
    np.testing.assert_array_equal(np.asarray(com_values)[:, 0], trace_ap)  # the live path's COM, as computed
    np.testing.assert_allclose(np.asarray(com_stamps), outlet.lsl_time(np.asarray(trace_t)), atol=1e-3)
    imu_values, _ = got["S1 IMU"]
    assert len(imu_values) == 1900
