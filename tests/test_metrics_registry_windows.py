"""Registry completeness and its documentation; window maths on arrays (sliding windows, intervals, metrics)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from dmi_sensors.metrics import (
    REGISTRY,
    SpectralParams,
    TtsParams,
    interval_samples,
    isway_measures,
    prieto_measures,
    sliding_windows,
    window_metrics,
)
from dmi_sensors.metrics.registry import UNIT_SUFFIXES, markdown_table, update_doc
from dmi_sensors.metrics.structure import SampEnParams

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"

UNIT_SUFFIX = UNIT_SUFFIXES  # the registry's own table


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
    known |= {"sampen." + f.name for f in dataclasses.fields(SampEnParams)}
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


def test_window_spectra_in_one_pass_equal_each_window_alone_to_rounding():
    """All spectra of all windows and signals share one PSD call per window length; each
    window's measures equal its own spectral_measures within relative 1e-12 (numpy's
    vectorised FFT and means round differently with the number of rows)."""
    from dmi_sensors.metrics.spectral import spectral_measures

    com, acc = _signals(seed=3)
    starts = np.array([0, 200, 400, 600, 50, 700, 1])
    stops = np.array([200, 400, 600, 800, 1000, 1200, 901])
    w = window_metrics(100.0, starts, stops, com_mm=(com[0], com[1]), acc_mps2=(acc[0], acc[1]))
    for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
        for name, x in (("com_{}_ap_hz", com[0]), ("acc_{}_ml_hz", acc[1])):
            ref = spectral_measures(x[a:b], 100.0)
            for key in ("f50", "f95", "cfreq", "mpf"):
                assert w[name.format(key)][i] == pytest.approx(ref[key], rel=1e-12, abs=0, nan_ok=True), (i, name, key)
        ref = spectral_measures(acc[0, a:b], 100.0)
        assert w["acc_power_ap_m2_s4"][i] == pytest.approx(ref["power"], rel=1e-12, abs=0)


def test_interval_samples_round_and_clip_to_the_signal():
    """Time intervals -> [start, stop) sample ranges at 8 Hz (exact in binary), sample 0 at t0 = 2 s."""
    onset = np.array([2.0, 2.0625, 2.1875, 1.0, 9.0, 3.0, 2.25])
    end = np.array([3.0, 2.5, 2.8125, 2.5, 10.0, 30.0, 2.25])
    a, b = interval_samples(onset, end, 8.0, 40, t0_s=2.0)
    # 0.5 -> 0 and 1.5 -> 2 (round half to even, as Python's round); 6.5 -> 6
    np.testing.assert_array_equal(a, [0, 0, 2, 0, 40, 8, 2])
    np.testing.assert_array_equal(b, [8, 4, 6, 4, 40, 40, 2])  # clipped to the 40 samples
    assert (b - a)[4] == 0 and (b - a)[6] == 0  # wholly after the end / zero length: empty
    with pytest.raises(ValueError, match="fs_hz"):
        interval_samples(onset, end, 0.0, 40)


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
