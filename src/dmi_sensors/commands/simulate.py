"""``dmi-sensors simulate``: a virtual trunk sensor -> trial CSV + ground-truth JSON + events CSV.

The trial CSV has the data contract's trial format (``time_s`` and the six inertial
columns, body-aligned sensor frame: x forward, y left, z up) on the true sample grid; the
mounting rotation of ``--errors typical`` is removed exactly (perfect alignment), the other
errors stay. The JSON holds the parameters, the per-segment truth (COM RMS, tilt RMS), the
events table, push times and the true time-to-stabilise. The events are also written as an
events CSV (``<out>.events.csv``, the data contract's events table), ready for ``dmi-sensors
analyse --events`` and ``dmi-sensors sessions import --events``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from dmi_sensors import __version__

ERRORS = ("none", "noise", "typical")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        default="quiet-stance",
        choices=("quiet-stance", "sitting", "perturbation", "dmi-session"),
        help="what the child does (default: quiet-stance)",
    )
    parser.add_argument("--duration-s", type=float, default=None, help="length, s (default 60; dmi-session ~6 min)")
    parser.add_argument("--fs-hz", type=float, default=100.0, help="sample rate, Hz (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--com-height-m", type=float, default=0.91, help="COM height over the ankles, m (default 0.91)")
    parser.add_argument(
        "--sensor-height-m", type=float, default=None, help="trunk sensor height, m (default 1.1 x COM)"
    )
    parser.add_argument(
        "--support",
        default="none",
        choices=("trunk", "hips", "thighs", "knees", "shanks", "ankles", "feet", "none"),
        help="therapist support for quiet-stance / sitting / perturbation (default none)",
    )
    parser.add_argument(
        "--perturbation-at-s",
        type=float,
        action="append",
        default=[],
        metavar="T",
        help="push onset, s (repeatable; default for --scenario perturbation: every 15 s from 10 s)",
    )
    parser.add_argument("--push-force-n", type=float, default=None, help="peak push force, N (default 8 %% of weight)")
    parser.add_argument(
        "--push-direction-deg", type=float, default=0.0, help="push direction: 0 forward, 90 left (default 0)"
    )
    parser.add_argument(
        "--errors",
        default="noise",
        choices=ERRORS,
        help="sensor errors: none (exact), noise (realistic noise + int16, default), typical (+bias, scale, "
        "misalignment, mounting, drift, loss)",
    )
    parser.add_argument("--out", required=True, type=Path, help="trial CSV to write")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth JSON (default: <out>.truth.json)")
    parser.add_argument(
        "--events", type=Path, default=None, help="the true events as an events CSV (default: <out>.events.csv)"
    )


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.session.events import check_events
    from dmi_sensors.sim import ImuErrors, simulate
    from dmi_sensors.sim.scenarios import scenario_segments
    from dmi_sensors.store.trial_csv import write_trial_csv

    segments = scenario_segments(
        args.scenario,
        duration_s=args.duration_s,
        perturbations_s=args.perturbation_at_s,
        support=args.support,
        push_force_n=args.push_force_n,
        push_direction_deg=args.push_direction_deg,
    )
    errors = {"none": ImuErrors.none(), "noise": ImuErrors(), "typical": ImuErrors.typical()}[args.errors]
    result = simulate(
        segments,
        fs_hz=args.fs_hz,
        seed=args.seed,
        com_height_m=args.com_height_m,
        sensor_height_m=args.sensor_height_m,
        imu_errors=errors,
    )
    out = write_trial_csv(result.to_trial(sensor_id="sim"), args.out)
    truth_path = args.truth if args.truth is not None else out.with_suffix(".truth.json")
    summary = result.summary()
    doc = {
        "dmi_sensors_version": __version__,
        "scenario": args.scenario,
        "errors": args.errors,
        "imu_errors": asdict(errors),
        "trial_csv": str(out),
        **summary,
        "segments_plan": [
            {**asdict(s), "perturbations": [asdict(p) for p in s.perturbations]} for s in result.segments
        ],
    }
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    events_path = args.events if args.events is not None else out.with_suffix(".events.csv")
    events_path.parent.mkdir(parents=True, exist_ok=True)
    check_events(result.truth.events).to_csv(events_path, index=False)  # THE validator: what analyse reads back
    seg = result.truth.segments
    print(
        f"wrote {out} ({len(result)} samples, {result.duration_s:.1f} s at {result.fs_hz:g} Hz), {events_path} "
        f"and {truth_path}; "
        f"COM RMS AP/ML {seg['com_rms_ap_mm'].iloc[0]:.2f}/{seg['com_rms_ml_mm'].iloc[0]:.2f} mm (first segment)"
    )
    return 0
