"""``dmi-sensors analyse TRIAL.csv``: sway metrics of one trunk-IMU trial.

Reads a trial CSV (``docs/data-contract.md``: ``time_s, acc_*_mps2, gyr_*_rps``, body-aligned
sensor frame x forward, y left, z up), estimates the COM excursion, computes the Prieto,
ISway and time-to-stabilise metrics (``docs/metrics.md``) for the whole trial, per sliding
window and per tagged segment, prints a summary and optionally writes JSON with keys
``dmi_sensors_version, parameters, summary, stabilisation, perturbation_check, warnings,
windows``. Events the analysis could not use as given (outside the trial, clipped to it),
perturbations outside the trial or without a response, and bursts that look like
perturbations but were not given are printed as warnings; values under their noise floor are
marked.

With ``--events`` the terminal shows one row per tagged exercise first (its segment's
metrics, as in the JSON): a whole DMI session mixes postures, so its whole-trial numbers
are printed after it and labelled as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "trial",
        metavar="TRIAL.csv",
        help="trial CSV (data contract), or a vendor recording: Movella DOT CSV, MetaBase CSV, APDM .h5"
        " (docs/vendors.md)",
    )
    parser.add_argument(
        "--com-height-m",
        type=float,
        required=True,
        help="whole-body COM height above the ankles when standing upright, m; per subject, no default"
        " (--posture and --support pick the pivot and the lever; see docs/metrics.md)",
    )
    parser.add_argument(
        "--posture",
        default="standing",
        choices=(*contract.POSTURES, "supported_standing"),
        help="the trial's posture (default standing); events rows with a posture override it for their interval",
    )
    parser.add_argument(
        "--support",
        default="none",
        choices=contract.SUPPORT_POINTS,
        help="where the therapist holds the child (default none): standing, the body above the held joint sways",
    )
    parser.add_argument(
        "--sensor-height-m", type=float, default=None, help="sensor height above the same pivot, m (strapdown)"
    )
    parser.add_argument(
        "--pelvis-csv",
        metavar="PELVIS.csv",
        help="a second sensor on the pelvis (sacrum), trial-CSV format on the same time base: standing (free or held"
        " at the knees) the COM is then the two-segment estimate, legs + upper body (docs/metrics.md)",
    )
    parser.add_argument(
        "--pelvis-height-m",
        type=float,
        default=None,
        help="pelvis sensor height above the ankles when standing, m (default: --com-height-m, a sacral sensor)",
    )
    parser.add_argument(
        "--body-height-m",
        type=float,
        default=None,
        help="the child's standing body height, m: picks the paediatric segment mass fractions of the two-segment"
        " COM (default: adult fractions)",
    )
    parser.add_argument("--events", metavar="FILE", help="events CSV: onset_s,duration_s,exercise,repetition,...")
    parser.add_argument("--window-s", type=float, default=2.0, help="sliding-window length, s (default 2)")
    parser.add_argument("--step-s", type=float, default=None, help="sliding-window step, s (default: window)")
    parser.add_argument(
        "--perturbation-at-s",
        type=float,
        action="append",
        default=[],
        metavar="T",
        help="perturbation time, s (repeatable): time to stabilise is computed after each",
    )
    parser.add_argument(
        "--perturbation-duration-s",
        type=float,
        default=0.0,
        metavar="D",
        help="duration of each --perturbation-at-s event, s (TTS counts from its end; default 0)",
    )
    parser.add_argument(
        "--detect-perturbations",
        action="store_true",
        help="without --perturbation-at-s or perturbation events: detect bursts and compute TTS after each",
    )
    parser.add_argument("--com-method", choices=("pendulum", "strapdown"), default="pendulum")
    parser.add_argument("--ellipse-method", choices=("prediction_F", "chi2", "prieto"), default="prediction_F")
    parser.add_argument("--acc-frame", choices=("gravity_removed", "static_tilt"), default="gravity_removed")
    parser.add_argument("--sensor-id", default="", help="sensor identifier written to the window table")
    parser.add_argument(
        "--sensor",
        metavar="ID",
        help="vendor recording with several sensors (APDM): which one (apdm-<case id>, the case id or its label)",
    )
    parser.add_argument("--json", metavar="OUT", help="write the full result as JSON to OUT ('-' for stdout)")
    parser.add_argument(
        "--calibration",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="calibration JSON file(s) of this sensor (accel, gyro, alignment: at most one of each) applied to the"
        " trial before analysis; recorded in the JSON parameters",
    )


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


#: Metrics of the per-exercise table printed with --events (headers from the registry).
EXERCISE_TABLE_METRICS = ("com_rms_ap_mm", "com_rms_ml_mm", "com_ellipse_area_mm2", "acc_rms_ap_mps2", "f50_ap_hz")


def exercise_rows(windows: pd.DataFrame) -> pd.DataFrame:
    """The exercise segments of a window table (one per tagged exercise row, repetition 0),
    in time order, with ``reps``: how many repetition segments lie inside each."""
    from dmi_sensors import contract

    seg = windows[windows[contract.WINDOW_KIND] == "segment"]
    rep_no = seg[contract.REPETITION].fillna(0).astype(int)
    exercises = seg[(rep_no == 0) & (seg[contract.EXERCISE].astype(str) != "")].sort_values(contract.START_S)
    reps = seg[rep_no > 0]
    counts = [
        int(
            (
                (reps[contract.EXERCISE] == row[contract.EXERCISE])
                & (reps[contract.START_S] >= row[contract.START_S] - 1e-9)
                & (reps[contract.START_S] < row[contract.END_S])
            ).sum()
        )
        for _, row in exercises.iterrows()
    ]
    return exercises.assign(reps=counts)


def _print_exercises(windows: pd.DataFrame) -> None:
    from dmi_sensors import contract
    from dmi_sensors.metrics import REGISTRY

    rows = exercise_rows(windows)
    if not len(rows):
        print("  no tagged exercise lies inside the trial (see the warnings)")
        return
    headers = [REGISTRY[m].header for m in EXERCISE_TABLE_METRICS]
    print(
        f"  {'exercise':<26} {'support':<8} {'posture':<11} {'start [s]':>9} {'duration [s]':>12} {'reps':>4} "
        + " ".join(f"{h:>{max(len(h), 10)}}" for h in headers)
    )
    widths = [max(len(h), 10) for h in headers]
    for _, r in rows.iterrows():
        cells = " ".join(f"{_fmt(_float(r[m])):>{w}}" for m, w in zip(EXERCISE_TABLE_METRICS, widths, strict=True))
        exercise, support, posture = (str(r[c] or "-") for c in (contract.EXERCISE, contract.SUPPORT, contract.POSTURE))
        print(
            f"  {exercise:<26} {support:<8} {posture:<11} {r[contract.START_S]:>9.1f} "
            f"{r[contract.END_S] - r[contract.START_S]:>12.1f} {int(r['reps']):>4} " + cells
        )


def _float(value: object) -> float | None:
    import math

    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.analysis.trial import SUMMARY_KEYS, analyse_trial
    from dmi_sensors.metrics import REGISTRY
    from dmi_sensors.session.events import read_events_csv
    from dmi_sensors.session.model import COM_HEIGHT_RANGE
    from dmi_sensors.store.export.vendor import read_any_trial

    COM_HEIGHT_RANGE.check(args.com_height_m, "--com-height-m")  # one clear line, before any work
    if args.body_height_m is not None:
        from dmi_sensors.session.model import BODY_HEIGHT_RANGE, check_heights

        BODY_HEIGHT_RANGE.check(args.body_height_m, "--body-height-m")
        check_heights(args.com_height_m, args.body_height_m, "--com-height-m")
    if args.pelvis_height_m is not None and not 0 < args.pelvis_height_m < 3:
        raise ParameterError(f"--pelvis-height-m: expected a height above the ankles in m, got {args.pelvis_height_m}")
    if args.pelvis_height_m is not None and not args.pelvis_csv:
        raise ParameterError("--pelvis-height-m needs --pelvis-csv (the pelvis sensor's trial CSV)")
    trial = read_any_trial(args.trial, sensor_id=args.sensor_id, sensor=args.sensor)
    pelvis = read_any_trial(args.pelvis_csv, sensor_id="pelvis") if args.pelvis_csv else None
    calibration = None
    if args.calibration:
        from dmi_sensors.calibration import apply_to_trial, read_calibration

        calibration = [read_calibration(path) for path in args.calibration]
        trial = apply_to_trial(calibration, trial)
    if pelvis is not None:
        from dmi_sensors.analysis.trial import pelvis_on_grid

        try:
            pelvis = pelvis_on_grid(trial, pelvis)
        except ParameterError as exc:
            raise ParameterError(f"{args.pelvis_csv}: {exc}") from None
    events = read_events_csv(args.events) if args.events else None
    result = analyse_trial(
        trial,
        events=events,
        window_s=args.window_s,
        com_height_m=args.com_height_m,
        perturbations_s=args.perturbation_at_s,
        sensor_height_m=args.sensor_height_m,
        step_s=args.step_s,
        com_method=args.com_method,
        ellipse_method=args.ellipse_method,
        acc_frame=args.acc_frame,
        posture=args.posture,
        support=args.support,
        tts_event_duration_s=args.perturbation_duration_s,
        detect_perturbations=args.detect_perturbations,
        pelvis=pelvis,
        pelvis_height_m=args.pelvis_height_m,
        body_height_m=args.body_height_m,
    )
    payload = result.to_json_dict()
    payload["parameters"]["input"] = str(args.trial)
    if args.events:
        payload["parameters"]["events"] = str(args.events)
    if args.pelvis_csv:
        payload["parameters"]["pelvis_input"] = str(args.pelvis_csv)
    if calibration:
        payload["parameters"]["calibration"] = {
            c.kind: {
                "file": str(path),
                "sensor_serial": c.sensor_serial,
                "created_utc": c.created_utc,
                "method": c.method,
            }
            for c, path in zip(calibration, args.calibration, strict=True)
        }
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    text = json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    if args.json == "-":
        sys.stdout.write(text)
        return 0
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text, encoding="utf-8")
    summary = payload["summary"]
    model = summary.get("com_model", "single_segment")
    how = "two-segment model (trunk + pelvis)" if model == "two_segment" else "trunk-only pendulum"
    if args.com_method != "pendulum":
        how = args.com_method
    print(f"{args.trial}: {trial.duration_s:.1f} s at {trial.fs_hz:.4g} Hz, COM by {how}")
    if events is not None:
        print(f"per tagged exercise ({args.events}; every metric and each repetition: --json OUT):")
        _print_exercises(result.windows)
        print("whole trial (every exercise and posture together; compare exercises in the rows above):")
    keys = list(SUMMARY_KEYS)
    if "time_to_stabilise_s" in summary:
        keys.append("time_to_stabilise_s")
    below = set(summary.get("below_noise_floor") or ())
    for key in keys:
        unit = REGISTRY[key].unit if key in REGISTRY else ""
        note = "  (below noise floor)" if key in below else ""
        print(f"  {key:<28} {_fmt(summary.get(key)):>12} {unit}{note}")
    statuses = summary.get("time_to_stabilise_status") or []
    if any(s != "stable" for s in statuses):
        print("  time to stabilise: " + "; ".join(statuses))
    n_windows = len(payload["windows"])
    print(f"  windows: {n_windows}" + (f" -> {args.json}" if args.json else " (use --json OUT for all metrics)"))
    return 0
