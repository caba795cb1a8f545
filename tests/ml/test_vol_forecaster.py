"""The served forecaster: frozen fits round-trip through JSON, forecast from history with the
day's ensemble weights, refuse bad history by name, and fall back to the documented baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar
from quantsentinel.ml.models.vol_forecaster import serve_forecast
from quantsentinel.ml.vol.forecaster import (
    BASELINE_WINDOW,
    ForecastError,
    UnderlyingFit,
    VolForecaster,
    baseline_forecast,
)
from quantsentinel.ml.vol.garch import fit_garch
from quantsentinel.ml.vol.treatments import fit_treated


def synthetic_measures(n: int = 700, seed: int = 3) -> pd.DataFrame:
    """A persistent log-variance process with returns drawn at that variance (a stochastic-vol
    model HAR and GARCH both approximate), on real trading days."""
    rng = np.random.default_rng(seed)
    log_var = np.empty(n)
    log_var[0] = np.log(1e-4)
    for t in range(1, n):
        log_var[t] = np.log(1e-4) * 0.03 + 0.97 * log_var[t - 1] + 0.25 * rng.standard_normal()
    var = np.exp(log_var)
    days = calendar.trading_days(date(2022, 1, 3), date(2026, 1, 1))[:n]
    rv = var * rng.chisquare(20, n) / 20  # a noisy but unbiased proxy of the day's variance
    return pd.DataFrame(
        {
            "realized_variance": rv,
            "bipower_variation": rv * 0.95,
            "jump_detected": False,
            "daily_return": np.sqrt(var) * rng.standard_normal(n),
        },
        index=pd.Index(days, name="date"),
    )


@pytest.fixture(scope="module")
def measures() -> pd.DataFrame:
    return synthetic_measures()


@pytest.fixture(scope="module")
def forecaster(measures: pd.DataFrame) -> VolForecaster:
    train = measures.iloc[:500]
    har = fit_treated(train, "none")
    garch = fit_garch(train["daily_return"], "garch")
    fit = UnderlyingFit(har, "none", 0.5, "garch", "t", garch.params)
    return VolForecaster({"NIFTY": fit})


def test_json_round_trip_forecasts_identically(forecaster, measures) -> None:
    # The registry's json adapter stores canonical JSON: sorted keys.
    text = json.dumps(forecaster.to_json(), sort_keys=True)
    again = VolForecaster.from_json(json.loads(text))
    a = forecaster.forecast("NIFTY", measures).table
    b = again.forecast("NIFTY", measures).table
    pd.testing.assert_frame_equal(a, b)


def test_forecast_has_every_horizon_weights_summing_to_one(forecaster, measures) -> None:
    fc = forecaster.forecast("NIFTY", measures)
    assert fc.source == "champion" and fc.origin == measures.index[-1]
    assert list(fc.table.index) == [1, 5, 22]
    assert np.allclose(fc.table["weight_har"] + fc.table["weight_garch"], 1.0)
    assert (fc.table[["weight_har", "weight_garch"]] >= 0.05 - 1e-12).all().all()  # the floor
    low = fc.table[["har_variance", "garch_variance"]].min(axis=1)
    high = fc.table[["har_variance", "garch_variance"]].max(axis=1)
    assert ((fc.table["variance"] >= low - 1e-15) & (fc.table["variance"] <= high + 1e-15)).all()
    assert np.allclose(fc.table["vol_annualised"], np.sqrt(252 * fc.table["variance"]))


def test_forecast_uses_nothing_after_its_origin(forecaster, measures) -> None:
    cut = measures.iloc[:650]
    altered = measures.copy()
    altered.iloc[650:, 0] *= 50.0  # a violent future must not move the forecast made at 649
    a = forecaster.forecast_frame("NIFTY", cut, last=1)[0]
    b = forecaster.forecast_frame("NIFTY", altered.iloc[:650], last=1)[0]
    pd.testing.assert_frame_equal(a, b)
    many = forecaster.forecast_frame("NIFTY", altered, last=60)[0]
    pd.testing.assert_series_equal(many.loc[cut.index[-1]], a.iloc[-1], check_names=False)


def test_ensemble_weights_move_towards_the_member_with_lower_loss(forecaster, measures) -> None:
    """Triple GARCH's omega (its long-run variance triples): its QLIKE record worsens and the
    ensemble moves weight to HAR at every horizon."""
    fit = forecaster.fits["NIFTY"]
    params = fit.garch_params.mul(pd.Series({"omega": 3.0}), fill_value=1.0)[fit.garch_params.index]
    bad = VolForecaster({"NIFTY": UnderlyingFit(fit.har, "none", 0.5, "garch", "t", params)})
    good_w = forecaster.forecast("NIFTY", measures).table["weight_garch"]
    bad_w = bad.forecast("NIFTY", measures).table["weight_garch"]
    assert (bad_w < good_w).all()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m.iloc[-100:], "too_short"),
        (
            lambda m: m.assign(
                realized_variance=m["realized_variance"].where(m.index != m.index[-5])
            ),
            "nan_gaps",
        ),
        (lambda m: m.drop(columns=["daily_return"]), "missing_input"),
        (lambda m: m.iloc[::-1], "bad_input"),
    ],
)
def test_bad_history_is_refused_by_name(forecaster, measures, mutate, reason) -> None:
    with pytest.raises(ForecastError) as info:
        forecaster.forecast("NIFTY", mutate(measures))
    assert info.value.reason == reason


def test_an_underlying_it_was_not_trained_on_is_refused(forecaster, measures) -> None:
    with pytest.raises(ForecastError) as info:
        forecaster.forecast("RELIANCE", measures)
    assert info.value.reason == "underlying_not_fitted"


def test_baseline_is_the_22_day_mean_and_refuses_short_or_constant(measures) -> None:
    fc = baseline_forecast("NIFTY", measures, reason="no_champion")
    expected = measures["realized_variance"].iloc[-BASELINE_WINDOW:].mean()
    assert fc.source == "baseline" and fc.fallback_reason == "no_champion"
    assert np.allclose(fc.table["variance"], expected)
    with pytest.raises(ForecastError, match="too_short"):
        baseline_forecast("NIFTY", measures.iloc[-10:], reason="x")
    flat = measures.assign(realized_variance=1e-4)
    with pytest.raises(ForecastError, match="constant_series"):
        baseline_forecast("NIFTY", flat, reason="x")


@dataclass
class _Version:
    semantic_version: str
    training_data_end: date | None


@dataclass
class _Loaded:
    version: _Version
    model: dict


def test_serving_prefers_the_champion_and_records_why_the_baseline_answered(
    forecaster, measures
) -> None:
    day = measures.index[-1]

    def history(n: int) -> pd.DataFrame:
        return measures.iloc[-n:]

    champion = _Loaded(_Version("1.2.0", measures.index[499]), forecaster.to_json())
    served = serve_forecast(champion, "NIFTY", day, history)
    assert served.source == "champion" and served.model_version == "1.2.0"

    assert serve_forecast(None, "NIFTY", day, history).fallback_reason == "no_champion"
    # A champion trained through a later day would leak that day's future into a backfill.
    future = _Loaded(_Version("1.3.0", date(2030, 1, 1)), forecaster.to_json())
    refused = serve_forecast(future, "NIFTY", day, history)
    assert refused.source == "baseline"
    assert refused.fallback_reason.startswith("champion_trained_through_2030-01-01")
    other = serve_forecast(champion, "BANKNIFTY", day, history)
    assert other.fallback_reason == "champion_refused:underlying_not_fitted"
