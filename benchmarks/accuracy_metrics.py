"""Accuracy of the one-sensor metrics against the simulator's ground truth (issue 13).

Seeds the tests do not use (10-23), ``ImuErrors.typical()`` unless a case says otherwise:

1. time to stabilise after a push, standing: six body/rate cases x 10 seeds;
2. COM RMS (AP) standing and sitting, COM height 0.5-0.91 m;
3. supported standing (hips, knees, ankles) and sitting with a push: COM RMS and TTS, the
   share within the issue's target (0.3 s or 20 % of the true TTS).

Run: ``python -m benchmarks.accuracy_metrics`` (about 3 minutes on one core).
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.analysis.trial import analyse_trial
from dmi_sensors.sim import BodyParams, ImuErrors, Perturbation, Segment, simulate

FS_HZ = 100.0
#: (label, COM height m, sway-noise cut-off Hz, rate Hz, IMU errors)
PUSH_CASES = [
    ("adult", 0.91, 10.0, 100.0, "typical"),
    ("child", 0.6, 10.0, 100.0, "typical"),
    ("quiet adult", 0.91, 1.5, 100.0, "typical"),
    ("quiet child", 0.6, 2.0, 100.0, "default"),
    ("adult 50 Hz", 0.91, 10.0, 50.0, "default"),
    ("child 200 Hz", 0.6, 10.0, 200.0, "default"),
]
ERRORS = {"default": ImuErrors, "typical": ImuErrors.typical}


def _push(
    posture: str,
    support: str,
    h: float,
    seed: int,
    fs_hz: float = FS_HZ,
    cutoff_hz: float = 10.0,
    errors: str = "typical",
):
    body = BodyParams(com_height_m=h, noise_cutoff_hz=cutoff_hz)
    seg = Segment(posture, 40.0, support=support, perturbations=(Perturbation(onset_s=15.0),))
    r = simulate([seg], fs_hz=fs_hz, seed=seed, body=body, imu_errors=ERRORS[errors]())
    p = r.truth.perturbations.iloc[0]
    res = analyse_trial(
        r.to_trial(),
        com_height_m=h,
        posture=posture,
        support=support,
        perturbations_s=[p.onset_s],
        tts_event_duration_s=float(p.duration_s),
    )
    com_err = res.summary["com_rms_ap_mm"] / float(np.std(r.truth.com_ap_mm)) - 1.0
    est = res.summary["time_to_stabilise_s"]
    truth = float(p.tts_true_s)
    return com_err, (None if est is None else float(est) - truth), truth


def tts_standing() -> str:
    errs, nd = [], 0
    for _, h, cutoff, fs, errors in PUSH_CASES:
        for seed in range(10, 20):
            _, e, _ = _push("standing", "none", h, seed, fs, cutoff, errors)
            if e is None:
                nd += 1
            else:
                errs.append(e)
    a = np.abs(errs)
    return (
        f"TTS standing pushes: {len(errs) + nd} trials, not determined {nd}; error mean {np.mean(errs):+.3f} s, "
        f"median |err| {np.median(a):.3f} s, p95 |err| {np.percentile(a, 95):.3f} s, max |err| {a.max():.3f} s"
    )


def com_quiet(posture: str) -> str:
    rel = []
    for h in (0.5, 0.6, 0.75, 0.91):
        for seed in range(10, 15):
            r = simulate(
                [Segment(posture, 60.0)], fs_hz=FS_HZ, seed=seed, com_height_m=h, imu_errors=ImuErrors.typical()
            )
            res = analyse_trial(r.to_trial(), com_height_m=h, posture=posture)
            rel.append(res.summary["com_rms_ap_mm"] / float(np.std(r.truth.com_ap_mm)) - 1.0)
    pct = np.array(rel) * 100
    return (
        f"COM RMS AP {posture}: {pct.size} trials (COM height 0.5-0.91 m), "
        f"error mean {pct.mean():+.1f} %, max |err| {np.abs(pct).max():.1f} %"
    )


def supported(posture: str, support: str) -> str:
    com, tts = [], []
    for h in (0.55, 0.7, 0.85):
        for seed in range(20, 24):
            c, e, truth = _push(posture, support, h, seed)
            com.append(c * 100)
            if e is not None:
                tts.append((e, truth))
    e = np.array(tts)
    within = int(np.sum((np.abs(e[:, 0]) <= 0.3) | (np.abs(e[:, 0]) <= 0.2 * e[:, 1])))
    return (
        f"{posture}/{support}: {len(com)} trials; COM RMS AP max |err| {np.abs(com).max():.1f} %; TTS determined "
        f"{len(e)}, error mean {e[:, 0].mean():+.2f} s, max |err| {np.abs(e[:, 0]).max():.2f} s, "
        f"within 0.3 s or 20 %: {within}/{len(e)}"
    )


def main() -> None:
    print(tts_standing(), flush=True)
    for posture in ("standing", "sitting"):
        print(com_quiet(posture), flush=True)
    for posture, support in [("standing", "hips"), ("standing", "knees"), ("standing", "ankles"), ("sitting", "none")]:
        print(supported(posture, support), flush=True)


if __name__ == "__main__":
    main()
