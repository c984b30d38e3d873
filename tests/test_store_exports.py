"""Exports (CSV, Parquet, BIDS-Motion validated by bids-validator-deno) and imports back (round trips)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import assert_events_equal, example_events, synthetic_batch

from dmi_sensors.session import Subject, example_plan
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.export.ingest import ingest_session
from dmi_sensors.store.samples import session_samples
from dmi_sensors.store.trial_csv import read_trial_csv, write_trial_csv
from dmi_sensors.types import Trial

SUBJECT = Subject("P001", 2019, 0.42, "down_syndrome")
VALIDATOR = Path(sys.executable).with_name("bids-validator-deno")


@pytest.fixture
def store(tmp_path):
    with SessionStore(tmp_path / "s.sqlite") as s:
        yield s


@pytest.fixture
def session(store):
    """A two-sensor session with a counter wrap-free gap, events and one stored result."""
    batches = {
        "DMI-0001": synthetic_batch("DMI-0001", 600, 100.0, 65000, drop=[5, 6, 7, 300], seed=1),
        "DMI-0002": synthetic_batch("DMI-0002", 250, 50.0, 12, seed=2, t_start_s=0.93),
    }
    sid = ingest_session(
        store,
        subject=SUBJECT,
        start_utc="2026-01-02T03:04:05.123456Z",
        batches=batches,
        placements={"DMI-0001": "trunk", "DMI-0002": "pelvis"},
        events=example_events(),
        therapist_id="T07",
        plan_toml=example_plan().to_toml(),
        finalised=False,
    )
    windows = pd.DataFrame(
        {"sensor_id": ["DMI-0001"] * 2, "start_s": [0.0, 2.0], "end_s": [2.0, 4.0], "com_rms_ap_mm": [1.5, 2.25]}
    )
    store.save_results(sid, {"com_rms_ap_mm": 1.875}, {"window_s": 2.0}, windows, sensor_id="DMI-0001")
    params = {"bias_rps": [0.01, 0.0, -0.002]}
    cid = store.add_calibration("DMI-0001", "gyro", "/cal/DMI-0001_gyro.json", params, "ab" * 32)
    store.set_calibration(sid, "DMI-0001", cid)
    return sid, batches


def _assert_batches_equal(got, expected, *, exact_time=True, time_tol_s=1e-9, host_times=True):
    assert sorted(got) == sorted(expected)
    for sid, e in expected.items():
        g = got[sid]
        assert g.fs_hz == e.fs_hz
        np.testing.assert_array_equal(g.counter, e.counter)
        np.testing.assert_array_equal(g.acc_mps2, e.acc_mps2)
        np.testing.assert_array_equal(g.gyr_rps, e.gyr_rps)
        np.testing.assert_array_equal(g.gap_before, e.gap_before)
        if exact_time:
            np.testing.assert_array_equal(g.time_s, e.time_s)
        else:
            np.testing.assert_allclose(g.time_s, e.time_s, rtol=0, atol=time_tol_s)
        if host_times:
            np.testing.assert_array_equal(g.host_time_s, e.host_time_s)
            np.testing.assert_array_equal(g.device_time_s, e.device_time_s)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tabular_round_trip_is_exact(store, session, tmp_path, fmt):
    sid, batches = session
    files = export_session(store, sid, tmp_path / fmt, fmt)
    assert {f.name for f in files} == {"session.json", *(f"{t}.{fmt}" for t in ("samples", "events", "metrics"))}
    meta = json.loads((tmp_path / fmt / "session.json").read_text())
    assert meta["session"]["subject_id"] == "P001"
    assert not [key for key in meta["session"] if "name" in key]  # pseudonymous id only
    new = import_path(store, tmp_path / fmt)
    assert new != sid
    _assert_batches_equal(session_samples(store, new), batches)
    assert_events_equal(store.events(new), store.events(sid))
    info_old, info_new = store.session_info(sid), store.session_info(new)
    assert info_new.origin == "import" and info_new.start_utc == info_old.start_utc
    assert info_new.plan_toml == info_old.plan_toml and info_new.therapist_id == "T07"
    assert [(s.sensor_id, s.placement) for s in info_new.sensors] == [("DMI-0001", "trunk"), ("DMI-0002", "pelvis")]
    (cal_new,) = info_new.sensors[0].calibration_ids
    (cal_old,) = info_old.sensors[0].calibration_ids
    # the content comes back whole; the reference only by name (exports carry no absolute paths)
    new_ref, old_ref = store.calibration(cal_new), store.calibration(cal_old)
    assert (new_ref.sensor_id, new_ref.kind, new_ref.sha256, new_ref.parameters) == (
        old_ref.sensor_id,
        old_ref.kind,
        old_ref.sha256,
        old_ref.parameters,
    )
    assert old_ref.reference == new_ref.reference == "DMI-0001_gyro.json"  # the store keeps no path either
    assert "/cal/" not in (tmp_path / fmt / "session.json").read_text()
    (old_r,), (new_r,) = store.results(sid), store.results(new)
    assert (new_r.summary, new_r.parameters) == (old_r.summary, old_r.parameters)
    assert new_r.package_version == old_r.package_version
    pd.testing.assert_frame_equal(new_r.windows, old_r.windows, check_dtype=False)


def test_csv_samples_table_has_the_contract_columns(store, session, tmp_path):
    from dmi_sensors import contract

    sid, batches = session
    export_session(store, sid, tmp_path / "c", "csv")
    samples = pd.read_csv(tmp_path / "c" / "samples.csv")
    assert tuple(samples.columns) == contract.SAMPLE_COLUMNS
    assert len(samples) == sum(len(b) for b in batches.values())
    events = pd.read_csv(tmp_path / "c" / "events.csv")
    assert tuple(events.columns) == (*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS)


def _validate(root: Path) -> list[dict]:
    out = subprocess.run([str(VALIDATOR), "--format", "json", str(root)], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    return [i for i in report["issues"]["issues"] if i["severity"] == "error"]


@pytest.mark.skipif(not VALIDATOR.exists(), reason="bids-validator-deno not installed in this environment")
def test_bids_export_validates_and_round_trips(store, session, tmp_path):
    sid, batches = session
    root = tmp_path / "bids"
    export_session(store, sid, root, "bids")
    assert _validate(root) == []
    motion = root / "sub-P001" / "ses-1" / "motion"
    trunk = motion / "sub-P001_ses-1_task-dmi_tracksys-imutrunk_motion.tsv"
    rows = trunk.read_text().splitlines()
    assert len(rows) == 600  # one row per counter, lost samples as n/a
    assert rows[5] == "\t".join(["n/a"] * 7) and not rows[0].startswith("acc")
    channels = pd.read_csv(motion / "sub-P001_ses-1_task-dmi_tracksys-imutrunk_channels.tsv", sep="\t")
    assert list(channels["type"]) == ["ACCEL"] * 3 + ["GYRO"] * 3 + ["LATENCY"]
    assert list(channels["units"]) == ["m/s^2"] * 3 + ["rad/s"] * 3 + ["s"]
    sidecar = json.loads((motion / "sub-P001_ses-1_task-dmi_tracksys-imutrunk_motion.json").read_text())
    assert sidecar["SamplingFrequency"] == 100.0 and sidecar["TaskName"] == "dmi"
    participants = (root / "participants.tsv").read_text()
    assert participants.splitlines()[1].startswith("sub-P001\t2019")
    new = import_path(store, root)
    # BIDS keeps sensor values exactly and time within one float rounding; host/device times are not in BIDS
    _assert_batches_equal(session_samples(store, new), batches, exact_time=False, host_times=False)
    got, want = store.events(new), store.events(sid)
    np.testing.assert_allclose(got["onset_s"], want["onset_s"], rtol=0, atol=1e-9)
    want["note"] = want["note"].str.replace("\t", " ")  # BIDS TSV cannot hold a tab inside a cell
    assert_events_equal(got.assign(onset_s=want["onset_s"]), want)


@pytest.mark.skipif(not VALIDATOR.exists(), reason="bids-validator-deno not installed in this environment")
def test_bids_validator_catches_a_broken_export(store, session, tmp_path):
    """The validation above can fail: drop a required sidecar key and it reports an error."""
    sid, _ = session
    root = tmp_path / "bids"
    export_session(store, sid, root, "bids")
    sidecar = next((root / "sub-P001" / "ses-1" / "motion").glob("*imutrunk_motion.json"))
    data = json.loads(sidecar.read_text())
    del data["SamplingFrequency"]
    sidecar.write_text(json.dumps(data))
    assert any(e["code"] == "SIDECAR_KEY_REQUIRED" for e in _validate(root))


@pytest.mark.skipif(not VALIDATOR.exists(), reason="bids-validator-deno not installed in this environment")
def test_second_session_extends_the_dataset(store, session, tmp_path):
    sid, batches = session
    sid2 = ingest_session(
        store,
        subject=SUBJECT,
        start_utc="2026-02-02T03:04:05Z",
        batches={"DMI-0001": batches["DMI-0001"]},
        placements={"DMI-0001": "trunk"},
    )
    root = tmp_path / "bids"
    export_session(store, sid, root, "bids")
    export_session(store, sid2, root, "bids")
    assert (root / "sub-P001" / "ses-2" / "motion").is_dir()
    assert len((root / "participants.tsv").read_text().splitlines()) == 2
    assert len((root / "sub-P001" / "sub-P001_sessions.tsv").read_text().splitlines()) == 3
    assert _validate(root) == []
    with pytest.raises(FileExistsError):
        export_session(store, sid2, root, "bids")
    new = import_path(store, root, session="2")
    assert store.session_info(new).start_utc == "2026-02-02T03:04:05.000000Z"


def test_trial_csv_import_round_trip(store, tmp_path):
    rng = np.random.default_rng(3)
    trial = Trial(np.arange(400) / 100.0, rng.normal(size=(400, 3)), rng.normal(size=(400, 3)), 100.0)
    path = write_trial_csv(trial, tmp_path / "trial.csv")
    sid = import_path(store, path, subject=SUBJECT, events=example_events(), start_utc="2026-05-06T07:08:09Z")
    info = store.session_info(sid)
    assert info.origin == "import" and info.status == "finalised"
    (batch,) = session_samples(store, sid).values()
    np.testing.assert_array_equal(batch.time_s, trial.time_s)
    np.testing.assert_array_equal(batch.acc_mps2, trial.acc_mps2)
    np.testing.assert_array_equal(batch.gyr_rps, trial.gyr_rps)
    assert_events_equal(store.events(sid), example_events().sort_values("onset_s").reset_index(drop=True))
    # and out again as a trial: CSV export -> samples equal the file
    export_session(store, sid, tmp_path / "out", "csv")
    samples = pd.read_csv(tmp_path / "out" / "samples.csv")
    back = read_trial_csv(write_trial_csv(
        Trial(samples["time_s"].to_numpy(), samples[["acc_x_mps2", "acc_y_mps2", "acc_z_mps2"]].to_numpy(),
              samples[["gyr_x_rps", "gyr_y_rps", "gyr_z_rps"]].to_numpy(), 100.0), tmp_path / "again.csv"))  # fmt: skip
    np.testing.assert_array_equal(back.acc_mps2, trial.acc_mps2)


def test_exports_never_overwrite(store, session, tmp_path):
    sid, _ = session
    export_session(store, sid, tmp_path / "c", "csv")
    before = (tmp_path / "c" / "samples.csv").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        export_session(store, sid, tmp_path / "c", "csv")
    assert (tmp_path / "c" / "samples.csv").read_bytes() == before
    with pytest.raises(ValueError, match="unknown export format"):
        export_session(store, sid, tmp_path / "x", "xlsx")
    shutil.rmtree(tmp_path / "c")


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(*([finite] * 7)), min_size=1, max_size=40), fmt=st.sampled_from(["csv", "parquet"]))
def test_any_float64_survives_the_tabular_round_trip(tmp_path_factory, values, fmt):
    """Property: every finite float64 (subnormals, -0.0, 1e308...) comes back bit for bit."""
    from dmi_sensors.types import SampleBatch

    arr = np.array(values, dtype=np.float64)
    n = len(arr)
    batch = SampleBatch("S", 100.0, np.arange(n), arr[:, 0], arr[:, 0], arr[:, 1:4], arr[:, 4:7], None, arr[:, 0])
    tmp = tmp_path_factory.mktemp("prop")
    with SessionStore(tmp / "p.sqlite") as store:
        sid = ingest_session(store, subject=SUBJECT, start_utc="2026-01-01T00:00:00Z", batches={"S": batch},
                             placements={"S": "trunk"})  # fmt: skip
        export_session(store, sid, tmp / "out", fmt)
        (back,) = session_samples(store, import_path(store, tmp / "out")).values()
    for name in ("time_s", "acc_mps2", "gyr_rps"):
        assert getattr(back, name).tobytes() == getattr(batch, name).tobytes(), name


@pytest.fixture
def recorded(store):
    """A recorded session: raw packets of two virtual sensors, with one lost packet and tags."""
    from dmi_sensors.sim import LinkModel
    from dmi_sensors.sim.recorder import packet_schedule

    packets = packet_schedule(2, 100, 6.0, 5, seed=2, link=LinkModel.ideal())  # arrival = last sample taken
    lost = next(i for i, p in enumerate(packets) if p.sensor_id == packets[0].sensor_id and p.host_time_s > 2.0)
    del packets[lost]  # a notification lost on the air
    sensors = sorted({p.sensor_id for p in packets})
    sid = store.create_session(SUBJECT, example_plan(), dict(zip(sensors, ("trunk", "pelvis"), strict=True)), "T1")
    with store.packet_writer(sid) as writer:
        writer.extend(packets)
    store.add_events(sid, example_events())
    return sid, sensors


def test_recorded_session_samples_are_decoded_and_timed(store, recorded):
    from dmi_sensors import protocol

    sid, sensors = recorded
    samples = session_samples(store, sid)
    assert sorted(samples) == sensors
    first = samples[sensors[0]]
    decoded = protocol.decode_stream(store.raw_packets(sid, sensors[0]), sensors[0]).batch
    np.testing.assert_array_equal(first.counter, decoded.counter)
    np.testing.assert_array_equal(first.acc_mps2, decoded.acc_mps2)
    assert first.gap_before.sum() == 1 and len(first) == 600 - 5
    # host times are the packets' due times (no latency, no drift): the fitted times are the sample times
    np.testing.assert_allclose(first.time_s, first.counter / 100.0, atol=1e-6)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_recorded_session_round_trips_through_tabular_exports(store, recorded, tmp_path, fmt):
    sid, _ = recorded
    export_session(store, sid, tmp_path / fmt, fmt)
    new = import_path(store, tmp_path / fmt)
    _assert_batches_equal(session_samples(store, new), session_samples(store, sid))
    assert_events_equal(store.events(new), store.events(sid))


@pytest.mark.skipif(not VALIDATOR.exists(), reason="bids-validator-deno not installed in this environment")
def test_recorded_session_bids_export_validates_and_round_trips(store, recorded, tmp_path):
    sid, _ = recorded
    export_session(store, sid, tmp_path / "bids", "bids")
    assert _validate(tmp_path / "bids") == []
    new = import_path(store, tmp_path / "bids")
    want = session_samples(store, sid)
    _assert_batches_equal(session_samples(store, new), want, exact_time=False, host_times=False)


def test_session_trial_is_uniform_and_never_bridges_the_lost_packet(store, recorded):
    from dmi_sensors.store.samples import session_trial

    sid, sensors = recorded
    trial, valid = session_trial(store, sid, sensors[0])
    assert trial.fs_hz == 100.0
    np.testing.assert_allclose(np.diff(trial.time_s), 0.01, rtol=1e-9)
    # the lost notification carried 5 samples: the grid points between its neighbours are invalid (NaN)
    assert 5 <= (~valid).sum() <= 6
    assert np.isnan(trial.acc_mps2[~valid]).all() and np.isfinite(trial.acc_mps2[valid]).all()
    with pytest.raises(KeyError, match="no samples of sensor"):
        session_trial(store, sid, "nope")
