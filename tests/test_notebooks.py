"""The notebooks execute without error (nbclient, a kernel from this interpreter), are committed
clean, and write only to the folder the test gives them (``DMI_SENSORS_NOTEBOOK_DIR``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: Layers each notebook needs (skipped while a layer has not landed).
NEEDS = {
    "01_quickstart.ipynb": ("dmi_sensors.metrics", "dmi_sensors.dsp"),
    "02_research_batch.ipynb": ("dmi_sensors.metrics", "dmi_sensors.dsp", "distributed"),
    "03_live_streaming.ipynb": ("dmi_sensors.dsp", "dmi_sensors.store", "dmi_sensors.session", "dmi_sensors.metrics"),
    "04_two_sensor_com_and_mdc.ipynb": ("dmi_sensors.metrics", "dmi_sensors.dsp"),
}

#: Files each notebook writes (into ``DMI_SENSORS_NOTEBOOK_DIR``; nothing anywhere else).
WRITES = {
    "01_quickstart.ipynb": {"quickstart_trial.csv"},
    "02_research_batch.ipynb": {"cohort.sqlite", "cohort.parquet"},
    "03_live_streaming.ipynb": set(),  # the stored session for the replay, only without BLE
    "04_two_sensor_com_and_mdc.ipynb": set(),
}


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} == set(NEEDS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: a code cell has an execution count"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernel spec for *this* interpreter (works from a clean clone: no user kernel spec needed)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "dmi-sensors-test"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dmi-sensors test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    src = str(Path(__file__).resolve().parents[1] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "dmi-sensors-test"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, kernel_env, tmp_path, monkeypatch):
    for module in NEEDS[path.name]:
        pytest.importorskip(module, reason=f"{path.name} needs {module}")
    import nbformat
    from nbclient import NotebookClient

    out_dir, cwd = tmp_path / "out", tmp_path / "cwd"
    out_dir.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("DMI_SENSORS_NOTEBOOK_DIR", str(out_dir))
    before = _listing(NOTEBOOKS[0].parent)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_env, timeout=240, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    assert _listing(NOTEBOOKS[0].parent) == before, "the notebook wrote into notebooks/"
    assert list(cwd.iterdir()) == [], "the notebook wrote into its working directory"
    assert {p.name for p in out_dir.iterdir()} >= WRITES[path.name]


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}
