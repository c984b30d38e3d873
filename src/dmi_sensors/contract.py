"""The data contract in code: column names, frames, physical constants.

Everything here mirrors ``docs/data-contract.md``; change both together. Importing this
module is cheap (standard library only).

Units are SI and every name that carries a unit ends with it (``_s``, ``_hz``, ``_mps2``,
``_rps``, ``_m``, ``_mm``, ``_rad``, ``_deg``).

Frames
------
``sensor``  axes as the firmware reports them.
``body``    after sensor-to-body alignment: x forward (anteroposterior, AP, + anterior),
            y left (mediolateral, ML, + left), z up (vertical, V, + cranial) when the child
            is upright. Right-handed.
``world``   z up (gravity is -z), x = the body's forward direction at the start of the
            recording projected on the horizontal plane (a 6-axis IMU has no absolute
            heading), y = z cross x.

Quaternions are scalar-first ``[w, x, y, z]`` and rotate body (or sensor) vectors into the
world frame: ``v_world = q * v_body * conj(q)``.
"""

from __future__ import annotations

from typing import Final

#: Standard gravity, m/s^2 (CGPM 1901). Used for unit conversion (g -> m/s^2) and models.
STANDARD_GRAVITY_MPS2: Final[float] = 9.80665

# --- time -----------------------------------------------------------------------------
TIME_S: Final = "time_s"  # float64 seconds since session start (drift-corrected)
HOST_TIME_S: Final = "host_time_s"  # host monotonic arrival time of the packet, s since session start
DEVICE_TIME_S: Final = "device_time_s"  # device clock, unwrapped, seconds
COUNTER: Final = "counter"  # device sample counter, unwrapped (int64)
GAP_BEFORE: Final = "gap_before"  # True where samples were lost just before this one

# --- inertial channels ----------------------------------------------------------------
ACC_SENSOR: Final = ("acc_x_mps2", "acc_y_mps2", "acc_z_mps2")  # specific force, m/s^2
GYR_SENSOR: Final = ("gyr_x_rps", "gyr_y_rps", "gyr_z_rps")  # angular rate, rad/s, right-hand rule
ACC_BODY: Final = ("acc_ap_mps2", "acc_ml_mps2", "acc_v_mps2")  # body frame (gravity removed where stated)
QUATERNION: Final = ("q_w", "q_x", "q_y", "q_z")  # scalar-first
TILT: Final = ("tilt_ap_rad", "tilt_ml_rad")  # + forward lean, + lean to the left
COM_DISPLACEMENT: Final = ("com_ap_mm", "com_ml_mm")  # horizontal COM displacement, mm

#: The trial CSV read by ``dmi-sensors analyse`` / ``calibrate --input`` and written by
#: ``dmi-sensors simulate``: uniform-rate samples in the body-aligned sensor frame
#: (x forward, y left, z up).
TRIAL_CSV_COLUMNS: Final = (TIME_S, *ACC_SENSOR, *GYR_SENSOR)

# --- who recorded it -------------------------------------------------------------------
SENSOR_ID: Final = "sensor_id"  # the sensor's serial (8 hex digits for DMI sensors)
PLACEMENT: Final = "placement"  # one of PLACEMENTS, or "" when unknown

#: Long ("tidy") sample table with several sensors, one row per sample.
SAMPLE_COLUMNS: Final = (
    SENSOR_ID,
    PLACEMENT,
    COUNTER,
    DEVICE_TIME_S,
    HOST_TIME_S,
    TIME_S,
    *ACC_SENSOR,
    *GYR_SENSOR,
    GAP_BEFORE,
)

# --- events (exercise tags) -----------------------------------------------------------
ONSET_S: Final = "onset_s"  # start of the tagged interval, s since session start
DURATION_S: Final = "duration_s"  # its length, s (0 for an instant)
EXERCISE: Final = "exercise"  # the plan's exercise_id; "" = not in an exercise
REPETITION: Final = "repetition"  # 1, 2, ... within an exercise; 0 = not a repetition
SUPPORT: Final = "support"  # one of SUPPORT_POINTS, or "" (unknown / not applicable)
SOURCE: Final = "source"  # one of EVENT_SOURCES
KIND: Final = "kind"  # exercise, repetition, pause, note, posture, perturbation, hold (session.vocab.EVENT_KINDS)
POSTURE: Final = "posture"  # session.vocab.POSTURES, or ""
NOTE: Final = "note"  # free text typed by the therapist (never a name)

METRICS_ABSENT: Final = "metrics_absent"  # windows and tables: which metrics are not reported and why

#: Required columns of an events table (one row per tagged interval or instant).
EVENT_COLUMNS: Final = (ONSET_S, DURATION_S, EXERCISE, REPETITION, SUPPORT, SOURCE)
#: Optional columns an events table may carry in addition.
EVENT_OPTIONAL_COLUMNS: Final = (KIND, POSTURE, NOTE)
#: Allowed values of ``source``.
EVENT_SOURCES: Final = ("plan", "manual", "auto", "import", "truth")

# --- windows of metrics ---------------------------------------------------------------
START_S: Final = "start_s"  # first sample time of the window, s since session start
END_S: Final = "end_s"  # end of the window (start + n / fs), s
WINDOW_KIND: Final = "window_kind"  # "sliding" (fixed length) or "segment" (one tagged events row)

#: Leading columns of a tidy per-window metrics table; one further column per metric.
WINDOW_COLUMNS: Final = (SENSOR_ID, START_S, END_S, EXERCISE, REPETITION, SUPPORT, POSTURE)

# --- session analysis tables (dmi_sensors.analysis.analyse_session) -------------------
POSTURE_PLANNED: Final = "posture_planned"  # the posture the plan's position implies
POSTURE_DETECTED: Final = "posture_detected"  # the majority automatically detected posture, or ""
HOLD_START_S: Final = "hold_start_s"  # the repetition's hold: after the movement, to its end
HOLD_END_S: Final = "hold_end_s"
REPETITIONS: Final = "repetitions"  # tagged repetitions of the exercise
HOLDS: Final = "holds"  # repetitions with an analysed hold
TIME_TO_STABILISE_S: Final = "time_to_stabilise_s"  # the metric of dmi_sensors.metrics.REGISTRY
TTS_STATUS: Final = "tts_status"  # why a repetition's time to stabilise is what it is
TTS_STABLE: Final = "tts_stable"  # repetitions of the exercise that reached a stable state

#: Leading columns of the exercise table (one row per sensor × tagged exercise); the
#: exercise metrics follow (``dmi_sensors.analysis.EXERCISE_METRICS``).
EXERCISE_TABLE_COLUMNS: Final = (
    SENSOR_ID,
    PLACEMENT,
    EXERCISE,
    SUPPORT,
    POSTURE_PLANNED,
    POSTURE_DETECTED,
    ONSET_S,
    DURATION_S,
    REPETITIONS,
    HOLDS,
    TIME_TO_STABILISE_S,
    TTS_STABLE,
)
#: Leading columns of the repetition table (one row per sensor × tagged repetition).
REPETITION_TABLE_COLUMNS: Final = (
    SENSOR_ID,
    PLACEMENT,
    EXERCISE,
    REPETITION,
    SUPPORT,
    POSTURE_PLANNED,
    POSTURE_DETECTED,
    ONSET_S,
    DURATION_S,
    HOLD_START_S,
    HOLD_END_S,
    TIME_TO_STABILISE_S,
    TTS_STATUS,
)

# --- cohort (batch) table: dmi_sensors.batch, dmi-sensors batch -------------------------
INPUT: Final = "input"  # the input (database, dataset, trial folder) as a path relative to the inputs' common folder
SESSION: Final = "session"  # the session within its input: database id, BIDS ses label, trial list's session
TRIAL: Final = "trial"  # trial CSV, relative to its trial list ("" for sessions)
SUBJECT_ID: Final = "subject_id"  # pseudonymous subject id (never a name)
BIRTH_YEAR: Final = "birth_year"  # year only; empty when unknown
DIAGNOSIS_CATEGORY: Final = "diagnosis_category"  # session.vocab.DIAGNOSIS_CATEGORIES, or ""
START_UTC: Final = "start_utc"  # session start, ISO-8601 UTC ("" when unknown)
COM_HEIGHT_M: Final = "com_height_m"  # the subject's COM height the analysis used, m
PACKAGE_VERSION: Final = "dmi_sensors_version"  # the dmi-sensors version that computed the row
PARAMETERS: Final = "parameters"  # every analysis parameter of the row, JSON text
STATUS: Final = "status"  # failures table: "error" or "no rows"
REASON: Final = "reason"  # failures table: why, one line

#: Leading columns of the cohort table (one row per subject × session × sensor × exercise ×
#: repetition); the analysis's own columns follow (contract.REPETITION_TABLE_COLUMNS and the
#: metrics), then :data:`BATCH_PROVENANCE_COLUMNS`.
BATCH_KEY_COLUMNS: Final = (
    INPUT,
    SUBJECT_ID,
    SESSION,
    TRIAL,
    BIRTH_YEAR,
    DIAGNOSIS_CATEGORY,
    START_UTC,
    SENSOR_ID,
    PLACEMENT,
    EXERCISE,
    REPETITION,
)
#: Last columns of the cohort table.
BATCH_PROVENANCE_COLUMNS: Final = (COM_HEIGHT_M, PACKAGE_VERSION, PARAMETERS)
#: Columns of the cohort run's failures table (one row per session, or input, not analysed).
BATCH_FAILURE_COLUMNS: Final = (INPUT, SUBJECT_ID, SESSION, TRIAL, STATUS, REASON)

# --- placements and support points ----------------------------------------------------
PLACEMENTS: Final = ("trunk", "pelvis", "head", "thigh_left", "thigh_right", "shank_left", "shank_right")
#: DMI support points, proximal to distal.
SUPPORT_POINTS: Final = ("trunk", "hips", "thighs", "knees", "shanks", "ankles", "feet", "none")
#: Trunk postures (``session.vocab.POSTURES`` documents them; the metric registry declares
#: in which of them each metric's model holds).
POSTURES: Final = (
    "supine",
    "prone",
    "side_lying",
    "four_point",
    "upright",
    "sitting",
    "kneeling",
    "standing",
    "transition",
)
