"""GARCH-family fits and forecasts: parameter recovery, units, no look-ahead, named errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantsentinel.ml.vol.garch import (
    GarchError,
    fit_garch,
    rolling_garch_forecasts,
    select_garch_kind,
)
from quantsentinel.ml.vol.losses import qlike, realized_targets

NU = 8.0


def simulate_gjr(
    n: int, omega: float, alpha: float, gamma: float, beta: float, seed: int
) -> tuple[pd.Series, pd.Series]:
    """Decimal returns from a GJR-GARCH(1,1) (gamma=0: GARCH) with unit-variance t(8) shocks.

    Returns (returns, conditional variance), both in decimal units. A 500-day burn-in is dropped
    so the start does not depend on the initial variance.
    """
    rng = np.random.default_rng(seed)
    burn = 500
    z = rng.standard_t(NU, size=n + burn) * np.sqrt((NU - 2) / NU)
    persistence = alpha + gamma / 2 + beta
    s2 = np.empty(n + burn)
    e = np.empty(n + burn)
    s2[0] = omega / (1 - persistence)
    e[0] = np.sqrt(s2[0]) * z[0]
    for t in range(1, n + burn):
        prev = e[t - 1]
        s2[t] = omega + (alpha + gamma * (prev < 0)) * prev**2 + beta * s2[t - 1]
        e[t] = np.sqrt(s2[t]) * z[t]
    idx = pd.bdate_range("2005-01-03", periods=n)
    return pd.Series(e[burn:], index=idx), pd.Series(s2[burn:], index=idx)


@pytest.fixture(scope="module")
def garch_data() -> tuple[pd.Series, pd.Series]:
    return simulate_gjr(4000, omega=2e-6, alpha=0.08, gamma=0.0, beta=0.90, seed=7)


@pytest.fixture(scope="module")
def gjr_data() -> tuple[pd.Series, pd.Series]:
    return simulate_gjr(4000, omega=2e-6, alpha=0.02, gamma=0.14, beta=0.88, seed=11)


def _within(fit, name: str, truth: float, k: float = 4.0) -> None:
    est, se = float(fit.params[name]), float(fit.std_err[name])
    assert abs(est - truth) < k * se, f"{name}: {est:.4f} vs {truth} (se {se:.4f})"


def test_garch_recovers_known_parameters(garch_data):
    returns, _ = garch_data
    fit = fit_garch(returns, "garch", dist="t")
    _within(fit, "alpha[1]", 0.08)
    _within(fit, "beta[1]", 0.90)
    # omega is estimated on percent returns: 2e-6 decimal^2 = 0.02 percent^2.
    _within(fit, "omega", 2e-6 * 100**2)
    assert fit.omega_decimal == pytest.approx(float(fit.params["omega"]) / 1e4)
    assert 4.0 < float(fit.params["nu"]) < 20.0


def test_gjr_detects_leverage(gjr_data):
    returns, _ = gjr_data
    fit = fit_garch(returns, "gjr", dist="t")
    gamma, se = float(fit.params["gamma[1]"]), float(fit.std_err["gamma[1]"])
    assert gamma / se > 3.0  # significant leverage term
    _within(fit, "gamma[1]", 0.14)
    _within(fit, "beta[1]", 0.88)


def test_forecast_units_are_decimal_variance(garch_data):
    returns, true_s2 = garch_data
    fit = fit_garch(returns, "garch")
    fc = fit.forecast((1, 5, 22))
    assert list(fc.index) == [1, 5, 22]
    # Unconditional variance 2e-6 / (1 - 0.98) = 1e-4 (1% daily vol): decimal^2, not percent^2.
    assert 1e-5 < fc[22] < 1e-3
    # One step ahead is the model's own next-day variance, computed from the true recursion.
    e, s2 = float(returns.iloc[-1]), float(true_s2.iloc[-1])
    next_true = 2e-6 + 0.08 * e**2 + 0.90 * s2
    assert fc[1] == pytest.approx(next_true, rel=0.35)
    # The 22-day average lies between the 1-day forecast and the long-run level (mean reversion).
    long_run = fit.omega_decimal / (1 - fit.params["alpha[1]"] - fit.params["beta[1]"])
    lo, hi = sorted((fc[1], long_run))
    assert lo <= fc[22] <= hi


def test_egarch_forecast_is_reproducible_and_positive(gjr_data):
    returns, _ = gjr_data
    fit = fit_garch(returns.iloc[:1500], "egarch", simulations=400)
    a, b = fit.forecast((1, 5, 22)), fit.forecast((1, 5, 22))
    pd.testing.assert_series_equal(a, b)
    assert (a > 1e-6).all() and (a < 1e-2).all()


def test_rolling_forecasts_have_no_look_ahead(garch_data):
    returns, _ = garch_data
    r = returns.iloc[:700]
    window, cut = 500, 620
    base = rolling_garch_forecasts(r, "gjr", window=window, refit_every=50, horizons=(1, 5))
    shocked = r.copy()
    shocked.iloc[cut:] = -3.0 * shocked.iloc[cut:]
    after = rolling_garch_forecasts(shocked, "gjr", window=window, refit_every=50, horizons=(1, 5))
    assert base.iloc[: window - 1].isna().all().all()
    assert base.iloc[window - 1 :].notna().all().all()
    pd.testing.assert_frame_equal(base.iloc[:cut], after.iloc[:cut])
    assert not np.allclose(base.iloc[cut:], after.iloc[cut:])


def test_select_prefers_gjr_on_leveraged_data(gjr_data):
    returns, true_s2 = gjr_data
    r, s2 = returns.iloc[:1100], true_s2.iloc[:1100]
    # Scoring against the true conditional variance isolates the model difference from proxy noise.
    best, table = select_garch_kind(
        r, ("garch", "gjr"), realized=s2, window=600, refit_every=100, horizons=(1, 5)
    )
    assert best == "gjr"
    assert table.shape == (2, 2) and table.notna().all().all()


@pytest.mark.parametrize(
    ("returns", "reason", "kwargs"),
    [
        (pd.Series(np.random.default_rng(0).normal(0, 0.01, 100)), "too_short", {}),
        (pd.Series(np.zeros(400)), "constant_series", {}),
        (pd.Series(np.r_[np.random.default_rng(1).normal(0, 0.01, 400), np.nan]), "nan_gaps", {}),
    ],
)
def test_bad_input_has_named_reason(returns, reason, kwargs):
    with pytest.raises(GarchError) as info:
        fit_garch(returns, **kwargs)
    assert info.value.reason == reason


def test_non_convergence_is_reported(garch_data):
    returns, _ = garch_data
    with pytest.raises(GarchError) as info:
        fit_garch(returns.iloc[:1000], "gjr", max_iter=1)
    assert info.value.reason == "did_not_converge"


def test_sp500_smoke():
    from arch.data import sp500

    close = sp500.load()["Adj Close"]
    returns = np.log(close).diff().dropna()
    fit = fit_garch(returns, "gjr")
    assert float(fit.params["gamma[1]"]) > 0  # equity leverage effect
    fc = fit.forecast((1, 5, 22))
    annual_vol = np.sqrt(fc * 252)
    assert ((annual_vol > 0.03) & (annual_vol < 1.0)).all()

    tail = returns.iloc[-900:]
    rolling = rolling_garch_forecasts(tail, "garch", window=750, refit_every=50, horizons=(1, 22))
    rolling = rolling.dropna()
    assert len(rolling) == 151
    assert ((rolling > 1e-6) & (rolling < 1e-2)).all().all()
    # Out of sample, the 1-day GARCH beats a constant full-window variance in QLIKE on r^2.
    proxy = realized_targets((tail - tail.mean()) ** 2, (1,))[1]
    const = pd.Series(float(tail.iloc[:750].var()), index=tail.index)
    sample = proxy.index[750:-1]
    assert qlike(proxy[sample], rolling[1][sample]) < qlike(proxy[sample], const[sample])
