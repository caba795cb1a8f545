"""HAR-RV against arch's HARX (coefficients, forecasts) and statsmodels' own HAC errors.

Data: Garman-Klass range-based daily variance of the S&P 500 from `arch.data.sp500` (1999-2018),
in percent-squared: arch warns (DataScaleWarning) that raw daily variances (~1e-4) are poorly
scaled for its optimiser, and percent-squared puts them in the 1-1000 range it asks for.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantsentinel.ml.vol.har import HARSpec, fit_har

arch_data = pytest.importorskip("arch.data.sp500")
arch_univariate = pytest.importorskip("arch.univariate")

COEF_RTOL = 1e-8  # both are the same least-squares problem; observed agreement is ~1e-12


def _garman_klass(ohlc: pd.DataFrame) -> pd.Series:
    """sigma^2 = 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 (Garman & Klass 1980), percent-squared."""
    hl = np.log(ohlc["High"] / ohlc["Low"])
    co = np.log(ohlc["Close"] / ohlc["Open"])
    return (0.5 * hl**2 - (2 * np.log(2) - 1) * co**2) * 1e4


@pytest.fixture(scope="module")
def gk_rv() -> pd.Series:
    rv = _garman_klass(arch_data.load())
    return rv[rv > 0].rename("realized_variance")


def test_rv_form_coefficients_match_arch_harx(gk_rv: pd.Series) -> None:
    ours = fit_har(gk_rv, HARSpec(form="rv"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # percent-squared: arch must not warn about scale
        theirs = arch_univariate.HARX(gk_rv, lags=[1, 5, 22]).fit(disp="off")
    arch_params = theirs.params.to_numpy()[:4]  # Const, [0:1], [0:5], [0:22]; then sigma2
    np.testing.assert_allclose(ours.params.to_numpy(), arch_params, rtol=COEF_RTOL)
    assert ours.nobs == theirs.nobs


def test_rv_form_forecasts_match_arch_analytic(gk_rv: pd.Series) -> None:
    fit = fit_har(gk_rv, HARSpec(form="rv"))
    theirs = arch_univariate.HARX(gk_rv, lags=[1, 5, 22]).fit(disp="off")
    path = theirs.forecast(horizon=22, reindex=False).mean.iloc[-1].to_numpy()
    ours = fit.forecast(gk_rv.to_frame(), horizons=(1, 5, 22))
    expected = [path[:h].mean() for h in (1, 5, 22)]
    np.testing.assert_allclose(ours["rv_forecast"].to_numpy(), expected, rtol=1e-8)


def test_hac_errors_match_statsmodels_on_independently_built_design(gk_rv: pd.Series) -> None:
    # Design built the textbook way (rolling mean then shift), not through har_design.
    x = pd.concat({f"rv_{k}": gk_rv.rolling(k).mean().shift(1) for k in (1, 5, 22)}, axis=1)
    x = sm.add_constant(x.dropna())
    ref = sm.OLS(gk_rv.loc[x.index], x).fit(cov_type="HAC", cov_kwds={"maxlags": 5})
    ours = fit_har(gk_rv, HARSpec(form="rv", hac_lags=5))
    np.testing.assert_allclose(ours.params.to_numpy(), ref.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bse.to_numpy(), ref.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.rsquared, ref.rsquared, rtol=1e-12)
