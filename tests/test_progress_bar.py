"""Progress bars (``dmi_sensors.progress_bar``): drawn on a terminal and in Jupyter, never into a
file or a pipe; the long commands (export, import, the analyses of report and progress) draw one.

Terminals are real pseudo-terminals (``pty``) with a window size, as a terminal emulator
gives; Jupyter is a real kernel driven by nbclient.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from batch_helpers import make_database

from dmi_sensors.progress_bar import ENV_VAR, ProgressBar, progress_enabled

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _pty_pair() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    return master, slave


def _read_all(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def run_on_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m dmi_sensors ARGS`` with stdout and stderr on a pseudo-terminal."""
    master, slave = _pty_pair()
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR} | {"PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmi_sensors", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        cwd=cwd, env=env,
    )  # fmt: skip
    os.close(slave)
    text = _read_all(master)
    os.close(master)
    return proc.wait(timeout=300), text


def run_piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR} | {"PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "dmi_sensors", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_bar_is_drawn_on_a_terminal_only(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    text = io.StringIO()
    with ProgressBar(3, "work", "step", file=text) as bar:
        for _ in range(3):
            bar.advance()
    assert not bar.enabled and bar.done == 3 and text.getvalue() == ""
    master, slave = _pty_pair()
    with os.fdopen(slave, "w", closefd=True) as terminal:
        assert progress_enabled(terminal)
        with ProgressBar(None, "work", "step", file=terminal) as bar:
            bar.set_total(3)
            for _ in range(3):
                bar.advance()
            bar.set_note("1 not analysed")
        assert bar.enabled
    drawn = _read_all(master)
    os.close(master)
    assert "work: 100%" in drawn and "3/3" in drawn and "1 not analysed" in drawn
    monkeypatch.setenv(ENV_VAR, "0")
    master, slave = _pty_pair()
    with os.fdopen(slave, "w") as terminal:
        assert not progress_enabled(terminal)
    os.close(master)
    monkeypatch.setenv(ENV_VAR, "1")
    forced = io.StringIO()
    with ProgressBar(2, "logged", file=forced) as bar:
        bar.advance(2)
    assert "logged: 100%" in forced.getvalue()


@pytest.mark.slow
def test_long_commands_draw_a_bar_on_a_terminal_and_none_into_a_pipe(tmp_path):
    make_database(tmp_path / "s.sqlite", n_children=1, sessions_per_child=2)
    db = ["--db", str(tmp_path / "s.sqlite")]
    code, shown = run_on_terminal(["export", "1", "--format", "bids", "--out", "bids", *db], tmp_path)
    assert code == 0, shown
    assert "export: 100%" in shown and "2/2 [" in shown  # samples read and timed, one sensor written
    code, shown = run_on_terminal(["sessions", "import", "bids", "--db", "imported.sqlite"], tmp_path)
    assert code == 0, shown
    assert "import: 100%" in shown and "imported bids as session 1" in shown
    code, shown = run_on_terminal(["report", "1", "--out", "reports", *db], tmp_path)
    assert code == 0, shown
    assert "analysing session 1: 100%" in shown and "analysed session 1" in shown
    code, shown = run_on_terminal(["progress", "C001", "--out", "reports", *db], tmp_path)
    assert code == 0, shown
    assert "analysing sessions: 100%" in shown and "1/1 [" in shown and "analysed session 2" in shown
    piped = run_piped(["export", "1", "--format", "csv", "--out", "csv", *db], tmp_path)
    assert piped.returncode == 0 and piped.stderr == "" and "%|" not in piped.stdout


@pytest.mark.slow
def test_a_bar_in_a_jupyter_kernel(tmp_path, monkeypatch):
    """In a notebook the bar is shown in the cell's output (a widget with ipywidgets, else text)."""
    import nbformat
    from nbclient import NotebookClient

    spec_dir = tmp_path / "jupyter" / "kernels" / "dmi-progress"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps({**spec, "display_name": "dmi-progress"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", SRC)
    monkeypatch.delenv(ENV_VAR, raising=False)
    code = (
        "from dmi_sensors.progress_bar import ProgressBar, in_jupyter\n"
        "assert in_jupyter()\n"
        "with ProgressBar(4, 'cohort', 'session') as bar:\n"
        "    for _ in range(4):\n"
        "        bar.advance()\n"
        "print('drawn', bar.enabled)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="dmi-progress", timeout=120).execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert "drawn True" in text
    assert widgets or ("cohort: 100%" in text and "4/4" in text)
