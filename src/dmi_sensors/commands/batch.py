"""``dmi-sensors batch INPUTS... --out results.parquet``: a cohort analysed in parallel on Dask.

Thin argument parsing over :func:`dmi_sensors.analysis.batch.analyse_batch` (the library is
imported when the command runs, so ``dmi-sensors --help`` stays fast). Exit status: 0 when
every session was analysed (or a ``--limit`` run stopped as asked), 1 when a session or an
input failed (the failures table says why), 130 when interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmi_sensors.errors import ParameterError


def _subject_height(text: str) -> tuple[str, float]:
    subject, sep, value = text.partition("=")
    try:
        height = float(value)
    except ValueError:
        height = float("nan")
    if not sep or not subject or not height > 0:
        raise argparse.ArgumentTypeError(f"expected SUBJECT=METRES (e.g. C01=0.52), got {text!r}")
    return subject, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="session database (.sqlite: every session in it), BIDS-Motion dataset folder, export folder "
        "(session.json), or trial list (trials.csv, or the folder holding it)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="cohort table to write (Parquet)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="an existing Dask scheduler (e.g. tcp://scheduler-host:8786); default: a local cluster on this machine",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes of the local cluster (default: one per core)"
    )
    parser.add_argument(
        "--com-height-m",
        type=_subject_height,
        action="append",
        default=[],
        metavar="SUBJECT=M",
        help="COM height of a subject of a trial list whose rows leave it empty, m (repeatable; per child, no default)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="discard the finished sessions of an earlier run into --out"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="analyse at most N sessions now; run again for the rest")
    parser.add_argument("--fs-hz", type=float, default=None, help="resample every session to this rate, Hz")
    parser.add_argument("--window-s", type=float, default=2.0, help="sliding-window length, s (default 2)")
    parser.add_argument("--movement-s", type=float, default=2.0, help="movement at each repetition start, s")
    parser.add_argument("--com-method", choices=("pendulum", "strapdown"), help="COM estimate (default pendulum)")
    parser.add_argument(
        "--ellipse-method", choices=("prediction_F", "chi2", "prieto"), help="95 %% ellipse (default prediction_F)"
    )


def run(args: argparse.Namespace) -> int:
    from dmi_sensors.analysis import SessionAnalysisParams
    from dmi_sensors.analysis.batch import analyse_batch

    heights: dict[str, float] = {}
    for subject, height in args.com_height_m:
        if heights.get(subject, height) != height:
            raise ParameterError(f"--com-height-m: two heights for subject {subject}")
        heights[subject] = height
    params = SessionAnalysisParams(
        fs_hz=args.fs_hz,
        window_s=args.window_s,
        repetition_movement_s=args.movement_s,
        # only what was chosen: a run with the defaults has the parameters of dmi_sensors.batch's defaults
        metrics={k: v for k, v in (("com_method", args.com_method), ("ellipse_method", args.ellipse_method)) if v},
    )
    done: list[int] = [0]

    def count(_outcome: object) -> None:
        done[0] += 1

    try:
        result = analyse_batch(
            args.inputs,
            args.out,
            params,
            scheduler=args.scheduler,
            workers=args.workers,
            com_height_m=heights,
            restart=args.restart,
            limit=args.limit,
            on_outcome=count,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted after {done[0]} sessions; the finished ones are kept in {args.out}.parts: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    where = f"scheduler {args.scheduler}" if args.scheduler else "local cluster"
    print(
        f"batch: {result.sessions} sessions ({result.analysed} analysed now, {result.resumed} finished before), "
        f"{result.workers} workers ({where}), {result.wall_s:.1f} s"
    )
    if not result.complete:
        print(f"partial: {result.pending} sessions left; run the same command again for them (nothing joined yet)")
        return 0
    print(f"results: {result.out} ({len(result.table)} rows)")
    if len(result.failures):
        print(f"not analysed: {len(result.failures)} (table: {result.failures_path})")
        for row in result.failures.to_dict("records"):
            input_, trial, session, subject = (str(row[k]) for k in ("input", "trial", "session", "subject_id"))
            what = trial or (f"session {session}" if session else "")
            who = f" ({subject})" if subject else ""
            print(f"  {input_}{': ' + what if what else ''}{who}: {row['status']}: {row['reason']}")
    return 1 if (result.failures["status"] == "error").any() else 0
