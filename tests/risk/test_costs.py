"""The cost engine's rules: which side pays what, GST, brokerage, slippage, exits,
settlement, reports, and the invariants a cost gate relies on."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market import contracts
from quantsentinel.risk.costs import (
    BROKERAGE,
    EXCHANGE_TXN,
    GST,
    IPFT,
    SEBI_FEE,
    SLIPPAGE,
    STAMP_DUTY,
    STT,
    STT_EXERCISE,
    CostEngine,
    RateSchedule,
    SlippageModel,
)
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import Leg, Quote
from quantsentinel.risk.tenancy.policy import BrokeragePlan

FLAT = BrokeragePlan(kind="flat", flat_per_order=20.0)
ON = date(2025, 5, 20)  # NIFTY weekly 2025-05-22, monthly 2025-05-29; lot 75
EXPIRY = date(2025, 5, 29)
ENGINE = CostEngine()


def nifty(
    kind: str = "CE",
    strike: float | None = 25000.0,
    side: str = "BUY",
    lots: int = 1,
    bid: float = 100.0,
    ask: float = 101.0,
    on: date = ON,
    expiry: date = EXPIRY,
) -> Leg:
    lot = contracts.lot_size("NIFTY", on, expiry)
    return Leg("NIFTY", kind, expiry, strike, side, lots, lot, Quote(bid, ask))


def condor(lots: int = 1, on: date = ON, expiry: date = EXPIRY) -> list[Leg]:
    return [
        nifty("PE", 24000.0, "BUY", lots, 20.0, 21.0, on, expiry),
        nifty("PE", 24500.0, "SELL", lots, 60.0, 61.0, on, expiry),
        nifty("CE", 25500.0, "SELL", lots, 55.0, 56.0, on, expiry),
        nifty("CE", 26000.0, "BUY", lots, 15.0, 16.0, on, expiry),
    ]


def amounts(costs, charge: str) -> list[float]:
    return [line.amount for line in costs.lines if line.charge == charge]


# --- who pays what ---------------------------------------------------------------------------


def test_stamp_duty_only_on_buys_and_stt_only_on_sells() -> None:
    legs = [nifty("CE", 25000.0, "BUY"), nifty("PE", 24000.0, "SELL")]
    entry = ENGINE.entry(legs, ON, FLAT)
    stamp_legs = {line.leg for line in entry.lines if line.charge == STAMP_DUTY}
    stt_legs = {line.leg for line in entry.lines if line.charge == STT}
    assert stamp_legs == {0} and stt_legs == {1}
    exit_ = ENGINE.exit(legs, ON, FLAT)  # closing reverses the sides
    assert {line.leg for line in exit_.lines if line.charge == STAMP_DUTY} == {1}
    assert {line.leg for line in exit_.lines if line.charge == STT} == {0}
    # STT on the option sold is on its premium: rate x mid x units.
    (stt,) = (line for line in entry.lines if line.charge == STT)
    assert stt.base == pytest.approx(legs[1].quote.mid * legs[1].quantity)
    assert stt.amount == pytest.approx(0.001 * stt.base)


def test_gst_base_is_brokerage_exchange_sebi_and_ipft_per_order() -> None:
    legs = [nifty(side="SELL", lots=3)]
    lines = ENGINE.entry(legs, ON, FLAT).lines
    by = {line.charge: line for line in lines}
    base = sum(by[c].amount for c in (BROKERAGE, EXCHANGE_TXN, SEBI_FEE, IPFT))
    assert by[GST].base == pytest.approx(base)
    assert by[GST].amount == pytest.approx(0.18 * base)
    # Upstox's reading (no GST on IPFT) is a schedule choice, not a code change.
    upstox = RateSchedule(gst_base=(BROKERAGE, EXCHANGE_TXN, SEBI_FEE))
    gst = CostEngine(upstox).entry(legs, ON, FLAT).by_charge()[GST]
    assert gst == pytest.approx(0.18 * (base - by[IPFT].amount))
    # No plan, no brokerage line, and GST only on the levies.
    statutory = {line.charge: line for line in ENGINE.entry(legs, ON, None).lines}
    assert BROKERAGE not in statutory
    assert statutory[GST].base == pytest.approx(base - by[BROKERAGE].amount)


def test_percent_brokerage_and_its_cap() -> None:
    plan = BrokeragePlan(kind="percent", percent=0.0003, cap_per_order=20.0)
    small = [nifty(bid=10.0, ask=10.0)]  # premium 750: 0.03% = 0.225, below the cap
    big = [nifty(bid=1000.0, ask=1000.0)]  # premium 75,000: 0.03% = 22.5, capped at 20
    (b_small,) = amounts(ENGINE.entry(small, ON, plan), BROKERAGE)
    (b_big,) = amounts(ENGINE.entry(big, ON, plan), BROKERAGE)
    assert b_small == pytest.approx(0.0003 * 10.0 * 75)
    assert b_big == 20.0
    uncapped = BrokeragePlan(kind="percent", percent=0.0003)
    (b_free,) = amounts(ENGINE.entry(big, ON, uncapped), BROKERAGE)
    assert b_free == pytest.approx(22.5)


def test_multi_leg_totals_are_sums_of_lines() -> None:
    rt = ENGINE.round_trip(condor(2), ON, FLAT)
    assert rt.total == pytest.approx(math.fsum(line.amount for line in rt.lines))
    assert rt.total == pytest.approx(rt.entry.total + rt.exit.total)
    assert rt.fees + rt.slippage == pytest.approx(rt.total)
    assert rt.slippage == pytest.approx(sum(amounts(rt, SLIPPAGE)))
    assert sum(rt.by_charge().values()) == pytest.approx(rt.total)
    # One executed order per leg per side: 4 legs x 2 sides x ₹20.
    assert rt.by_charge()[BROKERAGE] == 160.0
    assert {line.leg for line in rt.lines} == {0, 1, 2, 3}


def test_per_lot_scaling() -> None:
    one = ENGINE.round_trip(condor(1), ON, FLAT)
    two = ENGINE.round_trip(condor(2), ON, FLAT)
    ad_valorem = [c for c in one.by_charge() if c not in (BROKERAGE, GST, SLIPPAGE)]
    for charge in ad_valorem:
        assert two.by_charge()[charge] == pytest.approx(2 * one.by_charge()[charge])
    assert two.by_charge()[BROKERAGE] == one.by_charge()[BROKERAGE]  # flat per order
    assert one.fees < two.fees < 2 * one.fees  # flat brokerage is shared by the lots
    assert two.unit_lots == 2 and two.per_lot == pytest.approx(two.total / 2)
    assert two.per_lot < one.per_lot  # brokerage amortised over two copies
    mixed = condor(1)
    mixed = [mixed[0].scaled(2), mixed[1].scaled(4), mixed[2].scaled(4), mixed[3].scaled(2)]
    costs = ENGINE.entry(mixed, ON, FLAT)
    assert costs.unit_lots == 2 and costs.per_lot == pytest.approx(costs.total / 2)


# --- slippage --------------------------------------------------------------------------------


def test_slippage_is_half_spread_at_the_touch() -> None:
    model = SlippageModel(touch_lots=10)
    leg = nifty(bid=100.0, ask=102.0, lots=3)
    cost = model.cost(leg.quote, leg.quantity, leg.lot_size)
    assert cost == pytest.approx(1.0 * leg.quantity)
    (line,) = (x for x in ENGINE.entry([leg], ON, FLAT).lines if x.charge == SLIPPAGE)
    assert line.rate == pytest.approx(1.0) and line.base == leg.quantity


def test_slippage_grows_with_size_beyond_the_touch_and_with_spread() -> None:
    model = SlippageModel(touch_lots=5, impact=0.5)
    lot = 75
    per_unit = [
        model.cost(Quote(100.0, 101.0), lots * lot, lot) / (lots * lot)
        for lots in (1, 5, 6, 10, 40)
    ]
    assert per_unit[0] == per_unit[1] == pytest.approx(0.5)  # within the touch: half-spread
    assert per_unit[1] < per_unit[2] < per_unit[3] < per_unit[4]  # beyond: grows with size
    narrow = model.cost(Quote(100.0, 100.5), 10 * lot, lot)
    wide = model.cost(Quote(100.0, 102.0), 10 * lot, lot)
    assert narrow < wide
    # A locked quote still pays the tick-spaced book beyond the touch.
    locked = model.cost(Quote(100.0, 100.0), 10 * lot, lot)
    assert model.cost(Quote(100.0, 100.0), 5 * lot, lot) == 0.0 < locked


@pytest.mark.parametrize("quote", [Quote(0.0, 0.0), Quote(101.0, 100.0), Quote(math.nan, 1.0)])
def test_unusable_quote_is_missing_quote(quote: Quote) -> None:
    with pytest.raises(OrderError) as err:
        SlippageModel().cost(quote, 75, 75)
    assert err.value.code == "missing_quote"
    with pytest.raises(OrderError) as err:
        ENGINE.exit([nifty()], ON, FLAT, exit_prices=[quote])
    assert err.value.code == "missing_quote"


@pytest.mark.parametrize("field", ["touch_lots", "impact", "tick_size"])
def test_slippage_parameters_are_checked(field: str) -> None:
    with pytest.raises(RiskInputError):
        SlippageModel(**{field: -1.0})


# --- exits -----------------------------------------------------------------------------------


def test_exit_prices_numbers_and_quotes() -> None:
    legs = [nifty(side="BUY", bid=100.0, ask=102.0)]
    at_mid = ENGINE.exit(legs, ON, FLAT)
    (stt_mid,) = amounts(at_mid, STT)
    assert stt_mid == pytest.approx(0.001 * 101.0 * 75)
    at_price = ENGINE.exit(legs, ON, FLAT, exit_prices=[150.0])
    assert amounts(at_price, STT)[0] == pytest.approx(0.001 * 150.0 * 75)
    assert at_price.slippage == pytest.approx(at_mid.slippage)  # the leg's own spread
    with_quote = ENGINE.exit(legs, ON, FLAT, exit_prices=[Quote(149.0, 151.0)])
    assert amounts(with_quote, STT)[0] == pytest.approx(0.001 * 150.0 * 75)
    assert with_quote.slippage == pytest.approx(1.0 * 75)
    for bad in ([1.0, 2.0], [-1.0], [math.inf], [True]):
        with pytest.raises(RiskInputError):
            ENGINE.exit(legs, ON, FLAT, exit_prices=bad)


def test_close_on_a_later_date_uses_that_dates_rates() -> None:
    on, expiry = date(2024, 9, 30), date(2024, 10, 31)
    legs = [nifty(side="BUY", bid=100.0, ask=100.0, on=on, expiry=expiry)]
    rt = ENGINE.round_trip(legs, on, FLAT, exit_date=date(2024, 10, 1))
    (stt,) = amounts(rt.exit, STT)
    assert stt == pytest.approx(0.001 * 100.0 * legs[0].quantity)  # the 2024-10-01 rate
    with pytest.raises(RiskInputError):
        ENGINE.round_trip(legs, on, FLAT, exit_date=date(2024, 9, 27))


# --- settlement ------------------------------------------------------------------------------


def test_settlement_stt_only_for_itm_longs() -> None:
    legs = [
        nifty("CE", 24500.0, "BUY"),  # ITM at 25,000: exercised, STT
        nifty("CE", 24000.0, "SELL"),  # ITM: assigned, no STT
        nifty("PE", 24500.0, "BUY"),  # OTM: lapses, nothing
        nifty("CE", 25000.0, "BUY"),  # at the money: no intrinsic value, nothing
    ]
    settled = ENGINE.settlement(legs, EXPIRY, 25000.0, plan=FLAT)
    stt = [line for line in settled.lines if line.charge == STT_EXERCISE]
    assert [line.leg for line in stt] == [0]
    assert stt[0].base == pytest.approx(500.0 * 75)
    assert stt[0].amount == pytest.approx(0.00125 * 500.0 * 75)
    assert {line.leg for line in settled.lines} == {0, 1}  # OTM/ATM legs: no order at all
    assert amounts(settled, BROKERAGE) == [20.0, 20.0]
    assert not {STT, STAMP_DUTY, EXCHANGE_TXN, SLIPPAGE} & set(settled.by_charge())
    statutory = ENGINE.settlement(legs, EXPIRY, 25000.0)
    assert set(statutory.by_charge()) == {STT_EXERCISE}


def test_settlement_by_underlying_and_refusals() -> None:
    fut = Leg("NIFTY", "FUT", EXPIRY, None, "BUY", 1, 75, Quote(25000.0, 25001.0))
    settled = ENGINE.settlement([fut], EXPIRY, {"NIFTY": 25100.0}, plan=FLAT)
    assert set(settled.by_charge()) == {BROKERAGE, GST}  # no STT on a future's final settlement
    with pytest.raises(RiskInputError):
        ENGINE.settlement([fut], EXPIRY, {"BANKNIFTY": 1.0})
    with pytest.raises(RiskInputError):
        ENGINE.settlement([fut], EXPIRY, -5.0)
    with pytest.raises(OrderError):
        ENGINE.settlement([nifty(expiry=date(2025, 5, 22))], EXPIRY, 25000.0)
    stock = Leg("RELIANCE", "CE", EXPIRY, 1400.0, "BUY", 1, 500, Quote(20.0, 21.0))
    with pytest.raises(OrderError) as err:
        ENGINE.settlement([stock], EXPIRY, 1450.0)
    assert err.value.code == "physical_settlement"


def test_round_trip_to_expiry() -> None:
    legs = condor(1)
    rt = ENGINE.round_trip(legs, ON, FLAT, exit="expiry", settle_price=24300.0)
    assert rt.exit.phase == "settlement" and rt.exit.on == EXPIRY
    # At 24,300 only the short 24500 PE is in the money: assigned (brokerage), no exercise STT.
    assert amounts(rt.exit, STT_EXERCISE) == []
    assert {line.leg for line in rt.exit.lines} == {1}
    with pytest.raises(RiskInputError):
        ENGINE.round_trip(legs, ON, FLAT, exit="expiry")
    with pytest.raises(RiskInputError):
        ENGINE.round_trip(legs, ON, FLAT, exit="expiry", settle_price=1.0, exit_prices=[1.0] * 4)
    with pytest.raises(RiskInputError):
        ENGINE.round_trip(legs, ON, FLAT, exit="someday")
    calendar = [nifty(expiry=date(2025, 5, 22)), nifty(side="SELL")]
    with pytest.raises(RiskInputError):
        ENGINE.round_trip(calendar, ON, FLAT, exit="expiry", settle_price=25000.0)


# --- validation and reports ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leg", "code"),
    [
        (nifty(lots=0), "zero_lots"),
        (Leg("NIFTY", "CE", EXPIRY, 25000.0, "BUY", 1, 50, Quote(1.0, 2.0)), "wrong_lot_size"),
        (nifty(strike=25010.0), "off_step_strike"),
        (nifty(bid=5.0, ask=4.0), "missing_quote"),
    ],
)
def test_bad_orders_are_refused_before_pricing(leg: Leg, code: str) -> None:
    for call in (
        lambda: ENGINE.entry([leg], ON, FLAT),
        lambda: ENGINE.exit([leg], ON, FLAT),
        lambda: ENGINE.round_trip([leg], ON, FLAT),
    ):
        with pytest.raises(OrderError) as err:
            call()
        assert err.value.code == code


def test_explain_mentions_every_charge_and_records_are_json() -> None:
    rt = ENGINE.round_trip(condor(1), ON, FLAT)
    text = rt.explain()
    for charge in rt.by_charge():
        assert charge in text
    for line in rt.lines:
        assert rt.legs[line.leg].label in text
    assert f"{rt.total:,.2f}" in text and f"{rt.per_lot:,.2f}" in text
    records = rt.as_records()
    assert len(records) == len(rt.lines)
    assert json.loads(json.dumps(records))[0]["charge"] == rt.lines[0].charge
    assert math.fsum(r["amount"] for r in records) == pytest.approx(rt.total)
    assert "settle" in ENGINE.settlement(condor(1), EXPIRY, 23000.0, FLAT).explain()


# --- invariants ------------------------------------------------------------------------------

_DATES = [date(2023, 6, 1), date(2024, 9, 10), date(2025, 5, 20), date(2026, 4, 15)]


@st.composite
def orders(draw):
    on = draw(st.sampled_from(_DATES))
    expiry = draw(st.sampled_from(contracts.expiries("NIFTY", on, count=4)))
    lot = contracts.lot_size("NIFTY", on, expiry)
    n = draw(st.integers(1, 4))
    legs = []
    for _ in range(n):
        kind = draw(st.sampled_from(["CE", "PE", "FUT"]))
        strike = None if kind == "FUT" else 50.0 * draw(st.integers(400, 560))
        bid = draw(st.floats(0.0, 2000.0, allow_nan=False))
        spread = draw(st.floats(0.0, 20.0, allow_nan=False))
        ask = max(bid + spread, 0.05)
        side = draw(st.sampled_from(["BUY", "SELL"]))
        legs.append(Leg("NIFTY", kind, expiry, strike, side, draw(st.integers(1, 30)), lot,
                        Quote(bid, ask)))  # fmt: skip
    plan = draw(
        st.one_of(
            st.builds(BrokeragePlan, kind=st.just("flat"), flat_per_order=st.floats(0, 50)),
            st.builds(
                BrokeragePlan,
                kind=st.just("percent"),
                percent=st.floats(0, 0.003),
                cap_per_order=st.one_of(st.none(), st.floats(0, 100)),
            ),
        )
    )
    return legs, on, plan


@settings(max_examples=150, deadline=None)
@given(orders(), st.integers(2, 5))
def test_lines_nonnegative_total_is_sum_and_more_lots_never_cost_less(order, k) -> None:
    legs, on, plan = order
    rt = ENGINE.round_trip(legs, on, plan)
    assert all(line.amount >= 0.0 and line.base >= 0.0 for line in rt.lines)
    assert rt.total == pytest.approx(math.fsum(line.amount for line in rt.lines))
    assert rt.fees + rt.slippage == pytest.approx(rt.total)
    bigger = ENGINE.round_trip([leg.scaled(leg.lots * k) for leg in legs], on, plan)
    assert bigger.total >= rt.total - 1e-9
    assert bigger.fees >= rt.fees - 1e-9
    assert bigger.slippage >= rt.slippage - 1e-9
