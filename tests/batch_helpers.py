"""Small simulated cohorts for the batch tests: a session database, a trial folder, a BIDS dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from dmi_sensors import contract
from dmi_sensors.session import CATALOGUE, Plan
from dmi_sensors.sim import Perturbation, Segment, simulate
from dmi_sensors.sim.cohort import record_cohort, simulated_children
from dmi_sensors.sim.session import default_sensors
from dmi_sensors.store import SessionStore
from dmi_sensors.store.trial_csv import write_trial_csv

GROUP_SWAY = {"typical_development": 1.0, "cerebral_palsy": 1.6}


def short_plan(exercises=("sit_table_trunk", "stand_box_hips"), repetitions: int = 2, hold_s: float = 6.0) -> Plan:
    """A plan of a few short exercises (about 15 s each)."""
    return Plan(
        "short test plan",
        [dataclasses.replace(CATALOGUE[k], target_repetitions=repetitions, hold_s=hold_s) for k in exercises],
    )


def make_database(path: Path, n_children: int = 3, sessions_per_child: int = 1, seed: int = 5, trunk_only=True):
    """A session database of a small simulated cohort; returns the CohortSession list."""
    sensors = default_sensors(0.45)[:1] if trunk_only else None
    with SessionStore(path) as store:
        children = simulated_children(n_children, GROUP_SWAY, seed=seed)
        return record_cohort(
            store, children, short_plan(), sessions_per_child=sessions_per_child, seed=seed, sensors=sensors
        )


def add_session_without_com_height(path: Path) -> int:
    """A session whose subject has no COM height (recorded without --com-height-m): it cannot be analysed."""
    subject = SimpleNamespace(subject_id="C900", birth_year=2021, com_height_m=None, diagnosis_category=None)
    with SessionStore(path) as store:
        sid = store.create_session(subject, None, {"00D31A01": "trunk"}, therapist_id="T1")
        store.finalise(sid)
    return sid


def make_trial_folder(folder: Path, *, list_heights: bool = True) -> pd.DataFrame:
    """Four trials of two subjects and their ``trials.csv`` (returned as written).

    ``t1``/``t2``: A01 quiet standing, repetitions 1 and 2 of ``stand_floor_none``;
    ``t3``: A02 with an events file (two tagged repetitions); ``t4``: A02 with one push.
    ``list_heights=False`` leaves A02's COM height out of the list (give it separately).
    """
    folder.mkdir(parents=True, exist_ok=True)
    specs = [
        ("t1.csv", "A01", 0.50, [Segment("standing", 12.0)], 1),
        ("t2.csv", "A01", 0.50, [Segment("standing", 12.0)], 2),
        ("t3.csv", "A02", 0.45, [Segment("standing", 16.0, repetitions=2, label="stand_floor_none")], 0),
        ("t4.csv", "A02", 0.45, [Segment("standing", 16.0, perturbations=(Perturbation(8.0),))], 1),
    ]
    rows = []
    for k, (name, subject, height, segments, rep) in enumerate(specs):
        sim = simulate(segments, fs_hz=100.0, seed=40 + k, com_height_m=height)
        write_trial_csv(sim.to_trial(), folder / name)
        row = {
            "file": name,
            "subject_id": subject,
            "com_height_m": height if (list_heights or subject == "A01") else "",
            "session": "1",
            "exercise": "stand_floor_none" if name != "t3.csv" else "",
            "repetition": rep,
            "support": "none",
            "events": "",
            "perturbation_at_s": "",
            "group": "typical" if subject == "A01" else "delayed",
        }
        if name == "t3.csv":
            ev = sim.truth.events
            ev = ev[ev[contract.KIND] == "repetition"][[*contract.EVENT_COLUMNS, contract.KIND]]
            ev.assign(source="manual").to_csv(folder / "t3_events.csv", index=False)
            row["events"] = "t3_events.csv"
        if name == "t4.csv":
            row["perturbation_at_s"] = 8.0
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(folder / "trials.csv", index=False)
    return table


def corrupt_trial(path: Path, line: int = 50) -> None:
    """Replace one cell of a trial CSV by text (line numbers as the file shows them)."""
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[1] = "not-a-number"
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def bits(values) -> np.ndarray:
    """float64 values as their 64-bit patterns (NaN compared as NaN's pattern)."""
    return np.asarray(pd.to_numeric(pd.Series(values), errors="raise"), dtype=np.float64).view(np.int64)
