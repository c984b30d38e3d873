"""Exports of a stored session (CSV, Parquet, BIDS-Motion) and imports back into a store.

``export_session(store, session_id, out_dir, format)`` writes one of:

* ``"csv"``: ``session.json``, ``samples.csv``, ``events.csv``, ``metrics.csv``
* ``"parquet"``: ``session.json``, ``samples.parquet``, ``events.parquet``, ``metrics.parquet``
* ``"bids"``: a BIDS-Motion dataset (see :mod:`dmi_sensors.store.export.bids`)

``import_path(store, path)`` reads any of them (or a trial CSV, a vendor recording: Movella
DOT CSV, MetaBase CSV, APDM .h5, see :mod:`dmi_sensors.store.export.vendor`, or an XDF file's
IMU and marker streams, see :mod:`dmi_sensors.store.export.xdf`) into a new session.
See ``docs/store.md`` for the file layouts.

The format modules are imported when a format is used: they load pandas (and pyarrow),
which ``import dmi_sensors.store`` (and so ``dmi-sensors sessions list``) does not need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.progress_bar import ProgressBar
from dmi_sensors.store.sessionstore import SessionStore

__all__ = ["FORMATS", "export_session", "import_path"]

FORMATS = ("csv", "parquet", "bids")


def export_session(
    store: SessionStore,
    session_id: int,
    out_dir: str | Path,
    format: str = "csv",
    *,
    progress: ProgressBar | None = None,
) -> list[Path]:
    """Export one session to ``out_dir`` in ``format`` (csv, parquet, bids); returns the files written.

    ``progress``: a :class:`~dmi_sensors.progress_bar.ProgressBar` told each step (reading and
    timing the samples, then each file or sensor written)."""
    if format == "csv":
        from dmi_sensors.store.export.tabular import write_csv_dir

        return write_csv_dir(store, session_id, out_dir, progress=progress)
    if format == "parquet":
        from dmi_sensors.store.export.tabular import write_parquet_dir

        return write_parquet_dir(store, session_id, out_dir, progress=progress)
    if format == "bids":
        from dmi_sensors.store.export.bids import write_bids

        return write_bids(store, session_id, out_dir, progress=progress)
    raise ParameterError(f"unknown export format {format!r}; expected one of {FORMATS}")


def import_path(store: SessionStore, path: str | Path, *, progress: ProgressBar | None = None, **kwargs: Any) -> int:
    """Import a CSV/Parquet export directory, a BIDS-Motion dataset, a trial CSV, a vendor recording
    (Movella DOT CSV, MetaBase CSV, APDM .h5) or an XDF file; returns the new session id.

    ``kwargs`` go to the specific importer (e.g. ``subject=`` for a trial CSV or a vendor file);
    ``progress``: a :class:`~dmi_sensors.progress_bar.ProgressBar` told each step (files read,
    then storing; a vendor recording is one step).
    """
    path = Path(path)
    if path.is_file():
        from dmi_sensors.store.export.vendor import import_vendor_file, is_vendor_file
        from dmi_sensors.store.export.xdf import import_xdf, is_xdf_file

        if is_xdf_file(path):
            sid = import_xdf(store, path, **kwargs)
            if progress is not None:
                progress.set_total(1)
                progress.advance()
            return sid

        if is_vendor_file(path):
            sid = import_vendor_file(store, path, **kwargs)
            if progress is not None:
                progress.set_total(1)
                progress.advance()
            return sid
        from dmi_sensors.store.export.trial import import_trial_csv

        return import_trial_csv(store, path, progress=progress, **kwargs)
    if (path / "dataset_description.json").is_file():
        from dmi_sensors.store.export.bids import import_bids

        return import_bids(store, path, progress=progress, **kwargs)
    if (path / "samples.parquet").is_file():
        from dmi_sensors.store.export.tabular import import_parquet_dir

        return import_parquet_dir(store, path, progress=progress)
    if (path / "samples.csv").is_file():
        from dmi_sensors.store.export.tabular import import_csv_dir

        return import_csv_dir(store, path, progress=progress)
    raise DataFileError(
        path,
        "",
        "a trial CSV file, a vendor recording (DOT CSV, MetaBase CSV, APDM .h5), an XDF file, a BIDS dataset"
        " (dataset_description.json) or an export directory (session.json with samples.csv or samples.parquet)",
        "none of these" if path.exists() else "no such file or directory",
    )
