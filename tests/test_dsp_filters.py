"""SosFilter / filtfilt: equal to scipy, equal to a pure-Python reference, chunk invariant, physics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal as ss
from dsp_helpers import JIT_DISABLED, sos_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.dsp import (
    SosFilter,
    SosFilterState,
    ZeroPhaseSosFilter,
    butter_bandpass,
    butter_highpass,
    butter_lowpass,
    filtfilt,
    sosfiltfilt_padlen,
)
from dmi_sensors.dsp._sos_kernels import sos_filter_into

FS = 100.0
DESIGNS = {
    "low": lambda: butter_lowpass(10.0, FS, order=4),
    "high": lambda: butter_highpass(0.5, FS, order=2),
    "band": lambda: butter_bandpass(0.1, 20.0, FS, order=3),
    "low8": lambda: butter_lowpass(5.0, FS, order=8),
}


def _signal(n: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    return np.sin(2 * np.pi * 1.3 * t)[:, None] + 0.5 * rng.standard_normal((n, c)) + 3.0


def test_design_helpers_equal_scipy_butter():
    np.testing.assert_array_equal(butter_lowpass(10, FS, 4), ss.butter(4, 10, "lowpass", fs=FS, output="sos"))
    np.testing.assert_array_equal(butter_highpass(0.5, FS, 2), ss.butter(2, 0.5, "highpass", fs=FS, output="sos"))
    np.testing.assert_array_equal(
        butter_bandpass(0.1, 20, FS, 3), ss.butter(3, [0.1, 20], "bandpass", fs=FS, output="sos")
    )


@pytest.mark.parametrize("bad", [(0.0, FS), (50.0, FS), (60.0, FS), (10.0, 0.0)])
def test_design_rejects_cutoffs_outside_nyquist(bad):
    with pytest.raises(ValueError, match=r"cutoff|fs_hz"):
        butter_lowpass(*bad)


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_sosfilter_equals_scipy_sosfilt(design):
    sos = DESIGNS[design]()
    x = _signal(3000, 6)
    ref = ss.sosfilt(sos, x, axis=0)
    y = SosFilter(sos, n_channels=6).process(x)
    assert np.max(np.abs(y - ref)) <= 1e-12
    np.testing.assert_array_equal(y, ref)  # the arithmetic order is scipy's: bit-identical


def test_sosfilter_state_is_scipy_zi_and_carries_over():
    sos = DESIGNS["band"]()
    x = _signal(1000, 3, seed=1)
    zi0 = np.random.default_rng(2).standard_normal((sos.shape[0], 2, 3))
    f = SosFilter(sos, n_channels=3)
    f.state = SosFilterState(zi=zi0, started=True)
    y = f.process(x)
    ref, zf = ss.sosfilt(sos, x, axis=0, zi=zi0)
    np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(f.state.zi, zf)
    with pytest.raises(ValueError, match=r"zi.*shape"):
        f.state = SosFilterState(zi=zi0[:, :, :2], started=True)


def test_sosfilter_steady_initial_conditions_equal_sosfilt_zi():
    sos = DESIGNS["low"]()
    x = _signal(500, 2, seed=3)
    f = SosFilter(sos, n_channels=2, initial="steady")
    y = f.process(x)
    zi = ss.sosfilt_zi(sos)[:, :, None] * x[0][None, None, :]
    ref, _ = ss.sosfilt(sos, x, axis=0, zi=zi)
    np.testing.assert_array_equal(y, ref)
    # a constant input stays exactly constant-ish from the first sample (no start-up transient)
    c = np.full((200, 2), 9.81)
    g = SosFilter(sos, n_channels=2, initial="steady")
    assert np.max(np.abs(g.process(c) - 9.81)) < 1e-12


def test_reset_restores_initial_behaviour():
    sos = DESIGNS["high"]()
    x = _signal(400, 2)
    for initial in ("zero", "steady"):
        f = SosFilter(sos, n_channels=2, initial=initial)
        first = f.process(x)
        f.reset()
        np.testing.assert_array_equal(f.process(x), first)


def test_kernel_equals_pure_python_reference():
    sos = DESIGNS["low8"]()
    x = _signal(300, 3, seed=4)
    zi = np.random.default_rng(5).standard_normal((sos.shape[0], 2, 3))
    ref_y, ref_zf = sos_reference(sos, x, zi)
    zk = zi.copy()
    y = np.empty_like(x)
    sos_filter_into(sos, x, zk, y)
    np.testing.assert_allclose(y, ref_y, rtol=0, atol=1e-13)
    np.testing.assert_allclose(zk, ref_zf, rtol=0, atol=1e-13)


def test_reverse_kernel_and_odd_extension_equal_references():
    from scipy.signal._arraytools import odd_ext

    from dmi_sensors.dsp._sos_kernels import odd_extend, sos_filter_reverse_into

    sos = DESIGNS["band"]()
    x = _signal(120, 2, seed=8)
    zi = np.random.default_rng(9).standard_normal((sos.shape[0], 2, 2))
    ref_y, ref_zf = sos_reference(sos, x[::-1], zi)
    zk = zi.copy()
    y = np.empty_like(x)
    sos_filter_reverse_into(sos, x, zk, y)
    np.testing.assert_allclose(y[::-1], ref_y, rtol=0, atol=1e-13)
    np.testing.assert_allclose(zk, ref_zf, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(odd_extend(x, 17), odd_ext(x, 17, axis=0))


def test_one_dimensional_input_and_in_place_output():
    sos = DESIGNS["low"]()
    x = _signal(200, 1)[:, 0]
    y = SosFilter(sos, n_channels=1).process(x)
    np.testing.assert_array_equal(y[:, 0], ss.sosfilt(sos, x))
    buf = _signal(200, 2)
    ref = ss.sosfilt(sos, buf, axis=0)
    out = SosFilter(sos, n_channels=2).process(buf, out=buf)
    assert out is buf
    np.testing.assert_array_equal(buf, ref)


def _general_sos(n_sections: int, seed: int) -> np.ndarray:
    """Stable sections with arbitrary numerators (no Butterworth symmetry to exploit)."""
    rng = np.random.default_rng(seed)
    sos = np.zeros((n_sections, 6))
    sos[:, :3] = rng.normal(size=(n_sections, 3))
    sos[:, 3] = 1.0
    r, th = rng.uniform(0.3, 0.95, n_sections), rng.uniform(0.1, 3.0, n_sections)
    sos[:, 4], sos[:, 5] = -2 * r * np.cos(th), r**2
    return sos


KERNEL_DESIGNS = {
    **DESIGNS,
    "general1": lambda: _general_sos(1, 1),
    "general3": lambda: _general_sos(3, 2),
    "general4": lambda: _general_sos(4, 3),
    # b2 == b0 as numbers but not as bits (0.0 vs -0.0): must take the general path
    "signed_zero": lambda: np.array([[0.0, 0.5, -0.0, 1.0, -0.5, 0.1], [1.0, 2.0, 1.0, 1.0, 0.2, 0.05]]),
    "mixed": lambda: np.vstack([_general_sos(1, 4), butter_lowpass(10.0, FS, order=4)]),
}


@pytest.mark.parametrize("design", sorted(KERNEL_DESIGNS))
@pytest.mark.parametrize("n_channels", [1, 2, 3, 4, 6, 7])
def test_pass_kernels_equal_the_reference_bit_for_bit(design, n_channels):
    """The section-pair passes (channel groups of 3 and 1, Butterworth shortcuts, odd last
    section) give exactly the row-by-row arithmetic, forward and backward, state included."""
    from dmi_sensors.dsp._sos_kernels import PASS_MIN_ROWS, sos_filter_passes_into, sos_filter_reverse_into

    sos = KERNEL_DESIGNS[design]()
    x = _signal(3 * PASS_MIN_ROWS + 5, n_channels, seed=n_channels)
    x[7, 0] = -0.0
    zi = np.random.default_rng(6).standard_normal((sos.shape[0], 2, n_channels))
    for kernel, data in ((sos_filter_passes_into, x), (sos_filter_reverse_into, x[::-1])):
        ref_y, ref_zf = sos_reference(sos, data, zi)
        zk = zi.copy()
        y = np.empty_like(x)
        kernel(sos, x, zk, y)
        got = y if kernel is sos_filter_passes_into else y[::-1]
        assert got.tobytes() == ref_y.tobytes(), kernel.__name__
        assert zk.tobytes() == ref_zf.tobytes(), kernel.__name__
        inplace = x.copy()
        zk = zi.copy()
        kernel(sos, inplace, zk, inplace)
        assert inplace.tobytes() == y.tobytes()
    f = SosFilter(sos, n_channels=n_channels)
    f.state = SosFilterState(zi=zi, started=True)
    assert f.process(x).tobytes() == sos_reference(sos, x, zi)[0].tobytes()


def test_started_filter_checks_its_inputs_too():
    """After the first call the packet fast path runs; every kind of input still works or fails clearly."""
    sos = DESIGNS["low"]()
    x = _signal(40, 3, seed=11)
    ref = ss.sosfilt(sos, x, axis=0)
    f = SosFilter(sos, n_channels=3)
    parts = [f.process(x[:5])]
    parts.append(f.process(np.asfortranarray(x[5:12])))  # not C-contiguous
    parts.append(f.process(np.hstack([x, x])[12:18, :3]))  # a strided view
    parts.append(f.process(x[18:20].tolist()))  # a list
    ro = x[20:25].copy()
    ro.flags.writeable = False
    parts.append(f.process(ro))  # read-only input
    out = np.empty((15, 3))
    assert f.process(x[25:40], out) is out
    parts.append(out)
    np.testing.assert_array_equal(np.concatenate(parts), ref)
    with pytest.raises(ValueError, match="3 channels"):
        f.process(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="shape"):
        f.process(np.zeros((10, 3)), out=np.zeros((10, 2)))
    with pytest.raises(ValueError, match="shape"):
        f.process(np.zeros((10, 3)), out=np.zeros((10, 3), dtype=np.float32))
    np.testing.assert_array_equal(f.state.zi, ss.sosfilt(sos, x, axis=0, zi=np.zeros((2, 2, 3)))[1])
    one = SosFilter(sos, n_channels=1)
    y = np.concatenate([one.process(x[:10, 0]), one.process(x[10:, 0])])  # 1-D input, started
    np.testing.assert_array_equal(y[:, 0], ss.sosfilt(sos, x[:, 0]))


def test_wrong_channel_count_is_rejected():
    f = SosFilter(DESIGNS["low"](), n_channels=3)
    with pytest.raises(ValueError, match="3 channels"):
        f.process(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="shape"):
        f.process(np.zeros((10, 3)), out=np.zeros((10, 2)))


@settings(max_examples=40, deadline=None)
@given(
    design=st.sampled_from(sorted(DESIGNS)),
    initial=st.sampled_from(["zero", "steady"]),
    cuts=st.lists(st.integers(min_value=0, max_value=257), max_size=8),
)
def test_chunk_invariance(design, initial, cuts):
    """Any split of the input into process() calls gives bit-identical output."""
    sos = DESIGNS[design]()
    x = _signal(257, 4, seed=7)
    whole = SosFilter(sos, n_channels=4, initial=initial).process(x)
    f = SosFilter(sos, n_channels=4, initial=initial)
    bounds = [0, *sorted(cuts), len(x)]
    parts = [f.process(x[a:b]) for a, b in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


# ----------------------------------------------------------------------------- zero phase
@pytest.mark.parametrize("design", sorted(DESIGNS))
@pytest.mark.parametrize("n", [100, 1001])
def test_filtfilt_equals_scipy_sosfiltfilt(design, n):
    sos = DESIGNS[design]()
    x = _signal(n, 3, seed=n)
    ref = ss.sosfiltfilt(sos, x, axis=0)
    y = filtfilt(sos, x)
    assert y.shape == x.shape
    assert np.max(np.abs(y - ref)) <= 1e-12


def test_filtfilt_one_dimensional_and_explicit_padlen():
    sos = DESIGNS["band"]()
    x = _signal(400, 1)[:, 0]
    for padlen in (None, 0, 17, 150):
        ref = ss.sosfiltfilt(sos, x, padlen=padlen)
        y = filtfilt(sos, x, padlen=padlen)
        assert y.shape == x.shape
        assert np.max(np.abs(y - ref)) <= 1e-12
    assert ZeroPhaseSosFilter(sos).padlen is None  # kept as given: scipy's default
    np.testing.assert_array_equal(ZeroPhaseSosFilter(sos).process(x), filtfilt(sos, x))
    np.testing.assert_array_equal(ZeroPhaseSosFilter(sos, padlen=17).process(x), filtfilt(sos, x, padlen=17))


def test_filtfilt_too_short_raises():
    sos = DESIGNS["low"]()
    with pytest.raises(ValueError, match="longer than padlen"):
        filtfilt(sos, np.zeros(sosfiltfilt_padlen(sos)))


def test_lowpass_physics_gain_and_zero_phase():
    """A 1 Hz sine passes a 10 Hz low-pass unchanged in amplitude; zero-phase keeps its timing;
    a 30 Hz sine is attenuated by |H(30 Hz)|^2 (two passes)."""
    sos = butter_lowpass(10.0, FS, order=4)
    t = np.arange(4000) / FS
    slow = np.sin(2 * np.pi * 1.0 * t)
    fast = np.sin(2 * np.pi * 30.0 * t)
    y = filtfilt(sos, slow)
    mid = slice(500, 3500)
    np.testing.assert_allclose(y[mid], slow[mid], atol=2e-3)
    _, h = ss.sosfreqz(sos, worN=[30.0], fs=FS)
    yf = filtfilt(sos, fast)
    amp = np.sqrt(2) * np.std(yf[mid])
    np.testing.assert_allclose(amp, np.abs(h[0]) ** 2, rtol=0.02)
    # causal filter: delayed by the group delay, DC gain exactly 1 at steady state
    c = SosFilter(sos, n_channels=1).process(np.ones(2000))
    assert abs(c[-1, 0] - 1.0) < 1e-12


# ----------------------------------------------------------------------------- design cache
def test_design_cache_returns_scipy_numbers_exactly(tmp_path, monkeypatch):
    from dmi_sensors.dsp import _design

    monkeypatch.setenv("DMI_SENSORS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_design, "_MEMORY", {})
    sos, zi = _design.butter_design("bandpass", 3, (0.2, 7.5), 64.0)
    np.testing.assert_array_equal(sos, ss.butter(3, [0.2, 7.5], "bandpass", fs=64.0, output="sos"))
    np.testing.assert_array_equal(zi, ss.sosfilt_zi(sos))
    assert _design.cache_path().parent == tmp_path and _design.cache_path().exists()
    # a new process (empty memory) reads the same numbers back from disk, without scipy
    monkeypatch.setattr(_design, "_MEMORY", {})
    sos2, zi2 = _design.butter_design("bandpass", 3, (0.2, 7.5), 64.0)
    np.testing.assert_array_equal(sos2, sos)
    np.testing.assert_array_equal(zi2, zi)
    np.testing.assert_array_equal(_design.steady_state_zi(sos), ss.sosfilt_zi(sos))


def test_design_cache_survives_a_corrupt_or_unwritable_file(tmp_path, monkeypatch):
    from dmi_sensors.dsp import _design

    monkeypatch.setattr(_design, "_MEMORY", {})
    monkeypatch.setenv("DMI_SENSORS_CACHE_DIR", str(tmp_path))
    _design.cache_path().write_text('{"lowpass|4|[10.0]|100.0|scipy-x": {"sos": "garbage"')
    np.testing.assert_array_equal(butter_lowpass(10.0, FS), ss.butter(4, 10.0, fs=FS, output="sos"))
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    monkeypatch.setenv("DMI_SENSORS_CACHE_DIR", str(blocked / "sub"))
    monkeypatch.setattr(_design, "_MEMORY", {})
    np.testing.assert_array_equal(butter_highpass(1.0, FS), ss.butter(4, 1.0, "highpass", fs=FS, output="sos"))


@pytest.mark.skipif(JIT_DISABLED, reason="no compiled kernels with NUMBA_DISABLE_JIT=1")
def test_packet_kernel_is_loaded_on_first_use_not_at_import():
    """Importing dmi_sensors.dsp loads no kernel (start-up time); a SosFilter readies it."""
    import subprocess
    import sys

    code = (
        "import dmi_sensors.dsp as d, dmi_sensors.dsp._sos_kernels as k\n"
        "before = len(k.sos_packet_into.signatures)\n"
        "d.SosFilter(d.butter_lowpass(5.0, 100.0), n_channels=2)\n"
        "print(before, len(k.sos_packet_into.signatures))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "1"]
