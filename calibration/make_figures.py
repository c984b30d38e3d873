"""Regenerate the figures and example files of the calibration procedure from simulated data.

    PYTHONPATH=src python calibration/make_figures.py [OUT_DIR]

Writes ``figures/*.png`` and ``examples/*.json`` next to this script (or under OUT_DIR).
Deterministic: the virtual sensor ``SIM-0001`` with the errors of seed 1 (see
``dmi_sensors.sim.calibration.random_imu_errors``), the same sensor that
``dmi-sensors calibrate ... --simulate`` uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dmi_sensors.calibration import (
    apply,
    calibrate_alignment,
    calibrate_gyro,
    calibrate_six_position,
    detect_still,
    write_calibration,
)
from dmi_sensors.calibration.guided import procedure, run_procedure
from dmi_sensors.sim.calibration import SimulatedSource, random_imu_errors

SEED = 1
SERIAL = "SIM-0001"
DPI = 90
# Fixed creation times keep the committed example files stable when regenerated.
CREATED = {"gyro": "2026-01-15T09:00:00Z", "accel": "2026-01-15T09:05:00Z", "alignment": "2026-01-15T09:30:00Z"}


def _quiet(*_: object) -> None:
    pass


def draw_poses(path: Path) -> None:
    """Six panels: the sensor case and which arrow points up in each pose."""
    fig, axes = plt.subplots(1, 6, figsize=(12, 2.6))
    for ax, pose in zip(axes, ("+z", "-z", "+x", "-x", "+y", "-y"), strict=True):
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.set_aspect("equal")
        ax.axis("off")
        axis, up = pose[1], pose[0] == "+"
        # side view of the case resting on the table (grey line), the named axis vertical
        ax.plot([-1.5, 1.5], [-1.25, -1.25], color="0.4", lw=3)
        w, h = (1.6, 0.5) if axis == "z" else (0.5, 1.6) if axis == "x" else (0.9, 1.6)
        ax.add_patch(plt.Rectangle((-w / 2, -1.2), w, h, fc="#cfe3f5", ec="#1f4e79", lw=1.5))
        y0 = -1.2 + h / 2
        ax.annotate(
            "",
            xy=(0, y0 + (0.9 if up else -0.9) + (h / 2 if up else -h / 2) * 0),
            xytext=(0, y0),
            arrowprops={"arrowstyle": "-|>", "lw": 2.5, "color": "#c00000"},
        )
        ax.text(0.12, y0 + (0.55 if up else -0.55), axis.upper(), color="#c00000", fontsize=13, weight="bold")
        ax.set_title(f"{pose}: {axis.upper()} arrow {'UP' if up else 'DOWN'}", fontsize=10)
    fig.suptitle("Accelerometer: the six poses (hold each still for 5 s)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main(out: Path) -> None:
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "examples").mkdir(parents=True, exist_ok=True)
    errors = random_imu_errors(SEED)
    source = SimulatedSource(SERIAL, errors, fs_hz=100.0, seed=SEED)

    draw_poses(out / "figures" / "six_poses.png")

    # --- gyro -----------------------------------------------------------------------
    still = run_procedure(procedure("gyro"), source, say=_quiet)
    gyro = calibrate_gyro(still.acc_mps2, still.gyr_rps, still.fs_hz, SERIAL, source={"simulated": True, "seed": SEED})
    mask = detect_still(still.acc_mps2, still.gyr_rps, still.fs_hz)
    fig, ax = plt.subplots(figsize=(8, 3))
    for i, c in enumerate("xyz"):
        ax.plot(still.time_s, np.degrees(still.gyr_rps[:, i]), lw=0.7, label=f"gyro {c}")
        ax.axhline(np.degrees(gyro.bias_rps[i]), color=f"C{i}", ls="--", lw=1.2)
    ax.fill_between(still.time_s, -3, 3, where=~mask, color="0.85", label="not still (excluded)")
    ax.set_ylim(-3, 3)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("angular rate (deg/s)")
    ax.set_title("Gyroscope bias: sensor lying still; dashed = estimated bias")
    ax.legend(fontsize=8, ncol=4, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "figures" / "gyro_still.png", dpi=DPI)
    plt.close(fig)

    # --- accelerometer ----------------------------------------------------------------
    poses = run_procedure(procedure("accel"), source, say=_quiet)
    accel = calibrate_six_position(
        poses.acc_mps2, poses.gyr_rps, poses.fs_hz, SERIAL, source={"simulated": True, "seed": SEED}
    )
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for i, c in enumerate("xyz"):
        a1.plot(poses.time_s, poses.acc_mps2[:, i], lw=0.8, label=f"acc {c}")
    for pose, info in accel.source["poses"].items():
        t0, d = info["start_s"], info["duration_s"]
        a1.axvspan(t0, t0 + d, color="#d9ead3")
        a1.text(t0 + d / 2, 11.0, pose, ha="center", fontsize=9)
    a1.set_ylim(-12, 12.5)
    a1.set_ylabel("m/s²")
    a1.set_title("Six poses in one recording; green = still period used for each pose")
    a1.legend(fontsize=8, ncol=3, loc="lower right")
    g = accel.gravity_mps2
    raw_norm = np.linalg.norm(poses.acc_mps2, axis=1) - g
    cal_norm = np.linalg.norm(accel.apply(poses.acc_mps2), axis=1) - g
    still_mask = detect_still(poses.acc_mps2, poses.gyr_rps, poses.fs_hz)
    a2.plot(poses.time_s[still_mask], raw_norm[still_mask], ".", ms=1.5, label="before calibration")
    a2.plot(poses.time_s[still_mask], cal_norm[still_mask], ".", ms=1.5, label="after calibration")
    a2.axhline(0, color="k", lw=0.8)
    a2.set_ylabel("|a| - g (m/s²)")
    a2.set_xlabel("time (s)")
    a2.set_title(f"Residual when still: RMS {accel.residual_mps2:.3f} m/s² after calibration (sensor noise)")
    a2.legend(fontsize=8, markerscale=6)
    fig.tight_layout()
    fig.savefig(out / "figures" / "six_position.png", dpi=DPI)
    plt.close(fig)

    # --- alignment --------------------------------------------------------------------
    bend = run_procedure(procedure("alignment"), source, say=_quiet)
    acc_i, gyr_i = apply([accel, gyro], bend.acc_mps2, bend.gyr_rps)
    alignment = calibrate_alignment(
        acc_i, gyr_i, bend.fs_hz, SERIAL, placement="trunk", source={"simulated": True, "seed": SEED}
    )
    acc_b, _ = apply(alignment, acc_i, gyr_i)
    fig, (b1, b2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for i, c in enumerate("xyz"):
        b1.plot(bend.time_s, acc_i[:, i], lw=0.8, label=f"sensor {c}")
    b1.set_ylabel("m/s²")
    b1.set_title("Upright, then a forward bend: sensor axes (crooked on the back)")
    b1.legend(fontsize=8, ncol=3)
    for i, c in enumerate(("x forward (AP)", "y left (ML)", "z up (V)")):
        b2.plot(bend.time_s, acc_b[:, i], lw=0.8, label=c)
    up = alignment.source
    b2.axvspan(up["upright_start_s"], up["upright_start_s"] + up["upright_duration_s"], color="#d9ead3")
    b2.set_ylabel("m/s²")
    b2.set_xlabel("time (s)")
    yaw, pitch, roll = alignment.euler_zyx_deg
    b2.set_title(
        f"Body axes after alignment (yaw {yaw:.0f}°, pitch {pitch:.0f}°, roll {roll:.0f}°): the bend shows on x only"
    )
    b2.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(out / "figures" / "alignment.png", dpi=DPI)
    plt.close(fig)

    for cal in (gyro, accel, alignment):
        object.__setattr__(cal, "created_utc", CREATED[cal.kind])
        stamp = CREATED[cal.kind].replace("-", "").replace(":", "")
        write_calibration(cal, out / "examples" / f"{SERIAL}_{cal.kind}_{stamp}.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
