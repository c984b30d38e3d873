"""Property tests of the simulator's building blocks (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import contract, protocol
from dmi_sensors.sim import ImuErrors, Segment, VirtualSensor, true_time_to_stabilise
from dmi_sensors.sim.imu import apply_imu_errors
from dmi_sensors.sim.kinematics import rotation_matrix, specific_force_body, tilt_from_axis

angles = st.floats(-1.5, 1.5, allow_nan=False)


@given(angles, angles)
def test_static_specific_force_has_magnitude_g_and_encodes_the_tilt(a, m):
    rot = rotation_matrix(np.array([a]), np.array([m]))
    f = specific_force_body(rot, np.zeros((1, 3)))[0]
    assert abs(np.linalg.norm(f) - contract.STANDARD_GRAVITY_MPS2) < 1e-9
    # f is gravity's reaction seen from the body: world up expressed in body axes
    up_world = rot[0] @ (f / np.linalg.norm(f))
    np.testing.assert_allclose(up_world, [0.0, 0.0, 1.0], atol=1e-12)
    ap, ml = tilt_from_axis(rot[:, :, 2])
    np.testing.assert_allclose([ap[0], ml[0]], [a, m], atol=1e-9)


@given(st.floats(-20, 20), st.floats(-20, 20), st.floats(-20, 20))
def test_mounting_rotation_is_undone_exactly_by_its_matrix(roll, pitch, yaw):
    errors = ImuErrors(0.0, 0.0, quantise=False, mounting_euler_deg=(roll, pitch, yaw))
    rng = np.random.default_rng(0)
    acc = rng.normal(size=(5, 3))
    gyr = rng.normal(size=(5, 3))
    acc_s, gyr_s = apply_imu_errors(acc, gyr, errors, 100.0, rng)
    rm = errors.mounting_matrix
    np.testing.assert_allclose(acc_s @ rm.T, acc, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(gyr_s, axis=1), np.linalg.norm(gyr, axis=1), atol=1e-12)


@given(st.floats(0.01, 100.0))
def test_tts_does_not_depend_on_the_units_of_acceleration(scale):
    t = np.arange(0, 20, 0.01)
    rng = np.random.default_rng(1)
    a = 0.05 * rng.standard_normal(t.shape[0]) + np.where((t > 10) & (t < 12), np.exp(-(t - 10)) * 1.0, 0.0)
    ref = true_time_to_stabilise(t, a, 10.0, 10.2)
    got = true_time_to_stabilise(t, a * scale, 10.0, 10.2)
    assert ref == got or (np.isnan(ref) and np.isnan(got))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.0, 3.0), min_size=1, max_size=12))
def test_virtual_sensor_packets_do_not_depend_on_how_they_are_polled(times):
    def sensor() -> VirtualSensor:
        s = VirtualSensor(9, [Segment("standing", 3.0)], seed=3)
        s.handle_control(protocol.encode_command(protocol.StartStreaming(samples_per_packet=7)))
        return s

    polled = sensor()
    got = []
    for t in sorted(times):
        got.extend(polled.packets_until(t))
    got.extend(polled.packets_until(3.0))
    assert got == sensor().packets_until(3.0)
