"""Small parts of issue 16's fault handling, without a recording: the sample account, counter
plausibility in the decoder, the fault scenarios, the disk-space check, the writer's
arrival-based commit deadline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from store_helpers import fake_clock, synthetic_packets

from dmi_sensors.ble.stats import LinkStats, account
from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol import decode_stream
from dmi_sensors.protocol.constants import COUNTER_JUMP_SLACK_S
from dmi_sensors.protocol.data import encode_data_packet
from dmi_sensors.session import Subject
from dmi_sensors.sim.bluez.faults import PROFILES, SCENARIOS, FaultProfile, fault_setup
from dmi_sensors.store import SessionStore
from dmi_sensors.types import RawPacket

FS = 200.0


def _stats(received: int, lost: int, first: float | None, last: float | None, resets: int = 0) -> LinkStats:
    return LinkStats("S1", "A", "trunk", "stopped", 0, 0.0, received, lost, 0, resets, 0, 0, None, None, None, None,
                     0.0, first_sample_s=first, last_sample_s=last)  # fmt: skip


def test_account_counts_what_the_counters_cannot_see():
    # healthy: streamed from before the start to after the stop: expected = received + gaps
    a = account(_stats(1000, 5, first=0.5, last=5.5 + 4 / FS), FS, start_s=1.0, stop_s=5.0)
    assert (a.samples_expected, a.samples_lost, a.samples_lost_edges) == (1005, 5, 0)
    # lost for good 2 s before the stop: the missing end is a loss
    a = account(_stats(600, 0, first=0.0, last=3.0 - 1 / FS), FS, start_s=0.0, stop_s=5.0)
    # (each edge counts from one sample period inside the recording: 999 expected, 399 lost)
    assert (a.samples_expected, a.samples_received, a.samples_lost, a.samples_lost_edges) == (999, 600, 399, 399)
    # connected 1 s late
    a = account(_stats(800, 0, first=2.0, last=6.0 - 1 / FS), FS, start_s=1.0, stop_s=6.0)
    assert (a.samples_expected, a.samples_lost) == (999, 199)
    # never heard: all of it
    a = account(_stats(0, 0, None, None), FS, start_s=1.0, stop_s=26.0)
    assert (a.samples_expected, a.samples_received, a.samples_lost) == (5000, 0, 5000)


@pytest.mark.parametrize("periods", [0.0, 0.4, 1.0, 1.6, 1.999])
def test_an_edge_within_one_sample_of_the_start_or_stop_is_timing_not_loss(periods):
    """Sample times are device times mapped onto the host clock that timed the start and stop:
    a first sample up to two periods after the start (or a last one ending up to two periods
    before the stop) loses nothing; expected = received then."""
    late = account(_stats(1000, 0, first=1.0 + periods / FS, last=1.0 + (periods + 999) / FS), FS, 1.0, 1.0 + 1000 / FS)
    assert late.samples_lost == late.samples_lost_edges == 0
    assert late.samples_expected - late.samples_received in (-1, 0, 1)
    early = account(_stats(1000, 0, first=1.0, last=1.0 + (999 - periods) / FS), FS, 1.0, 1.0 + 1000 / FS)
    assert early.samples_lost == 0


@pytest.mark.parametrize("missing", [2, 3, 17, 400])
def test_an_edge_loss_beyond_the_timing_uncertainty_is_counted_to_the_sample(missing):
    """``missing`` samples absent at the start (the sensor began late) or at the end (lost
    before the stop): the account counts all but the one sample period of timing slack, and
    expected = received + lost exactly."""
    n = 1000
    start, stop = 1.0, 1.0 + n / FS
    head = account(_stats(n - missing, 0, first=start + missing / FS, last=stop - 1 / FS), FS, start, stop)
    tail = account(_stats(n - missing, 0, first=start, last=stop - (missing + 1) / FS), FS, start, stop)
    for a in (head, tail):
        assert a.samples_lost == a.samples_lost_edges == missing - 1
        assert a.samples_expected == a.samples_received + a.samples_lost


def _packet(counter: int, host_s: float, n: int = 19) -> RawPacket:
    z = np.zeros((n, 3), np.int16)
    z[:, 2] = 4096  # 1 g at ±8 g
    return RawPacket("S1", host_s, encode_data_packet(counter, round(counter * 1e6 / FS), int(FS), 8, 1000, z, z))


def test_an_impossible_counter_jump_is_a_reset_not_millions_of_lost_samples():
    """One well-formed packet 10**7 ahead among packets 95 ms apart: two resets (there and
    back), nothing lost; a real gap of 5 s while the link was down is still counted exactly."""
    period = 19 / FS
    packets = [_packet(19 * k, k * period) for k in range(10)]
    packets.append(_packet(19 * 10 + 10**7, 10 * period))
    packets += [_packet(19 * k, k * period) for k in range(11, 20)]
    # the link was down 5 s: 1000 samples not received, arrival times 5 s apart
    packets += [_packet(19 * 20 + 1000, 20 * period + 1000 / FS)]
    d = decode_stream(packets, "S1")
    assert d.counter_resets == 2 and d.samples_lost == 1000
    assert np.all(np.diff(d.batch.counter)[: 19 * 20 - 1] == 1)
    # a jump just beyond what the host's clock allows is a reset; just within, a gap
    ok = int((period * 1.01 + COUNTER_JUMP_SLACK_S) * FS) - 1
    for extra, resets, lost in ((ok, 0, ok), (ok + 20, 1, 0)):
        d = decode_stream([_packet(0, 0.0), _packet(19 + extra, period)], "S1")
        assert (d.counter_resets, d.samples_lost) == (resets, lost), extra


def test_fault_scenarios_name_their_device_and_combine():
    addresses = ["A1", "A2", "A3"]
    setup = fault_setup("vanish,counter-jump,never-found", addresses)
    assert setup["A1"].vanish_after_samples == 400 and setup["A2"].counter_jump == 10**7 and setup["A3"].absent
    assert setup["*"] == FaultProfile()
    setup = fault_setup("flaky,vanish", addresses)
    assert setup["*"] == PROFILES["flaky"] and setup["A1"].name == "vanish"
    assert fault_setup("hostile", addresses) == PROFILES["hostile"]
    assert fault_setup("counter-jump", ["A1"])["A1"].counter_jump  # "second" of one is the first
    with pytest.raises(ParameterError, match="same device"):
        fault_setup("vanish,bus-dies", addresses)
    with pytest.raises(ParameterError, match="one fault profile at a time"):
        fault_setup("flaky,hostile", addresses)
    with pytest.raises(ParameterError, match="unknown fault profile 'nope'"):
        fault_setup("nope", addresses)
    with pytest.raises(ParameterError, match="vanish_after_samples"):
        FaultProfile(vanish_after_samples=-1)
    assert set(SCENARIOS) == {"vanish", "never-found", "counter-jump", "bus-dies", "bluez-dies"}
    # every name the CLI offers is one of them
    from dmi_sensors.commands.record import FAULT_PROFILES

    assert set(FAULT_PROFILES) == set(PROFILES) | set(SCENARIOS)


def test_disk_watch_warns_when_the_plan_will_not_fit(tmp_path, capsys):
    from dmi_sensors.commands.record_faults import DiskWatch

    free = {"bytes": 100_000_000}
    watch = DiskWatch(tmp_path, need_bps=50_000.0, reserve_bytes=30_000_000, free=lambda _p: free["bytes"])
    watch.at_start(1000.0)  # needs 50 MB, 70 MB usable: fine
    assert watch.warnings == []
    watch.at_start(2000.0)  # needs 100 MB
    assert len(watch.warnings) == 1 and "about 1400 s of the planned 2000 s" in watch.warnings[0]
    assert "warning: disk space" in capsys.readouterr().err


def test_commit_deadline_counts_from_arrival(tmp_path):
    """With the recording's clock origin, a packet that reached the writer late is committed
    at arrival + max_latency_s, not append + max_latency_s (the SIGKILL bound is from arrival)."""
    clock = fake_clock(100.0)
    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create_session(Subject("P001", 2019, 0.42), sensors={"A": "trunk"})
    writer = store.packet_writer(sid, max_latency_s=0.25, threaded=False, clock=clock)
    writer.set_arrival_origin(100.0)  # session time 0 = clock 100
    clock.advance(0.2)
    (p,) = synthetic_packets("A", 1, t0_s=0.0)  # arrived at session time 0, appended 0.2 s later
    writer.append(p)
    assert writer.committed == 0
    clock.advance(0.05)  # 0.25 s after arrival, 0.05 s after the append
    assert writer.poll() and writer.committed == 1
    assert writer.commit_latency_max_s == pytest.approx(0.25)
    writer.close()
    store.close()


# ---------------------------------------------------------------- the clock fit, bit for bit
def _reference_fit_clock(counter, host_time_s, fs_hz, window_s=None, latency_floor_s=0.0):
    """``timing.fit_clock`` as it was before its kernels (numpy temporaries per sample)."""
    from dmi_sensors.timing.clock import ClockFit, lower_support_line, theil_sen_slope

    def window_minima(c, y, width):
        w = (c - c[0]) // width
        starts = np.flatnonzero(np.concatenate([[True], w[1:] != w[:-1]]))
        mins = np.minimum.reduceat(y, starts)
        owner = np.repeat(np.arange(starts.shape[0]), np.diff(np.append(starts, y.shape[0])))
        hits = np.flatnonzero(y == mins[owner])
        _, first = np.unique(owner[hits], return_index=True)
        pos = hits[first]
        return c[pos], y[pos]

    c = np.asarray(counter, dtype=np.int64)
    h = np.asarray(host_time_s, dtype=np.float64)
    c_ref = int(c[0])
    k = (c - c_ref).astype(np.float64)
    y = h - k / fs_hz
    span_s = k[-1] / fs_hz
    if window_s is None:
        window_s = float(min(30.0, max(1.0, span_s / 32.0)))
    width = max(1, round(window_s * fs_hz))
    ck, yk = window_minima(c - c_ref, y, width)
    slope0 = theil_sen_slope(ck.astype(np.float64), yk) if ck.shape[0] >= 2 else 0.0
    ck, rk = window_minima(c - c_ref, y - slope0 * k, width)
    ck = ck.astype(np.float64)
    med = float(np.median(rk))
    mad = float(np.median(np.abs(rk - med))) * 1.4826
    plausible = rk >= med - 6.0 * max(mad, 1e-4)
    dslope, intercept = lower_support_line(ck[plausible], rk[plausible])
    slope = slope0 + dslope
    period = (1.0 + slope * fs_hz) / fs_hz
    offset = intercept - latency_floor_s
    lat = h - (offset + period * k)
    drift_ppm = (period * fs_hz - 1.0) * 1e6
    n_windows, median, p99 = int(ck.shape[0]), float(np.median(lat)), float(np.quantile(lat, 0.99))
    return ClockFit(offset, period, c_ref, float(fs_hz), drift_ppm, float(latency_floor_s), float(window_s), n_windows,
                    median, p99)  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_the_clock_fit_kernels_give_the_numpy_results_bit_for_bit(seed):
    """fit_clock walks the samples in kernels now (bounded memory for long exports); its
    results are exactly those of the numpy expressions it replaced, and so are the clock runs."""
    from dmi_sensors.timing import clock_runs, fit_clock
    from dmi_sensors.types import SampleBatch

    rng = np.random.default_rng(seed)
    fs = float(rng.choice([100.0, 200.0, 1000.0]))
    n_packets, spp = int(rng.integers(50, 3000)), int(rng.integers(1, 20))
    lost = rng.random(n_packets) < 0.05
    first = np.cumsum(np.where(lost, spp * rng.integers(2, 40, n_packets), spp)) + int(rng.integers(0, 10**9))
    counter = (first[:, None] + np.arange(spp)).ravel()
    drift = 1 + rng.normal(0, 100e-6)
    host_pkt = (first + spp - 1) / fs * drift + rng.exponential(0.02, n_packets) + 3.0
    host = np.repeat(host_pkt, spp)
    for window_s in (None, 1.0, 7.3):
        assert fit_clock(counter, host, fs, window_s=window_s) == _reference_fit_clock(counter, host, fs, window_s)
    # the run split: resets (counter + 1 with a gap flag) and clock jumps, as numpy computed it
    gap = np.zeros(counter.shape[0], dtype=bool)
    gap[rng.choice(counter.shape[0], 12, replace=False)] = True
    host2 = host + np.where(np.arange(counter.shape[0]) > counter.shape[0] // 2, 5.0, 0.0)
    z = np.zeros((counter.shape[0], 3))
    batch = SampleBatch("S", fs, counter, host2, host2, z, z, gap)
    step = np.diff(counter)
    resid = host2 - (counter - counter[0]) / fs
    new_run = gap[1:] & ((step == 1) | (np.abs(np.diff(resid)) > 1.0))
    starts = [0, *(np.flatnonzero(new_run) + 1).tolist(), counter.shape[0]]
    assert clock_runs(batch) == [slice(a, b) for a, b in itertools.pairwise(starts) if b > a]
