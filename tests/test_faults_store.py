"""The store under faults and for privacy: file modes, no paths stored, a database whose last
checkpoint was cut short (disk full) still opens, the reason a session is incomplete.

The recorder-level faults (disk full while recording, ...) are in ``test_faults_record.py``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from store_helpers import synthetic_packets

from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.db import check_database_file, connect
from dmi_sensors.store.paths import create_private_file, make_private_dir, open_private
from dmi_sensors.store.schema import migrate

SUBJECT = Subject("P001", 2019, 0.42, "down_syndrome")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_its_journals_are_created_0600_in_0700_folders(tmp_path):
    tmp_path.chmod(0o755)
    path = tmp_path / "new" / "deeper" / "s.sqlite"
    with SessionStore(path) as store:
        sid = store.create_session(SUBJECT, sensors={"DMI-0001": "trunk"})
        store.add_packets(sid, synthetic_packets("DMI-0001", 5))
        for p in (path, path.with_name("s.sqlite-wal"), path.with_name("s.sqlite-shm")):
            assert _mode(p) == 0o600, (p, oct(_mode(p)))
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "deeper") == 0o700
    assert _mode(tmp_path) == 0o755  # a folder that existed is left as the user set it


def test_private_file_helpers(tmp_path):
    d = make_private_dir(tmp_path / "a" / "b")
    assert _mode(d) == _mode(d.parent) == 0o700
    f = create_private_file(tmp_path / "c" / "f.bin")
    assert _mode(f) == 0o600 and _mode(f.parent) == 0o700 and f.read_bytes() == b""
    with open_private(tmp_path / "t.txt") as fh:
        fh.write("ü")
    assert _mode(tmp_path / "t.txt") == 0o600 and (tmp_path / "t.txt").read_text(encoding="utf-8") == "ü"
    with pytest.raises(FileExistsError):
        open_private(tmp_path / "t.txt")  # exports never overwrite
    with open_private(tmp_path / "t.txt", "a") as fh:
        fh.write("x")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "üx"


def test_calibration_paths_are_reduced_to_names_also_in_older_databases(tmp_path):
    """Schema 4 rewrites the references an older version stored as paths (home folders)."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=3)
    refs = ["/home/anna.schmidt/cal/DMI-0001_gyro.json", "C:\\Users\\anna\\cal\\accel.json", "inline:gyro", "a.json"]
    for ref in refs:
        conn.execute(
            "INSERT INTO calibrations (sensor_id, kind, reference, created_utc) VALUES ('A', 'gyro', ?, 'x')", (ref,)
        )
    conn.close()
    with SessionStore(path) as store:
        stored = [store.calibration(i).reference for i in (1, 2, 3, 4)]
        assert stored == ["DMI-0001_gyro.json", "accel.json", "inline:gyro", "a.json"]
        # and new ones are stored by name as well
        cid = store.add_calibration("A", "gyro", Path("/home/anna.schmidt/x/g.json"), {"kind": "gyro"})
        cid2 = store.add_calibration("A", "gyro", "D:\\data\\h.json")
        assert (store.calibration(cid).reference, store.calibration(cid2).reference) == ("g.json", "h.json")
    assert b"anna" not in path.read_bytes()  # closed: everything is checkpointed into the main file


def _pages_from_wal(wal: bytes, page_size: int) -> dict[int, bytes]:
    """The newest copy of every page in a WAL file (24-byte frame headers after a 32-byte header)."""
    pages = {}
    frame = 24 + page_size
    for off in range(32, len(wal) - frame + 1, frame):
        number = int.from_bytes(wal[off : off + 4], "big")
        pages[number] = wal[off + 24 : off + frame]
    return pages


def test_a_database_whose_checkpoint_was_cut_short_opens_from_its_wal(tmp_path):
    """Finding 1 of issue 16: after the disk filled up, the main file held a header for 152
    pages but only 4096 bytes; the pages were intact in the WAL, yet the header check refused
    the file ("file truncated?"). The check now counts the WAL; SQLite reads the pages there."""
    live = tmp_path / "live.sqlite"
    store = SessionStore(live)
    sid = store.create_session(SUBJECT, sensors={"DMI-0001": "trunk"})
    packets = synthetic_packets("DMI-0001", 400)
    store.add_packets(sid, packets)
    # a crash now: copy the files as they are on disk (no checkpoint has run: all in the WAL)
    crashed = tmp_path / "crashed.sqlite"
    shutil.copy(live, crashed)
    shutil.copy(live.with_name("live.sqlite-wal"), crashed.with_name("crashed.sqlite-wal"))
    store.close()
    page_size = int.from_bytes(crashed.read_bytes()[16:18], "big")
    pages = _pages_from_wal(crashed.with_name("crashed.sqlite-wal").read_bytes(), page_size)
    assert len(pages) > 10
    # a checkpoint that wrote page 1 (the header: "this file has N pages") and then failed
    crashed.write_bytes(pages[1])
    header = crashed.read_bytes()
    assert int.from_bytes(header[28:32], "big") * page_size > crashed.stat().st_size
    no_wal = tmp_path / "no_wal.sqlite"
    shutil.copy(crashed, no_wal)
    check_database_file(crashed)  # no longer refused
    with SessionStore(crashed) as again:
        assert again.integrity_check() == ["ok"]
        assert [p.data for p in again.raw_packets(sid)] == [p.data for p in packets]
    # without its WAL the same file is refused, naming the problem
    with pytest.raises(DataFileError, match="file truncated"):
        connect(no_wal)


def test_an_incomplete_session_keeps_its_reason_and_the_recording_summary(tmp_path):
    with SessionStore(tmp_path / "s.sqlite") as store:
        sid = store.create_session(SUBJECT, sensors={"DMI-0001": "trunk"})
        info = store.session_info(sid)
        assert info.incomplete_reason is None and info.recording is None
        summary = {"planned_s": 30.0, "recorded_s": 21.3, "sensors": {"DMI-0001": {"samples_expected": 4260}}}
        store.save_recording(sid, summary)
        store.mark_incomplete(sid, "stopped early at 21.3 s: disk full")
        info = store.session_info(sid)
        assert info.status == "incomplete" and info.incomplete_reason == "stopped early at 21.3 s: disk full"
        assert info.recording == summary and info.to_dict()["recording"] == summary
        store.finalise(sid)
        with pytest.raises(ParameterError, match="finalised"):
            store.mark_incomplete(sid, "too late")
        assert store.session_info(sid).incomplete_reason == "stopped early at 21.3 s: disk full"  # history kept


def test_every_file_a_command_creates_is_private(tmp_path, capsys):
    """The CLI runs each command with umask 077: files it creates are 0600 and folders 0700,
    also where a command writes with plain ``open`` (here: simulate's trial CSV, its
    ground-truth JSON and events); the caller's umask is back afterwards."""
    from dmi_sensors import cli

    before = os.umask(0o022)
    os.umask(before)
    out = tmp_path / "new" / "trial.csv"
    out.parent.mkdir(mode=0o755)
    assert cli.main(["simulate", "--duration-s", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    made = [p for p in out.parent.iterdir()]
    assert len(made) >= 2 and {_mode(p) for p in made} == {0o600}, [(p.name, oct(_mode(p))) for p in made]
    assert _mode(out.parent) == 0o755  # the user's own folder is left as it was
    now = os.umask(0o022)
    os.umask(now)
    assert now == before
