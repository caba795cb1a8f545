"""Prices and Greeks against QuantLib's AnalyticEuropeanEngine (an independent implementation)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from quantsentinel.market.pricing import black76_greeks, black_scholes_greeks

ql = pytest.importorskip("QuantLib")

SPOT, RATE, YIELD = 24_000.0, 0.065, 0.012
STRIKES = np.arange(20_000.0, 28_001.0, 1_000.0)
DAYS = (1, 7, 30, 90, 365, 730)
VOLS = (0.08, 0.2, 0.6)
GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho")


@pytest.fixture
def today() -> Iterator[ql.Date]:
    # QuantLib's evaluation date is process-global; put back whatever was there.
    settings = ql.Settings.instance()
    previous = settings.evaluationDate
    date = ql.Date(6, ql.January, 2025)
    settings.evaluationDate = date
    yield date
    settings.evaluationDate = previous


def _quantlib_rows(today, spot: float, r: float, q: float) -> dict[str, np.ndarray]:
    """Grid rows priced one at a time by QuantLib, flat curves, ACT/365 fixed."""
    dc = ql.Actual365Fixed()
    rates = ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc))
    dividends = ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc))
    rows: dict[str, list] = {k: [] for k in ("K", "T", "sigma", "call", *GREEKS, "dividend_rho")}
    for sigma in VOLS:
        vol = ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), sigma, dc)
        )
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(spot)), dividends, rates, vol
        )
        engine = ql.AnalyticEuropeanEngine(process)
        for days in DAYS:
            for strike in STRIKES:
                for call in (True, False):
                    side = ql.Option.Call if call else ql.Option.Put
                    option = ql.VanillaOption(
                        ql.PlainVanillaPayoff(side, float(strike)),
                        ql.EuropeanExercise(today + days),
                    )
                    option.setPricingEngine(engine)
                    values = (strike, days / 365.0, sigma, call, option.NPV(), option.delta())
                    values += (option.gamma(), option.vega(), option.theta(), option.rho())
                    for key, value in zip(rows, (*values, option.dividendRho()), strict=True):
                        rows[key].append(value)
    return {k: np.array(v) for k, v in rows.items()}


def _assert_matches(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    # QuantLib evaluates N() with its own erf; agreement is to ~1e-12 of each Greek's scale.
    scale = {"price": SPOT, "delta": 1.0, "gamma": 1.0 / SPOT, "vega": SPOT}
    scale |= {"theta": SPOT, "rho": SPOT * 2.0}
    for name in GREEKS:
        np.testing.assert_allclose(
            ours[name], theirs[name], rtol=1e-9, atol=1e-11 * scale[name], err_msg=name
        )


def test_black_scholes_merton_matches_quantlib(today) -> None:
    ql_rows = _quantlib_rows(today, SPOT, RATE, YIELD)
    ours = black_scholes_greeks(
        SPOT, ql_rows["K"], ql_rows["T"], ql_rows["sigma"], ql_rows["call"], RATE, YIELD
    ).as_dict()
    _assert_matches(ours, ql_rows)


def test_black76_matches_quantlib_with_yield_equal_to_rate(today) -> None:
    # A forward is a spot whose yield equals the rate: F = S, held fixed as time passes.
    forward = SPOT * np.exp((RATE - YIELD) * 0.25)
    ql_rows = _quantlib_rows(today, forward, RATE, RATE)
    ours = black76_greeks(
        forward, ql_rows["K"], ql_rows["T"], ql_rows["sigma"], ql_rows["call"], RATE
    ).as_dict()
    # Black-76 rho holds F fixed, i.e. moves the rate and the yield together.
    theirs = dict(ql_rows, rho=ql_rows["rho"] + ql_rows["dividend_rho"])
    _assert_matches(ours, theirs)
