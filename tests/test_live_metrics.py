"""The live path after decoding: streaming clock, live sway signals, repetition results.

The key property (DESIGN rule 2, issue 17): the live value at the end of a repetition
equals the offline one, i.e. the same code fed the stored recording at once
(:func:`dmi_sensors.live.replay_stored`). Checked here on synthetic packets split every
way, and end to end through bleak and the emulated BlueZ in ``test_live_recording``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import protocol as P
from dmi_sensors.live import LiveHub, LiveParams, LiveSensor, LiveSignals, replay_stored
from dmi_sensors.metrics import prieto_measures
from dmi_sensors.metrics.levers import com_lever_m
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.session.events import EventRecord
from dmi_sensors.timing import StreamingClock
from dmi_sensors.types import RawPacket

FS = 200.0
SPP = 19
G = 9.80665
H_COM = 0.55
AMP_RAD = 0.02  # pitch sway amplitude
F_HZ = 0.5


def sway_packets(duration_s=40.0, offset_s=2.5, seed=0, drift_ppm=80.0, lose=(), sensor_id="S1"):
    """A sensor pitching ``AMP_RAD·sin(2π F t)`` (analytic acc and gyro), as protocol packets
    with host arrival = device time · (1 + drift) + offset + exponential latency."""
    n = int(duration_s * FS)
    t = np.arange(n) / FS
    th = AMP_RAD * np.sin(2 * np.pi * F_HZ * t)
    dth = AMP_RAD * 2 * np.pi * F_HZ * np.cos(2 * np.pi * F_HZ * t)
    acc = np.column_stack([-G * np.sin(th), np.zeros(n), G * np.cos(th)])
    gyr = np.column_stack([np.zeros(n), dth, np.zeros(n)])
    ac = np.round(acc / P.acc_scale_mps2(8)).astype(np.int16)
    gc = np.round(gyr / P.gyr_scale_rps(1000)).astype(np.int16)
    datas = P.packetize(ac, gc, 0, 0, FS, 8, 1000, SPP)
    rng = np.random.default_rng(seed)
    packets = []
    for k, d in enumerate(datas):
        if k in lose:
            continue
        last = min(n, (k + 1) * SPP) - 1
        host = t[last] * (1 + drift_ppm * 1e-6) + offset_s + 0.004 + rng.exponential(0.012)
        packets.append(RawPacket(sensor_id, host, d))
    # arrival order = host time order (a BLE link delivers in order)
    hosts = np.maximum.accumulate([p.host_time_s for p in packets])
    return [dataclasses.replace(p, host_time_s=float(h)) for p, h in zip(packets, hosts, strict=True)], t, th


# ----------------------------------------------------------------------------- clock
def test_streaming_clock_times_samples_from_the_past_only():
    packets, t, _ = sway_packets(duration_s=60.0, drift_ppm=-150.0)
    batch = StreamDecoder("S1").process(packets)
    truth = t[batch.counter] * (1 - 150e-6) + 2.5  # host time at which each sample was taken
    got = StreamingClock(FS).process(batch.counter, batch.host_time_s)
    err = got - truth
    after_first = batch.counter >= SPP
    # late by the fastest latency seen (>= 4 ms floor) plus the drift allowance: a few ms
    assert err[after_first].min() >= 0.0039
    assert np.percentile(err[after_first], 99) < 0.012
    # the first packet's samples share its arrival time (nothing earlier is known)
    first = ~after_first
    assert np.allclose(got[first], batch.host_time_s[0])


def test_streaming_clock_follows_a_slow_device_clock_and_restarts():
    packets, t, _ = sway_packets(duration_s=120.0, drift_ppm=300.0)
    batch = StreamDecoder("S1").process(packets)
    truth = t[batch.counter] * (1 + 300e-6) + 2.5
    got = StreamingClock(FS, drift_tolerance_ppm=500.0).process(batch.counter, batch.host_time_s)
    # a slow device: the offset must rise by 36 ms over the 2 minutes, and does
    assert np.abs((got - truth)[batch.counter >= SPP]).max() < 0.02
    stuck = StreamingClock(FS, drift_tolerance_ppm=0.0).process(batch.counter, batch.host_time_s)
    assert (truth - stuck)[-1] > 0.02  # without the allowance the estimate falls behind
    # a counter that goes back starts a new run (a restarted sensor)
    c = np.concatenate([batch.counter[:400], batch.counter[:400]])
    h = np.concatenate([batch.host_time_s[:400], batch.host_time_s[:400] + 100.0])
    times = StreamingClock(FS).process(c, h)
    assert times[400:].min() > 100.0


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_streaming_clock_is_chunk_invariant(cuts):
    packets, _, _ = sway_packets(duration_s=10.0)
    b = StreamDecoder("S1").process(packets)
    whole = StreamingClock(FS).process(b.counter, b.host_time_s)
    clock = StreamingClock(FS)
    bounds = [0, *sorted(cuts), len(b)]
    parts = [clock.process(b.counter[x:y], b.host_time_s[x:y]) for x, y in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


# ----------------------------------------------------------------------------- signals
def test_live_signals_measure_a_known_tilt_and_com():
    """A still sensor leaning 0.1 rad forward and 0.05 rad left: tilt and pendulum COM exact."""
    ap, ml = 0.1, 0.05
    # specific force of a body leaning forward (pitch +ap about +y) and left (roll -ml about +x)
    g = np.array([-np.sin(ap), -np.cos(ap) * np.sin(ml), np.cos(ap) * np.cos(ml)]) * G
    acc = np.tile(g, (400, 1))
    out = LiveSignals(FS, com_height_m=H_COM).process(acc, np.zeros((400, 3)))
    assert out.tilt_ap_rad[-1] == pytest.approx(ap, abs=1e-9)
    assert out.tilt_ml_rad[-1] == pytest.approx(ml, abs=1e-9)
    assert out.com_ap_mm[-1] == pytest.approx(1000 * H_COM * math.sin(ap), rel=1e-9)
    assert out.com_ml_mm[-1] == pytest.approx(1000 * H_COM * math.sin(ml), rel=1e-9)
    tilt_only = LiveSignals(FS).process(acc, np.zeros((400, 3)))
    assert np.isnan(tilt_only.com_ap_mm).all()


# ----------------------------------------------------------------------------- repetitions
def reps(posture="standing"):
    """Three repetitions of 8 s (hold from 2 s after onset)."""
    return [
        EventRecord(
            5.0 + 9 * k,
            8.0,
            exercise="stand_floor_knees",
            repetition=k + 1,
            support="knees",
            kind="repetition",
            posture=posture,
        )
        for k in range(3)
    ]


def feed_live(packets, events, params, chunk=1):
    """What the live view does: decode per drain, add each repetition when it closes."""
    decoder = StreamDecoder("S1")
    sensor = None
    pending = sorted(events, key=lambda e: e.end_s)
    started = set()
    for i in range(0, len(packets), chunk):
        batch = decoder.process(packets[i : i + chunk])
        if sensor is None:
            sensor = LiveSensor("S1", "trunk", batch.fs_hz, params)
        now = packets[min(i + chunk, len(packets)) - 1].host_time_s - 2.5  # tags are on the host clock
        for ev in pending:
            if ev.onset_s <= now and ev.repetition not in started:
                started.add(ev.repetition)
                sensor.start_repetition(dataclasses.replace(ev, duration_s=0.0))
        sensor.add_batch(batch)
        while pending and pending[0].end_s + 2.5 <= packets[min(i + chunk, len(packets)) - 1].host_time_s:
            sensor.add_repetition(pending.pop(0))
    for ev in pending:
        sensor.add_repetition(ev)
    sensor.flush()
    return sensor


@pytest.mark.parametrize("chunk", [1, 3, 17])
def test_the_live_result_at_a_repetitions_end_equals_the_stored_recording_replayed(chunk):
    packets, _, _ = sway_packets(duration_s=36.0)
    events = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps()]  # on the host clock
    params = LiveParams(com_height_m=H_COM)
    live = feed_live(packets, events, params, chunk)
    offline = replay_stored(packets, "S1", "trunk", events, params)
    assert [r.status for r in live.results] == ["ok", "ok", "ok"]
    assert live.results == offline.results  # bit for bit, every measure


def test_a_repetition_result_is_the_metrics_layers_prieto_on_the_hold():
    """The live numbers are metrics.prieto_measures of the hold's COM with the analysis's
    lever (held at the knees: 0.56 h); physics: RMS = lever·A/√2."""
    packets, _, _ = sway_packets(duration_s=36.0, drift_ppm=0.0)
    events = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps()]
    params = LiveParams(com_height_m=H_COM)
    sensor = replay_stored(packets, "S1", "trunk", events, params)
    r = sensor.results[1]
    assert r.kind == "com" and r.status == "ok"
    # the same samples through the same code by hand
    batch = StreamDecoder("S1").process(packets)
    t = StreamingClock(FS).process(batch.counter, batch.host_time_s)
    sig = LiveSignals(FS, com_height_m=H_COM).process(batch.acc_mps2, batch.gyr_rps, batch.gap_before)
    i0 = int(np.flatnonzero(t >= r.hold_start_s)[0])
    i1 = int(np.flatnonzero(t >= r.end_s)[0])
    lever_m = com_lever_m(H_COM, "standing", "knees")
    assert lever_m == pytest.approx(0.560 * H_COM, rel=1e-3)
    frac = lever_m / H_COM
    want = prieto_measures(sig.com_ap_mm[i0:i1] * frac, sig.com_ml_mm[i0:i1] * frac, FS, params.ellipse_method)
    assert r.n_samples == i1 - i0 == pytest.approx(6.0 * FS, abs=3)
    for name, value in r.measures.items():
        assert value == want[name], name
    # physics: a pitch sway of A rad about the knees: RMS AP = 1000·lever·A/√2 mm (causal filter: within 3 %)
    assert r.measures["com_rms_ap_mm"] == pytest.approx(1000 * lever_m * AMP_RAD / math.sqrt(2), rel=0.03)
    assert r.measures["com_rms_ml_mm"] < 0.05 * r.measures["com_rms_ap_mm"]


@pytest.mark.parametrize(
    ("posture", "support"),
    [
        ("standing", "none"),
        ("standing", "ankles"),
        ("supported_standing", "knees"),
        ("standing", "hips"),
        ("sitting", "trunk"),
    ],
)
def test_the_live_com_uses_the_analysis_lever_of_posture_and_support(posture, support):
    """The whole-body COM moves ``lever · sin θ`` with the pivot the support leaves
    (metrics.levers, as in the session analysis): the live result and the running sway use
    the repetition's lever, not the full COM height, and tell it to the page."""
    packets, _, _ = sway_packets(duration_s=20.0, drift_ppm=0.0)
    event = EventRecord(5.5, 12.0, exercise="e", repetition=1, support=support, kind="repetition", posture=posture)
    sensor = LiveSensor("S1", "trunk", FS, LiveParams(com_height_m=H_COM))
    sensor.start_repetition(dataclasses.replace(event, duration_s=0.0))
    decoder = StreamDecoder("S1")
    for p in packets:
        update = sensor.add_batch(decoder.process([p]))
    sensor.add_repetition(event)
    sensor.flush()
    lever_m = com_lever_m(H_COM, posture, support)
    (r,) = sensor.results
    assert r.kind == "com" and r.status == "ok"
    want_rms_mm = 1000 * lever_m * AMP_RAD / math.sqrt(2)
    assert r.measures["com_rms_ap_mm"] == pytest.approx(want_rms_mm, rel=0.03)
    assert update.running["kind"] == "com" and update.running["rms_ap"] == pytest.approx(want_rms_mm, rel=0.05)
    # the trace stays the continuous pendulum at the full COM height; the page scales it
    assert update.running["com_lever_frac"] == pytest.approx(lever_m / H_COM, rel=1e-12)


def test_tilt_measures_outside_standing_and_sitting_and_without_com_height():
    packets, _, _ = sway_packets(duration_s=36.0)
    events = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps("four_point")]
    four_point = replay_stored(packets, "S1", "trunk", events, LiveParams(com_height_m=H_COM)).results
    standing = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps()]
    no_height = replay_stored(packets, "S1", "trunk", standing, LiveParams()).results
    for r in [*four_point, *no_height]:
        assert r.kind == "tilt" and r.status == "ok"
        assert set(r.measures) == {
            "tilt_rms_ap_deg",
            "tilt_rms_ml_deg",
            "tilt_range_ap_deg",
            "tilt_range_ml_deg",
            "tilt_mean_velocity_deg_s",
            "tilt_path_length_deg",
        }
        assert r.measures["tilt_rms_ap_deg"] == pytest.approx(math.degrees(AMP_RAD) / math.sqrt(2), rel=0.03)


def test_a_hold_with_lost_samples_or_too_short_is_not_measured():
    lost_packet = int((16.0 + 2.5) * FS / SPP)  # inside the second repetition's hold
    packets, _, _ = sway_packets(duration_s=36.0, lose=(lost_packet,))
    events = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps()]
    events.append(EventRecord(34.0, 3.0, exercise="x", repetition=9, kind="repetition", posture="standing"))
    got = {
        r.repetition: r for r in replay_stored(packets, "S1", "trunk", events, LiveParams(com_height_m=H_COM)).results
    }
    assert got[1].status == "ok" and got[3].status == "ok"
    assert got[2].status == "samples lost in the hold" and got[2].measures == {}
    assert got[9].status.startswith("hold shorter than")


def test_the_running_sway_follows_the_repetition_in_progress():
    packets, _, _ = sway_packets(duration_s=20.0)
    sensor = LiveSensor("S1", "trunk", FS, LiveParams(com_height_m=H_COM))
    decoder = StreamDecoder("S1")
    assert sensor.running()["rms_ap"] is None
    sensor.start_repetition(EventRecord(3.0, 0.0, exercise="e", repetition=1, kind="repetition", posture="standing"))
    for p in packets:
        update = sensor.add_batch(decoder.process([p]))
    running = update.running
    assert running["kind"] == "com"
    # the hold so far (from 5 s to ~20 s of host time): RMS close to the analytic h·A/√2
    assert running["rms_ap"] == pytest.approx(1000 * H_COM * AMP_RAD / math.sqrt(2), rel=0.05)
    assert running["hold_s"] == pytest.approx(20.0 + 2.5 - 5.0, abs=0.5)


def test_hub_subscribers_get_samples_and_results_in_order_and_a_failing_one_is_dropped():
    packets, _, _ = sway_packets(duration_s=20.0)
    hub = LiveHub(LiveParams(com_height_m=H_COM), {"S1": "trunk"})
    got = []
    hub.subscribe(lambda m: got.append(type(m).__name__))
    full_rate = []
    hub.subscribe(lambda m: full_rate.append((m.batch.counter, m.time_s)), kinds=["samples"])

    def broken(_m):
        raise RuntimeError("boom")

    hub.subscribe(broken, kinds=["samples"])
    decoder = StreamDecoder("S1")
    for p in packets[:200]:
        hub.on_batch(decoder.process([p]))
    hub.on_tag(EventRecord(3.0, 9.0, exercise="e", repetition=1, kind="repetition", posture="standing"))
    for p in packets[200:]:
        hub.on_batch(decoder.process([p]))
    assert got.count("LiveSamples") == len(packets)
    # every sample at full rate with its live time (what an outlet forwards)
    counters = np.concatenate([c for c, _ in full_rate])
    times = np.concatenate([t for _, t in full_rate])
    np.testing.assert_array_equal(counters, np.arange(len(counters)))
    np.testing.assert_array_equal(
        times, StreamingClock(FS).process(counters, StreamDecoder("S1").process(packets).host_time_s)
    )
    assert "EventRecord" in got and "RepetitionResult" in got
    assert got.index("EventRecord") < got.index("RepetitionResult")
    assert len(hub._subscribers) == 2  # the broken one is gone, the recording goes on
    assert hub.latency.summary()["metric"]["n"] == len(packets)
    with pytest.raises(ValueError, match="unknown kinds"):
        hub.subscribe(print, kinds=["nonsense"])


def test_a_vendor_recording_replays_with_its_decoder():
    """The pitch sway as Movella DOT notifications (60 Hz, float32 m/s² and deg/s, µs stamps),
    replayed with the DOT decoder: every repetition measured, COM RMS = 1000·h·A/√2 mm."""
    from dmi_sensors.vendors import decoder_for, dot

    fs = 60
    t = np.arange(36 * fs) / fs
    th = AMP_RAD * np.sin(2 * np.pi * F_HZ * t)
    dth = AMP_RAD * 2 * np.pi * F_HZ * np.cos(2 * np.pi * F_HZ * t)
    acc = np.column_stack([-G * np.sin(th), np.zeros(t.size), G * np.cos(th)])
    gyr_dps = np.degrees(np.column_stack([np.zeros(t.size), dth, np.zeros(t.size)]))
    packets = [
        RawPacket("dot-1", 2.5 + t[k] + 0.004, dot.encode_measurement(round(t[k] * 1e6), acc[k], gyr_dps[k]))
        for k in range(t.size)
    ]
    events = [dataclasses.replace(e, onset_s=e.onset_s + 2.5) for e in reps()]
    params = LiveParams(com_height_m=H_COM)
    results = replay_stored(packets, "dot-1", "trunk", events, params, decoder=decoder_for("dot", "dot-1")).results
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    lever_m = com_lever_m(H_COM, "standing", "knees")  # held at the knees: the analysis's lever
    for r in results:
        assert r.measures["com_rms_ap_mm"] == pytest.approx(1000 * lever_m * AMP_RAD / math.sqrt(2), rel=0.03)


def _arrival_runs(host_time_s: np.ndarray) -> list[float]:
    """One arrival time per packet of a batch (its samples share their packet's)."""
    h = host_time_s.tolist()
    return [x for i, x in enumerate(h) if i == len(h) - 1 or h[i + 1] != x]


@settings(max_examples=20, deadline=None)
@given(
    drains=st.lists(st.integers(1, 5), min_size=1, max_size=120),
    pulls=st.sets(st.integers(0, 120), max_size=30),
    com=st.booleans(),
)
def test_a_view_pulls_every_trace_sample_once_as_the_per_batch_traces_had_them(drains, pulls, com):
    """The live view pulls the trace when it draws (LiveView) instead of collecting one
    message per packet: for any split into drains and any pull times, the pulled trace is
    the concatenation of the per-batch traces (every decim-th sample by absolute index,
    none lost, none twice), the running sway is the one after the newest batch, and the
    arrival times are one per packet, in order."""
    packets, _, _ = sway_packets(duration_s=12.0)
    params = LiveParams(com_height_m=H_COM if com else None)
    hub = LiveHub(params, {"S1": "trunk"})
    twin = LiveSensor("S1", "trunk", FS, params)  # the per-batch path (LiveSensor.add_batch)
    rep = EventRecord(3.0, 0.0, exercise="e", repetition=1, kind="repetition", posture="standing")
    hub.sensor("S1", FS).start_repetition(rep)
    twin.start_repetition(rep)
    view = hub.open_view()
    decoder = StreamDecoder("S1")
    pulled: dict[str, list[float]] = {}
    want: dict[str, list[float]] = {}
    arrivals: list[float] = []
    want_arrivals: list[float] = []
    i = 0
    for k, m in enumerate(itertools.chain(drains, itertools.repeat(5))):
        if i >= len(packets):
            break
        batch = decoder.process(packets[i : i + m])
        i += m
        hub.on_batch(batch)
        update = twin.add_batch(batch)
        for key, values in update.trace.items():
            want.setdefault(key, []).extend(values)
        want_arrivals.extend(_arrival_runs(batch.host_time_s))
        if k in pulls:
            traces, running, new = view.pull()
            assert running == {"S1": update.running}
            for key, values in traces.get("S1", {}).items():
                pulled.setdefault(key, []).extend(values)
            arrivals.extend(new)
            assert view.pull() == ({}, {}, [])  # nothing new since
    traces, _, new = view.pull()
    for key, values in traces.get("S1", {}).items():
        pulled.setdefault(key, []).extend(values)
    arrivals.extend(new)
    assert pulled == want  # bit for bit, in order
    n = twin.samples
    assert len(pulled["t"]) == (n + twin.trace_decim - 1) // twin.trace_decim
    assert set(pulled) == ({"t", "tilt_ap_deg", "tilt_ml_deg"} | ({"com_ap_mm", "com_ml_mm"} if com else set()))
    assert arrivals == want_arrivals == [p.host_time_s for p in packets]  # (distinct arrival times)


def test_a_view_opened_late_starts_from_then_and_a_closed_one_gets_nothing():
    packets, _, _ = sway_packets(duration_s=4.0)
    hub = LiveHub(LiveParams(), {"S1": "trunk"})
    decoder = StreamDecoder("S1")
    for p in packets[:10]:
        hub.on_batch(decoder.process([p]))
    view = hub.open_view()
    assert not view.has_trace()
    hub.on_batch(decoder.process(packets[10:12]))
    assert view.has_trace()
    traces, _, arrivals = view.pull()
    decim = hub.sensors["S1"].trace_decim
    first = 10 * SPP + (-10 * SPP) % decim  # the first trace sample after the view opened
    times = hub.sensors["S1"].last_update().time_s
    assert traces["S1"]["t"][0] == times[first - 10 * SPP]  # (packets 10 and 11 were one batch)
    assert arrivals == [packets[10].host_time_s, packets[11].host_time_s]
    view.close()
    hub.on_batch(decoder.process(packets[12:14]))
    assert view.arrivals == [] and hub._views == []


def test_no_live_samples_message_is_built_without_a_samples_subscriber(monkeypatch):
    """Per packet the hub builds a LiveSamples message (trace, running sway, views of the
    samples) only while someone subscribed to "samples" (e.g. the LSL outlet); the live
    view pulls instead."""
    import dmi_sensors.live.hub as hub_module
    from dmi_sensors.live.server import LiveServer

    built = []

    class Counted(hub_module.LiveSamples):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self.n_samples)

    monkeypatch.setattr(hub_module, "LiveSamples", Counted)
    packets, _, _ = sway_packets(duration_s=20.0)
    hub = LiveHub(LiveParams(com_height_m=H_COM), {"S1": "trunk"})
    server = LiveServer(hub)
    server.follow_hub()  # what a started server does: a view and results, tags, states
    others = []
    hub.subscribe(others.append, kinds=["repetition", "tag", "status"])
    decoder = StreamDecoder("S1")
    for p in packets[:100]:
        hub.on_batch(decoder.process([p]))
    assert built == []
    got = []
    unsubscribe = hub.subscribe(got.append, kinds=["samples"])
    for p in packets[100:150]:
        hub.on_batch(decoder.process([p]))
    assert built == [SPP] * 50 and len(got) == 50
    assert all(isinstance(m, Counted) and m.trace and m.running for m in got)
    unsubscribe()
    for p in packets[150:200]:
        hub.on_batch(decoder.process([p]))

    def broken(_m):
        raise RuntimeError("boom")

    hub.subscribe(broken, kinds=["samples"])
    for p in packets[200:]:
        hub.on_batch(decoder.process([p]))
    assert len(built) == 51  # the broken subscriber got one message and was dropped
    server.unfollow_hub()
    assert hub._views == [] and len(hub._subscribers) == 1
