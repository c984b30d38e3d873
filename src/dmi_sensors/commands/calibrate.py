"""``dmi-sensors calibrate gyro|accel|alignment``: fit a calibration and write its JSON file.

Input is either a recording (``--input FILE.csv``, trial CSV columns, samples in the
SENSOR frame) or a guided procedure: the steps are printed as a therapist would read them
and recorded from a live sensor over Bluetooth LE (``--sensor ADDRESS``), from one virtual
sensor with known errors through bleak and the emulated BlueZ (``--via-bluez``; with
``--simulate-vendor NAME`` an emulated MetaMotion, DOT, Polar or WitMotion), or from a
virtual sensor in this process (``--simulate``); with a virtual sensor the estimate is
compared with the truth. ``--library DIR`` applies the
sensor's latest accelerometer / gyroscope calibrations from DIR before fitting (use it
for ``alignment``) and stores the new file there; ``--json OUT`` writes the file to OUT.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmi_sensors.commands.calibrate_live import record_live
from dmi_sensors.commands.vendor_args import VENDORS
from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    from dmi_sensors.calibration import Calibration
    from dmi_sensors.calibration.guided import Step
    from dmi_sensors.sim import ImuErrors
    from dmi_sensors.types import Trial

KINDS = ("gyro", "accel", "alignment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="what to calibrate")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE.csv", help="trial CSV recording (sensor frame); accel: six poses")
    src.add_argument("--sensor", metavar="ADDRESS", help="guided steps with this live sensor (BLE address)")
    src.add_argument(
        "--via-bluez",
        action="store_true",
        help="guided steps with one virtual sensor with known errors, through bleak and the emulated BlueZ",
    )
    src.add_argument("--simulate", action="store_true", help="guided steps with a virtual sensor with known errors")
    parser.add_argument(
        "--serial",
        help="sensor serial the calibration belongs to (required with --input; live: the sensor's own; "
        "--simulate: 00D10001, the first simulated sensor of record --simulate-sensors)",
    )
    parser.add_argument("--json", metavar="OUT", help="write the calibration JSON file here")
    parser.add_argument("--library", metavar="DIR", help="apply DIR's accel/gyro calibrations first; save there too")
    parser.add_argument(
        "--method",
        choices=("six_position", "ellipsoid", "lean", "step"),
        help="accel: six_position (default) or ellipsoid; alignment: lean (default) or step",
    )
    parser.add_argument("--posture", choices=("standing", "sitting"), default="standing", help="alignment posture")
    parser.add_argument("--placement", default="trunk", help="where the sensor sits (alignment), default trunk")
    parser.add_argument("--min-pose-s", type=float, default=3.0, help="accel: shortest still pose, s (default 3)")
    parser.add_argument(
        "--seed",
        type=int,
        help="virtual sensor: seed of its errors (default: the errors of the simulated sensor --serial names, sensor 0"
        " = 00D10001 by default, the unit record --simulate-sensors records with)",
    )
    parser.add_argument(
        "--fs",
        type=float,
        help="guided steps: sample rate, Hz (default 100; a third-party sensor: its vendor's research rate,"
        " docs/vendors.md, and only a rate the vendor's device supports)",
    )
    parser.add_argument(
        "--simulate-vendor",
        choices=VENDORS,
        help="--via-bluez / --simulate: the virtual sensor is this vendor's (MetaMotion, Movella DOT, Polar,"
        " WitMotion; docs/vendors.md) instead of ours",
    )
    parser.add_argument(
        "--vendor-model",
        choices=("Verity Sense", "H10"),
        help="--simulate-vendor polar: the Polar model (default Verity Sense; the H10 has no gyroscope)",
    )
    parser.add_argument("--save-recording", metavar="CSV", help="guided steps: also write the recording as a trial CSV")
    parser.add_argument(
        "--wait", action="store_true", help="guided steps: wait for Enter before each step (only on a terminal)"
    )
    parser.add_argument(
        "--step-s", type=float, help="guided steps: record each step this long instead of its standard length, s"
    )
    parser.add_argument(
        "--attempts", type=int, default=3, help="live: recordings of a step that lost samples before giving up"
    )
    parser.add_argument("--connect-timeout-s", type=float, default=30.0, help="live: wait for data, s (default 30)")
    parser.add_argument("--adapter", help="live: BlueZ adapter, e.g. hci1 (Linux)")
    parser.add_argument(
        "--fault-profile",
        default="none",
        choices=("none", "flaky", "hostile"),
        help="--via-bluez: link faults injected by the emulated BlueZ (default none)",
    )


def _method(args: argparse.Namespace) -> str:
    allowed = {"gyro": (None,), "accel": (None, "six_position", "ellipsoid"), "alignment": (None, "lean", "step")}
    if args.method not in allowed[args.kind]:
        raise ParameterError(f"--method {args.method} does not apply to {args.kind}")
    return args.method or {"gyro": "still_periods", "accel": "six_position", "alignment": "lean"}[args.kind]


def _steps(args: argparse.Namespace, method: str) -> list[Step]:
    """The guided procedure's steps (``--step-s`` overrides every step's length)."""
    from dmi_sensors.calibration.guided import procedure

    steps = procedure(args.kind, posture=args.posture, movement=method if args.kind == "alignment" else "lean")
    if args.step_s is not None:
        if not args.step_s > 0:
            raise ParameterError(f"--step-s must be positive, got {args.step_s}")
        steps = [
            dataclasses.replace(s, duration_s=args.step_s, settle_s=min(s.settle_s, args.step_s / 4)) for s in steps
        ]
    return steps


def _fit(args: argparse.Namespace, trial: Trial, serial: str, method: str, source: dict[str, Any]) -> Calibration:
    from dmi_sensors.calibration import (
        calibrate_alignment,
        calibrate_ellipsoid,
        calibrate_gyro,
        calibrate_six_position,
    )

    acc, gyr, fs = trial.acc_mps2, trial.gyr_rps, trial.fs_hz
    if args.kind == "gyro":
        return calibrate_gyro(acc, gyr, fs, serial, source=source)
    if args.kind == "accel":
        if method == "ellipsoid":
            return calibrate_ellipsoid(acc, gyr, fs, serial, source=source)
        return calibrate_six_position(acc, gyr, fs, serial, min_pose_s=args.min_pose_s, source=source)
    return calibrate_alignment(
        acc, gyr, fs, serial, method=method, posture=args.posture, placement=args.placement, source=source
    )


def _vector(values: Any, decimals: int = 4) -> str:
    """``[1.0000, 2.0000, ...]``: a vector or matrix row, flattened."""
    import numpy as np

    return "[" + ", ".join(f"{x:.{decimals}f}" for x in np.ravel(values)) + "]"


def _summary(cal: Calibration) -> list[str]:
    from dmi_sensors.calibration import AccelCalibration, GyroCalibration

    f = _vector
    if isinstance(cal, GyroCalibration):
        return [
            f"gyro bias_rps           {f(cal.bias_rps, 5)}",
            f"  standard error (rad/s) {f(cal.bias_stderr_rps, 6)}",
            f"  still data             {cal.still_duration_s:.1f} s ({cal.n_samples} samples)",
        ]
    if isinstance(cal, AccelCalibration):
        return [
            f"accel bias_mps2         {f(cal.bias_mps2)}",
            f"  scale                 {f(cal.scale, 5)}",
            f"  misalignment_deg      {f(cal.misalignment_deg, 3)}",
            f"  nonorthogonality_deg  {f(cal.nonorthogonality_deg, 3)}",
            f"  residual_mps2 (RMS |a|-g) {cal.residual_mps2:.4f}; condition number {cal.condition_number:.2f}",
        ]
    return [
        f"alignment ({cal.posture}, {cal.method}) rotation_sensor_to_body:",
        *(f"  {f(row, 5)}" for row in cal.rotation_sensor_to_body),
        f"  yaw/pitch/roll (deg, R = Rz Ry Rx) {f(cal.euler_zyx_deg, 2)}",
        f"  sensor tilt from vertical {cal.sensor_tilt_deg:.2f} deg; lean reached {cal.lean_deg:.1f} deg",
    ]


def _truth_check(cal: Calibration, errors: ImuErrors) -> list[str]:
    import numpy as np
    from scipy.spatial.transform import Rotation

    from dmi_sensors.calibration import AccelCalibration, GyroCalibration
    from dmi_sensors.sim.calibration import error_truth

    truth = error_truth(errors)
    if isinstance(cal, GyroCalibration):
        err = np.abs(cal.bias_rps - truth["gyr_bias_rps"]).max()
        return [f"truth: bias_rps {np.round(truth['gyr_bias_rps'], 5).tolist()}; max error {err:.2e} rad/s"]
    if isinstance(cal, AccelCalibration):
        lines = [
            f"truth: bias_mps2 {np.round(truth['acc_bias_mps2'], 4).tolist()}, "
            f"scale {np.round(truth['acc_scale'], 5).tolist()}",
            f"  max errors: bias {np.abs(cal.bias_mps2 - truth['acc_bias_mps2']).max():.4f} m/s^2, "
            f"scale {100 * np.abs(cal.scale / truth['acc_scale'] - 1).max():.3f} %",
        ]
        if cal.method == "six_position":
            lines[-1] += f", misalignment {np.abs(cal.misalignment_deg - truth['acc_misalignment_deg']).max():.3f} deg"
        return lines
    mount = Rotation.from_matrix(truth["rotation_sensor_to_body"])
    err = np.degrees((Rotation.from_matrix(cal.rotation_sensor_to_body) * mount.inv()).magnitude())
    return [
        f"truth: mounting yaw/pitch/roll {np.round(mount.as_euler('ZYX', degrees=True), 2).tolist()} deg; "
        f"rotation error {err:.2f} deg"
    ]


def simulated_errors_seed(seed: int | None, serial: str) -> int:
    """The errors' seed of a virtual sensor: ``--seed`` when given, else that of the simulated
    sensor ``serial`` names (:func:`dmi_sensors.sim.identity.errors_seed`; sensor 0 for any
    other serial), so the calibration fits the unit ``record --simulate-sensors`` records."""
    from dmi_sensors.sim.identity import errors_seed, simulated_index

    return seed if seed is not None else errors_seed(simulated_index(serial) or 0)


def _check_vendor_args(args: argparse.Namespace) -> None:
    """``--simulate-vendor`` / ``--vendor-model`` / ``--fs``: where they apply, the defaults."""
    if args.simulate_vendor and not args.via_bluez:
        raise ParameterError(
            "--simulate-vendor needs --via-bluez (a third-party sensor is emulated through its own bytes and link;"
            " --simulate has neither)"
        )
    if args.vendor_model and args.simulate_vendor != "polar":
        raise ParameterError("--vendor-model applies to --simulate-vendor polar only")
    if args.fs is not None and not args.fs > 0:
        raise ParameterError(f"--fs must be positive, got {args.fs}")
    # a third-party sensor streams at its vendor's research rate unless --fs asks for another
    args.fs_given = args.fs is not None
    if args.fs is None:
        args.fs = 100.0
    args.sim_index = 0


def _accelerometer_only(args: argparse.Namespace, trial: Trial) -> Trial:
    """A sensor without a gyroscope (Polar H10: NaN angular rate): what applies to it.

    ``gyro`` and the ``step`` alignment (a gyro strapdown) cannot be fitted; the others find
    still periods from the accelerometer alone (the angular rate is taken as zero)."""
    import dataclasses

    import numpy as np

    if np.isfinite(trial.gyr_rps).any():
        return trial
    if args.kind == "gyro" or (args.kind == "alignment" and args.method == "step"):
        what = "a gyroscope calibration" if args.kind == "gyro" else "the step alignment (a gyro strapdown)"
        raise ParameterError(f"sensor {trial.sensor_id} has no gyroscope (e.g. a Polar H10): {what} does not apply")
    print(f"note: sensor {trial.sensor_id} has no gyroscope; still periods are found from the accelerometer alone")
    return dataclasses.replace(trial, gyr_rps=np.zeros_like(trial.acc_mps2))


def _wait_for_enter(step: Step) -> None:
    input("  press Enter when ready ")


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.calibration import CalibrationSet, apply_to_trial, write_calibration
    from dmi_sensors.store.trial_csv import read_trial_csv, write_trial_csv

    method = _method(args)
    _check_vendor_args(args)
    errors: ImuErrors | None = None
    provenance: dict[str, Any]
    if args.simulate:
        from dmi_sensors.calibration.guided import run_procedure
        from dmi_sensors.sim.calibration import SimulatedSource, random_imu_errors
        from dmi_sensors.sim.identity import simulated_sensor_id

        serial = args.serial or simulated_sensor_id(0)  # the sensor record --simulate-sensors records first
        args.seed = simulated_errors_seed(args.seed, serial)
        errors = random_imu_errors(args.seed)
        source = SimulatedSource(serial, errors, fs_hz=args.fs, seed=args.seed + 1000 * KINDS.index(args.kind))
        steps = _steps(args, method)
        print(f"Calibrating {args.kind} of virtual sensor {serial} (seed {args.seed}); follow the steps:")
        wait = _wait_for_enter if args.wait and sys.stdin.isatty() else None
        trial = run_procedure(steps, source, wait=wait)
        provenance = {"simulated": True, "seed": args.seed}
        if args.save_recording:
            print(f"recording written to {write_trial_csv(trial, args.save_recording)}")
    elif args.sensor or args.via_bluez:
        from dmi_sensors.live import LiveCalibrationError

        if args.attempts < 1:
            raise ParameterError(f"--attempts must be at least 1, got {args.attempts}")
        steps = _steps(args, method)
        print(f"Calibrating {args.kind}; follow the steps:")
        try:
            trial, serial, provenance, errors = record_live(args, steps)
        except LiveCalibrationError as exc:
            print(f"dmi-sensors calibrate: error: {exc}", file=sys.stderr)
            return 1
        if args.save_recording:
            print(f"recording written to {write_trial_csv(trial, args.save_recording)}")
    else:
        if not args.serial:
            raise ParameterError("--serial is required with --input (the calibration is keyed by the sensor's serial)")
        serial = args.serial
        trial = read_trial_csv(args.input, sensor_id=serial)
        provenance = {"input": Path(args.input).name}
    library = None
    if args.library:
        lib_dir = Path(args.library)
        lib_dir.mkdir(parents=True, exist_ok=True)
        library = CalibrationSet.load(lib_dir)
        prior = library.for_sensor(serial)
        # intrinsic calibrations only: never stack a previous alignment onto the new fit
        use = [c for c in (prior.accel, prior.gyro) if c is not None and c.kind != args.kind]
        if args.kind == "accel":
            use = []  # the accelerometer model is fitted on raw readings
        if use:
            trial = apply_to_trial(use, trial)
            provenance["applied"] = {c.kind: c.path.name if c.path else c.created_utc for c in use}
            print("applied first: " + ", ".join(f"{c.kind} ({c.created_utc})" for c in use))
        elif args.kind == "alignment":
            print("note: no accel/gyro calibration for this sensor in the library; fitting on raw readings")
    trial = _accelerometer_only(args, trial)
    cal = _fit(args, trial, serial, method, provenance)
    for line in _summary(cal):
        print(line)
    if errors is not None:
        for line in _truth_check(cal, errors):
            print(line)
    written: list[Path] = []
    if args.json:
        written.append(write_calibration(cal, args.json))
    if library is not None:
        written.append(library.add(cal, lib_dir))
    for path in written:
        print(f"calibration written to {path}")
    if not written:
        print("not saved (use --json OUT or --library DIR); the file would be:", file=sys.stderr)
        print(json.dumps(cal.to_dict(), indent=2, default=str))
    return 0
