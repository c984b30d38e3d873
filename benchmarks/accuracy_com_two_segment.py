"""Accuracy of the two-segment COM (trunk + pelvis) against the simulator's truth.

``python -m benchmarks.accuracy_com_two_segment`` prints, per trial, the whole-body COM RMSE
(mm, AP and ML) of the trunk-only pendulum and of the two-segment estimate, through the
analysis path (:func:`dmi_sensors.analysis.trial.signals_and_replica`, as ``analyse`` uses
it). Trials: 45 s standing; trunk sensor at 1.25 h, pelvis (sacrum) at 1.0 h; "pushes": three
pushes (forward, backward, forward) of the given fraction of body weight on a two-segment
body; "one block": the single-segment body (pure ankle strategy) without pushes; "quiet
two-segment": the two-segment body without pushes. Not a speed benchmark (no ``bench_``
prefix): it is not run by ``python -m benchmarks``.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.analysis.trial import TrialAnalysisParams, signals_and_replica
from dmi_sensors.sim import BodyParams, Perturbation, Segment, simulate

CASES = (
    ("pushes 15 % BW", 0.91, 0.15, "two_segment"),
    ("pushes 15 % BW", 0.6, 0.15, "two_segment"),
    ("pushes 12 % BW", 0.5, 0.12, "two_segment"),
    ("pushes 15 % BW", 0.45, 0.15, "two_segment"),
    ("pushes 8 % BW", 0.45, 0.08, "two_segment"),
    ("quiet two-segment", 0.45, 0.0, "two_segment"),
    ("one block", 0.91, 0.0, "single_segment"),
    ("one block", 0.6, 0.0, "single_segment"),
    ("one block", 0.45, 0.0, "single_segment"),
)


def _rmse(est: np.ndarray, truth: np.ndarray) -> float:
    ok = np.isfinite(est) & np.isfinite(truth)
    a, b = est[ok] - est[ok].mean(), truth[ok] - truth[ok].mean()
    return float(np.sqrt(np.mean((a - b) ** 2)))


def run(seeds=(3, 4)) -> list[dict]:
    rows = []
    for label, h, frac, model in CASES:
        for seed in seeds:
            force = frac * BodyParams(com_height_m=h).mass_kg_ * 9.80665
            perts = (
                (
                    Perturbation(10.0, force_n=force),
                    Perturbation(22.0, force_n=force, direction_deg=180.0),
                    Perturbation(34.0, force_n=force),
                )
                if frac
                else ()
            )
            segs = [Segment("standing", 45.0, perturbations=perts)]
            body = BodyParams(com_height_m=h, model=model)
            trunk = simulate(segs, seed=seed, body=body, sensor_height_m=1.25 * h)
            pelvis = simulate(segs, seed=seed, body=body, sensor_height_m=1.0 * h)
            p = TrialAnalysisParams(com_height_m=h)
            one, _ = signals_and_replica(trunk.to_trial(), p)
            two, _ = signals_and_replica(trunk.to_trial(), p, pelvis=pelvis.to_trial())
            tr = trunk.truth
            rows.append(
                {
                    "trial": label,
                    "h_m": h,
                    "seed": seed,
                    "true_rms_ap_mm": float(np.std(tr.com_ap_mm)),
                    "trunk_only_ap_mm": _rmse(one.com_ap_mm, tr.com_ap_mm),
                    "two_segment_ap_mm": _rmse(two.com_ap_mm, tr.com_ap_mm),
                    "trunk_only_ml_mm": _rmse(one.com_ml_mm, tr.com_ml_mm),
                    "two_segment_ml_mm": _rmse(two.com_ml_mm, tr.com_ml_mm),
                }
            )
    return rows


def main() -> None:
    head = ("trial", "h [m]", "seed", "true COM RMS AP", "trunk-only AP", "two-segment AP", "trunk-only ML")
    print("| " + " | ".join(head) + " | two-segment ML |")
    print("|---|---|---|---|---|---|---|---|")
    for r in run():
        print(
            f"| {r['trial']} | {r['h_m']} | {r['seed']} | {r['true_rms_ap_mm']:.2f} | {r['trunk_only_ap_mm']:.2f} | "
            f"{r['two_segment_ap_mm']:.2f} | {r['trunk_only_ml_mm']:.2f} | {r['two_segment_ml_mm']:.2f} |"
        )


if __name__ == "__main__":
    main()
