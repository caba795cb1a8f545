"""SPAN-like margin: the 16 scenarios against an independent Black-76 revaluation, the short
option minimum, NSE's exposure margin (with the expiry-day add-on), linearity in lots, and the
benefit a hedged spread must get over the naked position."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import BUY, SELL
from quantsentinel.risk.structures import (
    ChainView,
    analyse,
    estimate_margin,
    futures,
    iron_condor,
    margin_rates,
    straddle,
    strangle,
)
from tests.risk.test_structures import LOT, NEAR, NEXT, RATE, SPOT, TS, make_chain, year_frac

# The SPAN risk scenarios as published (price move in PSRs, vol move in VSRs, fraction counted).
SPAN_TABLE = [
    (0, 1, 1.0), (0, -1, 1.0), (1 / 3, 1, 1.0), (1 / 3, -1, 1.0), (-1 / 3, 1, 1.0),
    (-1 / 3, -1, 1.0), (2 / 3, 1, 1.0), (2 / 3, -1, 1.0), (-2 / 3, 1, 1.0), (-2 / 3, -1, 1.0),
    (1, 1, 1.0), (1, -1, 1.0), (-1, 1, 1.0), (-1, -1, 1.0), (2, 0, 0.35), (-2, 0, 0.35),
]  # fmt: skip
# NSE Clearing's index parameters since 2024-07-04: 6 sqrt(2) sigma of 15% vol (8.0%) < the 9.3%
# floor; VSR max(4%, 25% x 15%) = 4%; no short option minimum. Before: PSR 7%, SOMC 3%.
PSR, VSR, SOMC, ELM = 0.093, 0.04, 0.0, 0.02
OLD_PSR, OLD_SOMC = 0.07, 0.03
OLD_RATES = margin_rates("NIFTY", date(2024, 6, 3))


@pytest.fixture(scope="module")
def view() -> ChainView:
    return ChainView(make_chain(), rate=RATE)


def test_scenario_losses_match_an_independent_revaluation(view: ChainView) -> None:
    legs = [view.leg("CE", NEAR, 22_100, SELL, 2), view.leg("PE", NEXT, 21_700, BUY, 1)]
    m = estimate_margin(legs, view)

    def value(move: float, dvol: float) -> float:
        total = 0.0
        for leg in legs:
            F, T = view.forward(leg.expiry) * (1 + move), year_frac(TS, leg.expiry)
            unit = black76_price(F, leg.strike, T, 0.15 + dvol, leg.kind == "CE", RATE)
            total += leg.sign * leg.quantity * float(unit)
        return total

    base = value(0.0, 0.0)
    expected = [(base - value(p * PSR, v * VSR)) * cover for p, v, cover in SPAN_TABLE]
    assert m.scenario_losses == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert m.scan_risk == pytest.approx(max(expected))
    assert m.worst_scenario.number == 1 + expected.index(max(expected))
    assert m.worst_scenario.price_move == 1.0  # the short call loses most on the full move up
    assert m.price_scan_range == pytest.approx(PSR * SPOT)
    assert m.span_like == pytest.approx(max(max(expected), SOMC * SPOT * 2 * LOT))
    assert m.exposure == pytest.approx(ELM * SPOT * 2 * LOT)  # the long put carries none


def test_short_option_minimum_binds_far_from_the_money_under_the_old_parameters() -> None:
    # Beyond ~5.4% out of the money even the extreme scenarios (2 PSR, 35%) lose less than 3%.
    view = ChainView(make_chain(strikes=np.arange(19_000.0, 25_001.0, 100.0)), rate=RATE)
    legs = [view.leg("PE", NEAR, 20_000, SELL, 1)]
    m = estimate_margin(legs, view, rates=OLD_RATES)
    assert m.price_scan_range == pytest.approx(OLD_PSR * SPOT)
    assert m.scan_risk < m.short_option_minimum == pytest.approx(OLD_SOMC * SPOT * LOT)
    assert m.span_like == m.short_option_minimum
    assert "short option minimum binds" in m.note
    # a short call and a short put cannot both be exercised: the minimum counts the larger side
    both = [view.leg("PE", NEAR, 20_000, SELL, 1), view.leg("CE", NEAR, 24_000, SELL, 2)]
    old = estimate_margin(both, view, rates=OLD_RATES)
    assert old.short_option_minimum == pytest.approx(OLD_SOMC * SPOT * 2 * LOT)
    # The current parameters have no minimum: the scan alone sets the SPAN part.
    now = estimate_margin(legs, view)
    assert now.short_option_minimum == 0.0 and now.span_like == now.scan_risk


def test_margin_scales_with_lots(view: ChainView) -> None:
    one = estimate_margin(iron_condor(view, expiry=NEXT, width=3, wing=2).legs, view)
    three = estimate_margin(iron_condor(view, expiry=NEXT, width=3, wing=2, lots=3).legs, view)
    for field in ("span_like", "exposure", "premium_credit", "scan_risk", "total"):
        assert getattr(three, field) == pytest.approx(3 * getattr(one, field), rel=1e-9)


@pytest.mark.parametrize("source", ["hand", "simulator"])
def test_hedged_spread_needs_far_less_risk_margin_than_the_naked_strangle(source, view) -> None:
    if source == "simulator":
        sim = MarketSimulator()
        view = ChainView(sim.chain_snapshot(sim.snapshot_times(date(2025, 3, 4))[5], "NIFTY"))
    expiry = view.expiries()[1]
    naked = analyse(strangle(view, expiry=expiry, side="short", width=2), view)
    condor = analyse(iron_condor(view, expiry=expiry, width=2, wing=2), view)
    assert condor.margin.total < naked.margin.total
    # The hedge caps the scan loss at the spread's own worst case ...
    assert condor.margin.scan_risk <= condor.max_loss + 1e-6
    assert condor.margin.scan_risk < 0.1 * naked.margin.scan_risk
    # ... and what is left is the exposure margin on the short legs, equal for both.
    assert condor.margin.exposure == pytest.approx(naked.margin.exposure)
    assert condor.margin.span_like == pytest.approx(condor.margin.scan_risk)
    assert condor.margin.total < 0.6 * naked.margin.total


def test_long_options_pay_premium_not_span(view: ChainView) -> None:
    s = straddle(view, expiry=NEXT, lots=2)
    m = estimate_margin(s.legs, view)
    premium = sum(leg.price * leg.quantity for leg in s.legs)
    assert (m.span_like, m.exposure, m.premium_credit) == (0.0, 0.0, 0.0)
    assert m.premium_debit == pytest.approx(premium) and m.total == pytest.approx(premium)
    assert m.scan_risk > 0  # the scan sees the risk; the premium paid already covers it


def test_futures_margin_is_the_price_scan_on_the_forward(view: ChainView) -> None:
    fut = futures(view, expiry=NEXT, side="short", lots=2)
    m = estimate_margin(fut.legs, view)
    F = view.forward(NEXT)
    assert m.scan_risk == pytest.approx(PSR * F * 2 * LOT, rel=1e-9)
    assert m.exposure == pytest.approx(ELM * fut.legs[0].price * 2 * LOT)
    assert m.premium_credit == m.premium_debit == 0.0


def test_expiry_day_adds_the_extra_exposure_margin_from_2024_11_20() -> None:
    morning = pd.Timestamp("2025-03-06 10:00", tz=MARKET_TZ).tz_convert("UTC")
    v = ChainView(make_chain(ts=morning), rate=RATE)
    expiring = estimate_margin([v.leg("CE", NEAR, 22_500, SELL, 1)], v)
    next_week = estimate_margin([v.leg("CE", NEXT, 22_500, SELL, 1)], v)
    assert expiring.exposure == pytest.approx(2 * ELM * SPOT * LOT)
    assert next_week.exposure == pytest.approx(ELM * SPOT * LOT)

    before = pd.Timestamp("2024-11-14 10:00", tz=MARKET_TZ).tz_convert("UTC")
    old = ChainView(make_chain(ts=before, expiries=(date(2024, 11, 14),)), rate=RATE)
    leg = old.leg("CE", date(2024, 11, 14), 22_500, SELL, 1)
    assert leg.lot_size == 25
    assert estimate_margin([leg], old).exposure == pytest.approx(ELM * SPOT * 25)


def test_margin_rates_are_effective_dated_with_sources() -> None:
    assert margin_rates("NIFTY", date(2024, 11, 19)).expiry_day_exposure == 0.0
    assert margin_rates("NIFTY", date(2024, 11, 20)).expiry_day_exposure == 0.02
    stock = margin_rates("RELIANCE", date(2024, 3, 4))
    assert stock.underlying_class == "stock" and stock.short_option_minimum == 0.075
    assert margin_rates("RELIANCE", date(2025, 3, 4)).price_scan_floor == 0.142
    current = margin_rates("NIFTY", date(2025, 3, 4))
    assert (current.price_scan_floor, current.short_option_minimum) == (0.093, 0.0)
    assert margin_rates("NIFTY", date(2024, 7, 3)).price_scan_floor == 0.07
    assert all("NSE" in margin_rates(u, date(2025, 1, 2)).source for u in ("NIFTY", "SBIN"))
    with pytest.raises(RiskInputError) as err:
        margin_rates("NIFTY", date(2017, 1, 2))
    assert err.value.code == "no_margin_rates"


def test_refuses_legs_of_another_underlying(view: ChainView) -> None:
    bank = ChainView(make_chain(underlying="BANKNIFTY", spot=48_000.0), rate=RATE)
    with pytest.raises(RiskInputError) as err:
        estimate_margin([bank.leg("CE", NEXT, 22_500, BUY, 1)], view)
    assert err.value.code == "wrong_underlying"
    with pytest.raises(RiskInputError):
        estimate_margin([], view)
    assert math.isfinite(estimate_margin([view.leg("FUT", NEXT, None, BUY, 1)], view).total)
