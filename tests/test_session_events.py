"""THE events validator and THE events-CSV reader: one rule set, every bad row reported with its place.

Every caller goes through :mod:`dmi_sensors.session.events`: the API (``EventRecord``,
``normalise_events``), ``analyse --events`` and the store's CSV / Parquet / BIDS imports; the
tests here drive each of them with the same bad rows and expect the same verdicts.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import example_events, synthetic_batch

from dmi_sensors import contract
from dmi_sensors.cli import main
from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.session import CATALOGUE, SUPPORT_POINTS, EventRecord, Subject, vocab
from dmi_sensors.session.events import check_events, normalise_events, read_events_csv
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.export.ingest import ingest_session

HEADER = "onset_s,duration_s,exercise,repetition,support,source,kind,note"

# line numbers as the file shows them: header = 1; a blank line (4) and a quoted note
# spanning two physical lines (6-7) are there to prove they are counted as a text editor does
BAD_CSV = (
    f"{HEADER}\n"  # 1
    "0,30,sit_box_hips,,hips,manual,exercise,\n"  # 2  good
    "0,10,sit_box_hips,1,hips,manual,repetition,\n"  # 3  good
    "\n"  # 4  blank: skipped
    "1,5\n"  # 5  short row
    '10,10,sit_box_hips,2,hips,manual,repetition,"two\nlines"\n'  # 6-7  good (multi-line note)
    "20,5,sit_box_hips,one,elbows,manual,repetition,\n"  # 8  repetition=one, support=elbows
    "-1,2,Sit Box,1,hips,robot,,\n"  # 9  negative onset, not an id, unknown source
    "3,nan,,1.5,,manual,,\n"  # 10 duration nan, repetition 1.5
    "4,1,sit_box_hips,0,hips,manual,repetition,\n"  # 11 a repetition row needs a number >= 1
    "5,1,sit_box_hips,,hips,manual,stretching,\n"  # 12 unknown kind
)
BAD_PLACES = {
    "line 5": [""],
    "line 8": ["repetition", "support"],
    "line 9": ["onset_s", "exercise", "source"],
    "line 10": ["duration_s", "repetition"],
    "line 11": ["repetition"],
    "line 12": ["kind"],
}


def _problems(message: str) -> dict[str, list[str]]:
    """place -> columns named in a one-line validator message."""
    out: dict[str, list[str]] = {}
    for part in message.split("; "):
        head = part.split(": expected", 1)[0]
        place = head.split(": ")[-1]  # strip "path: N problems: "
        line, _, column = place.partition(", column ")
        out.setdefault(line, []).append(column.strip("'"))
    return out


def test_csv_reader_reports_every_bad_row_with_its_line_as_the_file_shows_it(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    with pytest.raises(DataFileError) as exc:
        read_events_csv(path)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{path}: 10 problems: line 5")
    assert _problems(message) == BAD_PLACES
    # what was expected and what was found, for the findings of issue 15 item 9
    assert "line 5: expected 8 comma-separated fields as in the header, found 2 ('1,5')" in message
    assert "line 8, column 'repetition': expected a whole number >= 1, or empty or 0" in message
    assert "found 'one'" in message and "found 'elbows'" in message
    assert "line 8, column 'support': expected one of " + ", ".join(SUPPORT_POINTS) in message
    assert "line 9, column 'onset_s': expected a finite number >= 0" in message
    assert "line 9, column 'source': expected one of " + ", ".join(contract.EVENT_SOURCES) in message
    assert "line 11, column 'repetition': expected a whole number >= 1 in a row of kind 'repetition'" in message


def test_the_same_rows_in_memory_are_named_by_their_index_label():
    rows = [
        {"onset_s": 0.0, "duration_s": 30.0, "exercise": "sit_box_hips", "repetition": None},
        {"onset_s": 20.0, "duration_s": 5.0, "exercise": "sit_box_hips", "repetition": "one", "support": "elbows"},
        {"onset_s": -1.0, "duration_s": 2.0, "exercise": "Sit Box", "repetition": 1, "source": "robot"},
    ]
    frame = pd.DataFrame(rows, index=[10, 11, 12]).fillna({"support": "hips", "source": "manual"})
    with pytest.raises(ParameterError) as exc:
        normalise_events(frame)
    assert _problems(str(exc.value)) == {
        "row 11": ["repetition", "support"],
        "row 12": ["onset_s", "exercise", "source"],
    }
    # check_events is the same validator (normalise_events only shapes the result)
    with pytest.raises(ParameterError) as exc2:
        check_events(frame)
    assert str(exc2.value) == str(exc.value)


def test_header_problems_are_named_once(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("onset_s,duration_s,exercise\n1,2,a\n")
    with pytest.raises(DataFileError, match=r"missing\.csv: line 1 \(header\): expected columns onset_s,.*'support'"):
        read_events_csv(missing)
    twice = tmp_path / "twice.csv"
    twice.write_text("onset_s,duration_s,exercise,repetition,support,source,source\n")
    with pytest.raises(DataFileError, match=r"line 1 \(header\): expected each column once, found repeated source"):
        read_events_csv(twice)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(DataFileError, match=r"empty\.csv: line 1: expected a header line"):
        read_events_csv(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + b"\n1,2,caf\xe9,,,manual,,\n")
    with pytest.raises(DataFileError, match=r"byte \d+: expected UTF-8 text"):
        read_events_csv(latin)
    with pytest.raises(DataFileError, match="no such file"):
        read_events_csv(tmp_path / "nope.csv")
    with pytest.raises(ParameterError, match=r"events table: header: expected columns .*no column 'source'"):
        normalise_events(pd.DataFrame({"onset_s": [1.0], "duration_s": [1.0], "exercise": ["a"], "repetition": [1],
                                       "support": ["hips"]}))  # fmt: skip


def test_a_good_file_reads_normalised_or_as_given(tmp_path):
    path = tmp_path / "ev.csv"
    path.write_text(
        f"{HEADER},posture\n"
        '5,10,stand_box_knees,, knees ,plan,,"  keep my spaces",supported_standing\n'
        "5,4,stand_box_knees,1,knees,manual,,,\n"
        "1,0,,,,auto,note,hello,\n"
        ",,,,,,,,\n"  # a row of empty cells, as spreadsheets write: skipped
    )
    ev = read_events_csv(path)
    assert list(ev.columns) == list((*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS))
    assert ev.onset_s.tolist() == [1.0, 5.0, 5.0] and ev.repetition.tolist() == [0, 0, 1]
    assert ev.kind.tolist() == ["note", "exercise", "repetition"]  # inferred where empty
    assert ev.support.tolist() == ["", "knees", "knees"] and ev.posture.tolist() == ["", "standing", ""]
    assert ev.note.tolist() == ["hello", "  keep my spaces", ""]
    given_ = read_events_csv(path, normalise=False)  # what a store keeps: file order, empty cells stay empty
    assert given_.onset_s.tolist() == [5.0, 5.0, 1.0]
    assert given_.repetition.isna().tolist() == [True, False, True] and given_.repetition.iloc[1] == 1
    assert pd.isna(given_.kind.iloc[0]) and given_.support.iloc[0] == "knees"


def test_catalogue_ids_and_free_ids_are_exercises():
    base = {"onset_s": 0.0, "duration_s": 1.0, "repetition": 0, "support": "", "source": "manual"}
    ok = [*CATALOGUE, "my_exercise_2", "x"]
    assert normalise_events(pd.DataFrame([{**base, "exercise": e} for e in ok])).exercise.tolist() == ok
    for bad in ("Sit", "sit-box", "_sit", "a" * 65, "sit box"):
        with pytest.raises(ParameterError, match="column 'exercise'"):
            normalise_events(pd.DataFrame([{**base, "exercise": bad}]))


_CELLS = {
    "onset_s": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["1.5", "x", "", None])),
    "duration_s": st.one_of(st.floats(-5, 1e4), st.just(float("nan"))),
    "exercise": st.sampled_from(["", "sit_box_hips", "free_id", "Bad Id", None]),
    "repetition": st.one_of(st.integers(-2, 6), st.sampled_from([1.0, 2.5, "one", "", None])),
    "support": st.sampled_from(["", "hips", "none", "elbows", None]),
    "source": st.sampled_from(["manual", "auto", "truth", "robot", ""]),
    "kind": st.sampled_from(["exercise", "repetition", "note", "hold", "stretch"]),
    "posture": st.sampled_from(["", "upright", "supported_standing", "flying"]),
}


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries(_CELLS))
def test_a_record_and_a_one_row_table_obey_the_same_rules(cells):
    """Property: EventRecord accepts exactly the rows the table validator accepts."""
    try:
        normalise_events(pd.DataFrame([cells]))
        table_ok = True
    except ParameterError:
        table_ok = False
    try:
        rec = EventRecord(**cells)  # type: ignore[arg-type]  # deliberately any cell
        record_ok = True
    except ParameterError:
        record_ok = False
    assert record_ok == table_ok, cells
    if record_ok:  # stored as the table stores it
        row = normalise_events(pd.DataFrame([cells])).iloc[0]
        assert rec.to_dict() == {c: row[c] for c in rec.to_dict()}
        assert isinstance(rec.onset_s, float) and isinstance(rec.repetition, int)
        assert rec.posture in vocab.POSTURES or rec.posture == ""


# --- every caller uses it ---------------------------------------------------------------------


def _trial_csv(tmp_path, duration_s=20.0, fs=100.0):
    from dmi_sensors.store.trial_csv import write_trial_csv
    from dmi_sensors.types import Trial

    n = int(duration_s * fs)
    t = np.arange(n) / fs
    rng = np.random.default_rng(0)
    acc = np.column_stack([0.05 * np.sin(2 * np.pi * 0.4 * t), 0.03 * np.sin(2 * np.pi * 0.3 * t), np.full(n, 9.81)])
    acc += 0.01 * rng.standard_normal((n, 3))
    gyr = 0.01 * rng.standard_normal((n, 3))
    return write_trial_csv(Trial(t, acc, gyr, fs, "S1"), tmp_path / "trial.csv")


def test_analyse_cli_names_every_bad_events_line_in_one_line(tmp_path, capsys):
    trial = _trial_csv(tmp_path)
    events = tmp_path / "events.csv"
    events.write_text(BAD_CSV)
    assert main(["analyse", str(trial), "--com-height-m", "0.5", "--events", str(events)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(events) in err[0]
    assert _problems(err[0].split(": ", 1)[1]) == BAD_PLACES


def test_events_past_the_end_of_a_trial_are_reported_not_dropped(tmp_path, capsys):
    trial = _trial_csv(tmp_path, duration_s=20.0)
    events = tmp_path / "events.csv"
    events.write_text(
        f"{HEADER}\n"
        "0,10,sit_box_hips,,hips,manual,exercise,\n"  # inside
        "15,10,stand_box_knees,,knees,manual,exercise,\n"  # clipped: 15-20 analysed
        "30,5,stand_box_knees,2,knees,manual,repetition,\n"  # after the end
        "40,0.2,,,,manual,perturbation,\n"  # a push after the end
    )
    out = tmp_path / "res.json"
    assert main(["analyse", str(trial), "--com-height-m", "0.5", "--events", str(events), "--json", str(out)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 3, err
    assert "exercise event 'stand_box_knees' at 15.000-25.000 s: analysed only inside the signal (0.000-20.000 s)" in (
        err[0] + err[1] + err[2]
    )
    assert any("repetition event 'stand_box_knees' repetition 2 at 30.000-35.000 s: after the end" in e for e in err)
    assert any("perturbation at 40.000 s lies outside the trial" in e for e in err)
    data = json.loads(out.read_text())
    assert [f"warning: {w}" for w in data["warnings"]] == err
    segments = [w for w in data["windows"] if w["kind"] == "segment"]
    assert [(w["tags"]["exercise"], w["start_s"], w["end_s"]) for w in segments] == [
        ("sit_box_hips", 0.0, pytest.approx(10.0)),
        ("stand_box_knees", pytest.approx(15.0), pytest.approx(20.0)),
    ]


SUBJECT = Subject("P001", 2019, 0.42)


@pytest.fixture
def exported(tmp_path):
    store = SessionStore(tmp_path / "s.sqlite")
    sid = ingest_session(
        store,
        subject=SUBJECT,
        start_utc="2026-01-02T03:04:05Z",
        batches={"A": synthetic_batch("A", 200, 100.0, 0)},
        placements={"A": "trunk"},
        events=example_events(),
    )
    for fmt in ("csv", "parquet", "bids"):
        export_session(store, sid, tmp_path / fmt, fmt)
    yield store, tmp_path
    store.close()


def test_store_imports_use_the_same_validator(exported):
    """CSV, Parquet and BIDS imports refuse the same bad cells, naming every bad row, and store nothing."""
    store, tmp = exported
    n_sessions = len(store.sessions())
    csv_path = tmp / "csv" / "events.csv"
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    frame.loc[0, "support"] = "elbows"
    frame.loc[2, "repetition"] = "one"
    frame.to_csv(csv_path, index=False)
    with pytest.raises(DataFileError) as exc:
        import_path(store, tmp / "csv")
    assert _problems(str(exc.value).split(": ", 1)[1]) == {"line 2": ["support"], "line 4": ["repetition"]}

    pq_path = tmp / "parquet" / "events.parquet"
    table = pd.read_parquet(pq_path)
    table.loc[1, "support"] = "elbows"
    table.loc[2, "onset_s"] = -3.0
    table.to_parquet(pq_path, index=False)
    with pytest.raises(DataFileError) as exc:
        import_path(store, tmp / "parquet")
    assert str(exc.value).startswith(str(pq_path))
    assert _problems(str(exc.value).split(": ", 1)[1]) == {"row 1": ["support"], "row 2": ["onset_s"]}

    tsv = next((tmp / "bids").rglob("*_events.tsv"))
    lines = tsv.read_text().splitlines()
    head = lines[0].split("\t")
    cells = lines[1].split("\t")
    cells[head.index("support")] = "elbows"
    lines[1] = "\t".join(cells)
    tsv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=r"_events\.tsv: line 2, column 'support': expected one of"):
        import_path(store, tmp / "bids")
    assert len(store.sessions()) == n_sessions
