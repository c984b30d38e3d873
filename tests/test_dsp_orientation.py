"""Madgwick / Mahony: equal to ahrs 0.4 and to pure-Python references, chunk invariant, accurate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from dsp_helpers import SwayTruth, acc2q_reference, madgwick_reference, mahony_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.dsp import Madgwick, Mahony
from dmi_sensors.dsp._orientation_kernels import acc_to_quaternion

FS = 100.0
#: 1e5 samples as the issue asks. The ahrs side (~35 k samples/s) dominates: ~3 s per filter,
#: computed once per module. With NUMBA_DISABLE_JIT=1 our kernels run as plain Python at
#: ~5 us/sample, i.e. ~0.5 s more per filter, so the same size is kept in both modes.
N_AHRS = 100_000
MADGWICK_GAIN = 0.05
MAHONY_KP, MAHONY_KI = 0.8, 0.2


def _imu(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised, plausible but arbitrary IMU input: rotating gyro, tilting gravity, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    gyr = np.column_stack(
        [0.4 * np.sin(2 * np.pi * 0.3 * t), 0.3 * np.sin(2 * np.pi * 0.17 * t + 1), 0.2 * np.cos(2 * np.pi * 0.05 * t)]
    )
    gyr += 0.02 * rng.standard_normal((n, 3))
    tx = 0.3 * np.sin(2 * np.pi * 0.1 * t)
    ty = 0.2 * np.sin(2 * np.pi * 0.07 * t + 0.5)
    acc = 9.81 * np.column_stack([-np.sin(ty), np.cos(ty) * np.sin(tx), np.cos(ty) * np.cos(tx)])
    acc += 0.1 * rng.standard_normal((n, 3))
    return acc, gyr


@pytest.fixture(scope="module")
def ahrs_case():
    """Inputs and the (slow) ahrs reference outputs, computed once for this module."""
    from ahrs.filters import Madgwick as AhrsMadgwick
    from ahrs.filters import Mahony as AhrsMahony

    acc, gyr = _imu(N_AHRS, seed=11)
    q0 = np.array([0.9, 0.1, -0.2, 0.3])
    q0 /= np.linalg.norm(q0)
    return {
        "gyr": gyr,
        "acc": acc,
        "q0": q0,
        "madgwick": AhrsMadgwick(gyr=gyr, acc=acc, frequency=FS, gain=MADGWICK_GAIN).Q,
        "madgwick_q0": AhrsMadgwick(gyr=gyr[:2000], acc=acc[:2000], frequency=FS, gain=0.1, q0=q0).Q,
        "mahony": AhrsMahony(gyr=gyr, acc=acc, frequency=FS, k_P=MAHONY_KP, k_I=MAHONY_KI).Q,
        "mahony_q0": AhrsMahony(
            gyr=gyr[:2000], acc=acc[:2000], frequency=FS, k_P=1.0, k_I=0.3, q0=q0, b0=np.array([0.01, -0.02, 0.005])
        ).Q,
    }


@pytest.mark.slow
def test_madgwick_equals_ahrs(ahrs_case):
    q = Madgwick(FS, gain=MADGWICK_GAIN).process(ahrs_case["acc"], ahrs_case["gyr"])
    assert q.shape == (N_AHRS, 4)
    assert np.max(np.abs(q - ahrs_case["madgwick"])) <= 1e-10


@pytest.mark.slow
def test_mahony_equals_ahrs(ahrs_case):
    q = Mahony(FS, k_p=MAHONY_KP, k_i=MAHONY_KI).process(ahrs_case["acc"], ahrs_case["gyr"])
    assert np.max(np.abs(q - ahrs_case["mahony"])) <= 1e-10


def test_explicit_initial_state_equals_ahrs(ahrs_case):
    a, g, q0 = ahrs_case["acc"][:2000], ahrs_case["gyr"][:2000], ahrs_case["q0"]
    q = Madgwick(FS, gain=0.1, q0=q0).process(a, g)
    assert np.max(np.abs(q - ahrs_case["madgwick_q0"])) <= 1e-10
    q = Mahony(FS, k_p=1.0, k_i=0.3, q0=q0, b0_rps=[0.01, -0.02, 0.005]).process(a, g)
    assert np.max(np.abs(q - ahrs_case["mahony_q0"])) <= 1e-10


def test_kernels_equal_pure_python_references():
    acc, gyr = _imu(3000, seed=3)
    gyr[100] = 0.0  # zero gyro: attitude held
    acc[200] = 0.0  # zero acc: gyro-only step
    ref = madgwick_reference(acc, gyr, FS, gain=0.08)
    np.testing.assert_allclose(Madgwick(FS, gain=0.08).process(acc, gyr), ref, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(ref[100], ref[99])
    m = Mahony(FS, k_p=0.5, k_i=0.1)
    ref, b_ref = mahony_reference(acc, gyr, FS, k_p=0.5, k_i=0.1)
    np.testing.assert_allclose(m.process(acc, gyr), ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(m.bias_rps, b_ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "acc", [(0.0, 0.0, 9.81), (1.0, -2.0, 9.0), (-9.81, 0.0, 0.0), (0.3, 9.0, -3.0), (0.0, 0.0, 0.0)]
)
def test_attitude_from_accelerometer_equals_ahrs_acc2q(acc):
    from ahrs.common.orientation import acc2q

    q = np.zeros(4)
    acc_to_quaternion(*acc, q)
    np.testing.assert_allclose(q, acc2q(np.array(acc, dtype=float)), atol=1e-15)
    np.testing.assert_allclose(q, acc2q_reference(acc), atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(
    which=st.sampled_from(["madgwick", "mahony"]),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
)
def test_chunk_invariance(which, cuts):
    acc, gyr = _imu(300, seed=5)

    def make():
        return Madgwick(FS, gain=0.1) if which == "madgwick" else Mahony(FS, k_p=1.0, k_i=0.3)

    whole = make().process(acc, gyr)
    f = make()
    b = [0, *sorted(cuts), len(acc)]
    parts = [f.process(acc[s:e], gyr[s:e]) for s, e in itertools.pairwise(b)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_reset_and_state_roundtrip():
    acc, gyr = _imu(500, seed=6)
    m = Mahony(FS, b0_rps=[0.0, 0.0, 0.01])
    first = m.process(acc, gyr)
    saved = m.state
    rest = m.process(acc, gyr)
    m.reset()
    np.testing.assert_array_equal(m.process(acc, gyr), first)
    m2 = Mahony(FS)
    m2.state = saved
    np.testing.assert_array_equal(m2.process(acc, gyr), rest)
    assert saved.bias_rps.shape == (3,) and saved.initialised
    with pytest.raises(ValueError, match="read-only"):
        saved.q[0] = 1.0  # a snapshot: the filter moved on, the snapshot did not


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="q0"):
        Madgwick(FS, q0=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="fs_hz"):
        Mahony(0.0)
    with pytest.raises(ValueError, match="same length"):
        Madgwick(FS).process(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        Madgwick(FS).process(np.zeros((5, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize("cls", [Madgwick, Mahony])
def test_attitude_tracks_analytic_truth(cls):
    """Exact gyro + specific force of a known sway trajectory: the attitude follows the truth."""
    truth = SwayTruth(FS, 30.0, seed=1, amp_ap_deg=5.0, amp_ml_deg=3.0, yaw_rate_rps=0.05)
    q = cls(FS).process(truth.acc_mps2(), truth.gyr_rps())
    qt = truth.quaternions()
    # the filter's world x is the body heading at t = 0, which is the truth's (yaw(0) = 0)
    angle_deg = 2 * np.degrees(np.arccos(np.clip(np.abs(np.sum(q * qt, axis=1)), 0.0, 1.0)))
    assert np.max(angle_deg[int(FS) :]) < 0.25


def test_attitude_from_acc_equals_ahrs_acc2q():
    from ahrs.common.orientation import acc2q

    from dmi_sensors.dsp import attitude_from_acc

    rng = np.random.default_rng(7)
    for a in rng.normal(size=(50, 3)) * 9.81:
        np.testing.assert_allclose(attitude_from_acc(a), acc2q(a), atol=1e-12)
    np.testing.assert_array_equal(attitude_from_acc(np.zeros(3)), [1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        attitude_from_acc(np.zeros(2))
