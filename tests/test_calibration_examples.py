"""The committed example files are valid and are exactly what calibration/make_figures.py produces."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from dmi_sensors.calibration import CalibrationSet

ROOT = Path(__file__).resolve().parents[1] / "calibration"


def test_examples_load_as_a_library():
    s = CalibrationSet.load(ROOT / "examples")
    sc = s.for_sensor("SIM-0001")
    assert sc.accel and sc.gyro and sc.alignment
    assert sc.accel.residual_mps2 < 0.03 and sc.accel.condition_number < 2


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))
    return a == b


def test_script_regenerates_the_committed_examples_and_figures(tmp_path):
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for committed in sorted((ROOT / "examples").glob("*.json")):
        fresh = json.loads((tmp_path / "examples" / committed.name).read_text())
        fresh["dmi_sensors_version"] = json.loads(committed.read_text())["dmi_sensors_version"]
        assert _close(json.loads(committed.read_text()), fresh), committed.name
    for png in (ROOT / "figures").glob("*.png"):
        assert (tmp_path / "figures" / png.name).stat().st_size > 5000
