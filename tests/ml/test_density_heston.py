"""Heston (1993) oracle: prices against QuantLib, density self-consistency, B-L recovery."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from quantsentinel.ml.density.heston import (
    HestonParams,
    heston_call_prices,
    heston_cf,
    heston_chain,
    heston_pdf,
)
from quantsentinel.ml.density.synthetic import DEFAULT_SPEC, ChainSpec, density_errors
from quantsentinel.ml.density.synthetic import recover_density as recover

F, RATE = 24_000.0, 0.065
PARAMS = {
    "default": HestonParams(),
    "calm": HestonParams(v0=0.01, kappa=3.0, theta=0.015, xi=0.3, rho=-0.5),
    "stressed": HestonParams(v0=0.09, kappa=1.0, theta=0.04, xi=1.2, rho=-0.9),
}


@pytest.fixture
def ql_today() -> Iterator[object]:
    ql = pytest.importorskip("QuantLib")
    settings = ql.Settings.instance()  # process-global: restore it afterwards
    previous = settings.evaluationDate
    today = ql.Date(6, ql.January, 2025)
    settings.evaluationDate = today
    yield today
    settings.evaluationDate = previous


def quantlib_calls(today: object, p: HestonParams, days: int, strikes: np.ndarray) -> np.ndarray:
    """AnalyticHestonEngine prices with q = r, so QuantLib's spot is our forward F."""
    import QuantLib as ql

    dc = ql.Actual365Fixed()
    curve = ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc))
    process = ql.HestonProcess(
        curve, curve, ql.QuoteHandle(ql.SimpleQuote(F)), p.v0, p.kappa, p.theta, p.xi, p.rho
    )
    engine = ql.AnalyticHestonEngine(ql.HestonModel(process), 1e-12, 100_000)
    out = []
    for k in strikes:
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(ql.Option.Call, float(k)), ql.EuropeanExercise(today + days)
        )
        option.setPricingEngine(engine)
        out.append(option.NPV())
    return np.array(out)


@pytest.mark.parametrize("days", [7, 30, 180])
@pytest.mark.parametrize("name", list(PARAMS))
def test_prices_match_quantlib(ql_today: object, name: str, days: int) -> None:
    p = PARAMS[name]
    strikes = np.arange(18_000.0, 30_001.0, 1_000.0)
    ours = heston_call_prices(strikes, F, days / 365, RATE, p)
    theirs = quantlib_calls(ql_today, p, days, strikes)
    # Two independent integrations of the same model: agreement to a thousandth of a paisa.
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-5)


def test_cf_is_a_martingale_cf_and_parity_holds() -> None:
    p, T = PARAMS["stressed"], 2.0
    assert heston_cf(np.array([0.0]), T, p)[0] == pytest.approx(1.0)
    assert heston_cf(np.array([-1j]), T, p)[0] == pytest.approx(1.0)  # E[S_T / F] = 1
    # Little trap: continuous in u even at long T, large vol-of-vol (no branch-cut jumps).
    u = np.linspace(0.0, 200.0, 20_001)
    assert np.max(np.abs(np.diff(heston_cf(u, T, p)))) < 0.01
    spec = ChainSpec(np.arange(20_000.0, 28_001.0, 500.0), F, 30 / 365, RATE)
    calls, puts, _ = heston_chain(p, spec=spec)
    assert np.all(puts > 0) and np.all(np.diff(calls) < 0)  # parity puts are real prices


@pytest.mark.parametrize("name", list(PARAMS))
def test_density_integrates_to_one_prices_calls_and_has_mean_f(name: str) -> None:
    p, T = PARAMS[name], 30 / 365
    x = np.linspace(F * 0.4, F * 1.8, 6_001)
    q = heston_pdf(x, F, T, p)
    assert q.min() > -1e-10
    assert np.trapezoid(q, x) == pytest.approx(1.0, abs=2e-6)
    assert np.trapezoid(x * q, x) == pytest.approx(F, rel=1e-6)
    # The density (direct inversion) and the prices (Lewis) agree: C(K) = D ∫ (x - K)^+ q dx.
    for K in (22_000.0, 24_000.0, 25_500.0):
        from_density = np.exp(-RATE * T) * np.trapezoid(np.maximum(x - K, 0.0) * q, x)
        assert from_density == pytest.approx(heston_call_prices(K, F, T, RATE, p)[0], abs=0.01)


# Observed over seeds 0-4 on the default chain (161 strikes, 50 apart, 30 days): L1 0.018-0.020
# (the sharp Heston peak is slightly flattened by the smile spline), |Δmean| < 0.5 points,
# relative variance error < 0.3 %, |Δskew| < 0.004, |Δkurt| < 0.004. Bounds: ~2x headroom.
@pytest.mark.parametrize("seed", range(3))
def test_breeden_litzenberger_recovers_heston(seed: int) -> None:
    calls, puts, pdf = heston_chain()
    est = recover(calls, puts, seed)
    err = density_errors(est, pdf)
    assert err["true_skewness"] < -0.5  # strongly skewed: the case has teeth
    assert err["l1"] < 0.04
    assert err["mean"] < 1.5
    assert err["variance"] < 0.006
    assert err["skewness"] < 0.01
    assert err["kurtosis"] < 0.01
    assert est.strikes[0] == DEFAULT_SPEC.strikes[0]
