"""Decoded samples of a stored session.

* Recorded sessions: the raw packets of each sensor are decoded with
  :func:`dmi_sensors.protocol.decode_stream` (malformed packets counted and skipped) and
  ``time_s`` is filled by :func:`dmi_sensors.timing.sample_times` (drift-corrected session
  time). Nothing decoded is stored: it is recomputed from the raw packets.
* Imported sessions (trial CSV, CSV/Parquet export, BIDS-Motion) have no raw packets; their
  samples are stored as blocks of little-endian arrays (``sample_blocks``, never pickle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors.errors import NotFoundError
from dmi_sensors.types import SampleBatch

if TYPE_CHECKING:
    from dmi_sensors.store.sessionstore import SessionStore

__all__ = ["BLOCK_SAMPLES", "read_sample_blocks", "session_samples", "session_trial", "write_sample_blocks"]

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


def read_sample_blocks(store: SessionStore, session_id: int) -> dict[str, SampleBatch]:
    """The stored sample blocks of an imported session, one batch per sensor."""
    parts: dict[str, list[SampleBatch]] = {}
    for sensor_id, fs_hz, n, counter, dev, host, t, acc, gyr, gap in store._query(
        "SELECT sensor_id, fs_hz, n, counter, device_time_s, host_time_s, time_s, acc_mps2, gyr_rps, gap_before"
        " FROM sample_blocks WHERE session_id = ? ORDER BY sensor_id, block",
        (int(session_id),),
        "reading imported samples",
    ):
        parts.setdefault(sensor_id, []).append(
            SampleBatch(
                sensor_id,
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
    return {sid: SampleBatch.concat(batches) for sid, batches in parts.items()}


def decode_session(store: SessionStore, session_id: int) -> dict[str, object]:
    """Decode each sensor's raw packets: ``{sensor_id: protocol.DecodedStream}`` with ``time_s`` filled."""
    from dmi_sensors import protocol, timing

    out: dict[str, object] = {}
    info = store.session_info(session_id)
    for sensor in info.sensors:
        packets = store.raw_packets(session_id, sensor.sensor_id)
        if not packets:
            continue
        decoded = protocol.decode_stream(packets, sensor.sensor_id)
        if len(decoded.batch):
            decoded.batch.time_s = np.asarray(timing.sample_times(decoded.batch), dtype=np.float64)
        out[sensor.sensor_id] = decoded
    return out


def session_samples(store: SessionStore, session_id: int) -> dict[str, SampleBatch]:
    """Every sensor's samples of a session (decoded from raw packets, or the imported blocks)."""
    info = store.session_info(session_id)
    if info.origin == "import":
        return read_sample_blocks(store, session_id)
    return {sid: d.batch for sid, d in decode_session(store, session_id).items() if len(d.batch)}  # type: ignore[attr-defined]


def session_trial(store: SessionStore, session_id: int, sensor_id: str):  # -> tuple[Trial, np.ndarray]
    """One sensor of a session on the uniform grid ``k / fs_hz`` (session time), for analysis.

    Samples come from :func:`session_samples` and are resampled with
    :func:`dmi_sensors.timing.resample_uniform`, which never interpolates across lost
    samples: grid points inside a gap are NaN. Returns ``(trial, valid_mask)``. The values
    stay in the frame they were stored in (the sensor frame for recorded sessions: apply
    the sensor's calibration, see ``SensorInfo.calibration_ids``, to get the body frame).
    """
    from dmi_sensors import timing
    from dmi_sensors.types import Trial

    batches = session_samples(store, session_id)
    if sensor_id not in batches:
        raise NotFoundError(f"session {session_id} has no samples of sensor {sensor_id!r}; has {sorted(batches)}")
    b = batches[sensor_id]
    values = np.column_stack([b.acc_mps2, b.gyr_rps])
    t, v, valid = timing.resample_uniform(b.time_s, values, b.fs_hz, gap_before=b.gap_before)
    return Trial(t, v[:, :3], v[:, 3:], b.fs_hz, sensor_id), valid
