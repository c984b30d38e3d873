"""``simulate(segments, ...)``: body motion -> true IMU signals -> readings, with ground truth.

Pipeline
--------
1. Sample grid ``t_k = k / fs_hz`` over the sum of the segment durations; segment ``i``
   covers samples ``round(start_i fs) .. round(end_i fs) - 1``.
2. Each segment's motion (:mod:`~dmi_sensors.sim.motion`) from its own random stream
   (``numpy.random.SeedSequence(seed).spawn``), so a segment's motion depends only on the
   seed, its index and its parameters.
3. Transitions: when segment ``i > 0`` starts, every channel (tilts, sensor and COM
   positions) gets an offset ``f(tau) = (D + V tau)(1 - s(tau / T))`` with ``s`` the
   minimum-jerk step, ``D``/``V`` the value/velocity mismatch with the previous segment's
   end and ``T`` the transition length: 0.5 s for the same posture and support, 1 s between
   upright postures, 3 s otherwise (at most 40 % of the segment). Values and velocities are
   continuous; derivatives stay exact.
4. True IMU signals on the trunk (:mod:`~dmi_sensors.sim.kinematics`): ``R`` from the tilt
   angles, ``gyr = omega_body``, ``acc = R^T (p''_sensor - g_world)``.
5. Readings: :func:`~dmi_sensors.sim.imu.apply_imu_errors` (sensor frame), from a separate
   random stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.body import BodyParams, default_sensor_height_m
from dmi_sensors.sim.imu import ImuErrors, apply_imu_errors, counts_from_si, gyro_bias_track
from dmi_sensors.sim.jet import Jet, minimum_jerk
from dmi_sensors.sim.kinematics import angular_velocity_body, rotation_matrix, specific_force_body
from dmi_sensors.sim.link import LinkModel
from dmi_sensors.sim.motion import Motion, segment_motion
from dmi_sensors.sim.packets import PacketStream, packet_stream
from dmi_sensors.sim.segments import Segment
from dmi_sensors.sim.truth import true_time_to_stabilise
from dmi_sensors.types import Trial

__all__ = ["SimResult", "SimTruth", "simulate", "transition_s"]

UPRIGHT = frozenset({"standing", "supported_standing", "sitting", "sit_to_stand"})


def transition_s(prev: Segment | None, seg: Segment) -> float:
    """Length of the smooth change into ``seg`` from ``prev`` (see the module docstring)."""
    if prev is None:
        return 0.0
    if prev.posture == seg.posture and prev.support == seg.support:
        t = 0.5
    elif prev.posture in UPRIGHT and seg.posture in UPRIGHT:
        t = 1.0
    else:
        t = 3.0
    return min(t, 0.4 * seg.duration_s)


@dataclass(slots=True)
class SimTruth:
    """Ground truth of a simulation (per-sample arrays share the sample grid).

    Attributes
    ----------
    time_s
        True sample times ``k / fs_hz``, s.
    tilt_ap_rad, tilt_ml_rad
        Trunk (= sensor segment) tilt, rad; + forward / + left (data contract).
    com_ap_mm, com_ml_mm
        Horizontal whole-body COM position, mm, relative to its mean over the steady part
        (after the transition) of the segment each sample belongs to.
    com_acc_ap_mps2, com_acc_ml_mps2
        Horizontal whole-body COM acceleration, m/s^2 (world x = AP, y = ML; no heading).
    acc_body_mps2, gyr_body_rps
        Error-free specific force and angular rate of the sensor, body frame, ``(n, 3)``.
    sensor_pos_m, sensor_acc_world_mps2
        World position and acceleration of the sensor, ``(n, 3)``.
    segment_index
        Which segment each sample belongs to, ``(n,)`` int.
    gyr_bias_rps
        The gyro bias in each reading, sensor frame, ``(n, 3)`` rad/s (constant unless the
        IMU errors drift: :func:`~dmi_sensors.sim.imu.gyro_bias_track`).
    leg_tilt_ap_rad, leg_tilt_ml_rad
        Tilt of the lower segment (legs) of a two-segment body (``BodyParams(model=
        "two_segment")``), rad; equal to the trunk tilt where the body sways as one segment.
    events
        Events table: ``contract.EVENT_COLUMNS`` + ``kind``, ``posture``. One row per
        segment (``kind="exercise"``, ``source="plan"``, ``repetition=0``), per repetition
        cycle (``kind="repetition"``, ``source="truth"``, 1-based) and per push
        (``kind="perturbation"``, ``source="truth"``).
    perturbations
        One row per push: ``onset_s, end_s, duration_s, force_n, direction_deg, segment,
        tts_true_s`` (true time-to-stabilise, :func:`~dmi_sensors.sim.truth.true_time_to_stabilise`).
    segments
        One row per segment: ``segment, posture, support, exercise, start_s, end_s,
        settle_s, repetitions, com_rms_ap_mm, com_rms_ml_mm, tilt_rms_ap_rad,
        tilt_rms_ml_rad`` (RMS about the mean over the steady part).
    """

    time_s: np.ndarray
    tilt_ap_rad: np.ndarray
    tilt_ml_rad: np.ndarray
    com_ap_mm: np.ndarray
    com_ml_mm: np.ndarray
    com_acc_ap_mps2: np.ndarray
    com_acc_ml_mps2: np.ndarray
    acc_body_mps2: np.ndarray
    gyr_body_rps: np.ndarray
    sensor_pos_m: np.ndarray
    sensor_acc_world_mps2: np.ndarray
    segment_index: np.ndarray
    events: pd.DataFrame
    perturbations: pd.DataFrame
    segments: pd.DataFrame
    gyr_bias_rps: np.ndarray | None = None
    leg_tilt_ap_rad: np.ndarray | None = None
    leg_tilt_ml_rad: np.ndarray | None = None

    @property
    def perturbation_times_s(self) -> np.ndarray:
        """Push onsets, s."""
        return self.perturbations["onset_s"].to_numpy(dtype=np.float64)

    def to_dataframe(self) -> pd.DataFrame:
        """Per-sample truth table (``time_s``, tilts, COM, COM acceleration, segment)."""
        return pd.DataFrame(
            {
                contract.TIME_S: self.time_s,
                "tilt_ap_rad": self.tilt_ap_rad,
                "tilt_ml_rad": self.tilt_ml_rad,
                "com_ap_mm": self.com_ap_mm,
                "com_ml_mm": self.com_ml_mm,
                "com_acc_ap_mps2": self.com_acc_ap_mps2,
                "com_acc_ml_mps2": self.com_acc_ml_mps2,
                "segment": self.segment_index,
            }
        )


@dataclass(slots=True)
class SimResult:
    """Output of :func:`simulate`.

    Attributes
    ----------
    acc_mps2, gyr_rps
        Readings in the SENSOR frame after :class:`~dmi_sensors.sim.imu.ImuErrors` (float;
        multiples of the LSB when ``imu_errors.quantise``), ``(n, 3)``.
    truth
        :class:`SimTruth`.
    device_time_s
        The device clock at each sample (drifting by ``clock_drift_ppm``), s.
    """

    segments: tuple[Segment, ...]
    fs_hz: float
    seed: int
    body: BodyParams
    sensor_height_m: float
    imu_errors: ImuErrors
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    truth: SimTruth
    device_time_s: np.ndarray

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])

    @property
    def time_s(self) -> np.ndarray:
        return self.truth.time_s

    @property
    def duration_s(self) -> float:
        return len(self) / self.fs_hz

    def to_trial(self, sensor_id: str = "") -> Trial:
        """Readings rotated into the body frame with the exact mounting (perfect alignment).

        Noise, bias, scale, misalignment and quantisation stay in; packet loss and clock
        drift do not apply (uniform true time grid). With ``ImuErrors.none()`` this is the
        error-free body-frame signal.
        """
        rm = self.imu_errors.mounting_matrix
        return Trial(self.truth.time_s.copy(), self.acc_mps2 @ rm.T, self.gyr_rps @ rm.T, self.fs_hz, sensor_id)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """int16 counts of the readings with the configured full-scale ranges (saturating)."""
        e = self.imu_errors
        return counts_from_si(self.acc_mps2, e.acc_lsb_mps2), counts_from_si(self.gyr_rps, e.gyr_lsb_rps)

    def packets(
        self,
        sensor_id: str = "DMI-SIM",
        samples_per_packet: int | None = None,
        link: LinkModel | None = None,
        first_counter: int = 0,
        first_timestamp_us: int = 0,
    ) -> PacketStream:
        """Firmware-exact data packets with losses and host arrival times from the one link
        scheduler (:mod:`dmi_sensors.sim.packets`, :mod:`dmi_sensors.sim.link`)."""
        acc_c, gyr_c = self.counts()
        return packet_stream(
            acc_c,
            gyr_c,
            self.fs_hz,
            self.imu_errors,
            self.seed,
            sensor_id,
            samples_per_packet,
            link,
            first_counter,
            first_timestamp_us,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary of the truth (parameters, per-segment sway, pushes, TTS)."""
        tr = self.truth
        segs = tr.segments.to_dict(orient="records")
        perts = tr.perturbations.to_dict(orient="records")
        steady = tr.segments
        return {
            "fs_hz": self.fs_hz,
            "seed": self.seed,
            "n_samples": len(self),
            "duration_s": self.duration_s,
            "com_height_m": self.body.com_height_m,
            "mass_kg": self.body.mass_kg_,
            "maturity": self.body.maturity_,
            "sensor_height_m": self.sensor_height_m,
            "com_rms_ap_mm": float(steady["com_rms_ap_mm"].iloc[0]) if len(steady) == 1 else None,
            "com_rms_ml_mm": float(steady["com_rms_ml_mm"].iloc[0]) if len(steady) == 1 else None,
            "segments": _jsonable(segs),
            "perturbations": _jsonable(perts),
            "perturbation_times_s": [float(x) for x in tr.perturbation_times_s],
            "tts_true_s": [None if np.isnan(x) else float(x) for x in tr.perturbations["tts_true_s"]],
            "events": _jsonable(tr.events.to_dict(orient="records")),
        }


def _jsonable(records: list[dict[Any, Any]]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and np.isnan(v):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out


# --- assembling ------------------------------------------------------------------------
def _channels(m: Motion) -> list[Jet]:
    return [m.tilt_ap, m.tilt_ml, *m.sensor, *m.com]


def _blend(cur: Jet, prev_v: float, prev_d: float, t: np.ndarray, length_s: float) -> Jet:
    """Add ``f(tau) = (D + V tau)(1 - s(tau / T))`` so ``cur`` continues ``prev`` smoothly."""
    if length_s <= 0:
        return cur
    d0 = prev_v - cur.v[0]
    v0 = prev_d - cur.d[0]
    s = minimum_jerk(t, 0.0, length_s)
    lin = Jet(d0 + v0 * t, np.full_like(t, v0), np.zeros_like(t))
    return cur + lin * (1.0 - s)


def simulate(
    segments: Sequence[Segment],
    fs_hz: float = 100.0,
    seed: int = 0,
    com_height_m: float = 0.91,
    sensor_height_m: float | None = None,
    imu_errors: ImuErrors | None = None,
    body: BodyParams | None = None,
) -> SimResult:
    """Simulate a trunk IMU on a swaying, moving body.

    Parameters
    ----------
    segments
        The recording, in order (:class:`~dmi_sensors.sim.segments.Segment`).
    fs_hz
        Sample rate, Hz.
    seed
        Seed of every random draw; equal seeds give bit-identical results.
    com_height_m
        COM height above the ankles, m (ignored when ``body`` is given).
    sensor_height_m
        Sensor height above the ankles when standing, m; ``None``: ``1.1 com_height_m``.
        Must be above the hip joint (``0.942 com_height_m``), except on a two-segment body
        (``body.model == "two_segment"``), where a sensor below the hip rides on the legs
        (at least 0.1 ``com_height_m`` above the ankles).
    imu_errors
        Sensor errors; ``None`` = ``ImuErrors()`` (realistic noise, otherwise ideal).
    body
        Full body parameters (overrides ``com_height_m``).
    """
    segs = tuple(segments)
    if not segs:
        raise ParameterError("simulate needs at least one segment")
    if not (1.0 <= fs_hz <= 10000.0):
        raise ParameterError(f"fs_hz must be in [1, 10000] Hz, got {fs_hz}")
    body = body if body is not None else BodyParams(com_height_m=com_height_m)
    sensor_h = default_sensor_height_m(body.com_height_m) if sensor_height_m is None else float(sensor_height_m)
    lowest = 0.1 * body.com_height_m if body.model == "two_segment" else body.hip_height_m + 0.02
    if not (lowest <= sensor_h <= 2.0 * body.com_height_m):
        raise ParameterError(
            f"sensor_height_m must be between {lowest:.3f} m (the hip, or on a two-segment body 0.1 h) and "
            f"{2.0 * body.com_height_m:.3f} m for com_height_m={body.com_height_m}; got {sensor_h}"
        )
    errors = imu_errors if imu_errors is not None else ImuErrors()
    seeds = np.random.SeedSequence(int(seed)).spawn(len(segs) + 1)

    bounds = np.rint(np.cumsum([0.0] + [s.duration_s for s in segs]) * fs_hz).astype(np.int64)
    n_total = int(bounds[-1])
    if np.any(np.diff(bounds) < 2):
        raise ParameterError(f"every segment must cover at least 2 samples at {fs_hz} Hz")
    dt = 1.0 / fs_hz

    motions: list[Motion] = []
    lower: list[tuple[Jet, Jet]] = []
    settles: list[float] = []
    chans: list[list[Jet]] = []
    prev: list[Jet] | None = None
    for i, seg in enumerate(segs):
        n = int(bounds[i + 1] - bounds[i])
        settle = transition_s(segs[i - 1] if i else None, seg)
        m = segment_motion(seg, n, fs_hz, body, sensor_h, np.random.default_rng(seeds[i]), settle)
        ch = _channels(m)
        if prev is not None:
            t_local = np.arange(n) * dt
            ch = [
                _blend(c, p.v[-1] + p.d[-1] * dt, p.d[-1] + p.dd[-1] * dt, t_local, settle)
                for c, p in zip(ch, prev, strict=True)
            ]
        motions.append(m)
        lower.append(m.lower_tilt if m.lower_tilt is not None else (m.tilt_ap, m.tilt_ml))
        settles.append(settle)
        chans.append(ch)
        prev = ch
    allc = [Jet.concat([c[j] for c in chans]) for j in range(8)]
    tilt_ap, tilt_ml = allc[0], allc[1]
    sensor = allc[2:5]
    com = allc[5:8]

    rot = rotation_matrix(tilt_ap.v, tilt_ml.v)
    gyr_true = angular_velocity_body(tilt_ap, tilt_ml)
    sensor_acc = np.stack([c.dd for c in sensor], axis=1)
    acc_true = specific_force_body(rot, sensor_acc)
    acc_meas, gyr_meas = apply_imu_errors(acc_true, gyr_true, errors, fs_hz, np.random.default_rng(seeds[-1]))
    if errors.gyr_bias_drifts:  # the same draws as inside apply_imu_errors (noise first, then the walk)
        replay = np.random.default_rng(seeds[-1])
        acc_sigma, gyr_sigma = errors.noise_rms_at(fs_hz)
        if acc_sigma > 0:
            replay.normal(0.0, acc_sigma, acc_true.shape)
        if gyr_sigma > 0:
            replay.normal(0.0, gyr_sigma, gyr_true.shape)
        gyr_bias = gyro_bias_track(errors, n_total, fs_hz, replay)
    else:
        gyr_bias = np.tile(np.asarray(errors.gyr_bias_rps, dtype=np.float64), (n_total, 1))

    time_s = np.arange(n_total) * dt
    seg_index = np.repeat(np.arange(len(segs)), np.diff(bounds))
    com_x, com_y = com[0].v, com[1].v
    com_ap = np.empty(n_total)
    com_ml = np.empty(n_total)
    com_acc = np.stack([com[0].dd, com[1].dd], axis=1)

    seg_rows, event_rows, pert_rows = [], [], []
    for i, seg in enumerate(segs):
        i0, i1 = int(bounds[i]), int(bounds[i + 1])
        start_s = i0 * dt
        steady0 = min(i1 - 1, i0 + round(settles[i] * fs_hz))
        mx, my = com_x[steady0:i1].mean(), com_y[steady0:i1].mean()
        com_ap[i0:i1] = (com_x[i0:i1] - mx) * 1000.0
        com_ml[i0:i1] = (com_y[i0:i1] - my) * 1000.0
        seg_rows.append(
            {
                "segment": i,
                "posture": seg.posture,
                "support": seg.support,
                "exercise": seg.exercise,
                "start_s": start_s,
                "end_s": i1 * dt,
                "settle_s": settles[i],
                "repetitions": seg.repetitions,
                "com_rms_ap_mm": float(np.std(com_ap[steady0:i1])),
                "com_rms_ml_mm": float(np.std(com_ml[steady0:i1])),
                "tilt_rms_ap_rad": float(np.std(tilt_ap.v[steady0:i1])),
                "tilt_rms_ml_rad": float(np.std(tilt_ml.v[steady0:i1])),
            }
        )
        event_rows.append(
            {
                "onset_s": start_s,
                "duration_s": (i1 - i0) * dt,
                "exercise": seg.exercise,
                "repetition": 0,
                "support": seg.support,
                "source": "plan",
                "kind": "exercise",
                "posture": seg.posture,
            }
        )
        for k, (onset, cycle) in enumerate(motions[i].repetitions):
            event_rows.append(
                {
                    "onset_s": start_s + onset,
                    "duration_s": cycle,
                    "exercise": seg.exercise,
                    "repetition": k + 1,
                    "support": seg.support,
                    "source": "truth",
                    "kind": "repetition",
                    "posture": seg.posture,
                }
            )
        pushes = motions[i].pushes
        for k, p in enumerate(pushes):
            onset, end = start_s + p.onset_s, start_s + p.onset_s + p.duration_s
            until = start_s + pushes[k + 1].onset_s if k + 1 < len(pushes) else i1 * dt
            quiet_from = start_s + settles[i]
            if k > 0:
                quiet_from = max(quiet_from, start_s + pushes[k - 1].onset_s + pushes[k - 1].duration_s)
            try:
                tts = true_time_to_stabilise(
                    time_s[i0:i1],
                    com_acc[i0:i1],
                    onset,
                    end,
                    quiet_window_s=min(5.0, onset - quiet_from),
                    until_s=until - dt,
                )
            except ValueError:
                tts = float("nan")
            pert_rows.append(
                {
                    "onset_s": onset,
                    "end_s": end,
                    "duration_s": p.duration_s,
                    "force_n": p.force_n,
                    "direction_deg": p.direction_deg,
                    "segment": i,
                    "tts_true_s": tts,
                }
            )
            event_rows.append(
                {
                    "onset_s": onset,
                    "duration_s": p.duration_s,
                    "exercise": seg.exercise,
                    "repetition": 0,
                    "support": seg.support,
                    "source": "truth",
                    "kind": "perturbation",
                    "posture": seg.posture,
                }
            )
    event_cols = [*contract.EVENT_COLUMNS, "kind", "posture"]
    events = pd.DataFrame(event_rows, columns=event_cols).sort_values("onset_s", kind="stable").reset_index(drop=True)
    pert_cols = ["onset_s", "end_s", "duration_s", "force_n", "direction_deg", "segment", "tts_true_s"]
    truth = SimTruth(
        time_s=time_s,
        tilt_ap_rad=tilt_ap.v,
        tilt_ml_rad=tilt_ml.v,
        com_ap_mm=com_ap,
        com_ml_mm=com_ml,
        com_acc_ap_mps2=com_acc[:, 0].copy(),
        com_acc_ml_mps2=com_acc[:, 1].copy(),
        acc_body_mps2=acc_true,
        gyr_body_rps=gyr_true,
        sensor_pos_m=np.stack([c.v for c in sensor], axis=1),
        sensor_acc_world_mps2=sensor_acc,
        segment_index=seg_index,
        events=events,
        perturbations=pd.DataFrame(pert_rows, columns=pert_cols),
        segments=pd.DataFrame(seg_rows),
        gyr_bias_rps=gyr_bias,
        leg_tilt_ap_rad=np.concatenate([lo[0].v for lo in lower]),
        leg_tilt_ml_rad=np.concatenate([lo[1].v for lo in lower]),
    )
    return SimResult(
        segments=segs,
        fs_hz=float(fs_hz),
        seed=int(seed),
        body=body,
        sensor_height_m=sensor_h,
        imu_errors=errors,
        acc_mps2=acc_meas,
        gyr_rps=gyr_meas,
        truth=truth,
        device_time_s=time_s * errors.clock_scale,
    )
