"""``dmi-sensors export SESSION --format csv|parquet|bids --out DIR``.

The store is imported when the command runs (``dmi-sensors --help`` stays fast).
"""

from __future__ import annotations

import argparse

from dmi_sensors.errors import ParameterError

FORMATS = ("csv", "parquet", "bids")  # dmi_sensors.store.export.FORMATS (not imported: start-up speed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=int, metavar="SESSION", help="session id (see 'dmi-sensors sessions list')")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="csv, parquet, or a BIDS-Motion dataset")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (BIDS: the dataset root, may hold other sessions)"
    )
    parser.add_argument(
        "--db", metavar="PATH", help="session database (default: $DMI_SENSORS_DB or the platform data dir)"
    )


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.progress_bar import ProgressBar
    from dmi_sensors.store import SessionStore, UnknownSessionError
    from dmi_sensors.store.export import export_session

    with SessionStore(args.db, create=False) as store, ProgressBar(desc="export", unit="step") as bar:
        try:
            files = export_session(store, args.session, args.out, args.format, progress=bar)
        except UnknownSessionError as exc:
            raise ParameterError(str(exc)) from None
    print(f"session {args.session} -> {args.out} ({args.format}, {len(files)} files)")
    for f in files:
        print(f"  {f}")
    return 0
