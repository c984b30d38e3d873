"""Registry completeness and its documentation; windows, segments and tags."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmi_sensors import contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.metrics import (
    REGISTRY,
    SpectralParams,
    TtsParams,
    isway_measures,
    prieto_measures,
    read_events_csv,
    segments_from_events,
    sliding_windows,
    tag_windows,
    window_metrics,
)
from dmi_sensors.metrics.registry import markdown_table, update_doc

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"

UNIT_SUFFIX = {
    "mm": "_mm",
    "mm²": "_mm2",
    "mm/s": "_mm_s",
    "mm²/s": "_mm2_s",
    "Hz": "_hz",
    "s": "_s",
    "m/s": "_m_s",
    "m/s²": "_mps2",
    "m/s³": "_mps3",
    "m²/s⁴": "_m2_s4",
    "m²/s⁵": "_m2_s5",
    "m²/s⁶": "_m2_s6",
}


def test_every_metric_name_ends_with_its_unit():
    for name, s in REGISTRY.items():
        if s.unit == "1":
            assert not any(name.endswith(suf) for suf in UNIT_SUFFIX.values() if suf != "_s"), name
            continue
        assert s.unit in UNIT_SUFFIX, (name, s.unit)
        assert name.endswith(UNIT_SUFFIX[s.unit]), (name, s.unit)


def test_every_metric_has_reference_formula_provenance_and_real_parameters():
    from dmi_sensors.analysis.trial import TrialAnalysisParams

    known = {f.name for f in dataclasses.fields(TrialAnalysisParams)}
    known |= {"spectral." + f.name for f in dataclasses.fields(SpectralParams)}
    known |= {"tts." + f.name for f in dataclasses.fields(TtsParams)}
    known |= {"fs_hz", "acc_frame", "orientation_filter", "trial_after_s", "event_end_s", "tts_signal"}
    for name, s in REGISTRY.items():
        assert s.description and s.reference and s.formula, name
        assert s.provenance in ("V-src", "V-src abstract", "V-impl", "R", "eng"), name
        for p in s.parameters:
            assert p in known, (name, p)
        if s.alias_of:
            assert s.alias_of in REGISTRY, name


def test_unverified_formulas_are_tagged_as_such():
    assert REGISTRY["tts_colby_s"].provenance == "R"
    assert REGISTRY["tts_polynomial_s"].provenance == "R"
    assert REGISTRY["acc_mean_velocity_m_s"].provenance == "R"
    assert REGISTRY["jerk_isway_m2_s5"].provenance == "V-src"


def test_doc_table_is_the_registry():
    text = DOC.read_text(encoding="utf-8")
    assert update_doc(text) == text, (
        "docs/metrics.md is stale: run python -m dmi_sensors.metrics --write docs/metrics.md"
    )
    for name in REGISTRY:
        assert f"| `{name}` |" in text, f"{name} missing from docs/metrics.md"
    assert markdown_table().count("\n") == len(REGISTRY) + 2


# --- windows ----------------------------------------------------------------------------


def test_sliding_windows_full_windows_only():
    s, e = sliding_windows(1050, 100.0, 2.0)
    np.testing.assert_array_equal(s, [0, 200, 400, 600, 800])
    np.testing.assert_array_equal(e - s, 200)
    s, e = sliding_windows(1000, 100.0, 2.0, step_s=1.0)
    assert len(s) == 9 and s[-1] == 800
    with pytest.raises(ValueError):
        sliding_windows(100, 100.0, 0.0)


def _signals(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    com = np.cumsum(rng.normal(size=(2, n)), axis=1) * 0.3
    acc = rng.normal(size=(2, n)) * 0.05
    return com, acc


def test_window_metrics_equal_the_one_shot_functions_on_each_slice():
    com, acc = _signals()
    starts = np.array([0, 200, 400, 50, 700])
    stops = np.array([200, 400, 600, 1000, 1200])  # mixed lengths
    sp = SpectralParams()
    w = window_metrics(100.0, starts, stops, com_mm=(com[0], com[1]), acc_mps2=(acc[0], acc[1]), spectral=sp)
    for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
        ref = prieto_measures(com[0, a:b], com[1, a:b], 100.0, spectral=sp)
        ref.update(isway_measures(acc[0, a:b], acc[1, a:b], 100.0, spectral=sp))
        for key, value in ref.items():
            assert w[key][i] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (i, key)


def _events():
    return pd.DataFrame(
        [
            # exercise block 0-10 s, two repetitions inside it, a note and a perturbation
            {"onset_s": 0.0, "duration_s": 10.0, "exercise": "sit", "repetition": None, "support": "hips"},
            {"onset_s": 1.0, "duration_s": 3.0, "exercise": "sit", "repetition": 1, "support": None},
            {"onset_s": 5.0, "duration_s": 3.0, "exercise": "sit", "repetition": 2, "support": "knees"},
            {"onset_s": 6.0, "duration_s": 0.0, "exercise": None, "repetition": None, "support": None, "kind": "note"},
            {
                "onset_s": 9.0,
                "duration_s": 0.5,
                "exercise": None,
                "repetition": None,
                "support": None,
                "kind": "perturbation",
            },
        ]
    ).assign(source="manual")


def test_tags_by_midpoint_take_the_most_specific_interval_per_column():
    tags = tag_windows(np.array([0.0, 2.0, 4.0, 6.0, 10.0]), np.array([2.0, 4.0, 6.0, 8.0, 12.0]), _events())
    assert tags["exercise"] == ["sit", "sit", "sit", "sit", None]
    assert tags["repetition"] == [1, 1, 2, 2, None]  # midpoints 1, 3, 5, 7, 11
    # repetition 1 has no support: the exercise row supplies it; repetition 2 overrides it
    assert tags["support"] == ["hips", "hips", "knees", "knees", None]
    mid_gap = tag_windows(np.array([4.0]), np.array([5.0]), _events())  # 4.5 s: between repetitions
    assert mid_gap["repetition"] == [None] and mid_gap["exercise"] == ["sit"]
    assert set(tags) == {c for c in contract.WINDOW_COLUMNS if c not in ("sensor_id", "start_s", "end_s")}


def test_segments_skip_notes_and_perturbations_and_clip_to_the_signal():
    starts, stops, tags = segments_from_events(_events(), 100.0, 900)
    np.testing.assert_array_equal(starts, [0, 100, 500])
    np.testing.assert_array_equal(stops, [900, 400, 800])  # 0-10 s clipped to 9 s of signal
    assert tags["repetition"] == [None, 1, 2]


def test_events_csv_errors_name_file_line_and_column(tmp_path):
    good = tmp_path / "ev.csv"
    good.write_text("onset_s,duration_s,exercise,repetition,support,source,kind\n1.0,2.0,sit,1,hips,manual,exercise\n")
    ev = read_events_csv(good)
    assert ev.loc[0, "onset_s"] == 1.0 and ev.loc[0, "exercise"] == "sit"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "onset_s,duration_s,exercise,repetition,support,source\n1.0,2.0,a,1,hips,manual\nx,1,a,2,hips,manual\n"
    )
    with pytest.raises(DataFileError, match=r"bad.csv: line 3, column 'onset_s': expected a number >= 0, found 'x'"):
        read_events_csv(bad)
    missing = tmp_path / "missing.csv"
    missing.write_text("onset_s,duration_s,exercise\n1,2,a\n")
    with pytest.raises(DataFileError, match="line 1 \\(header\\)"):
        read_events_csv(missing)
    with pytest.raises(DataFileError, match="no such file"):
        read_events_csv(tmp_path / "nope.csv")


def test_every_metric_has_a_label_unique_but_for_its_aliases():
    """Reports head columns and axes with ``label [unit]`` from the registry: each label names one quantity."""
    from dmi_sensors.metrics import REGISTRY

    owners: dict[str, str] = {}
    for name, m in REGISTRY.items():
        assert m.label and m.label == m.label.strip() and "[" not in m.label, name
        target = m.alias_of or name
        assert owners.setdefault(m.label, target) == target, (name, m.label, owners[m.label])
    assert REGISTRY["com_rms_ap_mm"].header == "COM RMS AP [mm]"
    assert REGISTRY["com_freqd"].header == "COM frequency dispersion"  # dimensionless: no unit
