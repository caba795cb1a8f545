"""The castle on a simulated NIFTY/BANKNIFTY snapshot: each wall blocks through its own real
condition and reports its numbers, the first block wins, kill switches and bad input come first,
an eighth wall is one class, and no approved trade has a negative net EV."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.risk.castle.castle import INPUT, KILL_SWITCH, Castle
from quantsentinel.risk.castle.types import Block, NewsItem
from quantsentinel.risk.castle.walls import default_walls
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import Quote
from tests.risk import castle_fixtures as f

CASTLE = Castle()
UP = dict(direction="bullish", width=2)


def evaluate(candidate, market=None, context=None, switches=()):
    return CASTLE.evaluate(candidate, market or f.market(), context or f.context(), switches)


def test_walls_run_in_the_documented_order():
    assert CASTLE.wall_names == (
        "regime", "news", "policy", "margin", "correlation", "cost", "tail_hedge",
    )  # fmt: skip


def test_a_good_trade_passes_every_wall_with_its_numbers():
    v = evaluate(f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP))
    assert v.approved and v.blocked_by is None and v.walls_passed == CASTLE.wall_names
    assert v.numbers["edge_per_lot"] > 0 and 0.45 <= v.numbers["win_probability"] <= 1
    assert v.details["cost_total"] > 0 and v.details["margin"] > 0


def test_regime_blocks_short_premium_into_high_vol():
    c = f.candidate("iron_condor", look=f.outlook(vol_ratio=0.6), width=3, wing=2)
    assert evaluate(c).approved
    v = evaluate(c, f.market(regime="HIGH_VOL"))
    assert v.blocked_by == "regime" and v.numbers["regime"] == "HIGH_VOL"
    assert "credit iron_condor is not opened in HIGH_VOL" in v.reason
    long_straddle = f.candidate("straddle", side="long", look=f.outlook(vol_ratio=1.6))
    assert evaluate(long_straddle, f.market(regime="LOW_VOL_RANGE")).blocked_by == "regime"


def _event(kind: str, at: pd.Timestamp, scope: str = "MARKET", scheduled: bool = True):
    return NewsItem(f"{kind}-{at:%H%M}", at, kind, scheduled, scope)


def test_news_blocks_around_a_release_and_never_sees_an_unpublished_surprise():
    c = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)
    now = pd.Timestamp(c.decided_at)
    rbi_soon = _event("RBI_POLICY", now + timedelta(minutes=20))
    v = evaluate(c, f.market(news=[rbi_soon]))
    assert v.blocked_by == "news" and v.numbers["event_id"] == rbi_soon.event_id
    assert evaluate(c, f.market(news=[_event("RBI_POLICY", now + timedelta(hours=2))])).approved
    # A surprise stamped after the decision time is not known yet (no look-ahead) ...
    later = _event("SURPRISE", now + timedelta(minutes=1), scheduled=False)
    assert evaluate(c, f.market(news=[later])).approved
    # ... one published before it blocks for its window.
    earlier = _event("SURPRISE", now - timedelta(minutes=5), scheduled=False)
    assert evaluate(c, f.market(news=[earlier])).blocked_by == "news"
    # CPI (impact 0.5) passes a NORMAL market but blocks a nervous one.
    cpi = _event("CPI", now - timedelta(minutes=5))
    assert evaluate(c, f.market(news=[cpi])).approved
    assert evaluate(c, f.market(regime="HIGH_VOL", news=[cpi])).blocked_by == "news"


def test_stock_news_blocks_the_sector_not_the_broad_index():
    now = pd.Timestamp(f.chain().ts)
    hdfc = _event("SURPRISE", now - timedelta(minutes=5), scope="HDFCBANK", scheduled=False)
    bank = f.candidate("vertical_debit", "BANKNIFTY", look=f.outlook("BANKNIFTY", drift=0.02), **UP)
    assert evaluate(bank, f.market("BANKNIFTY", news=[hdfc])).blocked_by == "news"
    nifty = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)
    assert evaluate(nifty, f.market(news=[hdfc])).approved


def test_policy_limits_each_report_their_numbers():
    c = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)
    full = [f.position("NIFTY", 0.0, margin=1.0, n=i) for i in range(3)]
    v = evaluate(c, context=f.context(f.tenant(max_open_positions=3), full))
    assert v.blocked_by == "policy" and v.numbers["max_open_positions"] == 3
    big = f.candidate("vertical_debit", look=f.outlook(drift=0.02), lots=6, **UP)
    v = evaluate(big, context=f.context(f.tenant(max_leg_lots=5)))
    assert v.blocked_by == "policy" and v.numbers == {"leg_lots": 6, "max_leg_lots": 5}
    v = evaluate(c, context=f.context(f.tenant(max_position_loss_pct=0.001)))
    assert v.blocked_by == "policy" and v.numbers["max_loss"] > v.numbers["limit"] == 2_000.0
    banks = [f.position("BANKNIFTY", 0.0, margin=999_000.0)]
    bank = f.candidate("vertical_debit", "BANKNIFTY", look=f.outlook("BANKNIFTY", drift=0.02), **UP)
    v = evaluate(bank, f.market("BANKNIFTY"), f.context(f.tenant(), banks))
    assert v.blocked_by == "policy" and v.numbers["sector"] == "FINANCIAL_SERVICES"


def test_margin_wall_applies_the_tenant_buffer():
    c = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)
    margin = evaluate(c).details["margin"]
    # Capital that covers the margin alone but not margin x 1.3 is refused, and vice versa.
    tight = f.tenant(capital=margin * 1.2, max_position_loss_pct=1.0, max_underlying_share=1.0)
    v = evaluate(c, context=f.context(tight))
    assert v.blocked_by == "margin" and v.numbers["with_buffer"] == pytest.approx(margin * 1.3)
    looser = replace(tight, policy=replace(tight.policy, margin_buffer=0.1))
    assert evaluate(c, context=f.context(looser)).approved


def test_correlation_wall_blocks_stacking_the_same_direction():
    c = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)  # long delta NIFTY
    long_bank = [f.position("BANKNIFTY", 2_000_000.0)]
    v = evaluate(c, f.market(covariance=f.covariance(0.8)), f.context(positions=long_bank))
    assert v.blocked_by == "correlation" and v.numbers["correlation"] == pytest.approx(0.8)
    short_bank = [f.position("BANKNIFTY", -2_000_000.0)]
    ok = evaluate(c, f.market(covariance=f.covariance(0.8)), f.context(positions=short_bank))
    assert ok.approved
    # A near delta-neutral structure has a correlation sign but no size: it is not stacking.
    condor = f.candidate("iron_condor", width=1, wing=2, look=f.outlook(vol_ratio=0.6))
    ok = evaluate(condor, f.market(covariance=f.covariance(0.8)), f.context(positions=long_bank))
    assert "correlation" in ok.walls_passed
    v = evaluate(c, f.market(covariance=None), f.context(positions=long_bank))
    assert v.blocked_by == "correlation" and v.numbers["missing"] == ["BANKNIFTY", "NIFTY"]


def test_cost_wall_is_the_opportunity_scorer_on_the_evaluated_structure():
    fair = f.candidate("vertical_debit", look=f.outlook(), **UP)  # no edge beyond the market's
    v = evaluate(fair)
    assert v.blocked_by == "cost" and v.numbers["check"] == "net_ev"
    assert v.numbers["net_ev_per_lot"] < 0 and v.numbers["cost_per_lot"] > 0
    picky = f.context(f.tenant(min_win_probability=0.95))
    v = evaluate(f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP), context=picky)
    assert v.blocked_by == "cost" and v.numbers["check"] == "win_probability"


def test_naked_short_premium_is_evaluated_as_its_hedged_composite():
    loose = f.tenant(max_position_loss_pct=0.5)
    c = f.candidate("strangle", side="short", width=3, look=f.outlook(vol_ratio=0.6))
    v = evaluate(c, context=f.context(loose))
    assert v.approved and v.structure.is_composite
    assert v.details["stress_loss_after"] <= loose.policy.tail_loss_pct * loose.capital
    assert v.details["stress_loss_before"] > v.details["stress_loss_after"]
    assert math.isfinite(v.details["max_loss"])
    impossible = replace(loose, policy=replace(loose.policy, tail_loss_pct=0.0001))
    v = evaluate(c, context=f.context(impossible))
    assert v.blocked_by == "tail_hedge" and v.numbers.get("best_stress_loss", 0) >= 0
    assert not v.structure.is_composite


def test_kill_switches_and_bad_input_come_before_any_wall():
    c = f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP)
    switch = SimpleNamespace(kind="master", scope_key="*", reason="drill")
    v = evaluate(c, switches=[switch])
    assert v.blocked_by == KILL_SWITCH and "master" in v.reason and v.walls_passed == ()
    expiry = c.structure.legs[0].expiry
    cases = {
        "zero_lots": dict(lots=0),
        "off_step_strike": dict(strike=c.structure.legs[0].strike + 10),
        "expired_contract": dict(expiry=date(2025, 2, 27)),
        "missing_quote": dict(quote=Quote(float("nan"), float("nan"))),
        "wrong_lot_size": dict(lot_size=1),
    }
    for code, change in cases.items():
        v = evaluate(f.with_legs(c, **change))
        assert (v.approved, v.blocked_by, v.numbers["code"]) == (False, INPUT, code), code
    # On the grid but not listed in this snapshot: no market to trade at.
    listed = set(f.chain().strikes(expiry))
    unlisted = next(k for k in range(20_000, 26_000, 50) if float(k) not in listed)
    v = evaluate(f.with_legs(c, strike=float(unlisted)))
    assert (v.blocked_by, v.numbers["code"]) == (INPUT, "strike_not_listed")
    naive = replace(c, decided_at=c.decided_at.replace(tzinfo=None))
    assert evaluate(naive).numbers["code"] == "bad_input"
    no_outlook = replace(c, outlook=None, edge_per_lot=5_000.0, win_probability=1.5)
    v = evaluate(no_outlook)
    assert (v.blocked_by, v.numbers["code"]) == (INPUT, "bad_input")


def test_an_eighth_wall_is_one_class_and_one_line():
    @dataclass
    class NoTuesdays:
        name: str = "no_tuesdays"

        def check(self, a):
            if a.market.chain.trade_date.weekday() == 1:  # the fixture day is a Tuesday
                return Block(self.name, "no new trades on Tuesdays", {"weekday": 1})
            return None

    castle = Castle([*default_walls(), NoTuesdays()])
    v = castle.evaluate(
        f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP), f.market(), f.context()
    )
    assert v.blocked_by == "no_tuesdays" and v.walls_passed == CASTLE.wall_names


def test_a_failing_wall_blocks_with_an_error_and_never_approves():
    @dataclass
    class Broken:
        name: str = "broken"

        def check(self, a):
            return 1 / 0

    castle = Castle([*default_walls()[:2], Broken()])
    v = castle.evaluate(
        f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP), f.market(), f.context()
    )
    assert (v.approved, v.blocked_by, v.numbers["code"]) == (False, "error", "internal_error")
    assert "ZeroDivisionError" in v.reason and v.walls_passed == ("regime", "news")


def test_non_finite_market_and_book_inputs_are_refused_by_name():
    with pytest.raises(RiskInputError) as err:
        f.position("NIFTY", float("nan"))
    assert err.value.code == "bad_book"
    with pytest.raises(RiskInputError, match="regime"):
        f.market(regime="HIGH-VOL")
    cov = f.covariance(0.8)
    cov.iloc[0, 1] = float("nan")
    with pytest.raises(RiskInputError, match="non-finite"):
        f.market(covariance=cov)
    naive = NewsItem("x", pd.Timestamp("2025-03-04 10:00"), "CPI", True, "MARKET")
    with pytest.raises(RiskInputError, match="tz-aware"):
        f.market(news=[naive])


def test_default_policy_can_approve_hedged_short_premium_and_long_condors():
    # The hedge is chosen to meet the tighter of the tail and per-position limits, so the policy
    # wall does not refuse what the hedge was bought to protect.
    c = f.candidate("strangle", side="short", width=3, look=f.outlook(vol_ratio=0.6))
    v = evaluate(c)
    assert v.approved and v.structure.is_composite
    assert v.details["max_loss"] <= 0.02 * 2_000_000
    long_condor = f.candidate("iron_condor", side="long", width=1, wing=3,
                              look=f.outlook(vol_ratio=1.8))  # fmt: skip
    v = evaluate(long_condor, f.market(regime="HIGH_VOL"))
    assert v.blocked_by != "regime"


PARAMS = {
    "vertical_debit": UP,
    "straddle": {"side": "long"},
    "strangle": {"side": "short", "width": 3},  # needs a hedge: the composite is judged
    "iron_condor": {"width": 3, "wing": 2},
    "butterfly": {},
}


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(sorted(PARAMS)),
    regime=st.sampled_from(["LOW_VOL_RANGE", "NORMAL", "HIGH_VOL"]),
    vol_ratio=st.floats(0.4, 1.8),
    drift=st.floats(-0.03, 0.03),
)
def test_the_castle_never_approves_a_negative_net_ev(kind, regime, vol_ratio, drift):
    c = f.candidate(kind, look=f.outlook(vol_ratio=vol_ratio, drift=drift), **PARAMS[kind])
    loose = f.context(f.tenant(max_position_loss_pct=1.0, max_underlying_share=1.0))
    v = CASTLE.evaluate(c, f.market(regime=regime), loose)
    if v.approved:
        a = CASTLE.assess(c, f.market(regime=regime), loose)
        edge, _ = a.outcome
        net = edge - (a.costs.fees + a.costs.slippage) / a.unit_lots
        assert net > 0
