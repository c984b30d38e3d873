"""Core in-memory types: shapes are checked, concatenation keeps order."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors import contract
from dmi_sensors.types import RawPacket, SampleBatch, Trial


def _batch(n: int, start: int = 0) -> SampleBatch:
    k = np.arange(start, start + n)
    return SampleBatch(
        sensor_id="S1",
        fs_hz=100.0,
        counter=k,
        device_time_s=k / 100.0,
        host_time_s=k / 100.0 + 0.02,
        acc_mps2=np.tile([0.0, 0.0, 9.81], (n, 1)),
        gyr_rps=np.zeros((n, 3)),
    )


def test_raw_packet_is_immutable():
    p = RawPacket("S1", 1.5, b"\x01\x02")
    with pytest.raises(AttributeError):
        p.data = b""  # type: ignore[misc]


def test_sample_batch_defaults_and_shapes():
    b = _batch(5)
    assert len(b) == 5
    assert b.gap_before.dtype == bool and not b.gap_before.any()
    assert np.isnan(b.time_s).all()
    with pytest.raises(ValueError, match="acc_mps2"):
        SampleBatch("S1", 100.0, np.arange(3), np.zeros(3), np.zeros(3), np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="fs_hz"):
        SampleBatch("S1", 0.0, np.arange(3), np.zeros(3), np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3)))


def test_concat_keeps_order_and_rejects_mixed_sensors():
    b = SampleBatch.concat([_batch(3), _batch(4, start=3), SampleBatch.empty("S1", 100.0)])
    np.testing.assert_array_equal(b.counter, np.arange(7))
    other = _batch(2)
    other.sensor_id = "S2"
    with pytest.raises(ValueError, match="S2"):
        SampleBatch.concat([_batch(2), other])


def test_dataframes_use_contract_columns():
    df = _batch(4).to_dataframe(placement="trunk")
    assert tuple(df.columns) == contract.SAMPLE_COLUMNS
    assert (df["placement"] == "trunk").all()
    t = Trial(np.arange(4) / 100.0, np.zeros((4, 3)), np.zeros((4, 3)), 100.0)
    assert tuple(t.to_dataframe().columns) == contract.TRIAL_CSV_COLUMNS
    assert t.duration_s == pytest.approx(0.04)
