"""Tail hedges: which structures are naked, the stress loss, and that the chosen hedge is the
cheapest qualifying one (checked by brute force over every candidate combination)."""

from __future__ import annotations

import itertools
import math
from datetime import date

import pytest

from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import BUY, SELL
from quantsentinel.risk.structures import (
    ChainView,
    NakedExposure,
    NoHedgeAvailable,
    Structure,
    analyse,
    butterfly,
    calendar,
    futures,
    iron_condor,
    naked_exposures,
    needs_tail_hedge,
    select_tail_hedge,
    single_leg,
    straddle,
    strangle,
    stress_loss,
    vertical_credit,
    vertical_debit,
)
from tests.risk.test_structures import APRIL, LOT, NEAR, NEXT, RATE, SPOT, make_chain


@pytest.fixture(scope="module")
def view() -> ChainView:
    return ChainView(make_chain(expiries=(NEAR, NEXT, APRIL)), rate=RATE)


def _textbook_pnl(s: Structure, price: float) -> float:
    total = 0.0
    for leg in s.all_legs:
        unit = max(price - leg.strike, 0) if leg.kind == "CE" else max(leg.strike - price, 0)
        total += leg.sign * leg.quantity * (unit - leg.price)
    return total


def test_naked_premium_and_unbounded_losses_need_a_hedge(view: ChainView) -> None:
    e = NEXT
    naked = {
        "short strangle": strangle(view, expiry=e, side="short"),
        "short straddle": straddle(view, expiry=e, side="short"),
        "short call": single_leg(view, expiry=e, option_type="CE", side="short"),
        "long future": futures(view, expiry=e),
        "short calendar": calendar(view, expiry=NEAR, far_expiry=e, side="short"),
        "ratio call spread": Structure(
            "vertical_debit",
            (view.leg("CE", e, 22_000, BUY, 1), view.leg("CE", e, 22_200, SELL, 3)),
        ),
    }
    covered = {
        "iron condor": iron_condor(view, expiry=e, width=2, wing=2),
        "credit spread": vertical_credit(view, expiry=e, direction="bullish"),
        "debit spread": vertical_debit(view, expiry=e, direction="bearish"),
        "long butterfly": butterfly(view, expiry=e),
        "long straddle": straddle(view, expiry=e),
        "long calendar": calendar(view, expiry=NEAR, far_expiry=e),
    }
    assert [name for name, s in naked.items() if not needs_tail_hedge(s)] == []
    assert [name for name, s in covered.items() if needs_tail_hedge(s)] == []
    assert naked_exposures(naked["ratio call spread"].legs) == (NakedExposure("up", e, 2 * LOT),)
    assert naked_exposures(naked["short calendar"].legs) == (NakedExposure("up", e, LOT),)
    assert {x.side for x in naked_exposures(naked["short strangle"].legs)} == {"up", "down"}


def test_stress_loss_is_the_worse_side_at_the_near_expiry(view: ChainView) -> None:
    s = strangle(view, expiry=NEXT, side="short", width=3, lots=2)
    losses = [-_textbook_pnl(s, SPOT * f) for f in (0.92, 1.08)]
    assert stress_loss(s, view, 0.08) == pytest.approx(max(losses))
    assert stress_loss(iron_condor(view, expiry=NEXT), view, 0.001) == 0.0  # profit both sides
    for bad in (0.0, 1.5):
        with pytest.raises(RiskInputError):
            stress_loss(s, view, bad)


def _candidates(view: ChainView, s: Structure, kind: str, lots: int):
    """Every long OTM option beyond the structure's short strikes of that type (tail hedges)."""
    expiry = s.expiry
    shorts = [leg.strike for leg in s.legs if leg.kind == kind and leg.side == SELL]
    F = view.forward(expiry)
    if kind == "CE":
        strikes = [k for k in view.strikes(expiry) if k > max([F, *shorts])]
    else:
        strikes = [k for k in view.strikes(expiry) if k < min([F, *shorts])]
    return [view.leg(kind, expiry, k, BUY, lots) for k in strikes]


def test_chosen_hedge_is_the_cheapest_that_meets_the_level(view: ChainView) -> None:
    s = strangle(view, expiry=NEXT, side="short", width=2)
    pairs = list(itertools.product(_candidates(view, s, "CE", 1), _candidates(view, s, "PE", 1)))
    outcomes = [
        (sum(leg.price * leg.quantity for leg in pair), stress_loss(s.with_hedge(pair), view, 0.1))
        for pair in pairs
    ]
    limit = sorted(loss for _, loss in outcomes)[len(outcomes) // 2]
    cheapest = min(cost for cost, loss in outcomes if loss <= limit)
    assert any(loss > limit for _, loss in outcomes)  # the level bites

    choice = select_tail_hedge(s, view, max_stress_loss=limit)
    assert choice.hedge_cost == pytest.approx(cheapest)
    assert choice.hedge_cost == pytest.approx(sum(leg.price * leg.quantity for leg in choice.hedge))
    assert choice.stress_loss_after <= limit
    assert choice.stress_loss_after == pytest.approx(stress_loss(choice.composite, view, 0.1))
    assert choice.stress_loss_before == pytest.approx(stress_loss(s, view, 0.1))
    assert choice.candidates_considered == len(pairs)
    assert choice.composite.legs == s.legs and not needs_tail_hedge(choice.composite)
    assert math.isfinite(analyse(choice.composite, view).max_loss)


def test_hedge_lots_cover_the_naked_units_on_the_naked_side_only(view: ChainView) -> None:
    short_put = single_leg(view, expiry=NEXT, option_type="PE", side="short", lots=3)
    choice = select_tail_hedge(short_put, view, max_stress_loss=1e9)
    (leg,) = choice.hedge
    assert (leg.kind, leg.side, leg.lots, leg.expiry) == ("PE", BUY, 3, NEXT)
    assert leg.strike < view.forward(NEXT)
    assert leg.strike == min(k.strike for k in _candidates(view, short_put, "PE", 3))  # cheapest
    long_future = select_tail_hedge(futures(view, expiry=NEXT), view, max_stress_loss=1e9)
    assert [x.kind for x in long_future.hedge] == ["PE"]
    assert math.isfinite(analyse(long_future.composite, view).max_loss)
    # a structure already hedged is re-hedged from scratch, not hedged twice
    again = select_tail_hedge(choice.composite, view, max_stress_loss=1e9)
    assert again.composite == choice.composite


def test_short_calendar_is_hedged_at_the_far_expiry(view: ChainView) -> None:
    s = calendar(view, expiry=NEAR, far_expiry=APRIL, side="short")
    choice = select_tail_hedge(s, view, max_stress_loss=1e9)
    assert [(x.kind, x.expiry) for x in choice.hedge] == [("CE", APRIL)]
    assert not needs_tail_hedge(choice.composite)


def test_covered_structures_are_returned_unhedged_or_refused(view: ChainView) -> None:
    ic = iron_condor(view, expiry=NEXT, width=2, wing=2)
    loss = stress_loss(ic, view, 0.1)
    choice = select_tail_hedge(ic, view, max_stress_loss=loss)
    assert choice.composite == ic and choice.hedge_cost == 0.0 and choice.hedge == ()
    with pytest.raises(NoHedgeAvailable) as err:
        select_tail_hedge(ic, view, max_stress_loss=loss / 2)
    assert err.value.code == "no_hedge_available"
    assert err.value.details["stress_loss"] == pytest.approx(loss)


def test_no_hedge_available_names_the_numbers(view: ChainView) -> None:
    s = strangle(view, expiry=NEXT, side="short", width=8, lots=2)  # small credit to lean on
    best = min(
        stress_loss(s.with_hedge(pair), view, 0.1)
        for pair in itertools.product(_candidates(view, s, "CE", 2), _candidates(view, s, "PE", 2))
    )
    assert best > 1.0
    with pytest.raises(NoHedgeAvailable) as err:
        select_tail_hedge(s, view, max_stress_loss=best - 1.0)
    assert err.value.details["best_stress_loss"] == pytest.approx(best)
    assert isinstance(err.value, RiskInputError)

    no_calls = make_chain(expiries=(NEXT,))
    no_calls = no_calls[(no_calls["option_type"] == "PE") | (no_calls["strike"] <= 22_100)]
    thin = ChainView(no_calls, rate=RATE)
    with pytest.raises(NoHedgeAvailable) as err:
        select_tail_hedge(
            strangle(thin, expiry=NEXT, side="short", width=1), thin, max_stress_loss=1e9
        )
    assert err.value.details["side"] == "up"
    for bad in ({"max_stress_loss": -1.0}, {"max_stress_loss": 1e5, "stress_move": 0.0}):
        with pytest.raises(RiskInputError):
            select_tail_hedge(s, view, **bad)


def test_hedges_a_short_strangle_on_a_simulated_chain() -> None:
    sim = MarketSimulator()
    view = ChainView(sim.chain_snapshot(sim.snapshot_times(date(2025, 3, 4))[5], "NIFTY"))
    s = strangle(view, expiry=view.expiries()[1], side="short", width=4, lots=2)
    limit = 0.5 * stress_loss(s, view, 0.1)
    choice = select_tail_hedge(s, view, max_stress_loss=limit)
    assert choice.stress_loss_after <= limit < choice.stress_loss_before
    assert sorted(x.kind for x in choice.hedge) == ["CE", "PE"]
    assert all(x.lots == 2 and x.side == BUY for x in choice.hedge)
    assert analyse(choice.composite, view).bounded
