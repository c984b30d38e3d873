"""Issue 16, finding 7: every loader meets hostile files with the toolkit's own errors.

Each loader (trial CSV, events CSV, calibration JSON, plan TOML, and ``sessions import`` of
a CSV export, a Parquet export, a BIDS-Motion dataset and a trial CSV) is fed 2,000 seeded
mutations of a valid file: bytes flipped, cut, deleted, repeated, hostile tokens inserted
(NaN, 1e308, -1e308, empty fields, NUL, invalid UTF-8, huge numbers, quotes, separators),
fields replaced, lines swapped, JSON values swapped for other types. A loader may accept an
input or refuse it, but only with a :class:`~dmi_sensors.errors.DmiSensorsError` whose
message names the file (or the dataset folder) it was reading: never a raw ``TypeError``,
``KeyError``, ``UnicodeDecodeError``, ``sqlite3.Error``... The seed is fixed, so a failure
is reproducible; the first failing inputs are shown.
"""

from __future__ import annotations

import json
import random
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dmi_sensors
from dmi_sensors.calibration import AccelCalibration, GyroCalibration, read_calibration, write_calibration
from dmi_sensors.errors import DataFileError, DmiSensorsError
from dmi_sensors.session import Plan, Subject, example_plan
from dmi_sensors.session.events import read_events_csv
from dmi_sensors.sim import Segment, simulate
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path

N_INPUTS = 2000
SEED = 16

TOKENS = [
    b"NaN", b"nan", b"inf", b"-inf", b"Infinity", b"1e308", b"-1e308", b"1e999", b"-0", b"", b"\x00",
    b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b",", b";", b"\t", b"\n", b"\r\n", b'"', b"'", b"\\",
    b"null", b"true", b"[]", b"{}", b"[1, 2]", b'{"a": 1}', b"9" * 40, b"-9" * 20, b"0x10", b"1_000",
    "é".encode(), "∞".encode(), b"n/a", b"NA", b"#", b"=", b"[[x]]", b"2026-13-45T99:99:99Z", b" " * 50,
]  # fmt: skip


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    op = rng.randrange(8)
    n = len(data)
    i = rng.randrange(n + 1)
    if op == 0 and n:  # flip a byte
        j = rng.randrange(n)
        return data[:j] + bytes([rng.randrange(256)]) + data[j + 1 :]
    if op == 1:  # cut the file
        return data[:i]
    if op == 2 and n:  # delete a span
        return data[:i] + data[min(n, i + rng.randrange(1, 40)) :]
    if op == 3 and n:  # repeat a span
        j = min(n, i + rng.randrange(1, 60))
        return data[:j] + data[i:j] + data[j:]
    if op == 4:  # insert a hostile token
        return data[:i] + rng.choice(TOKENS) + data[i:]
    if op == 5:  # replace a field (between separators) with a token
        seps = [k for k, b in enumerate(data) if b in b',\t\n:="']
        if len(seps) >= 2:
            k = rng.randrange(len(seps) - 1)
            return data[: seps[k] + 1] + rng.choice(TOKENS) + data[seps[k + 1] :]
    if op == 6:  # swap two lines
        lines = data.split(b"\n")
        if len(lines) > 2:
            a, b = rng.sample(range(len(lines)), 2)
            lines[a], lines[b] = lines[b], lines[a]
            return b"\n".join(lines)
    if op == 7 and n:  # a run of random bytes
        return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))) + data[i:]
    return data + rng.choice(TOKENS)


_VALUES = [None, True, False, 0, -1, 1e308, -1e308, 2**70, "", "x", "NaN", [], [None], {}, {"a": None}, [1, 2], 3.5]


def _mutate_json(rng: random.Random, data: bytes) -> bytes:
    """Replace, delete or add one value somewhere in a JSON document (structure-aware)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return _mutate_bytes(rng, data)
    containers = []

    def walk(node: object) -> None:
        if isinstance(node, dict | list):
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(doc)
    node = rng.choice(containers)
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    value = rng.choice(_VALUES)
    if not keys or rng.random() < 0.1:
        doc = value  # the whole document becomes something else
    elif rng.random() < 0.2:
        del node[rng.choice(keys)]  # type: ignore[index]
    else:
        node[rng.choice(keys)] = value  # type: ignore[index]
    return json.dumps(doc).encode()


def _mutation(rng: random.Random, name: str, data: bytes) -> bytes:
    json_like = name.endswith(".json") and rng.random() < 0.6
    out = _mutate_json(rng, data) if json_like else _mutate_bytes(rng, data)
    while rng.random() < 0.35:  # sometimes several
        out = _mutate_bytes(rng, out)
    return out


def _fuzz(
    files: dict[Path, bytes], load: Callable[[], object], names: tuple[str, ...], targets: list[Path] | None = None
) -> dict[str, int]:
    """Mutate one of ``targets`` (default: every file) per input, restore the others, run ``load``."""
    rng = random.Random(SEED)
    targets = targets or list(files)
    failures: list[str] = []
    outcome = {"accepted": 0, "refused": 0}
    for path, data in files.items():
        path.write_bytes(data)
    previous: Path | None = None
    for k in range(N_INPUTS):
        target = rng.choice(targets)
        if previous is not None:  # only the file mutated last time needs restoring
            previous.write_bytes(files[previous])
        previous = target
        mutated = _mutation(rng, target.name, files[target])
        target.write_bytes(mutated)
        try:
            load()
            outcome["accepted"] += 1
        except DmiSensorsError as exc:
            outcome["refused"] += 1
            if not any(name in str(exc) for name in names):
                failures.append(f"#{k} {target.name}: {type(exc).__name__} without the file's name: {exc}")
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            failures.append(f"#{k} {target.name}: {type(exc).__name__} at {where}: {exc} <- {mutated[:160]!r}")
    assert not failures, f"{len(failures)} of {N_INPUTS} inputs:\n" + "\n".join(failures[:8])
    assert outcome["refused"] > N_INPUTS // 4  # the mutations do hit
    return outcome


#: a loader meets hostile bytes with a toolkit error, never with numpy's overflow or cast warnings
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# --------------------------------------------------------------------------- files
def _trial(tmp_path: Path) -> Path:
    sim = simulate([Segment("standing", 0.12)], fs_hz=100.0, seed=1, com_height_m=0.5)
    path = tmp_path / "trial.csv"
    dmi_sensors.write_trial_csv(sim.to_trial(), path)
    return path


EVENTS = (
    b"onset_s,duration_s,exercise,repetition,support,source,kind,posture,note\n"
    b"0.0,2.0,sit_table_trunk,1,trunk,manual,exercise,sitting,\n"
    b"2.5,1.0,sit_table_trunk,2,hips,plan,repetition,,a note\n"
)


def test_trial_csv_loader(tmp_path):
    path = _trial(tmp_path)
    _fuzz({path: path.read_bytes()}, lambda: dmi_sensors.read_trial_csv(path), (path.name,))


def test_events_loader(tmp_path):
    path = tmp_path / "events.csv"
    _fuzz({path: EVENTS}, lambda: read_events_csv(path), (path.name,))


def test_calibration_loader(tmp_path):
    files = {}
    for cal in (
        GyroCalibration("S1", bias_rps=[0.01, -0.02, 0.003], bias_stderr_rps=[1e-4, 1e-4, 1e-4]),
        AccelCalibration("S1", bias_mps2=[0.1, -0.2, 0.05], matrix=np.diag([1.01, 0.99, 1.0])),
    ):
        path = write_calibration(cal, tmp_path / f"{cal.kind}.json")
        files[path] = path.read_bytes()
    for path in files:  # each kind on its own: the reader is what is fuzzed
        _fuzz({path: files[path]}, lambda p=path: read_calibration(p), (path.name,))


def test_plan_loader(tmp_path):
    path = tmp_path / "plan.toml"
    _fuzz({path: example_plan().to_toml().encode()}, lambda: Plan.read(path), (path.name,))


def _exported(tmp_path: Path, fmt: str) -> tuple[SessionStore, Path]:
    from dmi_sensors.sim.recorder import packet_schedule

    store = SessionStore(tmp_path / "s.sqlite")
    store._conn.execute("PRAGMA synchronous = OFF")  # the fuzz's own store: speed, not durability
    sid = store.create_session(Subject("P016", 2019, 0.42), example_plan(), {"00D10001": "trunk"}, therapist_id="T1")
    store.add_packets(sid, packet_schedule(1, 100, 0.15, 5, seed=1))
    store.add_events(sid, read_events_csv_bytes(tmp_path))
    store.save_results(sid, {"com_rms_mm": 1.5}, {"window_s": 2.0}, pd.DataFrame({"start_s": [0.0], "end_s": [2.0]}))
    export_session(store, sid, tmp_path / fmt, fmt)
    return store, tmp_path / fmt


def read_events_csv_bytes(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "seed-events.csv"
    path.write_bytes(EVENTS)
    return read_events_csv(path, normalise=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "bids"])
def test_session_import_loader(tmp_path, fmt):
    store, root = _exported(tmp_path, fmt)
    files = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    names = (root.name, *(p.name for p in files))
    outcome = _fuzz(files, lambda: import_path(store, root), names)
    assert store.integrity_check() == ["ok"]  # refused imports stored nothing, accepted ones stored whole
    n_sessions = len(store.session_ids())
    assert n_sessions == 1 + outcome["accepted"]


@pytest.mark.parametrize("cell", ["1e300", "12.5", "-1e30"])
def test_a_counter_that_is_no_sample_count_is_refused_on_import(tmp_path, cell):
    # once cast to int64 unchecked (a numpy warning and a garbage counter)
    store, root = _exported(tmp_path, "csv")
    (samples,) = root.rglob("*samples*.csv")
    lines = samples.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("counter")
    row = lines[3].split(",")
    row[col] = cell
    lines[3] = ",".join(row)
    samples.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy cast warning on the way to the error
        with pytest.raises(DataFileError, match=r"line 4, column 'counter': expected a whole sample count"):
            import_path(store, root)
    assert len(store.session_ids()) == 1  # nothing stored


def test_trial_csv_import_loader(tmp_path):
    path = _trial(tmp_path)
    store = SessionStore(tmp_path / "s.sqlite")
    store._conn.execute("PRAGMA synchronous = OFF")
    subject = Subject("P016", 2019, 0.42)
    _fuzz({path: path.read_bytes()}, lambda: import_path(store, path, subject=subject), (path.name,))


# --------------------------------------------------------------------------- calibration plausibility
@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("accel", "bias_mps2", [50.0, 0.0, 0.0]),
        ("accel", "bias_mps2", [-1e308, 0.0, 0.0]),
        ("accel", "matrix", [[0.4, 0, 0], [0, 1, 0], [0, 0, 1]]),  # sensitivity 2.5: not a MEMS axis
        ("accel", "gravity_mps2", 3.7),
        ("gyro", "bias_rps", [0.0, 2.0, 0.0]),
    ],
)
def test_implausible_calibrations_are_refused_when_read(tmp_path, kind, key, value):
    cal = GyroCalibration("S1") if kind == "gyro" else AccelCalibration("S1")
    path = write_calibration(cal, tmp_path / f"{kind}.json")
    data = json.loads(path.read_text())
    data[key] = value
    data.pop("scale", None)
    path.write_text(json.dumps(data))
    with pytest.raises(DataFileError, match=rf"{kind}\.json: key '{key}': expected a physically plausible value"):
        read_calibration(path)
    # the record command refuses the folder before recording, naming the file
    from dmi_sensors import cli

    assert cli.main(["record", "--simulate-sensors", "1", "--calibration-dir", str(tmp_path), "--no-store"]) == 1


def test_a_stored_implausible_calibration_names_the_database(tmp_path):
    """Content stored by an older version is checked when read back, naming where it is."""
    from dmi_sensors.analysis import load_calibration

    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create_session(Subject("P016", 2019, 0.42), sensors={"S1": "trunk"})
    content = AccelCalibration("S1").to_dict()
    content["bias_mps2"] = [50.0, 0.0, 0.0]
    store.add_session_calibration(sid, "S1", "accel", "inline:accel", content)
    with pytest.raises(DataFileError, match=r"s\.sqlite.*calibration 1 of sensor 'S1'.*bias_mps2.*plausible"):
        load_calibration(store, sid, "S1")


def test_fuzz_inputs_are_reproducible():
    rng1, rng2 = random.Random(SEED), random.Random(SEED)
    data = EVENTS
    assert [_mutation(rng1, "e.csv", data) for _ in range(50)] == [_mutation(rng2, "e.csv", data) for _ in range(50)]
    assert len({_mutation(rng1, "e.csv", data) for _ in range(300)}) > 250  # and varied


def test_the_files_of_finding_7_each_get_one_clear_error(tmp_path):
    """The inputs issue 16 reported: ``results: [null]`` in session.json, a trial CSV with
    non-UTF-8 bytes."""
    store, root = _exported(tmp_path, "csv")
    meta = json.loads((root / "session.json").read_text())
    meta["results"] = [None]
    (root / "session.json").write_text(json.dumps(meta))
    with pytest.raises(DataFileError, match=r"session\.json: key 'results\[0\]': expected an object, found None"):
        import_path(store, root)
    trial = _trial(tmp_path)
    trial.write_bytes(trial.read_bytes().replace(b"\n0.01", b"\n\xff\xfe0.01", 1))
    with pytest.raises(DataFileError, match=r"trial\.csv"):
        dmi_sensors.read_trial_csv(trial)


def test_hostile_files_through_the_cli_are_one_line_each(tmp_path, capsys):
    """The commands that read files answer a hostile one with exit status 1 and one line
    naming the file: ``sessions import`` (an export whose session.json lists ``results:
    [null]``), ``analyse`` (a trial CSV with invalid UTF-8), ``plan check`` (a broken TOML),
    ``record --calibration-dir`` (an accelerometer bias of 50 m/s²)."""
    from dmi_sensors import cli

    store, root = _exported(tmp_path, "csv")
    store.close()
    meta = json.loads((root / "session.json").read_text())
    meta["results"] = [None]
    (root / "session.json").write_text(json.dumps(meta))
    trial = _trial(tmp_path)
    trial.write_bytes(trial.read_bytes().replace(b"\n0.01", b"\n\xff\xfe0.01", 1))
    plan = tmp_path / "plan.toml"
    plan.write_bytes(example_plan().to_toml().encode()[:-40] + b"\x00 = [")
    cal_dir = tmp_path / "cals"
    cal_dir.mkdir()
    accel = write_calibration(AccelCalibration("S1"), cal_dir / "accel.json")
    data = json.loads(accel.read_text())
    data["bias_mps2"] = [50.0, 0.0, 0.0]
    data.pop("scale")
    accel.write_text(json.dumps(data))
    cases = [
        (["sessions", "import", str(root), "--db", str(tmp_path / "s.sqlite")], "session.json"),
        (["analyse", str(trial), "--com-height-m", "0.5"], "trial.csv"),
        (["plan", "check", str(plan)], "plan.toml"),
        (["record", "--simulate-sensors", "1", "--no-store", "--calibration-dir", str(cal_dir)], "accel.json"),
    ]
    for args, name in cases:
        assert cli.main(args) == 1, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and name in err[0] and "error:" in err[0], (args, err)
