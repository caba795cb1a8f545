"""Paper-executor checks shared by SQLite (tests/decide/test_paper.py) and Postgres
(tests/pg/test_paper_pg.py), on simulated NIFTY chains and decisions with real, sized legs.

Expected numbers come from the cost engine and the structure analysis called directly on the
decision's own legs, never from the executor's stored rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from functools import cache

import pandas as pd
import pytest
import sqlalchemy as sa

from quantsentinel.decide.legs import leg_record
from quantsentinel.decide.paper import (
    LearningStateStore,
    PaperExecutor,
    StateConflict,
    StateWrite,
    paper_fills,
    paper_positions,
)
from quantsentinel.decide.store import BatchRecord, DecisionRecord, DecisionStore
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.costs import CostEngine
from quantsentinel.risk.orders import Quote
from quantsentinel.risk.structures import ChainView, Structure, analyse, build
from quantsentinel.risk.tenancy.policy import BrokeragePlan
from quantsentinel.risk.tenancy.scope import system_scope
from quantsentinel.risk.tenancy.store import Tenant, TenantStore

DAY = date(2025, 3, 4)
PLAN = BrokeragePlan()  # TenantStore.add's default plan: flat Rs 20 per order


@cache
def sim() -> MarketSimulator:
    return MarketSimulator()


@cache
def frame(day: date = DAY, index: int = 5) -> pd.DataFrame:
    return sim().chain_snapshot(sim().snapshot_times(day)[index], "NIFTY")


@cache
def view(day: date = DAY, index: int = 5) -> ChainView:
    return ChainView(frame(day, index))


def _contract(f: pd.DataFrame, key: tuple[date, float, str]) -> pd.Series:
    expiry, strike, kind = key
    rows = (f["expiry"].dt.date == expiry) & (f["strike"] == strike) & (f["option_type"] == kind)
    assert rows.sum() == 1, key
    return rows


def later(
    minutes: int,
    shift: Mapping[tuple[date, float, str], float] | None = None,
    drop: tuple[tuple[date, float, str], ...] = (),
    base: pd.DataFrame | None = None,
) -> ChainView:
    """The base snapshot `minutes` later with some contracts' quotes moved by a number of points
    (bid, ask and last alike: the spread is unchanged) and some contracts gone."""
    f = (frame() if base is None else base).copy()
    ts = f["ts"].iloc[0] + pd.Timedelta(minutes=minutes)
    f["ts"] = ts
    f["received_at"] = ts
    f["snapshot_id"] = f"NIFTY-{ts:%Y%m%dT%H%M%SZ}"
    for key, points in (shift or {}).items():
        f.loc[_contract(f, key), ["bid", "ask", "last"]] += points
    for key in drop:
        f = f[~_contract(f, key)]
    return ChainView(f)


def key_of(leg) -> tuple[date, float, str]:
    return (leg.expiry, leg.strike, leg.kind)


def structure(kind: str = "single_leg", chain: ChainView | None = None, **params) -> Structure:
    chain = chain or view()
    params.setdefault("expiry", chain.expiries()[1])
    if kind == "single_leg":
        params.setdefault("option_type", "CE")
    return build(kind, chain, **params)


def decision(
    tenant_id: str,
    s: Structure,
    *,
    target: float | None = None,
    stop: float | None = None,
    chain: ChainView | None = None,
    **numbers,
) -> DecisionRecord:
    a = analyse(s, chain or view())
    return DecisionRecord(
        tenant_id, True, strategy="test", structure=s.kind,
        legs=tuple(leg_record(leg) for leg in s.all_legs), units=s.unit_lots, target=target,
        stop=stop, max_profit=a.max_profit, max_loss=a.max_loss, expected_cost=100.0,
        numbers={"margin": a.margin.total, "delta": a.greeks.delta, "regime": "NORMAL",
                 "arm": s.kind, **numbers},
    )  # fmt: skip


def tenants(engine: sa.Engine, *names: str) -> dict[str, Tenant]:
    store = TenantStore(engine)
    return {t.tenant_id: t for t in (store.add(n, capital=2_000_000, actor="test") for n in names)}


def write(engine: sa.Engine, batch_id: str, records, chain: ChainView | None = None) -> None:
    at = (chain or view()).ts.to_pydatetime()
    DecisionStore(engine).write_batch(BatchRecord(batch_id, "NIFTY", at, at, "NORMAL"), records)


def counts(engine: sa.Engine) -> tuple[int, int]:
    with system_scope(engine) as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (paper_positions, paper_fills)
        )


def opened(engine: sa.Engine, kind: str = "single_leg", target=None, stop=None, **params):
    """One tenant ('acme') with one open position of `kind`: (executor, tenants, structure)."""
    known = tenants(engine, "Acme")
    s = structure(kind, **params)
    d = decision("acme", s, target=target, stop=stop)
    write(engine, "b1", [d])
    executor = PaperExecutor(engine)
    assert len(executor.open("b1", [d], view(), known)) == 1
    return executor, known, s


# --- checks -------------------------------------------------------------------------------------


def check_fills_cross_the_spread_and_book_costs(engine: sa.Engine) -> None:
    known = tenants(engine, "Acme", "Beta")
    small, large = structure("iron_condor", width=2, wing=2), structure("iron_condor", lots=12)
    records = [decision("acme", small), decision("beta", large)]
    write(engine, "b1", records)
    fills = {f.tenant_id: f for f in PaperExecutor(engine).open("b1", records, view(), known)}
    for leg, filled in zip(small.all_legs, fills["acme"].legs, strict=True):
        # One lot is inside the touch depth: a buy pays the ask, a sell gets the bid.
        touch = leg.quote.ask if leg.side == "BUY" else leg.quote.bid
        assert filled["fill_price"] == pytest.approx(touch, abs=1e-9)
    for leg, filled in zip(large.all_legs, fills["beta"].legs, strict=True):
        # Twelve lots walk past the touch (10 lots): worse than the quote on both sides.
        if leg.side == "BUY":
            assert filled["fill_price"] > leg.quote.ask
        else:
            assert filled["fill_price"] < leg.quote.bid
    entry = CostEngine().entry(small.all_legs, DAY, PLAN)
    fill = fills["acme"]
    assert (fill.phase, fill.fill_id) == ("entry", "b1/acme/entry")
    assert fill.charges == pytest.approx(entry.fees) and fill.slippage == pytest.approx(
        entry.slippage
    )
    assert fill.charges > 0 and fill.slippage > 0
    row = PaperExecutor(engine).positions("acme")[0]
    assert row["entry_premium"] == pytest.approx(analyse(small, view()).net_premium)
    assert row["entry_premium"] > 0  # a short condor is a credit
    assert row["entry_costs"] == pytest.approx(entry.total)
    assert row["delta_notional"] == pytest.approx(analyse(small, view()).greeks.delta * view().spot)
    assert (row["status"], row["arm"], row["expiry"]) == ("open", "iron_condor", small.expiry)


def check_open_is_idempotent_and_refuses_bad_input(engine: sa.Engine) -> None:
    known = tenants(engine, "Acme", "Beta", "Gamma")
    s = structure()
    good, blocked = decision("acme", s), DecisionRecord("beta", False, blocked_by="cost")
    broken = decision("gamma", s)
    broken = replace(broken, legs=({"kind": "CE", "side": "BUY"},))
    write(engine, "b1", [good, blocked, broken])
    executor = PaperExecutor(engine)
    no_gamma = {k: v for k, v in known.items() if k != "gamma"}
    for records, given, code in (
        ([good, blocked], known, "not_approved"),
        ([good, broken], known, "bad_leg"),
        ([decision("acme", s, arm="")], known, "bad_decision"),
        ([decision("acme", s, stop=50.0)], known, "bad_decision"),
        ([good, decision("gamma", s)], no_gamma, "unknown_tenant"),
    ):
        with pytest.raises(Exception) as err:
            executor.open("b1", records, view(), given)
        assert getattr(err.value, "code", None) == code, err.value
        assert counts(engine) == (0, 0)  # nothing written, the good decision included
    with pytest.raises(Exception) as err:
        executor.open("b2", [good], view(), known)  # never stored
    assert err.value.code == "unknown_decision"
    assert len(executor.open("b1", [good], view(), known)) == 1
    assert executor.open("b1", [good], view(), known) == []
    assert counts(engine) == (1, 1)


def check_fills_use_the_chain_quote_else_the_decisions(engine: sa.Engine) -> None:
    known = tenants(engine, "Acme", "Beta")
    a, b = structure(), structure(option_type="PE")
    records = [decision("acme", a), decision("beta", b)]
    write(engine, "b1", records)
    (leg_a,), (leg_b,) = a.all_legs, b.all_legs
    chain = later(30, shift={key_of(leg_a): 4.0}, drop=(key_of(leg_b),))
    fills = {f.tenant_id: f for f in PaperExecutor(engine).open("b1", records, chain, known)}
    (fa,), (fb,) = fills["acme"].legs, fills["beta"].legs
    assert (fa["quote_source"], fa["fill_price"]) == ("chain", pytest.approx(leg_a.quote.ask + 4))
    assert (fb["quote_source"], fb["fill_price"]) == ("decision", pytest.approx(leg_b.quote.ask))


def check_marks_value_a_known_move_and_exit_at_target(engine: sa.Engine) -> None:
    executor, known, s = opened(engine, target=1_000.0, stop=-1_000.0)
    (leg,) = s.all_legs
    row = executor.positions("acme")[0]
    entry_costs = CostEngine().entry(s.all_legs, DAY, PLAN).total
    assert executor.mark(view(), known).marked == 0  # not opened strictly before the chain
    report = executor.mark(later(30, {key_of(leg): 5.0}), known)
    assert (report.marked, report.closed, report.stale) == (1, [], [])
    row = executor.positions("acme")[0]
    assert row["unrealised_pnl"] == pytest.approx(leg.quantity * 5.0 - entry_costs, abs=1e-6)
    assert executor.mark(later(30, {key_of(leg): 50.0}), known).marked == 0  # replay: no-op
    report = executor.mark(later(60, {key_of(leg): 20.0}), known)
    (closed,) = report.closed
    exit_quote = Quote(leg.quote.bid + 20, leg.quote.ask + 20)
    exit_costs = CostEngine().exit(s.all_legs, DAY, PLAN, exit_prices=[exit_quote]).total
    realised = leg.quantity * 20.0 - entry_costs - exit_costs
    assert closed.reason == "target" and closed.realised_pnl == pytest.approx(realised)
    assert closed.reward == pytest.approx(realised / analyse(s, view()).max_loss)
    assert (closed.arm, closed.regime, closed.position_id) == ("single_leg", "NORMAL", "b1/acme")
    (exit_fill,) = [f for f in executor.fills("acme") if f.phase == "exit"]
    assert exit_fill.legs[0]["fill_price"] == pytest.approx(exit_quote.bid)  # a sale hits the bid
    assert executor.summary("acme") == {
        "tenant_id": "acme", "open": 0, "closed": 1, "realised_pnl": pytest.approx(realised),
        "unrealised_pnl": 0.0, "fills": 2,
    }  # fmt: skip
    assert executor.mark(later(90, {key_of(leg): 40.0}), known).closed == []  # closed is final
    assert executor.books(["acme"])["acme"].positions == ()  # a closed position blocks nothing


def check_stop_exit_and_stale_marks(engine: sa.Engine) -> None:
    executor, known, s = opened(engine, target=5_000.0, stop=-1_000.0)
    (leg,) = s.all_legs
    report = executor.mark(later(30, {key_of(leg): -3.0}), known)
    before = executor.positions("acme")[0]
    report = executor.mark(later(45, drop=(key_of(leg),)), known)
    assert (report.marked, report.closed, report.stale) == (0, [], ["b1/acme"])
    kept = executor.positions("acme")[0]
    assert (kept["last_mark_at"], kept["unrealised_pnl"]) == (
        before["last_mark_at"],
        before["unrealised_pnl"],
    )
    (closed,) = executor.mark(later(60, {key_of(leg): -20.0}), known).closed
    assert closed.reason == "stop" and closed.realised_pnl < -1_000.0
    assert closed.reward == pytest.approx(closed.realised_pnl / analyse(s, view()).max_loss)


def check_expiry_settles_at_intrinsic(engine: sa.Engine) -> None:
    near = view().expiries()[0]
    executor, known, s = opened(engine, "vertical_debit", expiry=near, direction="bearish", width=2)
    morning = view(near, 3)
    # The exchange settles at the close: an expiry-day morning is only a mark.
    assert not executor.mark(morning, known).closed
    on_expiry = view(near, 74)  # 15:25 IST, the session's last snapshot
    assert on_expiry.trade_date == near and on_expiry.spot < min(leg.strike for leg in s.all_legs)
    (closed,) = executor.mark(on_expiry, known).closed
    assert closed.reason == "expiry" and closed.exit_spot == on_expiry.spot
    intrinsic = math.fsum(
        leg.sign * leg.quantity * max(leg.strike - on_expiry.spot, 0.0) for leg in s.all_legs
    )
    settle = CostEngine().settlement(s.all_legs, near, on_expiry.spot, PLAN)
    assert settle.total > 0  # both legs finish in the money: exercise STT and brokerage
    row = executor.positions("acme")[0]
    assert row["exit_premium"] == pytest.approx(intrinsic)
    assert row["exit_costs"] == pytest.approx(settle.total)
    assert closed.realised_pnl == pytest.approx(
        row["entry_premium"] + intrinsic - row["entry_costs"] - settle.total
    )
    (exit_fill,) = [f for f in executor.fills("acme") if f.phase == "exit"]
    assert [x["quote_source"] for x in exit_fill.legs] == ["settlement", "settlement"]


def check_expiry_seen_later_settles_at_that_days_close(engine: sa.Engine) -> None:
    """A position first marked after its expiry day settles at that day's close (given by the
    caller from stored closes), not at the later chain's spot; stale without one."""
    from quantsentinel.market import calendar

    near = view().expiries()[0]
    executor, known, s = opened(engine, "vertical_debit", expiry=near, direction="bearish", width=2)
    close = view(near, 74).spot  # what the expiry day closed at
    later = view(calendar.trading_days(near, date(near.year, 12, 31))[1], 5)
    assert later.spot != close
    report = executor.mark(later, known, {("NIFTY", near): close})
    (closed,) = report.closed
    assert closed.reason == "expiry" and closed.exit_spot == close and not report.stale
    intrinsic = math.fsum(
        leg.sign * leg.quantity * max(leg.strike - close, 0.0) for leg in s.all_legs
    )
    assert executor.positions("acme")[0]["exit_premium"] == pytest.approx(intrinsic)


def check_unpriceable_positions_still_refresh_delta(engine: sa.Engine) -> None:
    """A position the chain cannot value (a leg without a two-sided quote) is not marked, but
    its delta exposure is still brought up to date for the castle."""
    executor, known, s = opened(engine, "iron_condor")
    before = executor.positions("acme")[0]["delta_notional"]
    f = frame().copy()
    f["ts"] = f["received_at"] = f["ts"].iloc[0] + pd.Timedelta(minutes=120)
    f["spot"] = f["spot"] * 1.02  # the index rallied: the condor is now short delta
    f.loc[_contract(f, key_of(s.legs[0])), "bid"] = float("nan")  # a wing without a bid
    report = executor.mark(ChainView(f), known)
    row = executor.positions("acme")[0]
    assert report.marked == 0 and row["position_id"] in report.stale
    assert row["last_mark_at"] is None and row["delta_notional"] != pytest.approx(before)


def check_books_in_one_query(engine: sa.Engine) -> None:
    known = tenants(engine, "Acme", "Beta", "Gamma")
    condor, strangle = structure("iron_condor"), structure("strangle", side="short")
    records = [decision("acme", condor), decision("beta", strangle)]
    write(engine, "b1", records)
    executor = PaperExecutor(engine)
    executor.open("b1", records, view(), known)
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "paper_positions" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        books = executor.books(["acme", "beta", "gamma"])
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(seen) == 1
    assert set(books) == {"acme", "beta", "gamma"} and books["gamma"].positions == ()
    (p,) = books["acme"].positions
    a = analyse(condor, view())
    assert (p.position_id, p.underlying, p.strategy) == ("b1/acme", "NIFTY", "test")
    assert p.margin == pytest.approx(a.margin.total) and p.max_loss == pytest.approx(a.max_loss)
    assert math.isinf(books["beta"].positions[0].max_loss)  # a short strangle is unbounded
    assert executor.books([]) == {}


def check_tenants_see_only_their_own(engine: sa.Engine) -> None:
    known = tenants(engine, "Acme", "Beta")
    records = [decision("acme", structure()), decision("beta", structure(option_type="PE"))]
    write(engine, "b1", records)
    executor = PaperExecutor(engine)
    executor.open("b1", records, view(), known)
    assert [r["position_id"] for r in executor.positions("acme")] == ["b1/acme"]
    assert [f.tenant_id for f in executor.fills("beta")] == ["beta"]
    assert executor.positions("acme", status="closed") == []
    assert executor.summary("beta")["open"] == 1 and executor.summary("beta")["fills"] == 1
    with pytest.raises(Exception, match="unknown_tenant"):
        executor.mark(later(30), {"acme": known["acme"]})


def check_fills_and_closed_positions_are_durable(engine: sa.Engine) -> None:
    executor, known, s = opened(engine, target=100.0)
    (leg,) = s.all_legs
    executor.mark(later(30, {key_of(leg): 20.0}), known)
    for statement in (
        paper_fills.update().values(premium=0.0),
        paper_fills.delete(),
        paper_positions.update().values(realised_pnl=1e9),
        paper_positions.delete(),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append_only"), system_scope(engine) as conn:
            conn.execute(statement)
    assert counts(engine) == (1, 2)


def check_learning_state_compare_and_set(engine: sa.Engine) -> None:
    tenants(engine, "Acme")
    states = LearningStateStore(engine)
    key = "bandit:acme"
    assert states.load(key) is None
    assert states.save(key, "bandit", '{"n": 1}', tenant_id="acme", expected_version=None) == 1
    with pytest.raises(StateConflict):  # a second creator lost the race
        states.save(key, "bandit", '{"n": 9}', tenant_id="acme", expected_version=None)
    assert states.save(key, "bandit", '{"n": 2}', tenant_id="acme", expected_version=1) == 2
    with pytest.raises(StateConflict) as err:  # a writer that read version 1 is too late
        states.save(key, "bandit", '{"n": 3}', tenant_id="acme", expected_version=1)
    assert (err.value.code, err.value.details["found_version"]) == ("state_conflict", 2)
    assert states.load(key) == ('{"n": 2}', 2)
    with pytest.raises(StateConflict):  # all or nothing: the good write is not kept
        states.save_many(
            [
                StateWrite("combiner:NIFTY:direction", "combiner", "[1, 2]"),
                StateWrite(key, "bandit", '{"n": 4}', "acme", expected_version=1),
            ]
        )
    assert states.load_many([key, "combiner:NIFTY:direction"]) == {key: ('{"n": 2}', 2)}
    with pytest.raises(Exception, match="bad_state"):
        states.save("x", "bandit", "{not json", expected_version=None)
    assert states.save_many(
        [
            StateWrite("combiner:NIFTY:direction", "combiner", "[1, 2]"),
            StateWrite(key, "bandit", '{"n": 4}', "acme", expected_version=2),
        ]
    ) == {"combiner:NIFTY:direction": 1, key: 3}
