"""Timed samples of a stored session (what the exports write).

* Recorded sessions: each sensor's raw packets go through
  :func:`dmi_sensors.timing.timed_samples`, the one path from packets to timed samples that
  the session analysis uses too (decode, one drift-corrected clock fit per run between
  counter resets, gap flags). Nothing decoded is stored: it is recomputed from the raw
  packets.
* Imported sessions (trial CSV, CSV/Parquet export, BIDS-Motion) have no raw packets; their
  samples are stored as blocks of little-endian arrays (``sample_blocks``, never pickle).
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.errors import NotFoundError
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.timing import TimedSamples, resample_batch, timed_samples
from dmi_sensors.types import SampleBatch, Trial

__all__ = [
    "BLOCK_SAMPLES",
    "read_sample_blocks",
    "recorded_samples",
    "session_samples",
    "session_trial",
    "write_sample_blocks",
]

#: Samples per stored block of an imported session.
BLOCK_SAMPLES = 8192


def write_sample_blocks(store: SessionStore, session_id: int, batch: SampleBatch) -> int:
    """Store a decoded batch for an imported session (one transaction). Returns the sample count."""
    n = len(batch)
    rows = []
    start_block = store._query(
        "SELECT coalesce(max(block) + 1, 0) FROM sample_blocks WHERE session_id = ? AND sensor_id = ?",
        (int(session_id), batch.sensor_id),
    )[0][0]
    for k, lo in enumerate(range(0, max(n, 1), BLOCK_SAMPLES)):
        sl = slice(lo, min(n, lo + BLOCK_SAMPLES))
        m = sl.stop - sl.start
        if m <= 0:
            break
        rows.append(
            (
                int(session_id),
                batch.sensor_id,
                int(start_block + k),
                float(batch.fs_hz),
                m,
                batch.counter[sl].astype("<i8").tobytes(),
                batch.device_time_s[sl].astype("<f8").tobytes(),
                batch.host_time_s[sl].astype("<f8").tobytes(),
                batch.time_s[sl].astype("<f8").tobytes(),
                np.ascontiguousarray(batch.acc_mps2[sl], dtype="<f8").tobytes(),
                np.ascontiguousarray(batch.gyr_rps[sl], dtype="<f8").tobytes(),
                batch.gap_before[sl].astype("u1").tobytes(),
            )
        )
    with store._transaction("storing imported samples") as conn:
        conn.execute(
            "INSERT OR IGNORE INTO sensors (session_id, sensor_id) VALUES (?, ?)", (int(session_id), batch.sensor_id)
        )
        conn.executemany(
            "INSERT INTO sample_blocks (session_id, sensor_id, block, fs_hz, n, counter, device_time_s, host_time_s,"
            " time_s, acc_mps2, gyr_rps, gap_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return n


def read_sample_blocks(store: SessionStore, session_id: int, sensor_id: str | None = None) -> dict[str, SampleBatch]:
    """The stored sample blocks of an imported session, one batch per sensor (or only ``sensor_id``'s)."""
    parts: dict[str, list[SampleBatch]] = {}
    where = "" if sensor_id is None else " AND sensor_id = ?"
    for sid, fs_hz, n, counter, dev, host, t, acc, gyr, gap in store._query(
        "SELECT sensor_id, fs_hz, n, counter, device_time_s, host_time_s, time_s, acc_mps2, gyr_rps, gap_before"
        f" FROM sample_blocks WHERE session_id = ?{where} ORDER BY sensor_id, block",
        (int(session_id), *(() if sensor_id is None else (sensor_id,))),
        "reading imported samples",
    ):
        parts.setdefault(sid, []).append(
            SampleBatch(
                sid,
                fs_hz,
                np.frombuffer(counter, "<i8").astype(np.int64),
                np.frombuffer(dev, "<f8").astype(np.float64),
                np.frombuffer(host, "<f8").astype(np.float64),
                np.frombuffer(acc, "<f8").reshape(n, 3).astype(np.float64),
                np.frombuffer(gyr, "<f8").reshape(n, 3).astype(np.float64),
                np.frombuffer(gap, "u1").astype(bool),
                np.frombuffer(t, "<f8").astype(np.float64),
            )
        )
    return {key: SampleBatch.concat(batches) for key, batches in parts.items()}


def recorded_samples(store: SessionStore, session_id: int) -> dict[str, TimedSamples]:
    """Each sensor's raw packets through :func:`dmi_sensors.timing.timed_samples` (sensors
    with no stored packet are left out)."""
    out: dict[str, TimedSamples] = {}
    for sensor in store.session_info(session_id).sensors:
        packets = store.raw_packets(session_id, sensor.sensor_id)
        if packets:
            out[sensor.sensor_id] = timed_samples(packets, sensor.sensor_id)
    return out


def session_samples(store: SessionStore, session_id: int) -> dict[str, SampleBatch]:
    """Every sensor's timed samples (recorded sessions: :func:`recorded_samples`; imported
    sessions: the stored blocks). Sensors without samples are left out."""
    info = store.session_info(session_id)
    if info.origin == "import":
        return read_sample_blocks(store, session_id)
    return {sid: t.batch for sid, t in recorded_samples(store, session_id).items() if len(t.batch)}


def session_trial(store: SessionStore, session_id: int, sensor_id: str) -> tuple[Trial, np.ndarray]:
    """One sensor of a session on the uniform grid ``k / fs_hz`` (session time), for analysis.

    Samples come from :func:`session_samples` and are put on the grid by
    :func:`dmi_sensors.timing.resample_batch` (the session analysis's resampling), which never
    interpolates across lost samples: grid points inside a gap are NaN. Returns
    ``(trial, valid_mask)``. The values stay in the frame they were stored in (the sensor
    frame for recorded sessions: :func:`dmi_sensors.analysis.prepare_sensor` applies the
    sensor's calibration, see ``SensorInfo.calibration_ids``, to get the body frame).
    """
    batches = session_samples(store, session_id)
    if sensor_id not in batches:
        raise NotFoundError(f"session {session_id} has no samples of sensor {sensor_id!r}; has {sorted(batches)}")
    b = batches[sensor_id]
    t, acc, gyr, valid = resample_batch(b)
    return Trial(t, acc, gyr, b.fs_hz, sensor_id), valid
