"""A stored sensor -> calibrated samples on the session's uniform grid.

Whatever the store holds for the sensor: raw packets (a recorded session) or timed samples
(a session imported from a trial CSV, a CSV/Parquet export or BIDS-Motion). Steps (each
delegated to its layer; nothing is re-implemented here):

1. raw packets: :func:`dmi_sensors.timing.timed_samples` — the ONE path from packets to
   timed samples, shared with the exports of the store: decode (SI samples in the sensor
   frame, unwrapped counters, ``gap_before`` at lost samples and counter resets, malformed
   packets counted), then one drift-corrected clock fit per *clock run* between counter
   resets, so a sensor restart does not bend the clock of the samples before or after it.
   Imported samples are already timed: they are what an export of a recorded session
   wrote from step 1, so a recorded session and its export re-imported give the same
   samples, hence the same analysis (:func:`stored_sensor_signals`).
2. :func:`dmi_sensors.calibration.apply_to_batch` — bias, scale, misalignment and the
   sensor -> body rotation, when a calibration is known for the sensor.
3. :func:`dmi_sensors.timing.resample_batch` — onto ``k / fs_hz`` since session start,
   NaN inside gaps; :func:`dmi_sensors.dsp.segments.segments_from_mask` then gives the
   gap-free *pieces* that downstream filters process separately (no filter crosses a gap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.calibration import Calibration, SensorCalibration, apply_to_batch
from dmi_sensors.dsp.segments import segments_from_mask
from dmi_sensors.errors import NotFoundError
from dmi_sensors.store import SessionStore
from dmi_sensors.store.samples import read_sample_blocks
from dmi_sensors.timing import RESET_JUMP_S, resample_batch, timed_samples
from dmi_sensors.types import RawPacket, SampleBatch, Trial
from dmi_sensors.vendors import VendorDecoder, stored_decoder

__all__ = [
    "CalibrationInput",
    "SensorSignals",
    "imported_link",
    "prepare_batch",
    "prepare_sensor",
    "stored_sensor_signals",
]

#: What :func:`prepare_sensor` accepts as a sensor's calibration.
CalibrationInput = SensorCalibration | Calibration | list[Calibration]


@dataclass
class SensorSignals:
    """One sensor's samples on the session grid, with link and clock statistics.

    Attributes
    ----------
    sensor_id, placement
        Which sensor, where it was worn (``contract.PLACEMENTS`` or free text).
    fs_hz
        Rate of the uniform grid, Hz.
    time_s
        Grid times ``k / fs_hz``, s since session start, ``(m,)``.
    acc_mps2, gyr_rps
        Calibrated specific force and angular rate, ``(m, 3)``: body frame when the
        calibration includes an alignment, sensor frame otherwise; NaN inside gaps.
    valid
        False where the grid falls into a gap, ``(m,)``.
    pieces
        Gap-free runs of ``valid`` at least ``min_piece_s`` long, as slices of the grid.
    sample_time_s
        Drift-corrected time of every decoded sample before resampling, s (NaN where no
        clock could be fitted): the ``time_s`` the store's exports write for this sensor.
    link
        ``packets_ok, malformed_packets, samples_received, samples_lost, counter_resets,
        loss_pct`` (loss = lost / (received + lost) · 100), ``malformed_reasons`` and
        ``loss_accounting`` (``"exact"``, or ``"estimated"`` for a vendor sensor without
        counters); for imported samples :func:`imported_link` (packets unknown: None).
    clock
        One dict per clock run: ``drift_ppm, offset_s, latency_median_s, latency_p99_s,
        n_samples``.
    calibration
        Short description of the calibration applied (None when none).
    frame
        ``"body"`` or ``"sensor"``.
    """

    sensor_id: str
    placement: str
    fs_hz: float
    time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    valid: np.ndarray
    pieces: list[slice]
    link: dict[str, int | float | str | dict[str, int] | None]
    clock: list[dict[str, float | int]] = field(default_factory=list)
    calibration: dict[str, str | list[str]] | None = None
    frame: str = "sensor"
    sample_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def trial(self, piece: slice) -> Trial:
        """The samples of one gap-free piece as a :class:`~dmi_sensors.types.Trial`."""
        return Trial(self.time_s[piece], self.acc_mps2[piece], self.gyr_rps[piece], self.fs_hz, self.sensor_id)

    @property
    def duration_s(self) -> float:
        return float(self.time_s.shape[0] / self.fs_hz) if self.time_s.size else 0.0


def _describe_calibration(cal: CalibrationInput) -> dict[str, str | list[str]]:
    """``{"sensor_serial", "kinds"}`` of a SensorCalibration, one calibration or a list of them."""
    if isinstance(cal, SensorCalibration):
        return {"sensor_serial": cal.sensor_serial, "kinds": [c.kind for c in cal.parts()]}
    items = cal if isinstance(cal, list) else [cal]
    serial = next((c.sensor_serial for c in items if c.sensor_serial), "")
    return {"sensor_serial": serial, "kinds": [c.kind for c in items]}


def prepare_sensor(
    packets: Sequence[RawPacket],
    sensor_id: str,
    placement: str = "",
    *,
    calibration: CalibrationInput | None = None,
    fs_hz: float | None = None,
    min_piece_s: float = 5.0,
    reset_jump_s: float = RESET_JUMP_S,
    decoder: VendorDecoder | None = None,
) -> SensorSignals:
    """Time, calibrate and resample one sensor's packets (module docstring).

    Parameters
    ----------
    packets
        The sensor's raw packets in arrival order.
    calibration
        A :class:`dmi_sensors.calibration.SensorCalibration` (or a calibration / list of
        them) for this sensor, or None.
    fs_hz
        Rate of the output grid; default: the sensor's nominal rate.
    min_piece_s
        Gap-free stretches shorter than this are left out of :attr:`SensorSignals.pieces`.
    reset_jump_s
        Clock-run split threshold of :func:`dmi_sensors.timing.clock_runs` (the exports use
        the default).
    decoder
        A third-party sensor's fresh decoder (:func:`dmi_sensors.vendors.stored_decoder`);
        None: our own protocol.
    """
    timed = timed_samples(packets, sensor_id, reset_jump_s, decoder=decoder)
    return prepare_batch(
        timed.batch,
        placement,
        link=timed.link(),
        clock=timed.clock(),
        calibration=calibration,
        fs_hz=fs_hz,
        min_piece_s=min_piece_s,
    )


def imported_link(batch: SampleBatch) -> dict[str, int | float | str | dict[str, int] | None]:
    """Link statistics of timed samples without their packets (an imported session).

    The same keys as :meth:`dmi_sensors.timing.TimedSamples.link`, counted as the decoder
    counts them (:mod:`dmi_sensors.protocol.stream`): samples lost from forward counter
    jumps, a counter reset where a gap follows a step of exactly one (the decoder continues
    the counter after a reset); ``loss_accounting`` ``"exact"`` (from the stored counters).
    Packets are unknown (None).
    """
    step = np.diff(batch.counter)
    lost = int(np.clip(step - 1, 0, None).sum()) if step.size else 0
    resets = int((batch.gap_before[1:] & (step == 1)).sum()) if step.size else 0
    received = len(batch)
    return {
        "packets_ok": None,
        "malformed_packets": None,
        "samples_received": received,
        "samples_lost": lost,
        "counter_resets": resets,
        "loss_pct": 100.0 * lost / (received + lost) if received + lost else 0.0,
        "malformed_reasons": {},
        "loss_accounting": "exact",
    }


def prepare_batch(
    batch: SampleBatch,
    placement: str = "",
    *,
    link: Mapping[str, int | float | str | dict[str, int] | None] | None = None,
    clock: list[dict[str, float | int]] | None = None,
    calibration: CalibrationInput | None = None,
    fs_hz: float | None = None,
    min_piece_s: float = 5.0,
    frame: str = "sensor",
) -> SensorSignals:
    """Calibrate and resample one sensor's timed samples (steps 2 and 3 of the module docstring).

    ``link`` / ``clock``: the statistics of how the samples came (default
    :func:`imported_link`, no clock fits); ``frame``: the frame the samples are stored in
    (``"body"`` for a body-aligned trial CSV); an alignment calibration makes it ``"body"``.
    """
    description = None
    if calibration is not None:
        timed_batch = apply_to_batch(calibration, batch)
        description = _describe_calibration(calibration)
        if "alignment" in description["kinds"]:
            frame = "body"
    else:
        timed_batch = batch
    rate = float(fs_hz or batch.fs_hz)
    grid, acc, gyr, valid = resample_batch(timed_batch, rate)
    pieces = segments_from_mask(valid, min_length=max(3, round(min_piece_s * rate))) if grid.size else []
    return SensorSignals(
        sensor_id=batch.sensor_id,
        placement=placement,
        fs_hz=rate,
        time_s=grid,
        acc_mps2=acc,
        gyr_rps=gyr,
        valid=valid,
        pieces=pieces,
        link=dict(link) if link is not None else imported_link(batch),
        clock=list(clock or []),
        calibration=description,
        frame=frame,
        sample_time_s=timed_batch.time_s,
    )


def stored_sensor_signals(
    store: SessionStore,
    session_id: int,
    sensor_id: str,
    *,
    calibration: CalibrationInput | None = None,
    fs_hz: float | None = None,
    min_piece_s: float = 5.0,
) -> SensorSignals:
    """One sensor of a stored session from whatever the store holds: its raw packets
    (:func:`prepare_sensor`) or, for an imported session, its timed samples
    (:func:`prepare_batch` with :func:`imported_link`). ``calibration`` as given (callers
    pass the stored one, :func:`dmi_sensors.analysis.load_calibration`)."""
    info = store.session_info(session_id)
    sensor = next((s for s in info.sensors if s.sensor_id == sensor_id), None)
    if sensor is None:
        raise NotFoundError(f"session {session_id} has no sensor {sensor_id!r}")
    if sensor.packets:
        return prepare_sensor(
            store.raw_packets(session_id, sensor_id),
            sensor_id,
            sensor.placement,
            calibration=calibration,
            fs_hz=fs_hz,
            min_piece_s=min_piece_s,
            decoder=stored_decoder(sensor.decoder, sensor_id),
        )
    batch = read_sample_blocks(store, session_id, sensor_id).get(sensor_id)
    if batch is None:  # a sensor declared but never heard from
        return prepare_sensor([], sensor_id, sensor.placement, calibration=None, fs_hz=fs_hz, min_piece_s=min_piece_s)
    return prepare_batch(
        batch, sensor.placement, calibration=calibration, fs_hz=fs_hz, min_piece_s=min_piece_s, frame=sensor.frame
    )
