"""``dmi-sensors plan``: catalogue, example and check, through the real CLI entry point."""

from __future__ import annotations

import json

from dmi_sensors import cli
from dmi_sensors.session import CATALOGUE, Plan, example_plan


def test_catalogue_json(capsys):
    assert cli.main(["plan", "catalogue", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["exercise_id"] for d in data] == list(CATALOGUE)


def test_example_then_check(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    assert cli.main(["plan", "example", "--out", str(out)]) == 0
    assert Plan.read(out) == example_plan()
    assert cli.main(["plan", "example", "--out", str(out)]) == 1  # never overwrites
    assert "not overwritten" in capsys.readouterr().err
    assert cli.main(["plan", "check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 exercises" in text and "stand_box_knees" in text
    assert cli.main(["plan", "check", str(out), "--json"]) == 0
    assert Plan.from_dict(json.loads(capsys.readouterr().out)) == example_plan()


def test_check_bad_file_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "p"\n[[exercises]]\ncatalogue = "sit_box_hips"\nsupport = "elbow"\n', encoding="utf-8")
    assert cli.main(["plan", "check", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "bad.toml" in err and "exercises[0].support" in err and "elbow" in err
