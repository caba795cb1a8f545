"""HAR-RV / HAR-CJ: look-ahead, coefficient recovery, log-form bias correction, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantsentinel.ml.vol.har import HARError, HARFit, HARSpec, fit_har, har_design

TRUE = {"const": -0.9, "rv_1": 0.4, "rv_5": 0.3, "rv_22": 0.2}  # persistence 0.9, level ~e^-9
SIGMA = 0.45  # residual sd of log RV: exp(sigma^2/2) = 1.106, a bias worth catching


def _step(log_rv_hist: np.ndarray, params: dict[str, float]) -> float:
    """Conditional mean of log RV_t given the previous 22 log RVs (Corsi's log-of-averages)."""
    rv = np.exp(log_rv_hist)
    return (
        params["const"]
        + params["rv_1"] * np.log(rv[-1])
        + params["rv_5"] * np.log(rv[-5:].mean())
        + params["rv_22"] * np.log(rv[-22:].mean())
    )


def _simulate(n: int, seed: int, params: dict[str, float] = TRUE) -> pd.Series:
    rng = np.random.default_rng(seed)
    burn = 300
    x = np.full(n + burn, -9.0)
    for t in range(22, n + burn):
        x[t] = _step(x[t - 22 : t], params) + SIGMA * rng.standard_normal()
    idx = pd.bdate_range("2010-01-01", periods=n)
    return pd.Series(np.exp(x[burn:]), index=idx, name="realized_variance")


@pytest.fixture(scope="module")
def sim() -> pd.Series:
    return _simulate(4000, seed=7)


@pytest.mark.parametrize("spec", [HARSpec(form="rv"), HARSpec(form="log", jumps="cj")])
def test_design_uses_only_past_data(sim: pd.Series, spec: HARSpec) -> None:
    bv = sim * 0.8
    base = har_design(sim, spec, bv=bv)
    assert list(base.columns) == spec.columns()
    assert base.index[0] == sim.index[22]
    t = 100
    rv2, bv2 = sim.copy(), bv.copy()
    rv2.iloc[t] *= 5.0
    bv2.iloc[t] *= 0.5
    moved = har_design(rv2, spec, bv=bv2)
    day = sim.index[t]
    pd.testing.assert_series_equal(moved.loc[day], base.loc[day])  # row t: untouched
    assert (moved.loc[: sim.index[t - 1]] == base.loc[: sim.index[t - 1]]).all().all()
    assert (moved.loc[sim.index[t + 1]] != base.loc[sim.index[t + 1]]).any()  # t+1 sees it


def test_design_values_are_trailing_means(sim: pd.Series) -> None:
    x = har_design(sim, HARSpec(form="log"))
    t = 500
    assert x["rv_1"].iloc[t - 22] == pytest.approx(np.log(sim.iloc[t - 1]), rel=1e-12)
    assert x["rv_5"].iloc[t - 22] == pytest.approx(np.log(sim.iloc[t - 5 : t].mean()), rel=1e-12)
    assert x["rv_22"].iloc[t - 22] == pytest.approx(np.log(sim.iloc[t - 22 : t].mean()), rel=1e-12)


def test_recovers_known_coefficients(sim: pd.Series) -> None:
    fit = fit_har(sim, HARSpec(form="log"))
    assert fit.nobs == len(sim) - 22
    for name, true in TRUE.items():
        # Within 4 HAC standard errors: sampling error, not bias.
        assert abs(fit.params[name] - true) < 4 * fit.bse[name], (name, fit.params[name])
    assert fit.sigma2 == pytest.approx(SIGMA**2, rel=0.05)
    assert set(fit.tvalues.index) == set(TRUE) and 0 < fit.rsquared < 1


def _true_fit() -> HARFit:
    p = pd.Series(TRUE)
    return HARFit(p, p * 0, p * 0, 0.0, 0, HARSpec(form="log"), SIGMA**2)


def test_log_forecast_bias_correction_matches_simulated_mean(sim: pd.Series) -> None:
    hist = sim.iloc[:1000]
    fc = _true_fit().forecast(hist.to_frame(), horizons=(1, 5, 22))["rv_forecast"]
    rng = np.random.default_rng(1)
    n_paths, h = 40_000, 22
    logs = np.tile(np.log(hist.to_numpy()[-22:]), (n_paths, 1))
    draws = np.empty((n_paths, h))
    for k in range(h):
        rv = np.exp(logs)
        mu = (
            TRUE["const"]
            + TRUE["rv_1"] * logs[:, -1]
            + TRUE["rv_5"] * np.log(rv[:, -5:].mean(axis=1))
            + TRUE["rv_22"] * np.log(rv.mean(axis=1))
        )
        draws[:, k] = np.exp(mu + SIGMA * rng.standard_normal(n_paths))
        logs = np.column_stack([logs[:, 1:], np.log(draws[:, k])])
    mc1 = draws[:, 0].mean()
    mc_se = draws[:, 0].std() / np.sqrt(n_paths)
    assert abs(fc[1] - mc1) < 4 * mc_se  # exp(mu + sigma2/2) is the exact one-step mean
    assert mc1 / (fc[1] / np.exp(SIGMA**2 / 2)) > 1.08  # the uncorrected exp(mu) is ~10% low
    # h > 1 is simulated inside forecast (4,000 paths, own seed): within Monte Carlo error.
    for k in (5, 22):
        assert fc[k] == pytest.approx(draws[:, :k].mean(), rel=0.015), k


def test_forecast_is_sensible_and_rv_units(sim: pd.Series) -> None:
    fit = fit_har(sim, HARSpec(form="log"))
    fc = fit.forecast(sim.to_frame())
    assert list(fc.index) == [1, 5, 22] and fc["origin"].iloc[0] == sim.index[-1]
    assert np.all(np.isfinite(fc["rv_forecast"])) and (fc["rv_forecast"] > 0).all()
    # Long horizons shrink toward the unconditional level.
    level = sim.mean()
    assert abs(fc.loc[22, "rv_forecast"] - level) < abs(sim.iloc[-1] - level) + 0.5 * level


def test_cj_fit_and_forecast(sim: pd.Series) -> None:
    rng = np.random.default_rng(3)
    bv = sim * np.where(rng.random(len(sim)) < 0.1, 0.5, 1.0)  # 10% of days carry a jump
    fit = fit_har(sim, HARSpec(form="log", jumps="cj"), bv=bv)
    assert list(fit.params.index) == ["const", *HARSpec(jumps="cj").columns()]
    hist = pd.DataFrame({"realized_variance": sim, "bipower_variation": bv})
    fc = fit.forecast(hist)
    assert np.all(np.isfinite(fc["rv_forecast"]))
    with pytest.raises(HARError) as err:
        fit_har(sim, HARSpec(jumps="cj"))
    assert err.value.reason == "missing_input"


def test_weights(sim: pd.Series) -> None:
    spec = HARSpec(form="rv")
    ols = fit_har(sim, spec)
    ones = fit_har(sim, spec, weights=pd.Series(1.0, index=sim.index))
    np.testing.assert_allclose(ones.params, ols.params, rtol=1e-10)
    # A zero weight is the same as dropping that regression row.
    w = pd.Series(1.0, index=sim.index)
    w.iloc[200:260] = 0.0
    wls = fit_har(sim, spec, weights=w)
    x = sm.add_constant(har_design(sim, spec)).drop(index=sim.index[200:260])
    ref = sm.OLS(sim.loc[x.index], x).fit()
    np.testing.assert_allclose(wls.params.to_numpy(), ref.params.to_numpy(), rtol=1e-8)
    with pytest.raises(HARError) as err:
        fit_har(sim, spec, weights=w.iloc[1:])
    assert err.value.reason == "bad_weights"


def _reason(rv: pd.Series, spec: HARSpec | None = None) -> HARError:
    with pytest.raises(HARError) as err:
        fit_har(rv, spec or HARSpec())
    return err.value


def test_error_reasons(sim: pd.Series) -> None:
    short = _reason(sim.iloc[:51])
    assert short.reason == "too_short" and "51" in str(short) and "52" in str(short)
    fit_har(sim.iloc[:52])  # exactly 22 + 30 is enough
    assert _reason(pd.Series(1e-4, index=sim.index)).reason == "constant_series"
    zero = sim.copy()
    zero.iloc[10] = 0.0
    assert _reason(zero).reason == "non_positive"
    fit_har(zero, HARSpec(form="rv"))  # zero RV is fine in the RV form
    zero.iloc[10] = -1e-4
    assert _reason(zero, HARSpec(form="rv")).reason == "non_positive"
    gap = sim.copy()
    gap.iloc[[40, 90]] = np.nan
    err = _reason(gap)
    assert err.reason == "nan_gaps" and str(sim.index[40].date()) in str(err)
    # The forecast refuses a gappy history instead of returning NaN.
    fit = fit_har(sim)
    with pytest.raises(HARError) as ferr:
        fit.forecast(gap.to_frame())
    assert ferr.value.reason == "nan_gaps"
    with pytest.raises(HARError) as ferr:
        fit.forecast(sim.iloc[:21].to_frame())
    assert ferr.value.reason == "too_short"
