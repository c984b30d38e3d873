"""``timing.LookaheadClock``: the causal clock improved by a bounded look-ahead.

Checked against a brute-force evaluation of its definition (every sample's offset the
minimum over the run's past and the next ``lookahead_s`` of arrivals of
``y_j + r |host_i - host_j|``), against the truth of simulated packets (the first packet's
samples are no longer stamped with the packet's arrival), for chunk invariance with
``flush`` and for its delay (a sample is returned only after ``lookahead_s`` of later arrivals).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_live_metrics import FS, SPP, sway_packets

from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.timing import LookaheadClock, StreamingClock, fit_clock


def _brute(c, h, fs_hz, lookahead_s, r):
    """The definition, sample by sample (runs: a counter that does not increase starts one)."""
    run = np.cumsum(np.concatenate(([0], (c[1:] <= c[:-1]).astype(int))))
    y = h - c / fs_hz
    out = np.empty(len(c))
    for i in range(len(c)):
        same = np.flatnonzero(run == run[i])
        js = [j for j in same if j <= i]
        for j in same[same > i]:
            if h[j] > h[i] + lookahead_s:
                break
            js.append(j)
        js = np.asarray(js)
        out[i] = c[i] / fs_hz + np.min(y[js] + r * np.abs(h[i] - h[js]))
    return out


def _batch(duration_s=20.0, **kw):
    packets, t, _ = sway_packets(duration_s=duration_s, **kw)
    return StreamDecoder("S1").process(packets), t


def test_lookahead_clock_is_its_definition_and_the_causal_clock_when_not_looking_ahead():
    b, _ = _batch(8.0)
    c = np.concatenate([b.counter[:900], b.counter[:700]]).astype(np.float64)  # a restart
    h = np.concatenate([b.host_time_s[:900], b.host_time_s[:700] + 30.0])
    for lookahead_s in (0.0, 0.3, 1.5):
        clock = LookaheadClock(FS, lookahead_s=lookahead_s, drift_tolerance_ppm=300.0)
        got = np.concatenate([clock.process(c, h), clock.flush()])
        np.testing.assert_allclose(got, _brute(c, h, FS, lookahead_s, 300e-6), rtol=0, atol=1e-12)
    causal = StreamingClock(FS, drift_tolerance_ppm=300.0).process(c, h)
    assert np.all(got <= causal + 1e-12)
    # the last sample of a packet is the least delayed: look-ahead 0 changes only the others
    last_of_packet = np.append(h[1:] != h[:-1], True)
    clock = LookaheadClock(FS, lookahead_s=0.0, drift_tolerance_ppm=300.0)
    zero = np.concatenate([clock.process(c, h), clock.flush()])
    np.testing.assert_allclose(zero[last_of_packet], causal[last_of_packet], rtol=0, atol=1e-12)


def test_the_first_packet_is_timed_from_the_next_arrivals_not_its_own():
    b, t = _batch(30.0, drift_ppm=40.0)
    truth = t[b.counter] * (1 + 40e-6) + 2.5 + 0.004  # sway_packets: 4 ms fixed latency + exponential
    clock = LookaheadClock(FS, lookahead_s=2.0)
    got = np.concatenate([clock.process(b.counter, b.host_time_s), clock.flush()])
    causal = StreamingClock(FS).process(b.counter, b.host_time_s)
    first = b.counter < SPP
    assert (causal - truth)[first].max() > 0.05  # the first packet's arrival: 19 samples at 200 Hz late
    # with 2 s of later arrivals: within the fastest delivery seen in them plus the drift allowance
    assert np.abs(got - truth)[first].max() < 0.003
    offline = fit_clock(b.counter, b.host_time_s, FS).time_s(b.counter)
    assert np.abs(got - offline).max() < np.abs(causal - offline).max() / 10


def test_samples_wait_for_lookahead_s_of_later_arrivals():
    b, _ = _batch(6.0)
    clock = LookaheadClock(FS, lookahead_s=1.0)
    h = b.host_time_s
    done = 0
    for a in range(0, len(b), SPP):
        out = clock.process(b.counter[a : a + SPP], h[a : a + SPP])
        done += len(out)
        newest = h[min(a + SPP, len(b)) - 1]
        assert np.all(h[:done] < newest - 1.0)  # returned: a later sample arrived > 1 s after
        assert np.all(h[done : a + SPP] >= newest - 1.0)  # held: none did yet
        assert clock.pending == min(a + SPP, len(b)) - done
    held = clock.pending
    assert held == len(b) - done > 0 and len(clock.flush()) == held and clock.pending == 0
    with pytest.raises(ParameterError):
        LookaheadClock(FS, lookahead_s=-1.0)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_lookahead_clock_is_chunk_invariant(cuts):
    b, _ = _batch(10.0)
    whole_clock = LookaheadClock(FS, lookahead_s=0.7)
    whole = np.concatenate([whole_clock.process(b.counter, b.host_time_s), whole_clock.flush()])
    clock = LookaheadClock(FS, lookahead_s=0.7)
    bounds = [0, *sorted(cuts), len(b)]
    parts = [clock.process(b.counter[x:y], b.host_time_s[x:y]) for x, y in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate([*parts, clock.flush()]), whole)
