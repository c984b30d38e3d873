"""Trial CSV: exact round trip; every bad file gets one error naming file, line and column."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.errors import DataFileError
from dmi_sensors.store.trial_csv import read_trial_csv, write_trial_csv
from dmi_sensors.types import Trial

HEADER = "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rps,gyr_y_rps,gyr_z_rps"


def _trial(n: int = 50, fs: float = 100.0, seed: int = 0) -> Trial:
    rng = np.random.default_rng(seed)
    return Trial(np.arange(n) / fs, rng.normal(size=(n, 3)), rng.normal(size=(n, 3)), fs)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 300), fs=st.sampled_from([50.0, 100.0, 200.0, 1000.0]), seed=st.integers(0, 2**16))
def test_round_trip_is_exact(tmp_path_factory, n, fs, seed):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    t = _trial(n, fs, seed)
    back = read_trial_csv(write_trial_csv(t, path))
    np.testing.assert_array_equal(back.time_s, t.time_s)
    np.testing.assert_array_equal(back.acc_mps2, t.acc_mps2)
    np.testing.assert_array_equal(back.gyr_rps, t.gyr_rps)
    assert back.fs_hz == pytest.approx(fs, rel=1e-9)


def test_extra_columns_and_order_are_tolerated(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "note,gyr_z_rps,gyr_y_rps,gyr_x_rps,acc_z_mps2,acc_y_mps2,acc_x_mps2,time_s\n"
        "a,6,5,4,3,2,1,0.0\nb,6,5,4,3,2,1,0.01\n"
    )
    t = read_trial_csv(path)
    np.testing.assert_array_equal(t.acc_mps2[0], [1, 2, 3])
    np.testing.assert_array_equal(t.gyr_rps[0], [4, 5, 6])


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (f"{HEADER}\n0,0,0,9.8,0,0,0\n0.01,0,zero,9.8,0,0,0\n", "line 3, column 'acc_y_mps2'"),
        (f"{HEADER}\n0,0,0,9.8,0,0,0\n0.01,0,0,,0,0,0\n", "line 3, column 'acc_z_mps2'"),
        (f"{HEADER}\n0,0,0,9.8,0,0,0\n0.01,0,0,9.8,0,0,0\n0.01,0,0,9.8,0,0,0\n", "line 4, column 'time_s'"),
        (
            f"{HEADER}\n0,0,0,9.8,0,0,0\n0.01,0,0,9.8,0,0,0\n0.02,0,0,9.8,0,0,0\n0.5,0,0,9.8,0,0,0\n",
            "line 5, column 'time_s'",
        ),
        ("time_s,acc_x_mps2\n0,1\n", "line 1 (header)"),
        ("", "line 1"),
    ],
)
def test_bad_files_name_file_line_and_column(tmp_path, body, where):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataFileError) as exc:
        read_trial_csv(path)
    assert str(path) in str(exc.value)
    assert where in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_trial_csv(tmp_path / "nope.csv")
