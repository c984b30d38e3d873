"""``dmi-sensors sessions list|show`` and ``dmi-sensors export`` on a real database."""

from __future__ import annotations

import json

import pytest
from store_helpers import example_events, synthetic_batch, synthetic_packets

from dmi_sensors.cli import main
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export.ingest import ingest_session


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cli.sqlite"
    with SessionStore(path) as store:
        sid = store.create_session(Subject("P001", 2019, 0.42), None, {"A": "trunk"}, "T1", "2026-01-02T03:04:05Z")
        store.add_packets(sid, synthetic_packets("A", 30, period_s=0.1))
        store.add_events(sid, example_events())
        ingest_session(
            store,
            subject=Subject("P002", 2020, 0.38),
            start_utc="2026-01-03T03:04:05Z",
            batches={"B": synthetic_batch("B", 100, 100.0, 0)},
            placements={"B": "pelvis"},
        )
    return path


def test_sessions_list_json(db, capsys):
    assert main(["sessions", "list", "--json", "--db", str(db)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["session_id"], r["subject_id"], r["status"], r["packets"]) for r in rows] == [
        (1, "P001", "incomplete", 30),
        (2, "P002", "finalised", 0),
    ]
    assert rows[0]["events"] == 3 and rows[0]["duration_s"] == pytest.approx(2.9)


def test_sessions_list_and_show_text(db, capsys):
    assert main(["sessions", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[1].split()[:4] == ["1", "P001", "2026-01-02T03:04:05.000000Z", "incomplete"]
    assert main(["sessions", "show", "1", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "P001" in text and "30 packets" in text and "incomplete" in text
    assert main(["sessions", "show", "2", "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["sensors"][0]["samples"] == 100


def test_unknown_session_and_missing_db(db, tmp_path, capsys):
    assert main(["sessions", "show", "9", "--db", str(db)]) == 1
    assert "no session 9" in capsys.readouterr().err
    missing = tmp_path / "none.sqlite"
    assert main(["sessions", "list", "--db", str(missing)]) == 0
    assert "does not exist" in capsys.readouterr().out
    assert main(["export", "1", "--out", str(tmp_path / "o"), "--db", str(missing)]) == 1
    assert "expected an existing dmi-sensors session database" in capsys.readouterr().err
    assert not missing.exists()


def test_db_from_environment(db, monkeypatch, capsys):
    monkeypatch.setenv("DMI_SENSORS_DB", str(db))
    assert main(["sessions", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet", "bids"])
def test_export_command(db, tmp_path, capsys, fmt):
    out = tmp_path / fmt
    assert main(["export", "2", "--format", fmt, "--out", str(out), "--db", str(db)]) == 0
    assert f"session 2 -> {out} ({fmt}" in capsys.readouterr().out
    assert any(out.rglob("*"))
    assert main(["export", "2", "--format", fmt, "--out", str(out), "--db", str(db)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_sessions_import_round_trip(db, tmp_path, capsys):
    out = tmp_path / "bids"
    assert main(["export", "2", "--format", "bids", "--out", str(out), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["sessions", "import", str(out), "--db", str(db)]) == 0
    assert "as session 3" in capsys.readouterr().out
    trial = tmp_path / "t.csv"
    trial.write_text(
        "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rps,gyr_y_rps,gyr_z_rps\n0,0,0,9.8,0,0,0\n0.01,0,0,9.8,0,0,0\n"
    )
    assert main(["sessions", "import", str(trial), "--db", str(db)]) == 1
    assert "--subject-id: expected the pseudonymous code" in capsys.readouterr().err
    args = ["--subject-id", "P9", "--birth-year", "2018", "--com-height-m", "0.5"]
    assert main(["sessions", "import", str(trial), *args, "--db", str(db)]) == 0
    assert "as session 4" in capsys.readouterr().out
    assert main(["sessions", "show", "4", "--json", "--db", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subject_id"] == "P9" and shown["sensors"][0]["samples"] == 2
