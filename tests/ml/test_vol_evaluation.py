"""Rolling HAR and the evaluation: batched forecasts equal HARFit.forecast, no look-ahead, table
shape, HAR beats the random walk on a persistent process, plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantsentinel.ml.vol.evaluation import VolEvaluation, evaluate_vol_models, score_table
from quantsentinel.ml.vol.har import HARError, HARSpec
from quantsentinel.ml.vol.rolling import rolling_har_forecasts
from quantsentinel.ml.vol.treatments import fit_treated, treated_history

HS = (1, 5, 22)
SMALL = {"har_window": 200, "garch_window": 200, "refit_every": 50, "ensemble_window": 30}


def persistent_process(n: int = 460, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Latent log variance AR(1) with phi = 0.98 (highly persistent, as daily RV is), measured
    with noise; 6% of days carry a jump (RV = C + J, BV tracks C); returns ~ N(0, v + J)."""
    rng = np.random.default_rng(seed)
    mu = np.log(1e-4)
    lv = np.full(n, mu)
    for t in range(1, n):
        lv[t] = mu + 0.98 * (lv[t - 1] - mu) + 0.2 * rng.standard_normal()
    v = np.exp(lv)
    cont = v * np.exp(0.35 * rng.standard_normal(n) - 0.35**2 / 2)
    jump_day = rng.random(n) < 0.06
    jump = np.where(jump_day, 2.0 * v * rng.exponential(1.0, n), 0.0)
    idx = pd.bdate_range("2016-01-01", periods=n, name="date")
    measures = pd.DataFrame(
        {
            "realized_variance": cont + jump,
            "bipower_variation": cont * np.exp(0.05 * rng.standard_normal(n)),
            "jump_detected": pd.array(jump_day, dtype="boolean"),
            "expiry_week": rng.random(n) < 0.2,
        },
        index=idx,
    )
    returns = pd.Series(np.sqrt(v + jump) * rng.standard_normal(n), index=idx)
    return measures, returns


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    return persistent_process()


@pytest.fixture(scope="module")
def evaluation(data: tuple[pd.DataFrame, pd.Series]) -> VolEvaluation:
    measures, returns = data
    return evaluate_vol_models(measures, returns, underlying=None, **SMALL)


# --- rolling HAR ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("treatment", "spec"),
    [("none", HARSpec()), ("cj", HARSpec()), ("downweight", HARSpec(form="rv"))],
)
def test_batched_rolling_forecasts_equal_harfit_forecast(
    data: tuple[pd.DataFrame, pd.Series], treatment: str, spec: HARSpec
) -> None:
    measures = data[0].iloc[:300]
    window, every = 200, 30
    fc = rolling_har_forecasts(
        measures, treatment, window=window, refit_every=every, horizons=HS, spec=spec
    )
    assert fc.iloc[: window - 1].isna().all().all() and fc.iloc[window - 1 :].notna().all().all()
    assert fc.attrs["n_refits"] == 4 and list(fc.columns) == list(HS)
    for origin in (window - 1, window + every - 2, window + every - 1, len(measures) - 1):
        refit = window - 1 + (origin - window + 1) // every * every
        fit = fit_treated(measures.iloc[refit - window + 1 : refit + 1], treatment, spec=spec)
        ref = fit.forecast(treated_history(measures.iloc[: origin + 1], treatment), HS)
        np.testing.assert_allclose(fc.iloc[origin], ref["rv_forecast"], rtol=1e-9)


def test_rolling_expanding_window_and_bad_input(data: tuple[pd.DataFrame, pd.Series]) -> None:
    measures = data[0].iloc[:260]
    expanding = rolling_har_forecasts(measures, "none", window=None, min_train=200, horizons=(1,))
    assert expanding[1].first_valid_index() == measures.index[199]
    with pytest.raises(HARError) as err:
        rolling_har_forecasts(measures, "none", window=300)
    assert err.value.reason == "too_short"
    gap = measures.copy()
    gap.iloc[100, 0] = np.nan
    with pytest.raises(HARError) as err:
        rolling_har_forecasts(gap, "none", window=200)
    assert err.value.reason == "nan_gaps"


# --- evaluation ----------------------------------------------------------------------------------


def test_no_look_ahead(data: tuple[pd.DataFrame, pd.Series]) -> None:
    """Forecasts and weights up to t are unchanged when everything after t is altered."""
    measures, returns = data
    cut = 300
    after = measures.index > measures.index[cut]
    altered = measures.copy()
    altered.loc[after, ["realized_variance", "bipower_variation"]] *= 3.0
    altered.loc[after, "jump_detected"] = ~altered.loc[after, "jump_detected"]
    bumped = returns.where(~after, returns * 2.0)
    fixed = {
        "treatment": "cj",
        "garch_kind": "garch",
        "garch_kinds": ("garch",),
        "horizons": (1, 5),
    }
    base = evaluate_vol_models(measures, returns, underlying=None, **SMALL, **fixed)
    other = evaluate_vol_models(altered, bumped, underlying=None, **SMALL, **fixed)
    upto = measures.index[: cut + 1]
    for name, frame in base.forecasts.items():
        pd.testing.assert_frame_equal(frame.loc[upto], other.forecasts[name].loc[upto], obj=name)
        assert not frame.iloc[cut + 1 :].equals(other.forecasts[name].iloc[cut + 1 :]), name
    pd.testing.assert_frame_equal(base.weights.loc[upto], other.weights.loc[upto])
    assert base.forecasts["ensemble"].loc[upto].notna().any().all()  # the test bites


def test_evaluation_table_shape_and_common_sample(evaluation: VolEvaluation) -> None:
    table = evaluation.table
    models = [
        "ensemble",
        "har",
        "garch",
        "har_none",
        "har_downweight",
        "har_cj",
        "garch_garch",
        "garch_gjr",
        "garch_raw",
        "random_walk",
        "rolling_mean",
    ]
    assert list(table.columns) == [
        "model",
        "horizon",
        "n",
        "qlike",
        "mse",
        "oos_r2_rw",
        "oos_r2_mean",
    ]
    assert len(table) == len(models) * len(HS)
    assert set(table["model"]) == set(models) and sorted(set(table["horizon"])) == list(HS)
    assert table.groupby("horizon")["n"].nunique().eq(1).all()  # one sample per horizon
    assert table[["qlike", "mse"]].notna().all().all() and (table["n"] > 100).all()
    naive = table.set_index(["model", "horizon"])
    assert (naive.xs("random_walk")["oos_r2_rw"] == 0).all()
    assert (naive.xs("rolling_mean")["oos_r2_mean"] == 0).all()
    assert evaluation.chosen_treatment in ("none", "downweight", "cj")
    assert evaluation.garch_kind in ("garch", "gjr")
    chosen = evaluation.treatment_table.query("chosen")
    assert set(chosen["treatment"]) == {evaluation.chosen_treatment}
    assert (
        evaluation.treatment_table.query("horizon == 1 and model.str.startswith('har_')")["status"]
        == "fitted"
    ).all()
    pd.testing.assert_frame_equal(
        evaluation.forecasts["har"], evaluation.forecasts[f"har_{evaluation.chosen_treatment}"]
    )
    assert evaluation.weights.columns.names == ["horizon", "member"]


def test_chosen_treatment_has_lowest_h1_qlike(evaluation: VolEvaluation) -> None:
    tt = evaluation.treatment_table.query("horizon == 1 and model.str.startswith('har_')")
    assert tt.loc[tt["qlike"].idxmin(), "treatment"] == evaluation.chosen_treatment


def test_har_beats_random_walk_on_a_persistent_process(evaluation: VolEvaluation) -> None:
    t = evaluation.table.set_index(["model", "horizon"])
    for h in HS:
        assert t.loc[("har", h), "qlike"] < t.loc[("random_walk", h), "qlike"]
        assert t.loc[("har", h), "oos_r2_rw"] > 0
        assert t.loc[("ensemble", h), "qlike"] < t.loc[("random_walk", h), "qlike"]


def test_unidentifiable_treatments_equal_none(data: tuple[pd.DataFrame, pd.Series]) -> None:
    measures, returns = data
    plain = measures.assign(
        bipower_variation=measures["realized_variance"], jump_detected=False, expiry_week=False
    )
    ev = evaluate_vol_models(
        plain, returns, underlying=None, **SMALL, garch_kinds=("garch",), horizons=(1, 5)
    )
    assert ev.chosen_treatment == "none"
    pd.testing.assert_frame_equal(ev.forecasts["har_cj"], ev.forecasts["har_none"])
    assert any("equals none" in n for n in ev.notes)


def test_score_table_adds_naives_and_plot(evaluation: VolEvaluation) -> None:
    rv = evaluation.realized
    table = score_table({"har": evaluation.forecasts["har"]}, rv)
    assert set(table["model"]) == {"har", "random_walk", "rolling_mean"}
    fig = evaluation.plot()
    ax = fig.axes[0]
    assert {line.get_label() for line in ax.get_lines()} >= {"ensemble", "random_walk"}
    fig.canvas.draw()  # renders headless (Agg)


def test_bad_input(data: tuple[pd.DataFrame, pd.Series]) -> None:
    measures, returns = data
    with pytest.raises(ValueError, match="select_on"):
        evaluate_vol_models(measures, returns, underlying=None, select_on=2)
    with pytest.raises(HARError) as err:
        evaluate_vol_models(measures.iloc[::-1], returns, underlying=None)
    assert err.value.reason == "missing_input"
