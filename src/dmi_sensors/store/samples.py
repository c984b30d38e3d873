"""Timed samples of a stored session (what the exports write).

* Recorded sessions: each sensor's raw packets go through
  :func:`dmi_sensors.timing.timed_samples`, the one path from packets to timed samples that
  the session analysis uses too (decode, one drift-corrected clock fit per run between
  counter resets, gap flags). Nothing decoded is stored: it is recomputed from the raw
  packets.
* Imported sessions (trial CSV, CSV/Parquet export, BIDS-Motion) have no raw packets; their
  samples are stored as blocks of little-endian arrays (``sample_blocks``, never pickle).

Exports read a sensor in chunks (:func:`stream_sensor_samples`), in bounded memory: a first
pass decodes the packets chunk by chunk and keeps only what the clock fit needs (counter,
arrival time, gap flag: 17 bytes a sample), fits the clock runs, and lets it go; the second
pass decodes again chunk by chunk and times each chunk from those fits. The decoder and the
fits being chunk-invariant, the chunks put together are exactly :func:`recorded_samples`'
batch (tested bit for bit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import NotFoundError
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.timing import RESET_JUMP_S, ClockRun, TimedSamples, resample_batch, timed_samples
from dmi_sensors.timing.runs import fit_clock_run_arrays
from dmi_sensors.types import RawPacket, SampleBatch, Trial
from dmi_sensors.vendors import VendorDecoder, stored_decoder

__all__ = [
    "BLOCK_SAMPLES",
    "CHUNK_PACKETS",
    "SensorSampleStream",
    "read_sample_blocks",
    "recorded_samples",
    "session_samples",
    "session_trial",
    "stream_sensor_samples",
    "write_sample_blocks",
]

#: Packets decoded at a time by :func:`stream_sensor_samples` (19-sample packets: ~78k samples).
CHUNK_PACKETS = 4096

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
        parts.setdefault(sid, []).append(_sample_block(sid, fs_hz, n, counter, dev, host, t, acc, gyr, gap))
    return {key: SampleBatch.concat(batches) for key, batches in parts.items()}


def _sample_block(
    sensor_id: str,
    fs_hz: float,
    n: int,
    counter: bytes,
    dev: bytes,
    host: bytes,
    t: bytes,
    acc: bytes,
    gyr: bytes,
    gap: bytes,
) -> SampleBatch:
    return SampleBatch(
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


@dataclass(frozen=True)
class SensorSampleStream:
    """One sensor's timed samples, to be read chunk by chunk (iterate it; each pass reads the
    store again). ``n_samples`` samples at ``fs_hz``; counters from ``counter_first`` to
    ``counter_last``; ``runs``: the clock runs of a recorded sensor (empty when imported)."""

    sensor_id: str
    fs_hz: float
    n_samples: int
    counter_first: int
    counter_last: int
    runs: tuple[ClockRun, ...]
    _chunks: Callable[[], Iterator[SampleBatch]]

    def __iter__(self) -> Iterator[SampleBatch]:
        return self._chunks()


def _packet_chunks(store: SessionStore, session_id: int, sensor_id: str, size: int) -> Iterator[list[RawPacket]]:
    chunk: list[RawPacket] = []
    for packet in store.iter_raw_packets(session_id, sensor_id, chunk=size):
        chunk.append(packet)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decoded_chunks(
    decoder: StreamDecoder | VendorDecoder, store: SessionStore, session_id: int, sensor_id: str, size: int
) -> Iterator[SampleBatch]:
    """The decoder's output chunk by chunk; a vendor decoder's :meth:`flush` last (what a
    host-arrival clock still holds at the end)."""
    for chunk in _packet_chunks(store, session_id, sensor_id, size):
        yield decoder.process(chunk)
    if isinstance(decoder, VendorDecoder):
        yield decoder.flush()


def _times(runs: tuple[ClockRun, ...], first: int, counter: np.ndarray) -> np.ndarray:
    """``time_s`` of samples ``first .. first + len(counter)`` of a sensor from its runs' fits
    (exactly :func:`dmi_sensors.timing.times_from_runs` on those samples)."""
    out = np.full(counter.shape[0], np.nan)
    stop = first + counter.shape[0]
    for run in runs:
        lo, hi = max(run.start, first), min(run.stop, stop)
        if lo < hi and run.fit is not None:
            out[lo - first : hi - first] = run.fit.time_s(counter[lo - first : hi - first])
    return out


def stream_sensor_samples(
    store: SessionStore, session_id: int, sensor_id: str, *, chunk_packets: int = CHUNK_PACKETS
) -> SensorSampleStream | None:
    """One sensor's timed samples in chunks (see the module docstring); None without samples.

    Recorded sessions: the first pass runs now (decode, fit the clock runs); iterating the
    result decodes again and yields :class:`~dmi_sensors.types.SampleBatch` chunks with
    ``time_s``. Imported sessions: one chunk per stored block.
    """
    info = store.session_info(session_id)
    if info.origin == "import":
        rows = store._query(
            "SELECT count(*), sum(n), min(fs_hz) FROM sample_blocks WHERE session_id = ? AND sensor_id = ?",
            (int(session_id), sensor_id),
            "reading imported samples",
        )
        blocks, n_samples, fs_hz = rows[0]
        if not blocks or not n_samples:
            return None
        sql = (
            "SELECT sensor_id, fs_hz, n, counter, device_time_s, host_time_s, time_s, acc_mps2, gyr_rps, gap_before"
            " FROM sample_blocks WHERE session_id = ? AND sensor_id = ? AND block = ?"
        )
        numbers = [r[0] for r in store._query(
            "SELECT block FROM sample_blocks WHERE session_id = ? AND sensor_id = ? ORDER BY block",
            (int(session_id), sensor_id),
        )]  # fmt: skip

        def blocks_() -> Iterator[SampleBatch]:
            for number in numbers:
                (row,) = store._query(sql, (int(session_id), sensor_id, number), "reading imported samples")
                yield _sample_block(*row)

        first = _sample_block(*store._query(sql, (int(session_id), sensor_id, numbers[0]))[0]).counter
        last = _sample_block(*store._query(sql, (int(session_id), sensor_id, numbers[-1]))[0]).counter
        return SensorSampleStream(sensor_id, float(fs_hz), int(n_samples), int(first[0]), int(last[-1]), (), blocks_)
    # pass 1: what the clock fit needs, chunk by chunk, into arrays sized once: a sample
    # takes at least 12 bytes of a packet, so the stored bytes / 12 bound the sample count
    total_bytes = store._query(
        "SELECT coalesce(sum(length(data)), 0) FROM raw_packets WHERE session_id = ? AND sensor_id = ?",
        (int(session_id), sensor_id),
        "reading raw packets",
    )[0][0]
    bound = int(total_bytes) // 12 + 1
    counter = np.empty(bound, dtype=np.int64)
    host = np.empty(bound, dtype=np.float64)
    gap = np.empty(bound, dtype=np.bool_)
    n = 0
    spec = next((s.decoder for s in info.sensors if s.sensor_id == sensor_id), None)

    def fresh() -> StreamDecoder | VendorDecoder:
        return stored_decoder(spec, sensor_id) or StreamDecoder(sensor_id)

    decoder = fresh()
    for batch in _decoded_chunks(decoder, store, session_id, sensor_id, chunk_packets):
        m = len(batch)
        counter[n : n + m] = batch.counter
        host[n : n + m] = batch.host_time_s
        gap[n : n + m] = batch.gap_before
        n += m
        del batch  # its sensor values go now
    if n == 0 or decoder.fs_hz is None:
        return None
    fs_hz = float(decoder.fs_hz)
    # the line of each run times the samples; its latency percentiles are not needed here
    runs = tuple(fit_clock_run_arrays(counter[:n], host[:n], gap[:n], fs_hz, RESET_JUMP_S, latency_stats=False))
    n_samples, c_first, c_last = n, int(counter[0]), int(counter[n - 1])
    del counter, host, gap

    def chunks() -> Iterator[SampleBatch]:  # pass 2: decode again, time each chunk
        done = 0
        for batch in _decoded_chunks(fresh(), store, session_id, sensor_id, chunk_packets):
            if len(batch):
                yield dataclasses.replace(batch, time_s=_times(runs, done, batch.counter))
                done += len(batch)

    return SensorSampleStream(sensor_id, fs_hz, n_samples, c_first, c_last, runs, chunks)


def recorded_samples(
    store: SessionStore, session_id: int, sensor_ids: Collection[str] | None = None
) -> dict[str, TimedSamples]:
    """Each sensor's raw packets through :func:`dmi_sensors.timing.timed_samples` (sensors
    with no stored packet are left out); ``sensor_ids``: only these sensors."""
    out: dict[str, TimedSamples] = {}
    for sensor in store.session_info(session_id).sensors:
        if sensor_ids is not None and sensor.sensor_id not in sensor_ids:
            continue
        packets = store.raw_packets(session_id, sensor.sensor_id)
        if packets:
            decoder = stored_decoder(sensor.decoder, sensor.sensor_id)
            out[sensor.sensor_id] = timed_samples(packets, sensor.sensor_id, decoder=decoder)
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
