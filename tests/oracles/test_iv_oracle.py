"""Implied vols against QuantLib's impliedVolatility and vollib (Jäckel's LetsBeRational)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from quantsentinel.market.iv import implied_volatility, implied_volatility_bs
from quantsentinel.market.pricing import black76_greeks, black_scholes_price, forward_price

ql = pytest.importorskip("QuantLib")

SPOT, RATE, YIELD = 24_000.0, 0.065, 0.012
TICK = 0.05  # NSE's price tick: anything cheaper is not a quote anyone sees


def _nifty_grid() -> dict[str, np.ndarray]:
    """Realistic NIFTY options priced exactly by our pricer, keeping rows the price can pin.

    Rows below a tick, or where price rounding alone moves the vol by more than 1e-9, say
    nothing about either solver and are left out (the unit tests cover them).
    """
    K, days, sigma, call = np.meshgrid(
        np.arange(20_000.0, 28_001.0, 250.0),
        [1, 2, 7, 14, 30, 60, 90],
        [0.08, 0.15, 0.3, 0.6],
        [True, False],
    )
    K, days, sigma, call = K.ravel(), days.ravel(), sigma.ravel(), call.ravel()
    T = days / 365.0
    price = black_scholes_price(SPOT, K, T, sigma, call, RATE, YIELD)
    F = forward_price(SPOT, T, RATE, YIELD)
    vega = black76_greeks(F, K, T, sigma, call, RATE).vega
    keep = (price >= TICK) & (1e-9 * vega > 16 * np.finfo(float).eps * (F + K))
    grid = {"K": K, "days": days, "T": T, "sigma": sigma, "call": call, "price": price, "F": F}
    return {k: v[keep] for k, v in grid.items()}


@pytest.fixture
def today() -> Iterator[ql.Date]:
    settings = ql.Settings.instance()
    previous = settings.evaluationDate
    date = ql.Date(6, ql.January, 2025)
    settings.evaluationDate = date
    yield date
    settings.evaluationDate = previous


def test_iv_matches_quantlib_on_nifty_grid(today) -> None:
    grid = _nifty_grid()
    assert grid["K"].size > 1000  # the filter must leave a real grid
    dc = ql.Actual365Fixed()
    vol_quote = ql.SimpleQuote(0.2)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(SPOT)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, YIELD, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol_quote), dc)
        ),
    )
    theirs = []
    for strike, days, call, price in zip(
        grid["K"], grid["days"], grid["call"], grid["price"], strict=True
    ):
        side = ql.Option.Call if call else ql.Option.Put
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(side, float(strike)), ql.EuropeanExercise(today + int(days))
        )
        # Brent on the vol itself, run to 1e-13 so QuantLib's tolerance is not what we measure.
        theirs.append(option.impliedVolatility(float(price), process, 1e-13, 1000, 1e-4, 4.0))
    ours = implied_volatility_bs(
        grid["price"], SPOT, grid["K"], grid["T"], grid["call"], RATE, YIELD
    )
    assert ours.ok().all()
    np.testing.assert_allclose(ours.iv, np.array(theirs), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.iv, grid["sigma"], rtol=0, atol=1e-8)


def test_iv_matches_vollib_black_on_nifty_grid() -> None:
    black_iv = pytest.importorskip("vollib.black.implied_volatility").implied_volatility
    grid = _nifty_grid()
    theirs = np.array(
        [
            black_iv(price, fwd, strike, RATE, t, "c" if call else "p")
            for price, fwd, strike, t, call in zip(
                grid["price"], grid["F"], grid["K"], grid["T"], grid["call"], strict=True
            )
        ]
    )
    ours = implied_volatility(grid["price"], grid["F"], grid["K"], grid["T"], grid["call"], RATE)
    assert ours.ok().all()
    np.testing.assert_allclose(ours.iv, theirs, rtol=0, atol=1e-8)
