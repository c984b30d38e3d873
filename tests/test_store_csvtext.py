"""The fast CSV/TSV writer writes pandas' ``to_csv`` bytes exactly (floats of any bit pattern)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.store.export import csvtext
from dmi_sensors.store.export.csvtext import write_table

TEXTS = ["trunk", "a,b", 'q"q', "", "line\nbreak", "cr\rhere", "ümlaut", "tab\there", " lead", "n/a"]


def _pandas(frame: pd.DataFrame, sep: str, na_rep: str, header: bool) -> bytes:
    return frame.to_csv(None, index=False, sep=sep, na_rep=na_rep, header=header, lineterminator="\n").encode()


def _ours(frame: pd.DataFrame, sep: str, na_rep: str, header: bool) -> bytes:
    buf = io.BytesIO()
    write_table(frame, buf, sep=sep, na_rep=na_rep, header=header)
    return buf.getvalue()


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    bits = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e16, 1e-5, 1e-4, 123456789012345.6, 0.1, 100.0])
    f3 = special[rng.integers(0, len(special), n)]
    text = np.array([*TEXTS, None], dtype=object)
    return pd.DataFrame(
        {
            "bits": bits.view(np.float64),
            "text": text[rng.integers(0, len(text), n)],
            "scaled": rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n),
            "count, with comma": rng.integers(-(10**15), 10**15, n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "special": f3,
            "str": pd.array(text[rng.integers(0, len(text), n)], dtype="str"),
        }
    )


@pytest.mark.parametrize(("sep", "na_rep"), [(",", ""), ("\t", "n/a")])
@pytest.mark.parametrize("header", [True, False])
def test_bytes_equal_pandas_to_csv(sep, na_rep, header, monkeypatch):
    monkeypatch.setattr(csvtext, "BLOCK_ROWS", 97)  # many blocks, odd boundaries
    frame = _frame(np.random.default_rng(len(sep) + header), 1000)
    assert _ours(frame, sep, na_rep, header) == _pandas(frame, sep, na_rep, header)


@settings(max_examples=60, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=30),
    ints=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    text=st.text(max_size=6),
)
def test_any_floats_ints_and_text_equal_pandas(floats, ints, text):
    n = len(floats)
    frame = pd.DataFrame(
        {"x": np.array(floats, dtype=np.float64), "i": np.full(n, ints, dtype=np.int64), "t": [text] * n}
    )
    for sep, na in ((",", ""), ("\t", "n/a")):
        assert _ours(frame, sep, na, True) == _pandas(frame, sep, na, True)


def test_other_column_types_and_single_columns_go_to_pandas(tmp_path):
    frames = [
        pd.DataFrame({"t": pd.to_datetime(["2026-01-01", "2026-02-03"]), "x": [1.5, 2.0]}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"]), "x": [1.5, np.nan]}),
        pd.DataFrame({"r": pd.array([1, None], dtype="Int64"), "x": [0.0, 1e-7]}),
        pd.DataFrame({"f": np.array([0.1, 1e-9], dtype=np.float32), "x": [3.0, 4.0]}),
        pd.DataFrame({"only": ["", "x"]}),  # csv quotes an empty field that is alone on its line
        pd.DataFrame({"a": [], "b": []}),
    ]
    for frame in frames:
        assert _ours(frame, ",", "", True) == _pandas(frame, ",", "", True)
    path = tmp_path / "t.csv"
    write_table(frames[1], path)
    assert path.read_bytes() == _pandas(frames[1], ",", "", True)


def test_parts_appended_to_one_file_equal_the_whole(tmp_path):
    frame = _frame(np.random.default_rng(3), 500)
    path = tmp_path / "parts.tsv"
    with path.open("wb") as fh:
        write_table(frame.iloc[:200], fh, sep="\t", na_rep="n/a")
        write_table(frame.iloc[200:], fh, sep="\t", na_rep="n/a", header=False)
    assert path.read_bytes() == _pandas(frame, "\t", "n/a", True)
    numbers = frame[["bits", "scaled", "special"]]
    write_table(numbers, path, sep="\t", na_rep="n/a")
    back = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    for col in ("bits", "scaled", "special"):  # the shortest round-trip text reads back as the same float64
        assert np.array_equal(back[col].to_numpy(), frame[col].to_numpy(), equal_nan=True), col
