"""The decide path on stored partitions: one batch per snapshot, every tenant in it, fills,
marks, learning, publication, fallbacks and the refusals (SQLite)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from quantsentinel.db import engine_for, migrate
from quantsentinel.decide.fixtures import write_day
from quantsentinel.decide.inputs import SnapshotMissing, partition_path
from quantsentinel.decide.learning import bandit_key, combiner_key
from quantsentinel.decide.paper import LearningStateStore, PaperExecutor
from quantsentinel.decide.publish import InProcessPublisher
from quantsentinel.decide.run import decide_snapshot
from quantsentinel.decide.store import DecisionStore, stored_records
from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig
from quantsentinel.risk.kill_switches.store import KillSwitchStore
from quantsentinel.risk.tenancy.store import TenantStore

DAY = date(2025, 3, 5)
UNIVERSE = ("RELIANCE", "HDFCBANK", "TCS", "INFY")


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> tuple[Path, list[str], MarketSimulator]:
    sim = MarketSimulator(SimulatorConfig(seed=11))
    data = tmp_path_factory.mktemp("data")
    # The forecaster expects a calmer market than options price: short premium has an edge.
    snapshots = write_day(sim, data, DAY, "NIFTY", forecast_scale=0.5)
    return data, snapshots, sim


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    engine = engine_for(url)
    store = TenantStore(engine)
    store.add("Alpha", capital=5_000_000.0, tenant_id="alpha", actor="test")
    store.add("Beta", capital=2_000_000.0, tenant_id="beta", actor="test",
              policy={"target_daily_vol_pct": 0.003})  # fmt: skip
    store.add("Tiny", capital=60_000.0, tenant_id="tiny", actor="test")
    yield engine
    engine.dispose()


def _decide(engine, market, index: int, **kw):
    data, snapshots, sim = market
    return decide_snapshot(engine, data, snapshots[index], DAY, "NIFTY", bars_fallback=sim.bars,
                           universe=UNIVERSE, **kw)  # fmt: skip


def test_one_batch_holds_every_tenant_with_its_reasons(engine, market) -> None:
    publisher = InProcessPublisher()
    out = _decide(engine, market, 12, publisher=publisher)
    stored = stored_records(DecisionStore(engine), out.batch_id)
    assert sorted(r.tenant_id for r in stored) == ["alpha", "beta", "tiny"]
    assert out.batch["tenants"] == 3
    for r in stored:
        if r.approved:
            assert r.legs and r.units >= 1 and r.max_loss > 0
            assert (
                r.target > 0 > r.stop and r.payoff and r.entry_zone["low"] <= r.entry_zone["high"]
            )
            assert {leg["strike"] for leg in r.legs} <= set(out.view.chain.strikes(out.view.expiry))
            assert r.contributions, "the signals that drove it are kept"
        else:
            assert r.blocked_by and r.reason
    # The smallest account cannot carry one unit of anything under its loss budget.
    tiny = next(r for r in stored if r.tenant_id == "tiny")
    assert not tiny.approved and tiny.blocked_by in ("sizing", "policy", "margin", "alpha")
    # Every castle verdict of the batch is audited (one system transaction for all tenants).
    from quantsentinel.risk.tenancy import audit

    with engine.connect() as conn:
        for r in stored:
            rows = [a for a in audit.rows(conn, tenant_id=r.tenant_id) if a["actor"] == "decide"]
            assert len(rows) == (1 if "walls_passed" in r.numbers else 0)
            if rows:
                assert rows[0]["approved"] == r.approved or r.blocked_by == "exits"
    market_row = DecisionStore(engine).batch(out.batch_id)["market"]
    assert set(market_row["signals"]) >= {"volatility", "direction", "news", "cross_sectional"}
    # Published after the commit: exactly the approved tenants, each on its own channel.
    for r in stored:
        history = publisher.history(r.tenant_id)
        assert len(history) == (1 if r.approved else 0)
        if r.approved:
            assert json.loads(history[0])["decision_id"] == f"{out.batch_id}/{r.tenant_id}"


def test_a_snapshot_is_decided_once(engine, market) -> None:
    first = _decide(engine, market, 20)
    again = _decide(engine, market, 20)
    assert again.already_decided and again.batch_id == first.batch_id
    assert len(stored_records(DecisionStore(engine), first.batch_id)) == 3
    assert again.fills == []  # nothing filled twice


def test_tripped_kill_switch_is_the_reason_not_an_absence(engine, market) -> None:
    KillSwitchStore(engine).trip(
        "tenant_daily_loss", "alpha", tenant_id="alpha", reason="lost 3.1% today", actor="test"
    )
    out = _decide(engine, market, 25)
    alpha = next(r for r in out.records if r.tenant_id == "alpha")
    assert not alpha.approved and alpha.blocked_by == "kill_switch"
    assert "tenant_daily_loss" in alpha.reason and "lost 3.1%" in alpha.reason
    assert all(r.blocked_by != "kill_switch" for r in out.records if r.tenant_id != "alpha")


def test_missing_forecast_falls_back_and_says_so(engine, market, tmp_path) -> None:
    data, snapshots, sim = market
    bare = tmp_path / "bare"
    for asset in ("chain_snapshots", "iv_surface", "chain_analytics", "implied_distribution",
                  "underlying_bars"):  # fmt: skip
        src = partition_path(data, asset, DAY, "NIFTY")
        dst = partition_path(bare, asset, DAY, "NIFTY")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
    out = decide_snapshot(engine, bare, snapshots[30], DAY, "NIFTY", bars_fallback=sim.bars,
                          universe=UNIVERSE)  # fmt: skip
    assert out.view.fallbacks["forecast"].startswith("implied_vol_as_forecast")
    assert out.view.forecast_vol == pytest.approx(out.view.implied_vol)
    for r in out.records:
        assert r.fallbacks["forecast"].startswith("implied_vol_as_forecast")
        assert r.fallbacks["signal:volatility"] == "no_vol_forecast"


def test_unknown_or_quarantined_snapshot_never_decides(engine, market) -> None:
    data, _, sim = market
    with pytest.raises(SnapshotMissing, match="not among the validated snapshots"):
        decide_snapshot(engine, data, "NIFTY-20250305T999999Z", DAY, "NIFTY",
                        bars_fallback=sim.bars, universe=UNIVERSE)  # fmt: skip
    assert DecisionStore(engine).batch("NIFTY-20250305T999999Z") is None


def test_fills_marks_and_the_loops_close(engine, market) -> None:
    """Approved paper decisions are filled; later snapshots mark them; closed positions reach
    the tenant's bandit once; the combiners score their readings after the horizon."""
    outs = [_decide(engine, market, i) for i in range(0, 75, 6)]
    approved = [r for o in outs for r in o.approved]
    fills = [f for o in outs for f in o.fills]
    assert approved and len(fills) == len(approved)
    executor = PaperExecutor(engine)
    summaries = {t: executor.summary(t) for t in ("alpha", "beta", "tiny")}
    assert sum(s["open"] + s["closed"] for s in summaries.values()) == len(approved)
    states = LearningStateStore(engine).load_many(
        [
            combiner_key("NIFTY", "direction"),
            combiner_key("NIFTY", "volatility"),
            *(bandit_key(t) for t in ("alpha", "beta", "tiny")),
        ]
    )
    assert len(states) == 5
    resolved = sum(o.learnt["combiner_outcomes"] for o in outs)
    assert resolved > 0, "readings older than the horizon were scored"
    closed = sum(s["closed"] for s in summaries.values())
    learnt = sum(o.learnt["bandit_rewards"] for o in outs)
    # A position closed by a run's mark is learnt by that run (marks come before learning).
    assert learnt == closed
    # Marks refresh the delta exposure the castle judges the book by.
    entry = {f"{r_batch}/{r.tenant_id}": r.numbers["delta"] for o in outs
             for r_batch, r in ((o.batch_id, r) for r in o.approved)}  # fmt: skip
    marked = [p for t in ("alpha", "beta") for p in executor.positions(t) if p["last_mark_at"]]
    assert marked
    for p in marked:
        at_entry = entry[p["position_id"]] * p["entry_spot"]
        assert p["delta_notional"] != pytest.approx(at_entry, rel=1e-9)


def test_same_batch_draws_the_same_arms(tmp_path, market) -> None:
    """Re-deciding a snapshot on a fresh database gives the same choices (seeded per tenant)."""
    picks = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        migrate(url)
        engine = engine_for(url)
        TenantStore(engine).add("Alpha", capital=5_000_000.0, tenant_id="alpha", actor="test")
        out = _decide(engine, market, 40)
        picks.append([(r.tenant_id, r.strategy, r.units, r.approved) for r in out.records])
        engine.dispose()
    assert picks[0] == picks[1]


def test_snapshot_rows_after_the_decision_are_not_read(market) -> None:
    from quantsentinel.decide.inputs import load_snapshot

    data, snapshots, sim = market
    inputs = load_snapshot(data, snapshots[10], DAY, "NIFTY", bars_fallback=sim.bars,
                           universe=UNIVERSE)  # fmt: skip
    for frame in (inputs.signals.iv_surface, inputs.signals.chain_analytics):
        assert (pd.to_datetime(frame["ts"], utc=True) < inputs.at).all()
    # A bar is known when it ends: the minute the snapshot was taken in is still running.
    bar_end = pd.to_datetime(inputs.signals.bars["ts"], utc=True) + pd.Timedelta(minutes=1)
    assert (bar_end <= inputs.at).all() and len(bar_end)
    assert set(inputs.chain["snapshot_id"]) == {snapshots[10]}


def test_a_closed_position_reaches_its_tenants_bandit_exactly_once(engine, market) -> None:
    from quantsentinel.decide.learning import LearningSettings, learn_from_closed, load_bandits
    from quantsentinel.risk.structures import ChainView

    _, _, sim = market
    opened = None
    for i in range(0, 75, 6):
        out = _decide(engine, market, i)
        opened = opened or next((r for r in out.approved if r.tenant_id == "alpha"), None)
    assert opened is not None, "alpha traded once in the day"
    expiry = date.fromisoformat(opened.legs[0]["expiry"])
    last = sim.snapshot_times(expiry)[-1]
    tenants = {t.tenant_id: t for t in TenantStore(engine).list()}
    report = PaperExecutor(engine).mark(ChainView(sim.chain_snapshot(last, "NIFTY")), tenants)
    closed = [c for c in report.closed if c.tenant_id == "alpha"]
    assert closed and closed[0].reason == "expiry"

    states = load_bandits({}, ["alpha", "beta"], LearningSettings())
    arm, regime = opened.numbers["arm"], opened.numbers["regime"]
    before = states["alpha"].bandit.posterior_of(regime, arm).state()
    mine = [c for c in report.closed if c.tenant_id in ("alpha", "beta")]
    assert learn_from_closed(engine, states, "NIFTY") == len(mine)
    assert states["alpha"].bandit.posterior_of(regime, arm).state() != before
    assert states["alpha"].through["NIFTY"][1] in {c.position_id for c in closed}
    assert states["alpha"].learnt == len(closed)
    assert learn_from_closed(engine, states, "NIFTY") == 0  # the watermark: never twice


class _Version:
    def __init__(self, end: date) -> None:
        self.training_data_end = end
        self.semantic_version = "1.0.0"


class _Champion:
    def __init__(self, model, end: date) -> None:
        self.model, self.version = model, _Version(end)


@pytest.fixture(scope="module")
def direction_champion(market):
    from datetime import timedelta

    from quantsentinel.ml.models.direction import direction_dataset, train_direction

    _, _, sim = market
    frame = direction_dataset(sim, DAY - timedelta(days=200), DAY - timedelta(days=20))
    return train_direction(frame).model


def test_a_promoted_direction_model_fills_the_slot(engine, market, direction_champion) -> None:
    from datetime import timedelta

    _, _, sim = market
    served = _Champion(direction_champion, DAY - timedelta(days=20))
    # No India VIX stored and no feed to fall back on: the model cannot read its features.
    out = _decide(engine, market, 32, load_direction_champion=lambda: served)
    assert out.view.fallbacks["direction_model"] == "no_features"
    out = _decide(
        engine, market, 33, load_direction_champion=lambda: served, vix_fallback=sim.vix_bars
    )
    signal = out.view.signals["direction"]
    assert signal.fallback is None and signal.confidence == pytest.approx(0.7)
    assert "direction_lgbm" in out.view.models and "direction_model" not in out.view.fallbacks
    # A champion trained through the decision day has seen its future: refused, and said so.
    leaky = _Champion(direction_champion, DAY)
    out = _decide(engine, market, 34, load_direction_champion=lambda: leaky)
    assert out.view.signals["direction"].fallback == "rule_baseline"
    assert out.view.fallbacks["direction_model"] == f"champion_trained_through_{DAY}"
    assert _decide(engine, market, 35).view.fallbacks["direction_model"] == "no registry"


def test_paper_losses_reach_the_kill_switch_sweep(engine, market) -> None:
    """The sweep reads the paper books: a tenant whose open positions are marked beyond its daily
    loss limit is halted, and its next decision says so."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from quantsentinel.decide.paper import paper_positions
    from quantsentinel.decide.paper.exposure import book_pnl
    from quantsentinel.risk.kill_switches import Observations, TenantState

    for i in range(0, 30, 6):
        _decide(engine, market, i)
    tenants = {t.tenant_id: t for t in TenantStore(engine).list()}
    opened = PaperExecutor(engine).positions("alpha")
    assert opened and {p["tenant_id"] for p in opened} == {"alpha"}
    with engine.begin() as conn:  # the mark of a crash: 5% of capital under water
        conn.execute(
            sa.update(paper_positions)
            .where(paper_positions.c.tenant_id == "alpha")
            .values(unrealised_pnl=-0.05 * tenants["alpha"].capital / len(opened))
        )
    now = datetime.now(UTC)
    books = book_pnl(engine, list(tenants), now)
    assert books["alpha"].unrealised == pytest.approx(-0.05 * tenants["alpha"].capital)
    assert books["alpha"].margin_used > 0 and books["tiny"].margin_used == 0
    states = [
        TenantState(t.tenant_id, t.capital, t.created_at, books[t.tenant_id].realised_today,
                    books[t.tenant_id].unrealised, margin_used=books[t.tenant_id].margin_used)
        for t in tenants.values()
    ]  # fmt: skip
    result = KillSwitchStore(engine).sweep(
        Observations(now=now, tenants=states), {t: v.policy for t, v in tenants.items()}
    )
    assert "tenant_daily_loss:alpha" in {s.switch_key for s in result.tripped}
    after = _decide(engine, market, 40)
    alpha = next(r for r in after.records if r.tenant_id == "alpha")
    assert alpha.blocked_by == "kill_switch" and "tenant_daily_loss" in alpha.reason
