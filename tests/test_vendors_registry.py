"""The vendor registry: decoder_for, identify, the timing path, and fuzzing every decoder with bad bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmi_sensors.errors import ParameterError
from dmi_sensors.timing import timed_samples
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import (
    DECODERS,
    VENDORS,
    Identification,
    decode_vendor_stream,
    decoder_for,
    dot,
    identify,
    metamotion,
    polar,
    witmotion,
)

G0 = 9.80665


def test_registry_names_and_settings_errors():
    assert VENDORS == ("metamotion", "dot", "polar", "witmotion")
    for vendor, cls in DECODERS.items():
        d = decoder_for(vendor, "S1")
        assert isinstance(d, cls) and d.vendor == vendor and d.sensor_id == "S1"
        assert d.loss_accounting in ("exact", "estimated")
    assert decoder_for("polar", "S1", model="H10", rate_hz=200, gyroscope=False).fs_hz == 200.0
    with pytest.raises(ParameterError, match="vendor must be one of metamotion, dot, polar, witmotion"):
        decoder_for("xsens", "S1")
    with pytest.raises(ParameterError, match="unknown: range_g"):
        decoder_for("dot", "S1", range_g=8)


def test_identify_each_vendor_and_nothing_else():
    assert identify("Polar H10 ABCDEF12") == Identification("polar", "H10")
    assert identify("Movella DOT", manufacturer_data={0x0886: b"\x01"}) == Identification("dot", "DOT")
    assert identify("MetaWear", [metamotion.SERVICE_UUID]) == Identification("metamotion", "MetaMotion")
    assert identify("WT901BLE67") == Identification("witmotion", "WT901BLECL")
    assert identify("DMI-00A1B2C3") is None  # our own firmware: the protocol layer's advertising
    assert identify(None) is None and identify("", [], {}) is None


def test_packets_of_another_sensor_are_refused():
    d = decoder_for("dot", "S1")
    with pytest.raises(ParameterError, match="fed packets of"):
        d.process([RawPacket("S2", 0.0, dot.encode_measurement(0, [0, 0, 9.8], [0, 0, 0]))])


def test_vendor_timestamps_become_drift_corrected_sample_times():
    """DOT with a device clock 80 ppm fast and positive, jittery latency: timing.timed_samples times every
    sample to within a few ms of when it was taken, and the link statistics say the loss count is exact."""
    rng = np.random.default_rng(4)
    n, fs = 6000, 60
    taken = np.arange(n) / fs / (1 + 80e-6)  # host-clock time each sample was taken
    stamps = (np.round(np.arange(n) * 1e6 / fs)).astype(np.int64) + 7_000_000
    latency = 0.008 + rng.exponential(0.01, n)
    host = np.maximum.accumulate(taken + latency)
    keep = np.ones(n, dtype=bool)
    keep[[100, 2000, 2001, 4500]] = False
    pk = [
        RawPacket("D1", float(h), dot.encode_measurement(int(s), [0, 0, 9.8], [0, 0, 0]))
        for h, s, k in zip(host, stamps, keep, strict=True)
        if k
    ]
    timed = timed_samples(pk, "D1", decoder=decoder_for("dot", "D1"))
    link = timed.link()
    assert link["samples_lost"] == 4 and link["loss_accounting"] == "exact"
    err = timed.batch.time_s - taken[keep]
    assert np.max(np.abs(err - 0.008)) < 0.004  # the constant 8 ms latency floor is not observable
    assert timed.runs[0].fit is not None and timed.runs[0].fit.drift_ppm == pytest.approx(-80, abs=2)


def test_estimated_vendors_say_so_in_the_link_statistics():
    pk = [RawPacket("W1", i / 100, witmotion.encode_imu_frame([0, 0, G0], [0, 0, 0])) for i in range(300)]
    link = timed_samples(pk, "W1", decoder=decoder_for("witmotion", "W1", rate_hz=100.0)).link()
    assert link["loss_accounting"] == "estimated" and link["samples_received"] == 300


# ------------------------------------------------------------------------------- fuzzing
def _valid(vendor: str, i: int) -> bytes:
    if vendor == "dot":
        return dot.encode_measurement(i * 16_667, [0, 0, 9.8], [1, 2, 3])
    if vendor == "witmotion":
        return witmotion.encode_imu_frame([0, 0, 9.8], [0.1, 0, 0])
    if vendor == "metamotion":
        return metamotion.encode_samples("bmi160", bool(i % 2), [i % 100, 0, 4096])
    idx = np.arange(i * 10, i * 10 + 10)
    if i % 2:
        return polar.encode_frame(polar.GYRO, 10**15 + int(idx[-1] * 1e9 / 52), 0x81, np.ones((10, 3), np.float32))
    return polar.encode_frame(polar.ACC, 10**15 + int(idx[-1] * 1e9 / 52), 0x81, np.tile([0, 0, 1000], (10, 1)))


_mutation = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.integers(0, 40), st.integers(0, 255)),  # overwrite one byte of a valid notification
    st.integers(0, 40),  # truncate a valid notification
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vendor=st.sampled_from(VENDORS), mutations=st.lists(st.tuples(st.integers(0, 30), _mutation), max_size=25))
def test_no_input_makes_a_decoder_raise(vendor, mutations):
    """Random bytes, flipped bytes and cut notifications among valid ones: counted, never an exception."""
    datas = [_valid(vendor, i) for i in range(30)]
    for where, m in mutations:
        if isinstance(m, bytes):
            datas.insert(where, m)
        elif isinstance(m, tuple):
            base = bytearray(datas[where % len(datas)])
            if base:
                base[m[0] % len(base)] = m[1]
            datas.insert(where, bytes(base))
        else:
            datas.insert(where, datas[where % len(datas)][:m])
    pk = [RawPacket("F1", 0.01 * i, d) for i, d in enumerate(datas)]
    settings_ = {"witmotion": {"rate_hz": 100.0}}.get(vendor, {})
    d = decoder_for(vendor, "F1", **settings_)
    r = decode_vendor_stream(pk, vendor, "F1", **settings_)
    b = d.process(pk)
    assert len(b) <= len(r.batch)
    assert np.isfinite(r.batch.acc_mps2).all()
    assert np.all(np.diff(r.batch.counter) >= 1)  # strictly increasing, as timing needs
    if vendor != "witmotion":  # a byte stream counts garbage runs, not notifications
        assert r.packets_ok + r.malformed_packets == len(pk)
