"""Read and write the trial CSV of the data contract.

Format (``docs/data-contract.md``): a header line, then one row per sample::

    time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rps,gyr_y_rps,gyr_z_rps

Uniform rate, body-aligned sensor frame (x forward, y left, z up), SI units. Extra columns
are allowed and ignored. Any problem raises :class:`dmi_sensors.errors.DataFileError`
naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.types import Trial

__all__ = ["MAX_STEP_JITTER", "read_trial_csv", "write_trial_csv"]

#: Largest allowed deviation of one time step from the median step, as a fraction of it.
#: Larger deviations are gaps or duplicates: resample first (``dmi_sensors.timing``).
MAX_STEP_JITTER = 0.10


def _first_bad_cell(path: Path, columns: tuple[str, ...]) -> DataFileError:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        index = {name: header.index(name) for name in columns}
        for line_no, row in enumerate(reader, start=2):
            for name, col in index.items():
                cell = row[col] if col < len(row) else None
                if cell is None:
                    return DataFileError(path, f"line {line_no}", f"{len(header)} fields", f"{len(row)}")
                try:
                    value = float(cell)
                except ValueError:
                    return DataFileError(path, f"line {line_no}, column {name!r}", "a number", repr(cell))
                if not np.isfinite(value):
                    return DataFileError(path, f"line {line_no}, column {name!r}", "a finite number", repr(cell))
    return DataFileError(path, "", "a readable trial CSV")


def read_trial_csv(path: str | Path, sensor_id: str = "") -> Trial:
    """Read a trial CSV into a :class:`~dmi_sensors.types.Trial`.

    The sample rate is ``1 / median(diff(time_s))``. Raises ``DataFileError`` when the file
    is missing, a required column is absent, a cell is not a finite number, time does not
    increase, or a step deviates from the median step by more than ``MAX_STEP_JITTER``.
    """
    import pandas as pd

    path = Path(path)
    columns = contract.TRIAL_CSV_COLUMNS
    if not path.is_file():
        raise DataFileError(path, "", "an existing trial CSV file", "no such file")
    with path.open(newline="") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise DataFileError(path, "line 1", "a header " + ",".join(columns), "an empty file") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DataFileError(path, "line 1", "a text header", str(exc)) from None
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFileError(
            path, "line 1 (header)", "columns " + ",".join(columns), "no column " + ", ".join(map(repr, missing))
        )
    try:
        frame = pd.read_csv(path, usecols=list(columns), dtype=np.float64, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError):
        raise _first_bad_cell(path, columns) from None
    values = frame[list(columns)].to_numpy()
    if values.shape[0] < 2:
        raise DataFileError(path, "", "at least 2 samples", f"{values.shape[0]}")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataFileError(
            path, f"line {row + 2}, column {columns[col]!r}", "a finite number", "an empty or non-finite cell"
        )
    t = values[:, 0]
    dt = np.diff(t)
    if (dt <= 0).any():
        row = int(np.argmax(dt <= 0)) + 1
        raise DataFileError(
            path, f"line {row + 2}, column 'time_s'", f"a time greater than {t[row - 1]!r}", repr(t[row])
        )
    step = float(np.median(dt))
    off = np.abs(dt - step) > MAX_STEP_JITTER * step
    if off.any():
        row = int(np.argmax(off)) + 1
        raise DataFileError(
            path,
            f"line {row + 2}, column 'time_s'",
            f"a uniform step of {step:.6g} s (a gap or duplicate here; resample first)",
            f"a step of {dt[row - 1]:.6g} s",
        )
    return Trial(time_s=t, acc_mps2=values[:, 1:4], gyr_rps=values[:, 4:7], fs_hz=1.0 / step, sensor_id=sensor_id)


def write_trial_csv(trial: Trial, path: str | Path) -> Path:
    """Write ``trial`` as a trial CSV (full float64 precision). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trial.to_dataframe().to_csv(path, index=False, float_format="%.17g")
    return path
