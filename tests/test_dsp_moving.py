"""The one moving mean / moving RMS (``dsp.moving_mean``, ``dsp.moving_rms``) against
direct per-sample references: both alignments, odd and even widths, 1-D and 2-D, and the
precision of a quiet stretch after a loud one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import ref_moving_rms

from dmi_sensors.dsp import moving_mean, moving_rms
from dmi_sensors.errors import ParameterError


def _ref_mean(x, width, alignment):
    n = x.shape[0]
    out = np.full(x.shape, np.nan)
    for i in range(n):
        if alignment == "trailing":
            if i >= width - 1:
                out[i] = x[i - width + 1 : i + 1].mean(axis=0)
        else:
            lo = max(0, i - width // 2)
            out[i] = x[lo : min(n, i - width // 2 + width)].mean(axis=0)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 80),
    st.sampled_from(["centred", "trailing"]),
    st.sampled_from([(), (1,), (3,)]),
    st.integers(0, 2**31 - 1),
)
def test_moving_mean_matches_reference(n, width, alignment, cols, seed):
    x = np.random.default_rng(seed).normal(size=(n, *cols)) * 3.0 + 1.5
    out = moving_mean(x, width, alignment)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, _ref_mean(x, width, alignment), rtol=1e-10, atol=1e-12)
    rms = moving_rms(x, width, alignment)
    np.testing.assert_allclose(rms, np.sqrt(_ref_mean(x * x, width, alignment)), rtol=1e-10, atol=1e-12)


def test_moving_mean_refuses_bad_arguments():
    for width, alignment, x in [(0, "centred", np.ones(5)), (2.5, "centred", np.ones(5)), (3, "left", np.ones(5)),
                                (3, "centred", np.ones((2, 2, 2)))]:  # fmt: skip
        with pytest.raises(ParameterError):
            moving_mean(x, width, alignment)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(0, 60), st.integers(0, 2**31 - 1))
def test_moving_rms_matches_reference(n, half, seed):
    x = np.random.default_rng(seed).normal(size=n)
    np.testing.assert_allclose(
        moving_rms(x, 2 * max(half, 1) + 1), ref_moving_rms(x, max(half, 1)), rtol=1e-10, atol=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 400), st.integers(1, 120), st.integers(0, 2**31 - 1))
def test_trailing_moving_rms_matches_reference(n, width, seed):
    x = np.random.default_rng(seed).normal(size=n)
    out = moving_rms(x, width, "trailing")
    ref = np.array([np.sqrt(np.mean(x[i - width + 1 : i + 1] ** 2)) if i >= width - 1 else np.nan for i in range(n)])
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("width", [1, 2, 3, 7, 50])
def test_moving_rms_of_a_quiet_stretch_after_a_loud_one_keeps_its_precision(width):
    """Hypothesis found it: after 300 samples of unit size a value of 4e-7 came out 5 % wrong
    (a cumulative sum of squares over the whole signal cancels). The sliding sums are summed
    afresh every window: once the loud samples are two windows away a quiet value is exact
    to 1e-10; everywhere the squared error stays at round-off of the nearby squares."""
    x = np.concatenate([np.random.default_rng(1).normal(size=300), np.full(250, 4e-7), [3.0], np.full(250, -2e-9)])
    loud = np.abs(x) > 1e-3
    half = width // 2 + 1
    ref_t = np.array(
        [np.sqrt(np.mean(x[i - width + 1 : i + 1] ** 2)) if i >= width - 1 else np.nan for i in range(x.size)]
    )
    cases = [
        (moving_rms(x, width, "trailing"), ref_t, width, 0),
        (moving_rms(x, 2 * half + 1), ref_moving_rms(x, half), 2 * half + 1, half),
    ]
    for out, ref, w, ahead in cases:
        ok = np.isfinite(ref)
        near = np.array([np.sum(x[max(0, i - 2 * w) : i + ahead + 1] ** 2) for i in range(x.size)])
        assert np.all(np.abs(out[ok] ** 2 - ref[ok] ** 2) <= 1e-14 * near[ok] + 1e-300)
        far = ok & np.array([not loud[max(0, i - 2 * w) : i + ahead + 1].any() for i in range(x.size)])
        assert far.sum() >= 200  # both quiet stretches are checked
        np.testing.assert_allclose(out[far], ref[far], rtol=1e-10, atol=0)
