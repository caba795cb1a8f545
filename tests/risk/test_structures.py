"""Chain view, builders and payoffs of option structures, on hand-made and simulated chains.

Hand-made chains are priced by Black-76 off a known forward (with a dividend yield, so parity
matters) and a known vol; every expectation below is computed from those inputs or from the legs'
own quotes with the textbook payoff formulas, never from the code under test.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import BUY, SELL, validate_legs
from quantsentinel.risk.structures import (
    STRUCTURE_KINDS,
    ChainError,
    ChainView,
    Structure,
    analyse,
    build,
    butterfly,
    calendar,
    expected_outcome,
    expiry_pnl,
    futures,
    iron_condor,
    single_leg,
    straddle,
    strangle,
    vertical_credit,
    vertical_debit,
)

RATE = 0.065
DIV = 0.012
SPOT = 22_000.0
TS = pd.Timestamp("2025-03-04 10:00", tz=MARKET_TZ).tz_convert("UTC")
NEAR, NEXT, MARCH, APRIL = date(2025, 3, 6), date(2025, 3, 13), date(2025, 3, 27), date(2025, 4, 24)
STRIKES = np.arange(21_000.0, 23_001.0, 50.0)
LOT = 75  # NIFTY weeklies listed after 2024-11-20


def year_frac(ts: pd.Timestamp, expiry: date) -> float:
    """ACT/365 to 15:30 IST, computed independently of market.calendar."""
    close = pd.Timestamp(expiry).tz_localize(MARKET_TZ) + pd.Timedelta(hours=15, minutes=30)
    return max((close - ts).total_seconds(), 0.0) / (365 * 86_400)


def make_chain(
    *,
    ts: pd.Timestamp = TS,
    spot: float = SPOT,
    expiries: tuple[date, ...] = (NEAR, NEXT),
    strikes: np.ndarray = STRIKES,
    vol: float = 0.15,
    div: float = DIV,
    source_iv: bool = True,
    underlying: str = "NIFTY",
) -> pd.DataFrame:
    """Black-76 quotes, 2% wide around the model price (one point wide once expired)."""
    sid = f"{underlying}-{ts.strftime('%Y%m%dT%H%M%SZ')}"
    rows = []
    for expiry in expiries:
        T = year_frac(ts, expiry)
        F = spot * math.exp((RATE - div) * T)
        for kind in ("CE", "PE"):
            price = black76_price(F, strikes, T, vol, kind == "CE", RATE)
            if T == 0:
                price, bid, ask = price + 1.0, price + 0.5, price + 1.5
            else:
                bid, ask = price * 0.98, price * 1.02
            for k, b, a, p in zip(strikes, bid, ask, price, strict=True):
                rows.append(
                    {
                        "snapshot_id": sid, "underlying": underlying, "ts": ts,
                        "received_at": ts, "spot": spot, "expiry": pd.Timestamp(expiry),
                        "strike": k, "option_type": kind, "bid": b, "ask": a, "last": p,
                        "volume": 10, "oi": 100, "oi_change": 0,
                        "iv": vol if source_iv else np.nan, "source": "generic",
                    }
                )  # fmt: skip
    return conform(pd.DataFrame(rows), CHAIN_COLUMNS)


def forward_of(expiry: date, spot: float = SPOT, ts: pd.Timestamp = TS, div: float = DIV):
    return spot * math.exp((RATE - div) * year_frac(ts, expiry))


def leg_payoff(leg, price: float) -> float:
    """Textbook expiry P&L of one leg in rupees."""
    if leg.kind == "FUT":
        unit = price
    elif leg.kind == "CE":
        unit = max(price - leg.strike, 0.0)
    else:
        unit = max(leg.strike - price, 0.0)
    return leg.sign * leg.quantity * (unit - leg.price)


@pytest.fixture(scope="module")
def view() -> ChainView:
    return ChainView(make_chain(expiries=(NEAR, NEXT, MARCH, APRIL)), rate=RATE)


@pytest.fixture(scope="module")
def sim_view() -> ChainView:
    sim = MarketSimulator()
    return ChainView(sim.chain_snapshot(sim.snapshot_times(date(2025, 3, 4))[5], "NIFTY"))


# --- ChainView ------------------------------------------------------------------------------------


def test_chain_view_facts(view: ChainView) -> None:
    assert view.underlying == "NIFTY" and view.spot == SPOT
    assert view.ts == TS and str(view.ts.tz) == "UTC"
    assert view.trade_date == date(2025, 3, 4)
    assert view.expiries() == (NEAR, NEXT, MARCH, APRIL)
    assert view.strikes(NEAR) == tuple(STRIKES)
    assert view.time_to_expiry(NEXT) == pytest.approx(year_frac(TS, NEXT), abs=1e-12)
    assert view.forward(NEXT) == pytest.approx(forward_of(NEXT), rel=1e-9)
    assert view.forward_source(NEXT) == "parity"
    F = forward_of(NEAR)
    assert view.atm_strike(NEAR) == STRIKES[np.argmin(np.abs(STRIKES - F))]
    assert (view.lot_size(NEAR), view.lot_size(MARCH)) == (LOT, 25)
    q = view.quote(NEXT, 22_000, "CE")
    model = float(black76_price(forward_of(NEXT), 22_000, year_frac(TS, NEXT), 0.15, True, RATE))
    assert q.mid == pytest.approx(model, rel=1e-12) and q.iv == 0.15


def test_iv_is_implied_from_the_mid_when_the_source_has_none() -> None:
    v = ChainView(make_chain(source_iv=False), rate=RATE)
    assert v.iv(NEXT, 21_800, "PE") == pytest.approx(0.15, abs=1e-7)
    assert v.quote(NEXT, 22_300, "CE").iv == pytest.approx(0.15, abs=1e-7)


def test_forward_falls_back_to_spot_carry_without_parity_pairs() -> None:
    calls_only = make_chain()
    calls_only = calls_only[calls_only["option_type"] == "CE"]
    v = ChainView(calls_only, rate=RATE)
    assert v.forward_source(NEXT) == "spot_carry"
    assert v.forward(NEXT) == pytest.approx(SPOT * math.exp(RATE * year_frac(TS, NEXT)))


def test_futures_quote_is_the_forward_with_a_documented_spread(view: ChainView) -> None:
    leg = view.leg("FUT", NEXT, None, BUY, 2)
    F = view.forward(NEXT)
    assert leg.price == pytest.approx(F) and leg.quantity == 2 * LOT
    assert leg.quote.ask - leg.quote.bid == pytest.approx(2 * F * 0.25e-4)


def test_chain_view_refuses_bad_frames() -> None:
    chain = make_chain()
    other = make_chain(ts=TS + pd.Timedelta(minutes=5))
    cases = {
        "mixed_snapshots": pd.concat([chain, other]),
        "mixed_underlyings": pd.concat([chain, make_chain(underlying="BANKNIFTY")]),
        "empty_chain": chain.iloc[:0],
        "bad_chain": chain.drop(columns=["spot"]),
        "duplicate_quotes": pd.concat([chain, chain.iloc[:1]]),
    }
    for code, frame in cases.items():
        with pytest.raises(ChainError) as err:
            ChainView(frame)
        assert err.value.code == code


def test_missing_and_one_sided_quotes_are_refused() -> None:
    chain = make_chain()
    one_sided = (chain["strike"] == 22_100) & (chain["option_type"] == "CE")
    no_bid = (chain["strike"] == 22_150) & (chain["option_type"] == "CE")
    chain.loc[one_sided, "bid"] = np.nan
    chain.loc[no_bid, "bid"] = 0.0
    v = ChainView(chain)
    for strike in (22_100, 22_150, 22_125):
        with pytest.raises(OrderError) as err:
            v.quote(NEXT, strike, "CE")
        assert err.value.code == "missing_quote"
    with pytest.raises(OrderError) as err:
        v.forward(date(2025, 3, 20))
    assert err.value.code == "unknown_expiry"


# --- builders -------------------------------------------------------------------------------------


def _sides(s: Structure) -> list[tuple[str, float | None, str, int]]:
    return [(leg.kind, leg.strike, leg.side, leg.lots) for leg in s.legs]


def test_builders_place_concrete_strikes_and_sides(view: ChainView) -> None:
    k = view.atm_strike(NEXT)
    assert _sides(iron_condor(view, expiry=NEXT, width=2, wing=3, lots=2)) == [
        ("PE", k - 250, BUY, 2), ("PE", k - 100, SELL, 2),
        ("CE", k + 100, SELL, 2), ("CE", k + 250, BUY, 2),
    ]  # fmt: skip
    assert _sides(vertical_debit(view, expiry=NEXT, direction="bearish", width=2)) == [
        ("PE", k, BUY, 1), ("PE", k - 100, SELL, 1),
    ]  # fmt: skip
    assert _sides(vertical_credit(view, expiry=NEXT, direction="bearish", strike=22_200)) == [
        ("CE", 22_200, SELL, 1), ("CE", 22_250, BUY, 1),
    ]  # fmt: skip
    assert _sides(butterfly(view, expiry=NEXT, option_type="PE", wing=2)) == [
        ("PE", k - 100, BUY, 1), ("PE", k, SELL, 2), ("PE", k + 100, BUY, 1),
    ]  # fmt: skip
    assert _sides(strangle(view, expiry=NEXT, side="short", width=4)) == [
        ("PE", k - 200, SELL, 1), ("CE", k + 200, SELL, 1),
    ]  # fmt: skip
    cal = calendar(view, expiry=NEAR, far_expiry=MARCH, option_type="PE")
    assert [(leg.expiry, leg.side, leg.quantity) for leg in cal.legs] == [
        (NEAR, SELL, LOT), (MARCH, BUY, LOT),
    ]  # fmt: skip
    assert cal.legs[1].lots == 3  # MARCH was listed at 25 a lot


@pytest.mark.parametrize("kind", STRUCTURE_KINDS)
def test_every_builder_yields_valid_orders_on_a_simulated_chain(kind, sim_view) -> None:
    near, far = sim_view.expiries()[1], sim_view.expiries()[2]
    params = {"expiry": near, "lots": 2}
    params |= {
        "single_leg": {"option_type": "PE", "side": "short"},
        "vertical_debit": {"direction": "bullish", "width": 2},
        "vertical_credit": {"direction": "bearish"},
        "calendar": {"far_expiry": far},
        "strangle": {"width": 3},
    }.get(kind, {})
    s = build(kind, sim_view, **params)
    assert s.kind == kind and s.underlying == "NIFTY" and s.expiry == near
    validate_legs(s.legs, sim_view.trade_date)
    for leg in s.legs:
        assert leg.kind == "FUT" or sim_view.has_strike(leg.expiry, leg.strike)
    legs = {"single_leg": 1, "futures": 1, "butterfly": 3, "iron_condor": 4, "iron_fly": 4}
    assert len(s.legs) == legs.get(kind, 2)


def test_bad_builder_parameters_raise_named_errors(view: ChainView) -> None:
    cases = [
        (lambda: straddle(view, expiry=NEXT, strike=22_025), OrderError, "strike_not_listed"),
        (lambda: straddle(view, expiry=NEXT, lots=0), OrderError, "zero_lots"),
        (lambda: iron_condor(view, expiry=NEXT, wing=0), RiskInputError, "bad_wing"),
        (lambda: strangle(view, expiry=NEXT, width=30), OrderError, "strike_not_listed"),
        (lambda: calendar(view, expiry=NEXT, far_expiry=NEAR), RiskInputError, "bad_calendar"),
        (lambda: calendar(view, expiry=MARCH, far_expiry=APRIL), OrderError, "unbalanced_lots"),
        (lambda: vertical_debit(view, expiry=NEXT, direction="up"), RiskInputError, "bad_input"),
        (lambda: build("condor", view, expiry=NEXT), RiskInputError, "unknown_structure"),
        (lambda: build("straddle", view, expiry=NEXT, wing=2), RiskInputError, "bad_input"),
        (lambda: build("calendar", view, expiry=NEXT), RiskInputError, "bad_input"),
    ]
    for make, error, code in cases:
        with pytest.raises(error) as err:
            make()
        assert err.value.code == code
    assert calendar(view, expiry=MARCH, far_expiry=APRIL, lots=3).legs[1].lots == 1


def test_structure_properties(view: ChainView) -> None:
    fly = butterfly(view, expiry=NEXT, lots=2)
    assert fly.unit_lots == 2 and not fly.is_composite and fly.all_legs == fly.legs
    hedge = (view.leg("CE", NEAR, 22_500, BUY, 1),)
    composite = fly.with_hedge(hedge)
    assert composite.is_composite and composite.expiry == NEAR and composite.unit_lots == 1
    assert composite.with_hedge(()).hedge == ()
    assert "butterfly NIFTY" in fly.describe() and "| hedge: BUY 1x 22500CE" in composite.describe()
    with pytest.raises(RiskInputError):
        Structure("condor", fly.legs)


# --- payoffs --------------------------------------------------------------------------------------


def _qty_mids(s: Structure) -> list[float]:
    return [leg.price for leg in s.legs]


def test_vertical_and_condor_limits_match_the_textbook(view: ChainView) -> None:
    qty = 2 * LOT
    bull = vertical_debit(view, expiry=NEXT, direction="bullish", width=3, lots=2)
    long_mid, short_mid = _qty_mids(bull)
    debit = (long_mid - short_mid) * qty
    a = analyse(bull, view)
    assert a.net_premium == pytest.approx(-debit)
    assert a.max_loss == pytest.approx(debit) and a.max_profit == pytest.approx(150 * qty - debit)
    assert a.breakevens == pytest.approx((bull.legs[0].strike + debit / qty,))

    ic = iron_condor(view, expiry=NEXT, width=2, wing=3, lots=2)
    credit = sum(leg.price * leg.quantity * -leg.sign for leg in ic.legs)
    a = analyse(ic, view)
    assert a.max_profit == pytest.approx(credit) and a.max_loss == pytest.approx(150 * qty - credit)
    short_put, short_call = ic.legs[1].strike, ic.legs[2].strike
    assert a.breakevens == pytest.approx((short_put - credit / qty, short_call + credit / qty))


def test_straddle_breakevens_and_butterfly_limits(view: ChainView) -> None:
    s = straddle(view, expiry=NEXT)
    premium = sum(_qty_mids(s)) * LOT
    a = analyse(s, view)
    k = s.legs[0].strike
    assert a.breakevens == pytest.approx((k - premium / LOT, k + premium / LOT))
    assert a.max_profit == math.inf and a.max_loss == pytest.approx(premium)

    fly = butterfly(view, expiry=NEXT, wing=2)
    lo, body, hi = _qty_mids(fly)
    debit = (lo - 2 * body + hi) * LOT
    a = analyse(fly, view)
    assert a.max_loss == pytest.approx(debit) and a.max_profit == pytest.approx(100 * LOT - debit)
    k1, k3 = fly.legs[0].strike, fly.legs[2].strike
    assert a.breakevens == pytest.approx((k1 + debit / LOT, k3 - debit / LOT))


def test_unbounded_sides_are_detected_from_slopes(view: ChainView) -> None:
    def limits(s):
        a = analyse(s, view)
        return a.max_profit, a.max_loss

    call = dict(expiry=NEXT, option_type="CE", strike=22_500)
    put = dict(expiry=NEXT, option_type="PE", strike=21_500)
    assert limits(single_leg(view, side="short", **call))[1] == math.inf
    assert limits(single_leg(view, side="long", **call))[0] == math.inf
    assert limits(single_leg(view, side="short", **put))[1] == math.inf
    long_put = single_leg(view, side="long", **put)
    premium = long_put.legs[0].price
    assert limits(long_put) == pytest.approx(((21_500 - premium) * LOT, premium * LOT))
    assert limits(futures(view, expiry=NEXT)) == (math.inf, math.inf)
    short_fut = futures(view, expiry=NEXT, side="short")
    assert limits(short_fut) == (pytest.approx(short_fut.legs[0].price * LOT), math.inf)
    assert limits(strangle(view, expiry=NEXT, side="short"))[1] == math.inf


def test_value_today_at_expiry_is_intrinsic() -> None:
    close = pd.Timestamp("2025-03-06 15:30", tz=MARKET_TZ).tz_convert("UTC")
    v = ChainView(make_chain(ts=close, spot=22_037.0, expiries=(NEAR,)), rate=RATE)
    assert v.time_to_expiry(NEAR) == 0.0
    s = iron_condor(v, expiry=NEAR, strike=21_900, width=2, wing=1, lots=3)
    assert {leg.strike for leg in s.legs} == {21_750, 21_800, 22_000, 22_050}  # one ITM

    def intrinsic(leg) -> float:
        return (
            max(22_037.0 - leg.strike, 0.0) if leg.kind == "CE" else max(leg.strike - 22_037, 0.0)
        )

    expected = sum(leg.sign * leg.quantity * intrinsic(leg) for leg in s.legs)
    assert expected != 0.0
    assert analyse(s, v).value_today == pytest.approx(expected, abs=1e-6)


def _greeks_view(spot: float = SPOT, ts: pd.Timestamp = TS, div: float = 0.0) -> ChainView:
    return ChainView(make_chain(spot=spot, ts=ts, div=div, expiries=(NEAR, NEXT, APRIL)), rate=RATE)


def _greeks_structure(v: ChainView) -> Structure:
    return iron_condor(v, expiry=APRIL, width=1, wing=4, lots=2).with_hedge(
        (v.leg("CE", NEAR, 22_300, BUY, 1), v.leg("FUT", NEXT, None, SELL, 1))
    )


def test_greeks_sum_over_legs() -> None:
    v = _greeks_view()
    s = _greeks_structure(v)
    g = analyse(s, v).greeks
    parts = [analyse(Structure("single_leg", (leg,)), v).greeks for leg in s.all_legs]
    for name in ("delta", "gamma", "vega", "theta"):
        assert getattr(g, name) == pytest.approx(sum(getattr(p, name) for p in parts), rel=1e-9)


def test_spot_and_vol_greeks_match_finite_differences_of_the_mark() -> None:
    v = _greeks_view()  # no dividend: April's forward sits ~0.9% above spot, so dF/dS != 1
    s = _greeks_structure(v)
    g = analyse(s, v).greeks
    h = 5.0
    up, down = (analyse(s, _greeks_view(SPOT + d)).value_today for d in (h, -h))
    mid = analyse(s, v).value_today
    assert g.delta == pytest.approx((up - down) / (2 * h), rel=1e-4)
    assert g.gamma == pytest.approx((up - 2 * mid + down) / h**2, rel=2e-2)

    def bumped(dv: float) -> float:
        legs = [
            replace(leg, quote=replace(leg.quote, iv=leg.quote.iv + dv)) if leg.is_option else leg
            for leg in s.all_legs
        ]
        return analyse(Structure("iron_condor", tuple(legs)), v).value_today

    assert g.vega == pytest.approx((bumped(0.001) - bumped(-0.001)) / 0.2, rel=1e-3)


def test_theta_is_the_decay_of_the_mark_per_calendar_day() -> None:
    def at(ts: pd.Timestamp) -> ChainView:  # dividend = rate: the forward does not drift
        return _greeks_view(ts=ts, div=RATE)

    s = _greeks_structure(at(TS))
    theta = analyse(s, at(TS)).greeks.theta
    half_hour = pd.Timedelta(minutes=30)
    later, earlier = (analyse(s, at(TS + d)).value_today for d in (half_hour, -half_hour))
    assert theta == pytest.approx((later - earlier) * 24, rel=1e-2)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["iron_condor", "butterfly", "strangle", "vertical_debit", "straddle"]),
    price=st.floats(0.0, 2 * SPOT),
    lots=st.integers(1, 4),
)
def test_payoff_is_the_sum_of_the_legs_payoffs(view, kind, price, lots) -> None:
    extra = {"vertical_debit": {"direction": "bearish"}}.get(kind, {})
    s = build(kind, view, expiry=NEXT, lots=lots, **extra)
    expected = sum(leg_payoff(leg, price) for leg in s.legs)
    assert float(expiry_pnl(s, price)) == pytest.approx(expected, abs=1e-6)
    a = analyse(s, view)
    manual = [sum(leg_payoff(leg, x) for leg in s.legs) for x in a.grid[::50]]
    assert a.pnl[::50] == pytest.approx(manual, abs=1e-6)
    for be in a.breakevens:
        assert float(expiry_pnl(s, be)) == pytest.approx(0.0, abs=1e-6)


def test_synthetic_long_call_short_put_is_a_forward(view: ChainView) -> None:
    k = 21_800.0
    legs = (view.leg("CE", NEXT, k, BUY, 1), view.leg("PE", NEXT, k, SELL, 1))
    s = Structure("vertical_debit", legs)
    T, F = year_frac(TS, NEXT), forward_of(NEXT)
    assert analyse(s, view).value_today == pytest.approx(LOT * math.exp(-RATE * T) * (F - k))
    prices = np.array([0.0, 20_000.0, k, 23_456.0])
    carry = legs[0].price - legs[1].price
    np.testing.assert_allclose(expiry_pnl(s, prices), LOT * (prices - k - carry), atol=1e-6)


def test_expected_outcome_weights_samples_and_grids(view: ChainView) -> None:
    s = iron_condor(view, expiry=NEXT, width=2, wing=2)
    samples = np.random.default_rng(7).lognormal(math.log(SPOT), 0.02, 2_000)
    manual = np.array([sum(leg_payoff(leg, x) for leg in s.legs) for x in samples])
    ev, win = expected_outcome(s, samples)
    assert ev == pytest.approx(manual.mean()) and win == pytest.approx((manual > 0).mean())
    grid, weights = np.array([21_000.0, 22_000.0, 23_000.0]), np.array([1.0, 2.0, 1.0])
    ev, win = expected_outcome(s, grid, weights * 10)
    pnl = [sum(leg_payoff(leg, x) for leg in s.legs) for x in grid]
    assert ev == pytest.approx((pnl[0] + 2 * pnl[1] + pnl[2]) / 4) and win == pytest.approx(0.5)
    for bad in (np.array([1.0, -1.0, 1.0]), np.zeros(3), np.ones(2)):
        with pytest.raises(RiskInputError) as err:
            expected_outcome(s, grid, bad)
        assert err.value.code == "bad_weights"
    with pytest.raises(RiskInputError):
        expiry_pnl(s, [np.nan])


def test_calendar_is_valued_at_the_near_expiry_and_flagged_approximate(view: ChainView) -> None:
    cal = calendar(view, expiry=NEXT, far_expiry=APRIL, strike=22_000)
    a = analyse(cal, view)
    debit = -a.net_premium
    assert a.approximate and a.payoff_expiry == NEXT and debit > 0
    assert 0 < a.max_loss <= debit and 0 < a.max_profit < math.inf
    assert len(a.breakevens) == 2
    for be in a.breakevens:
        assert abs(float(expiry_pnl(cal, be, chain=view))) < 1e-3 * debit
    # at the strike the near leg expires worthless and the far leg keeps its Black-76 value
    tau = year_frac(pd.Timestamp("2025-03-13 15:30", tz=MARKET_TZ), APRIL)
    far_fwd = 22_000 * view.forward(APRIL) / view.forward(NEXT)
    far = float(black76_price(far_fwd, 22_000, tau, 0.15, True, RATE))
    expected = (far - cal.legs[1].price + cal.legs[0].price) * LOT
    assert float(expiry_pnl(cal, 22_000.0, chain=view)) == pytest.approx(expected, rel=1e-9)


def test_payoff_points_include_every_kink(view: ChainView) -> None:
    a = analyse(iron_condor(view, expiry=NEXT, width=1, wing=3), view, grid_points=101)
    xs = [x for x, _ in a.payoff_points()]
    assert len(xs) >= 101 and xs == sorted(xs)
    for k in [leg.strike for leg in a.structure.legs] + list(a.breakevens):
        assert k in xs
    with pytest.raises(RiskInputError):
        analyse(a.structure, view, grid_points=2)
