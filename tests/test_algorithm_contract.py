"""One algorithm contract for every streaming or fitted object (``dmi_sensors.types.StreamingAlgorithm``).

Every case below is checked for: every ``__init__`` parameter documented in the class
docstring (numpydoc "Parameters"), keyword-passable and read-only afterwards;
``get_params()`` JSON-able and round-tripping (``type(obj)(**obj.get_params())`` behaves
identically); ``state`` a frozen snapshot that, set into a fresh object mid-stream, continues
the output bit-identically; a reset object equal to a fresh one; chunk invariance.

The classes are not listed by hand only: :func:`test_every_public_algorithm_class_is_covered`
walks every module of the package and fails for any public class with an action method
(``process``, ``feed``, ``apply``, ``update``, ``reset``, ...) that has no case here and no
written exemption, so a new class cannot escape the contract silently.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import itertools
import json
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmi_sensors
from dmi_sensors import protocol as P
from dmi_sensors.dsp import (
    DriftControlledIntegrator,
    GyroBiasTracker,
    ImuChain,
    Madgwick,
    Mahony,
    SosFilter,
    ZeroPhaseSosFilter,
    butter_bandpass,
    butter_lowpass,
)
from dmi_sensors.errors import ParameterError
from dmi_sensors.live import LiveSignals
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.timing import LookaheadClock, StreamingClock
from dmi_sensors.types import RawPacket, StreamingAlgorithm
from dmi_sensors.vendors import DotDecoder, MetaMotionDecoder, PolarDecoder, WitMotionDecoder
from dmi_sensors.vendors import dot as vdot
from dmi_sensors.vendors import metamotion as vmm
from dmi_sensors.vendors import polar as vpolar
from dmi_sensors.vendors import witmotion as vwit

FS = 100.0
N = 240


# ----------------------------------------------------------------------------- inputs
def _imu(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(acc_mps2, gyr_rps)``: tilting gravity and turning rates with noise, sensor frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    tx = 0.2 * np.sin(2 * np.pi * 0.4 * t)
    ty = 0.15 * np.sin(2 * np.pi * 0.3 * t + 0.5)
    acc = 9.81 * np.column_stack([-np.sin(ty), np.cos(ty) * np.sin(tx), np.cos(ty) * np.cos(tx)])
    acc += 0.1 * rng.standard_normal((n, 3))
    gyr = np.column_stack([0.3 * np.sin(2 * np.pi * 0.4 * t), 0.2 * np.cos(2 * np.pi * 0.3 * t), 0.05 + 0 * t])
    gyr += 0.02 * rng.standard_normal((n, 3))
    return acc, gyr


def _gaps(n: int) -> np.ndarray:
    gap = np.zeros(n, dtype=bool)
    gap[[0, n // 3, n // 3 + 1, 2 * n // 3]] = True
    return gap


def _packets() -> list[RawPacket]:
    """A live-like stream: lost packets, a wrap, a status packet, malformed ones, a restart, compact packets."""
    acc, gyr = _imu(600, seed=9)
    ac = np.clip(np.round(acc / P.acc_scale_mps2(8)), -32768, 32767).astype(np.int16)
    gc = np.clip(np.round(gyr / P.gyr_scale_rps(1000)), -32768, 32767).astype(np.int16)
    first = P.packetize(ac[:400], gc[:400], (1 << 32) - 100, (1 << 32) - 500_000, 100, 8, 1000, 10)
    datas = [d for i, d in enumerate(first) if i % 11 != 5]  # lost packets
    datas.insert(7, P.encode_status(80, 31.5, 0, 1, 123_456, 0))
    datas.insert(12, b"\x10")  # too short
    datas.insert(20, first[3][:-1])  # truncated
    datas += P.packetize(ac[400:500], gc[400:500], 0, 9_000, 100, 8, 1000, 10)  # restarted streaming
    datas += P.packetize(ac[500:], gc[500:], 65_500, (1 << 24) - 300_000, 100, 8, 1000, compact=True)
    return [RawPacket("S1", 0.05 + 0.1 * i, d) for i, d in enumerate(datas)]


def _clock_input() -> tuple[np.ndarray, np.ndarray]:
    """Counters (10 samples per packet, two lost packets, a restart) and jittered arrival times."""
    rng = np.random.default_rng(4)
    c = np.concatenate([np.arange(0, 100), np.arange(120, 200), np.arange(0, 60)]).astype(np.int64)
    packet_end = (c // 10) * 10 + 9
    h = 3.0 + packet_end / FS + rng.exponential(0.02, c.shape[0]).round(2)
    h[c.shape[0] - 60 :] += 5.0
    return c, np.maximum.accumulate(h)


def _vendor_packets(vendor: str) -> list[RawPacket]:
    """A live-like vendor stream: lost notifications, a stall, malformed bytes, a clock wrap or reset."""
    acc, gyr = _imu(400, seed=11)
    rng = np.random.default_rng(5)
    out: list[tuple[float, bytes]] = []
    if vendor == "dot":
        ts0 = (1 << 32) - 120 * 16_667  # wraps after 120 samples
        for i in range(400):
            if i in (30, 31, 200):
                continue
            out.append((i / 60 + 0.01 * rng.random(), vdot.encode_measurement(ts0 + i * 16_667, acc[i], gyr[i] * 57.3)))
        out.insert(50, (out[49][0], b"\x01\x02"))
        out.insert(90, out[89])  # a repeated notification
    elif vendor == "witmotion":
        for i in range(400):
            frame = vwit.encode_imu_frame(acc[i], gyr[i])
            h = i / 100 + 0.004 * rng.random() + (0.3 if 150 <= i < 180 else 0.0)  # a stall
            if i in (60, 61, 62, 63, 64, 65, 66, 300):
                continue
            if i == 100:
                out += [(h, frame[:9]), (h + 0.001, frame[9:])]
            elif i == 120:
                out.append((h, frame[:5] + b"\x99" + frame[5:]))
            else:
                out.append((h, frame))
    elif vendor == "metamotion":
        ca = np.round(acc / (9.80665 / 4096)).astype(int)
        cg = np.round(gyr / (np.pi / 180 / 16.4)).astype(int)
        for i in range(400):
            h = i / 100 + 0.0075 * rng.integers(0, 3)
            if i not in (40, 41, 250):
                out.append((h, vmm.encode_samples("bmi160", False, ca[i])))
            if i not in (120,):
                out.append((h + 0.001, vmm.encode_samples("bmi160", True, cg[i])))
        out.insert(33, (out[32][0], b"\x03\x04\x01"))
        out.insert(70, (out[69][0], vmm.encode_battery(80, 3900)))
    else:  # polar: acc and gyro frames of 20 samples, one acc frame lost, a clock reset
        ca = np.round(acc / 9.80665 * 1000).astype(int)
        gd = (gyr * 180 / np.pi).astype(np.float32)
        t0 = 600_000_000 * 10**9
        for k in range(20):
            sl = slice(20 * k, 20 * k + 20)
            last = t0 + round((20 * k + 19) * 1e9 / 52) + (0 if k < 14 else -(10**12))
            h = (20 * k + 19) / 52 + 0.05 + 0.02 * rng.random()
            if k != 6:
                out.append((h, vpolar.encode_frame(vpolar.ACC, last, 0x81, ca[sl])))
            out.append((h + 0.003, vpolar.encode_frame(vpolar.GYRO, last + 2000, 0x81, gd[sl])))
        out.insert(9, (out[8][0], out[8][1][:14]))
    return [RawPacket("V1", h, d) for h, d in out]


_ACC, _GYR = _imu(N, seed=1)
_X4 = np.column_stack([_ACC, _GYR[:, :1]])
_MOUNT = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@dataclasses.dataclass(frozen=True)
class Case:
    """One configured object and the input it processes (positional arguments of ``process``)."""

    id: str
    make: Callable[[], Any]
    data: Callable[[], tuple]
    streaming: bool = True


CASES = [
    Case("SosFilter-zero", lambda: SosFilter(butter_bandpass(0.5, 20.0, FS, order=3), n_channels=4), lambda: (_X4,)),
    Case(
        "SosFilter-steady",
        lambda: SosFilter(butter_lowpass(10.0, FS), n_channels=4, initial="steady"),
        lambda: (_X4,),
    ),
    Case(
        "ZeroPhaseSosFilter",
        lambda: ZeroPhaseSosFilter(butter_lowpass(8.0, FS, order=2), padlen=12),
        lambda: (_X4,),
        streaming=False,
    ),
    Case("Madgwick", lambda: Madgwick(FS, gain=0.05), lambda: (_ACC, _GYR)),
    Case("Madgwick-q0", lambda: Madgwick(FS, gain=0.1, q0=[0.99, 0.05, -0.1, 0.02]), lambda: (_ACC, _GYR)),
    Case(
        "Mahony",
        lambda: Mahony(FS, k_p=0.8, k_i=0.2, q0=[0.98, 0.1, 0.0, 0.05], b0_rps=[0.01, -0.02, 0.005]),
        lambda: (_ACC, _GYR),
    ),
    Case(
        "ImuChain",
        lambda: ImuChain(
            FS,
            lowpass_hz=15.0,
            gain=0.05,
            acc_matrix=_MOUNT,
            acc_bias_mps2=[0.05, -0.03, 0.08],
            gyr_matrix=_MOUNT,
            gyr_bias_rps=[0.004, 0.002, -0.003],
        ),
        lambda: (_ACC, _GYR, _gaps(N)),
    ),
    Case(
        "ImuChain-zero-unfiltered",
        lambda: ImuChain(FS, lowpass_hz=None, filter_initial="zero", q0=[0.99, 0.05, -0.1, 0.02], gravity_mps2=9.81),
        lambda: (_ACC, _GYR),
    ),
    Case(
        "DriftControlledIntegrator",
        lambda: DriftControlledIntegrator(FS, 0.3, n_channels=3, order=3),
        lambda: (_ACC - [0.0, 0.0, 9.81],),
    ),
    Case("StreamDecoder", lambda: StreamDecoder("S1"), lambda: (_packets(),)),
    Case(
        "LiveSignals",
        lambda: LiveSignals(FS, com_height_m=0.55, mahony_kp=0.5, mahony_ki=0.05, com_lowpass_hz=5.0),
        lambda: (_ACC, _GYR, _gaps(N)),
    ),
    Case(
        "LiveSignals-madgwick-tilt-only",
        lambda: LiveSignals(FS, orientation_filter="madgwick", madgwick_gain=0.01, com_lowpass_hz=None),
        lambda: (_ACC, _GYR),
    ),
    Case("StreamingClock", lambda: StreamingClock(FS, drift_tolerance_ppm=300.0), lambda: _clock_input()),
    Case("LookaheadClock", lambda: LookaheadClock(FS, lookahead_s=0.25, drift_tolerance_ppm=300.0), _clock_input),
    Case("DotDecoder", lambda: DotDecoder("V1", payload_mode=21, rate_hz=60), lambda: (_vendor_packets("dot"),)),
    Case("WitMotionDecoder", lambda: WitMotionDecoder("V1", rate_hz=100.0), lambda: (_vendor_packets("witmotion"),)),
    Case(
        "MetaMotionDecoder",
        lambda: MetaMotionDecoder("V1", chip="bmi160", rate_hz=100, acc_range_g=8, gyr_range_dps=2000),
        lambda: (_vendor_packets("metamotion"),),
    ),
    Case(
        "PolarDecoder",
        lambda: PolarDecoder("V1", model="Verity Sense", rate_hz=52, gyroscope=True),
        lambda: (_vendor_packets("polar"),),
    ),
    Case("GyroBiasTracker", lambda: GyroBiasTracker(FS), lambda: (_ACC, _GYR)),
    Case(
        "GyroBiasTracker-rest",  # thresholds wide enough that the test signal is "at rest" after 0.2 s
        lambda: GyroBiasTracker(
            FS,
            rest_time_constant_s=0.5,
            rest_gyr_rps=1.0,
            rest_acc_mps2=5.0,
            rest_min_s=0.2,
            rest_clip_rps=1.0,
            bias_filter_tau_s=0.05,
            b0_rps=[0.01, -0.02, 0.03],
        ),
        lambda: (_ACC, _GYR),
    ),
]
IDS = [c.id for c in CASES]
STREAMING = [c for c in CASES if c.streaming]

#: public classes with an action method that are NOT algorithm objects, and why
EXEMPT = {
    "dmi_sensors.calibration.records.AccelCalibration": "the RESULT of a fit (the fits are functions: "
    "calibration.calibrate_six_position / calibrate_ellipsoid), not an estimator: apply() is a pure function of the "
    "fitted values, no streaming state",
    "dmi_sensors.calibration.records.GyroCalibration": "the result of calibration.calibrate_gyro: apply() subtracts "
    "the fitted bias, a pure function of its values, no streaming state",
    "dmi_sensors.calibration.records.AlignmentCalibration": "the result of calibration.calibrate_alignment: apply() "
    "rotates by the fitted rotation, a pure function of its values, no streaming state",
    "dmi_sensors.sim.link.LinkScheduler": "the simulator's BLE link, a seeded random process (losses, connection "
    "phase, jitter) with an in-flight queue, not an algorithm over sensor data; its chunk invariance (one item at a "
    "time == all at once, bit for bit) is tested in tests/test_sim_link.py",
    "dmi_sensors.sim.bluez.air.Air": "the emulated BlueZ's per-device timer step (poll a peripheral, hand over what "
    "arrived), kept free of D-Bus so tests can drive it; not an algorithm over sensor data",
}
EXEMPT.update(
    {
        "dmi_sensors.vendors._base.VendorDecoder": "the abstract base of the vendor decoders (no _parse, no clocks); "
        "DotDecoder, WitMotionDecoder, MetaMotionDecoder and PolarDecoder are covered",
        "dmi_sensors.vendors._timeline.ExactClock": "an internal part of a vendor decoder (private module): its "
        "state is a field of VendorDecoderState and it is exercised through the decoders' cases",
        "dmi_sensors.vendors._timeline.CounterClock": "an internal part of a vendor decoder (private module), "
        "exercised through the decoders",
        "dmi_sensors.vendors._timeline.HostClock": "an internal part of a vendor decoder (private module), "
        "exercised through the decoders",
        "dmi_sensors.vendors._timeline.Merger": "an internal part of a vendor decoder (private module), "
        "exercised through the decoders",
    }
)
#: method names that make a class an algorithm object (a candidate for the contract)
ACTION_NAMES = (
    "process",
    "feed",
    "apply",
    "update",
    "step",
    "fit",
    "partial_fit",
    "transform",
    "predict",
    "push",
    "run",
    "filter",
    "decode",
    "consume",
    "reset",
    "__call__",
)


# ----------------------------------------------------------------------------- helpers
def _rows(data: tuple) -> int:
    return len(data[0])


def _cut(data: tuple, a: int, b: int) -> tuple:
    return tuple(x[a:b] for x in data)


def _arrays(out: Any) -> list:
    """The outputs of one call as a flat list (arrays, and the scalar fields of dataclass outputs)."""
    if isinstance(out, np.ndarray):
        return [out]
    if isinstance(out, tuple):
        return [a for o in out for a in _arrays(o)]
    if dataclasses.is_dataclass(out):
        return [getattr(out, f.name) for f in dataclasses.fields(out)]
    raise TypeError(f"unexpected output type {type(out).__name__}")


def _assert_same(got: Any, want: Any) -> None:
    """Bit-identical outputs (arrays: same dtype, shape, values and NaN places)."""
    a, b = _arrays(got), _arrays(want)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, strict=True)
        else:
            assert x == y


def _concat(parts: list) -> list:
    """Per output array, the parts joined along the sample axis (scalar fields dropped)."""
    per_part = [[a for a in _arrays(p) if isinstance(a, np.ndarray)] for p in parts]
    return [np.concatenate(column) for column in zip(*per_part, strict=True)]


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def _documented_parameters(cls: type) -> set[str]:
    """Names in the numpydoc "Parameters" section of the class docstring."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    names: set[str] = set()
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}:
            for j in range(i + 2, len(lines)):
                line = lines[j]
                if j + 1 < len(lines) and lines[j + 1].strip() and set(lines[j + 1].strip()) == {"-"}:
                    break  # the next section's header
                if line and not line[0].isspace():
                    names |= {n.strip() for n in line.split(":")[0].split(",")}
    return names


# ----------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_is_a_streaming_algorithm(case):
    obj = case.make()
    assert isinstance(obj, StreamingAlgorithm)
    assert callable(obj.process) and callable(obj.reset) and callable(obj.get_params)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_init_parameter_is_documented_keyword_and_read_only(case):
    obj = case.make()
    cls = type(obj)
    params = _init_parameters(cls)
    names = [p.name for p in params]
    assert all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params), "no *args / **kwargs"
    assert set(names) == _documented_parameters(cls), f"{cls.__name__}: document exactly the __init__ parameters"
    assert list(obj.get_params()) == names
    for name in names:
        getattr(obj, name)  # kept under its own name
        with pytest.raises(AttributeError):
            setattr(obj, name, getattr(obj, name))  # parameters only in __init__


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_get_params_round_trips_through_json(case):
    obj = case.make()
    params = obj.get_params()
    clone = type(obj)(**json.loads(json.dumps(params)))
    assert clone.get_params() == params
    assert clone.state == obj.state
    data = case.data()
    _assert_same(clone.process(*data), obj.process(*data))
    assert clone.state == obj.state


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("where", [0.0, 0.01, 0.37, 0.5, 0.99, 1.0])
def test_state_set_into_a_fresh_object_continues_bit_identically(case, where):
    data = case.data()
    n = _rows(data)
    cut = round(where * n)
    if not case.streaming:  # an offline object takes complete segments (longer than its padding)
        cut = min(max(cut, n // 4), n - n // 4)
    a, b = _cut(data, 0, cut), _cut(data, cut, n)
    obj = case.make()
    out_a = obj.process(*a)
    state = obj.state
    assert dataclasses.is_dataclass(state) and type(state).__dataclass_params__.frozen
    fresh = case.make()
    fresh.state = state
    assert fresh.state == state
    out_b = obj.process(*b)
    _assert_same(fresh.process(*b), out_b)
    assert fresh.state == obj.state
    if case.streaming:  # and A then B is one call on A + B
        whole = case.make().process(*data)
        for got, want in zip(_concat([out_a, out_b]), _concat([whole]), strict=True):
            np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_state_is_a_snapshot(case):
    data = case.data()
    n = _rows(data)
    obj = case.make()
    obj.process(*_cut(data, 0, n // 2))
    state = obj.state
    copy = dataclasses.replace(state)
    obj.process(*_cut(data, n // 2, n))
    assert state == copy  # the object moved on; the snapshot did not
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray) and value.size:
            with pytest.raises(ValueError, match="read-only"):
                value.flat[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(state, next((f.name for f in dataclasses.fields(state)), "anything"), None)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reset_object_equals_a_fresh_one(case):
    data = case.data()
    obj = case.make()
    obj.process(*data)
    obj.reset()
    fresh = case.make()
    assert obj.state == fresh.state
    _assert_same(obj.process(*data), fresh.process(*data))
    assert obj.state == fresh.state


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_state_that_does_not_fit_is_a_clear_error(case):
    obj = case.make()
    with pytest.raises(ParameterError, match="state must be"):
        obj.state = object()
    state = obj.state
    arrays = [f.name for f in dataclasses.fields(state) if isinstance(getattr(state, f.name), np.ndarray)]
    for name in arrays:
        bad = dataclasses.replace(state, **{name: np.zeros((*getattr(state, name).shape, 1))})
        with pytest.raises(ParameterError, match=name):
            obj.state = bad


@settings(max_examples=30, deadline=None)
@given(
    case=st.sampled_from(STREAMING),
    cuts=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=7),
)
def test_chunk_invariance(case, cuts):
    """Any split of the input into process() calls gives the same output as one call, bit for bit."""
    data = case.data()
    n = _rows(data)
    bounds = [0, *sorted(round(c * n) for c in cuts), n]
    obj = case.make()
    parts = [obj.process(*_cut(data, a, b)) for a, b in itertools.pairwise(bounds)]
    whole = case.make()
    for got, want in zip(_concat(parts), _concat([whole.process(*data)]), strict=True):
        np.testing.assert_array_equal(got, want, strict=True)
    assert obj.state == whole.state


def test_orientation_takes_acc_then_gyr():
    """(acc, gyr) order: a still, tilted sensor (zero rates) is reported tilted, not garbage."""
    lean = 0.2
    acc = np.tile([-9.81 * np.sin(lean), 0.0, 9.81 * np.cos(lean)], (5, 1))
    gyr = np.zeros((5, 3))
    for f in (Madgwick(FS), Mahony(FS), ImuChain(FS, lowpass_hz=None)):
        out = f.process(acc, gyr)
        q = out.q if hasattr(out, "q") else out
        pitch = 2 * np.arcsin(q[-1, 2])  # rotation about +y of a zero-heading attitude
        assert pitch == pytest.approx(lean, abs=1e-12), type(f).__name__


# ----------------------------------------------------------------------------- no class escapes
def _public_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(dmi_sensors.__path__, "dmi_sensors."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and not getattr(obj, "_is_protocol", False)
            ):
                found.append(obj)
    return found


def _actions(cls: type) -> set[str]:
    return {
        a
        for k in cls.__mro__
        if k.__module__.startswith("dmi_sensors")
        for a in ACTION_NAMES
        if callable(vars(k).get(a))
    }


def test_every_public_algorithm_class_is_covered():
    covered = {type(c.make()) for c in CASES}
    candidates = {f"{c.__module__}.{c.__qualname__}": c for c in _public_classes() if _actions(c)}
    missing = sorted(name for name, c in candidates.items() if c not in covered and name not in EXEMPT)
    assert not missing, (
        f"public classes with an action method ({', '.join(ACTION_NAMES)}) that the algorithm contract does not "
        f"cover: {missing}. Follow dmi_sensors.types.StreamingAlgorithm and add a Case here (or, for something that "
        "is not an algorithm object, an EXEMPT entry saying why)."
    )
    stale = sorted(set(EXEMPT) - set(candidates))
    assert not stale, f"EXEMPT lists classes that no longer exist or have no action method: {stale}"
    for cls in covered:
        assert _actions(cls) == {"process", "reset"}, f"{cls.__name__}: one action method, process (and reset)"
