"""The vendors' own recording files -> timed sample batches: Movella DOT CSV, MetaBase CSV, APDM Opal .h5.

Each reader returns a :class:`VendorRecording`: one :class:`~dmi_sensors.types.SampleBatch`
per sensor in the sensor frame and SI units, with ``time_s`` in seconds since the
recording's first sample (from the file's own timestamps), counters with holes where
samples are missing and ``gap_before`` there. Anything else raises
:class:`~dmi_sensors.errors.DataFileError` naming the file, the place (line, column, HDF5
object) and what was expected. The formats (and what is known about them) are in
``docs/vendors.md``:

* **Movella DOT CSV** (the DOT app's / Data Exporter's export): optional metadata lines
  before a header line that contains ``SampleTimeFine``; columns ``PacketCounter``
  (optional), ``SampleTimeFine`` (µs, u32, wraps), ``Acc_X/Y/Z`` (m/s²), ``Gyr_X/Y/Z``
  (deg/s; user manual XD0502P Table 8). Other columns (quaternions, Euler angles, free
  acceleration, status) are ignored; trailing commas are allowed.
* **MetaBase CSV** (MbientLab's app): one file per signal, ``…_Accelerometer….csv`` with
  ``epoch (ms), time (…), elapsed (s), x-axis (g), y-axis (g), z-axis (g)`` and
  ``…_Gyroscope….csv`` with ``x-axis (deg/s)``…; the partner file with the same name
  prefix is found beside the one given. The gyroscope is interpolated onto the
  accelerometer's timestamps (both sampled at one rate by one chip); millisecond
  timestamps make the loss count an estimate.
* **APDM Opal .h5** (Mobility Lab / Motion Studio, file format version 5 and later): the
  root attribute ``FileFormatVersion``; per monitor ``/Sensors/<case id>/`` with
  ``Accelerometer`` (n × 3, m/s²), ``Gyroscope`` (n × 3, rad/s), ``Time`` (n, µs since
  1970-01-01 UTC) and ``Configuration`` attributes ``Label 0`` (where it was worn) and
  ``Sample Rate`` (Hz). All monitors share one time base (synchronised by the access
  point); ``time_s`` counts from the earliest sample of any of them.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dmi_sensors.errors import DataFileError
from dmi_sensors.types import SampleBatch

__all__ = [
    "VendorRecording",
    "detect_format",
    "read_apdm_h5",
    "read_dot_csv",
    "read_metabase_csv",
    "read_vendor_file",
]

G0_MPS2 = 9.80665
_DEG = math.pi / 180.0
_DOT_REQUIRED = ("SampleTimeFine", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z")
_METABASE_EPOCH = "epoch (ms)"


@dataclass(frozen=True)
class VendorRecording:
    """Samples read from a vendor's file.

    Attributes
    ----------
    path
        The file read (for messages; never stored).
    format
        ``"dot_csv"``, ``"metabase_csv"`` or ``"apdm_h5"``.
    batches
        Sensor id -> samples (``time_s`` filled, s since the first sample of the recording).
    placements
        Sensor id -> where it was worn, when the file says (APDM ``Label 0``).
    start_utc
        The first sample as UTC ISO-8601 when the file has absolute time, else None.
    loss_accounting
        ``"exact"`` (counters or µs device timestamps) or ``"estimated"`` (ms timestamps).
    metadata
        What the file says about itself (DOT metadata lines, APDM version, …), as text.
    """

    path: Path
    format: str
    batches: dict[str, SampleBatch]
    placements: dict[str, str] = field(default_factory=dict)
    start_utc: str | None = None
    loss_accounting: str = "exact"
    metadata: dict[str, str] = field(default_factory=dict)


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=UTC).isoformat().replace("+00:00", "Z")


def _gaps(counter: NDArray[np.int64]) -> NDArray[np.bool_]:
    gap = np.zeros(counter.shape[0], dtype=bool)
    gap[1:] = np.diff(counter) > 1
    return gap


def _counter_from_time(path: Path, what: str, t_s: NDArray[np.float64], fs_hz: float) -> NDArray[np.int64]:
    """Sample numbers from sample times: ``round((t - t0) * fs)``; must strictly increase."""
    counter = np.round((t_s - t_s[0]) * fs_hz).astype(np.int64)
    bad = np.flatnonzero(np.diff(counter) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DataFileError(
            path, f"{what} {i}", f"a time later than the previous sample's {t_s[i - 1]!r}", repr(t_s[i])
        )
    return counter


# ------------------------------------------------------------------------------ detection
def _head(path: Path, lines: int = 40) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            return [fh.readline() for _ in range(lines)]
    except OSError as exc:
        raise DataFileError(path, "", "a readable file", str(exc)) from None


def detect_format(path: str | Path) -> str | None:
    """``"apdm_h5"``, ``"dot_csv"``, ``"metabase_csv"``, or None when the file is none of them."""
    path = Path(path)
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic == b"\x89HDF\r\n\x1a\n":
        return "apdm_h5"
    for line in _head(path):
        cells = [c.strip() for c in line.split(",")]
        if "SampleTimeFine" in cells:
            return "dot_csv"
        if cells and cells[0].lower() in (_METABASE_EPOCH, "epoc (ms)"):
            return "metabase_csv"
    return None


def read_vendor_file(path: str | Path) -> VendorRecording:
    """Read any of the supported vendor files (see :func:`detect_format`)."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "apdm_h5":
        return read_apdm_h5(path)
    if kind == "dot_csv":
        return read_dot_csv(path)
    if kind == "metabase_csv":
        return read_metabase_csv(path)
    raise DataFileError(
        path,
        "",
        "a Movella DOT CSV export (a header with SampleTimeFine), a MetaBase CSV export (first column "
        "'epoch (ms)') or an APDM .h5 recording",
        "none of these" if path.exists() else "no such file",
    )


# ------------------------------------------------------------------------------ CSV helpers
def _numeric_table(
    path: Path, header_line: int, header: list[str], wanted: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, NDArray[np.float64]]:
    """The ``wanted`` (and present ``optional``) columns below ``header`` as float arrays."""
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in wanted if c not in index]
    if missing:
        raise DataFileError(
            path, f"line {header_line} (header)", "columns " + ", ".join(wanted), "no " + ", ".join(missing)
        )
    cols = [c for c in (*wanted, *optional) if c in index]
    try:
        rows = _rows(path, header_line, index, cols)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(path, f"below line {header_line}", "comma-separated text", str(exc)) from None
    if len(rows) < 2:
        raise DataFileError(path, f"below line {header_line}", "at least 2 samples", str(len(rows)))
    table = np.array(rows, dtype=np.float64)
    return {c: table[:, k] for k, c in enumerate(cols)}


def _rows(path: Path, header_line: int, index: dict[str, int], cols: list[str]) -> list[list[float]]:
    rows: list[list[float]] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        for line_no, row in enumerate(reader, start=1):
            if line_no <= header_line or not any(cell.strip() for cell in row):
                continue
            values = []
            for c in cols:
                i = index[c]
                cell = row[i].strip() if i < len(row) else ""
                try:
                    v = float(cell)
                except ValueError:
                    raise DataFileError(path, f"line {line_no}, column {c!r}", "a number", repr(cell)) from None
                if not math.isfinite(v):
                    raise DataFileError(path, f"line {line_no}, column {c!r}", "a finite number", repr(cell))
                values.append(v)
            rows.append(values)
    return rows


# ------------------------------------------------------------------------------ DOT
def read_dot_csv(path: str | Path, sensor_id: str = "dot") -> VendorRecording:
    """Read a Movella DOT CSV export (module docstring)."""
    path = Path(path)
    header_line = 0
    header: list[str] = []
    metadata: dict[str, str] = {}
    for i, line in enumerate(_head(path, 200), start=1):
        cells = _cells(line)
        cells = [c.strip() for c in cells]
        if "SampleTimeFine" in cells:
            header_line, header = i, cells
            break
        if len(cells) >= 2 and cells[0].endswith(":"):
            metadata[cells[0].rstrip(":").strip()] = cells[1]
    if not header_line:
        raise DataFileError(path, "the first 200 lines", "a header line with SampleTimeFine (a DOT CSV export)")
    cols = _numeric_table(path, header_line, header, _DOT_REQUIRED, ("PacketCounter",))
    ts = cols["SampleTimeFine"].astype(np.int64)
    t_us = ts[0] + np.concatenate([[0], np.cumsum(np.diff(ts) % (1 << 32))])  # SampleTimeFine wraps at 2**32
    t_s = (t_us - t_us[0]) / 1e6
    rate = _dot_rate(path, metadata, t_s)
    if "PacketCounter" in cols:
        pc = cols["PacketCounter"].astype(np.int64)
        steps = np.diff(pc) % (1 << 32)
        bad = np.flatnonzero(steps == 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise DataFileError(path, f"data row {i + 1}, column 'PacketCounter'", "a new packet counter", str(pc[i]))
        counter = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    else:
        counter = _counter_from_time(path, "data row", t_s, rate)
    acc = np.column_stack([cols["Acc_X"], cols["Acc_Y"], cols["Acc_Z"]])
    gyr = np.column_stack([cols["Gyr_X"], cols["Gyr_Y"], cols["Gyr_Z"]]) * _DEG
    batch = SampleBatch(sensor_id, rate, counter, t_s, t_s, acc, gyr, _gaps(counter), t_s)
    return VendorRecording(path, "dot_csv", {sensor_id: batch}, metadata=metadata)


def _dot_rate(path: Path, metadata: dict[str, str], t_s: NDArray[np.float64]) -> float:
    text = metadata.get("OutputRate") or metadata.get("Output Rate") or ""
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:hz)?\s*$", text, re.IGNORECASE)
    if m:
        return float(m.group(1))
    step = float(np.median(np.diff(t_s)))
    if not step > 0:
        raise DataFileError(path, "column 'SampleTimeFine'", "increasing timestamps", "no time step")
    return 1.0 / step


# ------------------------------------------------------------------------------ MetaBase
def _cells(line: str) -> list[str]:
    """One CSV line's cells (none for a blank or unreadable line)."""
    try:
        return next(csv.reader([line])) if line.strip() else []
    except csv.Error:
        return []


def _metabase_table(path: Path, unit: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lines = _head(path, 1)
    header = [c.strip() for c in _cells(lines[0])]
    if not header or header[0].lower() not in (_METABASE_EPOCH, "epoc (ms)"):
        raise DataFileError(path, "line 1 (header)", f"a MetaBase header starting {_METABASE_EPOCH!r}", repr(lines[0]))
    axes = tuple(f"{a}-axis ({unit})" for a in "xyz")
    cols = _numeric_table(path, 1, header, (header[0], *axes))
    return cols[header[0]], np.column_stack([cols[a] for a in axes])


def _metabase_partner(path: Path) -> tuple[Path, Path | None]:
    """(accelerometer file, gyroscope file or None) for one file of a MetaBase export."""
    name = path.name
    m = re.search(r"_(Accelerometer|Gyroscope)(?=[_.])", name, re.IGNORECASE)
    if m is None:
        return path, None
    prefix, kind = name[: m.start()], m.group(1).lower()
    other = "Gyroscope" if kind == "accelerometer" else "Accelerometer"
    found = sorted(p for p in path.parent.glob(f"{prefix}_{other}*.csv") if p.is_file())
    partner = found[0] if found else None
    return (path, partner) if kind == "accelerometer" else (partner or path, path if partner else None)


def read_metabase_csv(path: str | Path, sensor_id: str = "metamotion") -> VendorRecording:
    """Read a MetaBase export: the accelerometer file and its gyroscope partner (module docstring)."""
    path = Path(path)
    acc_path, gyr_path = _metabase_partner(path)
    if gyr_path is None and re.search(r"_Gyroscope", acc_path.name, re.IGNORECASE):
        raise DataFileError(path, "", "an Accelerometer file of the same export beside this Gyroscope file", "none")
    epoch_ms, acc_g = _metabase_table(acc_path, "g")
    t_s = (epoch_ms - epoch_ms[0]) / 1000.0
    step = float(np.median(np.diff(t_s)))
    if not step > 0:
        raise DataFileError(acc_path, "column 'epoch (ms)'", "increasing timestamps", "no time step")
    rate = 1.0 / step
    counter = _counter_from_time(acc_path, "data row", t_s, rate)
    gyr = np.full((t_s.shape[0], 3), np.nan)
    t_offset_ms = 0.0
    if gyr_path is not None:
        g_epoch, g_dps = _metabase_table(gyr_path, "deg/s")
        g_t = (g_epoch - epoch_ms[0]) / 1000.0
        if np.any(np.diff(g_t) <= 0):
            i = int(np.flatnonzero(np.diff(g_t) <= 0)[0]) + 1
            raise DataFileError(gyr_path, f"data row {i + 1}, column 'epoch (ms)'", "increasing timestamps")
        inside = (t_s >= g_t[0]) & (t_s <= g_t[-1])
        for k in range(3):
            gyr[inside, k] = np.interp(t_s[inside], g_t, g_dps[:, k]) * _DEG
        keep = inside
        t_s, counter, acc_g, gyr = t_s[keep], counter[keep], acc_g[keep], gyr[keep]
        if t_s.shape[0] < 2:
            raise DataFileError(gyr_path, "", "gyroscope samples overlapping the accelerometer's in time", "none")
        t_offset_ms = float(t_s[0]) * 1000.0
        t_s = t_s - t_s[0]
        counter = counter - counter[0]
    acc = acc_g * G0_MPS2
    batch = SampleBatch(sensor_id, rate, counter, t_s, t_s, acc, gyr, _gaps(counter), t_s)
    start = _iso(float(epoch_ms[0] + t_offset_ms) / 1000.0)
    return VendorRecording(path, "metabase_csv", {sensor_id: batch}, start_utc=start, loss_accounting="estimated")


# ------------------------------------------------------------------------------ APDM
def _attr_text(value: object) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).rstrip(b"\x00").decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attr_text(value.reshape(-1)[0])
    return str(value)


def read_apdm_h5(path: str | Path) -> VendorRecording:
    """Read an APDM Opal recording (file format version 5 or later; module docstring)."""
    path = Path(path)
    try:
        return _read_apdm_h5(path)
    except DataFileError:
        raise
    except (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # a damaged HDF5 file: h5py raises whatever its C library reports
        raise DataFileError(path, "", "a readable APDM recording", f"{type(exc).__name__}: {exc}") from None


def _read_apdm_h5(path: Path) -> VendorRecording:
    try:
        import h5py  # optional at import time of the toolkit: only these files need it
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise DataFileError(path, "", "h5py installed to read APDM .h5 files (pip install h5py)") from None
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(path, "", "an HDF5 file", str(exc)) from None
    with fh:
        version_attr = fh.attrs.get("FileFormatVersion", fh.attrs.get("File_Format_Version"))
        if version_attr is None:
            raise DataFileError(path, "root attributes", "FileFormatVersion (an APDM recording)", "none")
        version = int(np.asarray(version_attr).reshape(-1)[0])
        if version < 5:
            raise DataFileError(
                path, "root attribute FileFormatVersion", "5 or later (re-export the recording from Mobility Lab)"
            )
        sensors = fh.get("Sensors")
        if not isinstance(sensors, h5py.Group) or not len(sensors):
            raise DataFileError(path, "/Sensors", "a group with one group per monitor", "none")
        raw: dict[str, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], float, str]] = {}
        for case_id in sensors:
            where = f"/Sensors/{case_id}"
            group = sensors[case_id]
            arrays = {}
            for name, width in (("Accelerometer", 3), ("Gyroscope", 3), ("Time", 0)):
                ds = group.get(name)
                if not isinstance(ds, h5py.Dataset):
                    raise DataFileError(path, f"{where}/{name}", "a dataset", "none")
                arr = np.asarray(ds[()])
                shape_ok = arr.ndim == 2 and arr.shape[1] == 3 if width else arr.ndim == 1
                if not shape_ok:
                    want = "n × 3" if width else "a 1-D array"
                    raise DataFileError(path, f"{where}/{name}", want, f"shape {arr.shape}")
                arrays[name] = arr
            n = arrays["Time"].shape[0]
            if n < 2 or arrays["Accelerometer"].shape[0] != n or arrays["Gyroscope"].shape[0] != n:
                raise DataFileError(path, where, "Accelerometer, Gyroscope and Time of one length >= 2", str(n))
            acc = arrays["Accelerometer"].astype(np.float64)
            gyr = arrays["Gyroscope"].astype(np.float64)
            for name, arr in (("Accelerometer", acc), ("Gyroscope", gyr)):
                if not np.isfinite(arr).all():
                    row = int(np.argwhere(~np.isfinite(arr))[0][0])
                    raise DataFileError(path, f"{where}/{name} row {row}", "finite values")
            config = group.get("Configuration")
            attrs = config.attrs if config is not None else {}
            label = _attr_text(attrs.get("Label 0", "")).strip()
            rate_attr = attrs.get("Sample Rate")
            time_us = arrays["Time"].astype(np.int64)
            if rate_attr is not None:
                rate = float(np.asarray(rate_attr).reshape(-1)[0])
            else:
                rate = 1e6 / float(np.median(np.diff(time_us)))
            if not rate > 0:
                raise DataFileError(path, f"{where}/Configuration 'Sample Rate'", "a positive rate", str(rate))
            raw[str(case_id)] = (time_us, acc, gyr, rate, label)
    t0 = min(v[0][0] for v in raw.values())
    batches: dict[str, SampleBatch] = {}
    placements: dict[str, str] = {}
    for case_id, (time_us, acc, gyr, rate, label) in raw.items():
        sensor_id = f"apdm-{case_id}"
        t_s = (time_us - t0) / 1e6
        counter = _counter_from_time(path, f"/Sensors/{case_id}/Time row", t_s, rate)
        counter = counter + round(t_s[0] * rate)
        batches[sensor_id] = SampleBatch(sensor_id, rate, counter, t_s, t_s, acc, gyr, _gaps(counter), t_s)
        if label:
            placements[sensor_id] = label
    return VendorRecording(
        path,
        "apdm_h5",
        batches,
        placements=placements,
        start_utc=_iso(t0 / 1e6),
        metadata={"FileFormatVersion": str(version)},
    )
