"""Calibration with third-party sensors, through bleak and the emulated vendor peripherals.

``calibrate KIND --via-bluez --simulate-vendor NAME`` runs the guided steps with one
emulated MetaMotion, Movella DOT, Polar (Verity Sense, or the accelerometer-only H10) or
WitMotion peripheral (:mod:`dmi_sensors.sim.bluez.guided`: that vendor's GATT layout and
bytes, moved by the calibration hand, with the unit's known IMU errors). The fitted
calibration is keyed by the vendor sensor's id (``<vendor>-<serial>``), and a session
recorded with ``--calibration-dir`` is analysed with it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from dmi_sensors import cli
from dmi_sensors.calibration import CalibrationSet, read_calibration
from dmi_sensors.sim.calibration import error_truth, random_imu_errors, simulated_imu_errors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.bluez,
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed"),
]

#: The id each emulated vendor peripheral (simulated sensor 0, serial 00D10001) reports.
VENDOR_IDS = {"metamotion": "metamotion-00D10001", "polar": "polar-00D10001", "dot": "dot-D10001"}


def run_cli(*args: object) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


@pytest.mark.parametrize("vendor", ["metamotion", "polar", "witmotion"])
def test_gyro_bias_recovered_with_each_vendor(tmp_path, vendor):
    out = tmp_path / "gyro.json"
    done = run_cli("calibrate", "gyro", "--via-bluez", "--simulate-vendor", vendor, "--seed", "3",
                   "--step-s", "4", "--json", out)  # fmt: skip
    assert done.code == 0, done.err + done.out
    cal = read_calibration(out)
    assert cal.sensor_serial.startswith(f"{vendor}-")
    if vendor in VENDOR_IDS:
        assert cal.sensor_serial == VENDOR_IDS[vendor]
    else:  # WitMotion has no serial: a one-way hash of its address, never the address itself
        assert len(cal.sensor_serial) == len("witmotion-") + 8 and "5E" not in cal.sensor_serial[10:12]
    assert cal.source["vendor"] == vendor and cal.source["emulated"] is True
    truth = error_truth(random_imu_errors(3))["gyr_bias_rps"]
    # the gyro bias (up to 0.03 rad/s) is recovered through the vendor's bytes to < 1e-3 rad/s
    assert np.abs(truth).max() > 0.01
    assert np.abs(cal.bias_rps - truth).max() < 1e-3
    rate = {"metamotion": 100, "polar": 52, "witmotion": 100}[vendor]
    assert cal.source["fs_hz"] == rate and cal.n_samples >= 2.5 * rate


def test_polar_h10_accelerometer_only(tmp_path):
    """The H10 has no gyroscope: its gyro calibration is refused before any step, its
    six-position accelerometer calibration finds the still poses from the accelerometer."""
    refused = run_cli("calibrate", "gyro", "--via-bluez", "--simulate-vendor", "polar", "--vendor-model", "H10",
                      "--step-s", "4", "--json", tmp_path / "g.json")  # fmt: skip
    assert refused.code != 0 and "has no gyroscope" in refused.err + refused.out
    assert "Step 1/1" not in refused.out and not (tmp_path / "g.json").exists()
    out = tmp_path / "accel.json"
    done = run_cli("calibrate", "accel", "--via-bluez", "--simulate-vendor", "polar", "--vendor-model", "H10",
                   "--step-s", "5", "--json", out)  # fmt: skip
    assert done.code == 0, done.err + done.out
    assert "no gyroscope" in done.out
    cal = read_calibration(out)
    assert cal.sensor_serial == "polar-00D10001" and cal.source["model"] == "H10"
    truth = error_truth(random_imu_errors(1))  # the errors of simulated sensor 0
    # Polar sends mG: bias within 0.01 m/s^2, scale within 0.1 %, axes within 1.5 deg
    assert np.abs(cal.bias_mps2 - truth["acc_bias_mps2"]).max() < 0.01
    assert np.abs(cal.scale / truth["acc_scale"] - 1).max() < 1e-3
    assert np.abs(cal.misalignment_deg - truth["acc_misalignment_deg"]).max() < 1.5


def test_calibrate_record_analyse_a_dot(tmp_path):
    """gyro -> accel -> alignment with an emulated DOT, then a recorded DOT session is analysed
    with that calibration: upright gravity along body +z, gyro bias gone; raw, the unit's
    mounting tilts it and its bias shows."""
    from dmi_sensors.analysis.signals import stored_sensor_signals
    from dmi_sensors.analysis.stored_run import latest_run, load_sensor_signals
    from dmi_sensors.store import SessionStore

    lib = tmp_path / "calibration"
    for kind in ("gyro", "accel", "alignment"):  # 5-s steps (the test's time)
        done = run_cli("calibrate", kind, "--via-bluez", "--simulate-vendor", "dot", "--step-s", "5", "--library", lib)
        assert done.code == 0, done.err + done.out
    library = CalibrationSet.load(lib)
    sid = VENDOR_IDS["dot"]
    assert library.serials() == [sid]
    truth = error_truth(simulated_imu_errors(0))
    cal = library.for_sensor(sid)
    assert cal.accel is not None and cal.gyro is not None and cal.alignment is not None
    assert np.abs(cal.accel.bias_mps2 - truth["acc_bias_mps2"]).max() < 0.01
    assert np.abs(cal.accel.scale / truth["acc_scale"] - 1).max() < 2e-3
    assert np.abs(cal.accel.misalignment_deg - truth["acc_misalignment_deg"]).max() < 1.5
    assert np.abs(cal.gyro.bias_rps - truth["gyr_bias_rps"]).max() < 1e-3
    db = tmp_path / "s.sqlite"
    rec = run_cli(
        "record", "--simulate-sensors", "1", "--simulate-vendor", "dot", "--duration-s", "8", "--scan-timeout-s", "2",
        "--calibration-dir", lib, "--subject-id", "C001", "--com-height-m", "0.9", "--db", db,
    )  # fmt: skip
    assert rec.code == 0, rec.err
    assert "WARNING" not in rec.err
    assert run_cli("report", 1, "--db", db, "--out", tmp_path / "r").code == 0
    with SessionStore(db) as store:
        run = latest_run(store, 1)
        assert run.parameters["frames"] == {sid: "body"}
        assert run.parameters["calibrations"][sid]["kinds"] == ["accel", "gyro", "alignment"]
        used = load_sensor_signals(store, 1, sid, run.parameters["session"])
        raw = stored_sensor_signals(store, 1, sid)

    def tilt_deg(sig) -> float:
        g = sig.acc_mps2[sig.valid].mean(axis=0)
        return float(np.degrees(np.arccos(g[2] / np.linalg.norm(g))))

    assert used.frame == "body" and raw.frame == "sensor"
    assert tilt_deg(used) < 1.0 < 5.0 < tilt_deg(raw)
    assert np.abs(used.gyr_rps[used.valid].mean(axis=0)).max() < 0.003
    np.testing.assert_allclose(raw.gyr_rps[raw.valid].mean(axis=0), truth["gyr_bias_rps"], atol=0.003)


def test_vendor_options_are_checked():
    no_bluez = run_cli("calibrate", "gyro", "--simulate", "--simulate-vendor", "dot")
    assert no_bluez.code != 0 and "--simulate-vendor needs --via-bluez" in no_bluez.err
    model = run_cli("calibrate", "gyro", "--via-bluez", "--simulate-vendor", "dot", "--vendor-model", "H10")
    assert model.code != 0 and "--vendor-model applies to --simulate-vendor polar" in model.err
    rate = run_cli("calibrate", "gyro", "--via-bluez", "--simulate-vendor", "dot", "--fs", "100", "--step-s", "2")
    assert rate.code != 0 and "dot: rate_hz must be one of" in rate.err + rate.out
