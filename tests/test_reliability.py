"""Is this change real? (issue 14.2): ICC, SEM, MDC95 and the change verdict.

Check values: Shrout & Fleiss 1979 Table 2 (published ICCs, reproduced by DescTools/psych),
the two-occasion identity SEM = SD(differences)/√2 (science notes §5.4), and simulated
sessions whose true sway changes by known multiples of the MDC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.reliability import (
    MDC_FACTOR,
    anova,
    change_table,
    icc,
    mdc95,
    one_way_repeatability,
)

#: Shrout & Fleiss 1979, Table 2: 6 targets (rows) x 4 judges (columns).
SF_TABLE = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)


def test_shrout_fleiss_table_2():
    a = anova(SF_TABLE)
    assert a.ms_r == pytest.approx(11.2417, abs=1e-4)
    assert a.ms_c == pytest.approx(32.4861, abs=1e-4)
    assert a.ms_e == pytest.approx(1.0194, abs=1e-4)
    assert a.ms_w == pytest.approx(6.2639, abs=1e-4)
    expected = {"1,1": 0.1657, "2,1": 0.2898, "3,1": 0.7148, "1,k": 0.4428, "2,k": 0.6201, "3,k": 0.9093}
    for form, value in expected.items():
        assert icc(SF_TABLE, form) == pytest.approx(value, abs=1e-4), form
    # SEM = sqrt(MS_E) = 1.0097, MDC95 = 2.7987 (science notes §5.4)
    assert mdc95(np.sqrt(a.ms_e)) == pytest.approx(2.7987, abs=1e-4)
    with pytest.raises(ParameterError):
        icc(SF_TABLE, "4,1")
    with pytest.raises(ParameterError):
        anova([[1.0, 2.0]])


def test_sem_of_two_occasions_is_sd_of_differences_over_root_two():
    pairs = np.array([[10, 12], [20, 19], [30, 33], [40, 38], [50, 52]], dtype=float)
    a = anova(pairs)
    sd_diff = np.std(pairs[:, 1] - pairs[:, 0], ddof=1)
    assert sd_diff == pytest.approx(2.1679, abs=1e-4)
    assert np.sqrt(a.ms_e) == pytest.approx(1.5330, abs=1e-4)
    assert np.sqrt(a.ms_e) == pytest.approx(sd_diff / np.sqrt(2))
    assert pytest.approx(2.7718, abs=1e-4) == MDC_FACTOR


def test_one_way_repeatability_pools_within_session_variance():
    groups = [[1.0, 2.0, 3.0], [5.0, 7.0], [4.0]]  # the single value is left out
    rep = one_way_repeatability(groups)
    assert rep is not None
    # pooled variance = (2 + 2) / (2 + 1) = 4/3
    assert rep.sem == pytest.approx(np.sqrt(4 / 3))
    assert rep.df == 3 and rep.groups == 2 and rep.n == 5
    # balanced groups: the k0 formula reduces to ICC(1,1) of the table
    table = np.array([[1.0, 2.0, 3.0], [5.0, 7.0, 6.0], [2.0, 2.5, 4.0]])
    rep = one_way_repeatability(table.tolist())
    assert rep.icc_1_1 == pytest.approx(icc(table, "1,1"))
    assert one_way_repeatability([[1.0], [2.0]]) is None


def test_change_table_rows_and_verdicts():
    rows = []
    for sid, date, values in ((1, "2026-01-01", [10, 11, 9, 10]), (2, "2026-01-08", [20, 21, 19, 20]),
                              (3, "2026-01-15", [20.5, 19.5, 21, 20])):  # fmt: skip
        for v in values:
            rows.append({"session_id": sid, "session_date_text": date, "exercise": "e", "support": "none", "m": v})
    rows.append({"session_id": 3, "session_date_text": "2026-01-15", "exercise": "f", "support": "none", "m": 1.0})
    table = change_table(pd.DataFrame(rows), ["m"], log_metrics=())
    assert list(zip(table.from_session, table.to_session, strict=True)) == [(1, 2), (2, 3), (1, 3)]
    sem = np.sqrt(np.mean([np.var([10, 11, 9, 10], ddof=1), np.var([20, 21, 19, 20], ddof=1),
                           np.var([20.5, 19.5, 21, 20], ddof=1)]))  # fmt: skip
    assert table["sem"].iloc[0] == pytest.approx(sem)
    assert table["mdc95"].iloc[0] == pytest.approx(MDC_FACTOR * sem)
    assert table.verdict.tolist() == [
        "beyond measurement noise",
        "within measurement noise",
        "beyond measurement noise",
    ]
    assert table.change.iloc[0] == pytest.approx(10.0)
    assert table.change_pct.iloc[0] == pytest.approx(100.0)
    assert table.scale.iloc[0] == "linear"
    # the log scale (default for positive values): geometric means, the MDC as a ratio
    logged = change_table(pd.DataFrame(rows), ["m"])
    assert logged.scale.iloc[0] == "log"
    assert logged.value_from.iloc[0] == pytest.approx(np.exp(np.mean(np.log([10, 11, 9, 10]))))
    lsem = logged["sem"].iloc[0]
    assert logged.mdc95_pct.iloc[0] == pytest.approx(100 * np.expm1(MDC_FACTOR * lsem))
    assert logged.beyond.tolist() == [True, False, True]
    # one repetition in a session: no verdict
    few = pd.DataFrame(
        [{"session_id": s, "exercise": "e", "support": "none", "m": v} for s, v in ((1, 1.0), (1, 2.0), (2, 5.0))]
    )
    t = change_table(few, ["m"])
    assert t.verdict.tolist() == ["too few repetitions"] and t.beyond.iloc[0] is None


# --- simulated sessions with known changes -----------------------------------------------------

H = 0.55
HOLD_S = 6.0
REPS = 4


def _session(scale: float, seed: int, reps: int = REPS) -> np.ndarray:
    """COM RMS AP (mm) of each repetition hold of a simulated standing exercise, through
    :func:`analyse_trial` (``scale``: the body's sway noise, so the sway amplitude)."""
    from dmi_sensors.analysis.trial import analyse_trial
    from dmi_sensors.sim import BodyParams, Segment, simulate

    r = simulate([Segment("standing", reps * HOLD_S, label="stand")], seed=seed,
                 body=BodyParams(com_height_m=H, noise_scale=scale))  # fmt: skip
    events = pd.DataFrame(
        {
            "onset_s": [i * HOLD_S for i in range(reps)],
            "duration_s": [HOLD_S] * reps,
            "exercise": ["stand"] * reps,
            "repetition": list(range(1, reps + 1)),
            "support": ["none"] * reps,
            "source": ["manual"] * reps,
        }
    )
    w = analyse_trial(r.to_trial(), events=events, com_height_m=H).windows
    return w.loc[w.window_kind == "segment", "com_rms_ap_mm"].to_numpy(dtype=float)


def _table(before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    rows = [{"session_id": 1, "exercise": "stand", "support": "none", "m": v} for v in before]
    rows += [{"session_id": 2, "exercise": "stand", "support": "none", "m": v} for v in after]
    return change_table(pd.DataFrame(rows), ["m"])


@pytest.mark.slow
def test_known_changes_are_detected_and_small_ones_are_not():
    """Sessions whose true sway changes by 3 × and 0.3 × the MDC95 of one repetition: the
    3 × change is found in >= 95 % of 40 seeds, the 0.3 × change called real in <= 5 %.

    The COM RMS is analysed on the log scale (a ratio), so the known change is a factor on the
    sway: ``scale = exp(f · MDC95_ln)``, with ``MDC95_ln`` from a reference population (12
    sessions × 10 repetitions); the change realised through the whole simulation and analysis
    is checked on the same noise (common random numbers) before the verdicts are counted.
    """
    reference = [np.log(_session(1.0, 10_000 + i, 10)) for i in range(12)]
    rep = one_way_repeatability(reference)
    assert rep is not None and rep.df == 108
    mdc_ln = rep.mdc95
    scales = {f: float(np.exp(f * mdc_ln)) for f in (3.0, 0.3)}
    for f, scale in scales.items():  # the amount is known: realised on the reference noise
        moved = [np.log(_session(scale, 10_000 + i, 10)) for i in range(12)]
        realised = float(np.mean(np.concatenate(moved)) - np.mean(np.concatenate(reference))) / mdc_ln
        assert realised == pytest.approx(f, rel=0.1), (f, realised)
    found = {f: 0 for f in scales}
    seeds = range(40)
    for seed in seeds:
        before = _session(1.0, seed)
        for f, scale in scales.items():
            table = _table(before, _session(scale, 5000 + seed))
            assert table.scale.iloc[0] == "log" and table.n_from.iloc[0] == REPS
            found[f] += bool(table.beyond.iloc[0])
    rate = {f: n / len(seeds) for f, n in found.items()}
    assert rate[3.0] >= 0.95, rate
    assert rate[0.3] <= 0.05, rate
