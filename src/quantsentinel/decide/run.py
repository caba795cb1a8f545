"""One decide run: a validated snapshot in, a committed decision batch (and its fills) out.

Order matters and is deliberate:
1. read the snapshot and its history (decide.inputs);
2. mark the open paper positions of this underlying on the snapshot, closing those at target,
   stop or expiry, so every tenant's book is current before it is judged;
3. learn: the tenants' bandits from the positions closed since they last learnt, the combiners
   from readings whose horizon has passed;
4. the shared view (signals, combination, regime, outlook, unit structures): once;
5. per tenant: arm, size, candidate; the castle judges all candidates (audited);
6. save the learning state (version-checked), then write the batch and every decision in ONE
   transaction (decide.store): a reader sees all of it or none of it;
7. after the commit: publication on each approved tenant's channel, then paper fills of the
   approved paper-mode decisions. Both are downstream of the durable row: a failed publish loses
   nothing, and a decision that cannot be filled is reported without holding up the others.

A snapshot already decided is not decided again (`BatchExists`): the run reports the stored batch
and completes any fills a crashed run left undone (opening is idempotent per decision).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from quantsentinel.decide.inputs import BarsFallback, SnapshotInputs, load_snapshot
from quantsentinel.decide.learning import (
    BanditState,
    CombinerState,
    LearningSettings,
    add_pending,
    bandit_key,
    combiner_key,
    learn_from_closed,
    load_bandits,
    load_combiner,
    resolve_pending,
)
from quantsentinel.decide.store import BatchExists, BatchRecord, DecisionRecord, DecisionStore
from quantsentinel.decide.tenants import decision_record, judge, propose
from quantsentinel.decide.view import MarketView, build_view
from quantsentinel.risk.gatekeeper import RiskGatekeeper
from quantsentinel.risk.tenancy.store import Tenant, TenantStore


@dataclass
class DecideOutcome:
    batch_id: str
    batch: dict[str, Any]
    records: list[DecisionRecord]
    already_decided: bool = False
    view: MarketView | None = None
    marked: Any = None
    fills: list[Any] = field(default_factory=list)
    published: Any = None
    learnt: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def approved(self) -> list[DecisionRecord]:
        return [r for r in self.records if r.approved]


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 6)
        self._last = now


def decide_snapshot(
    engine: sa.Engine,
    data_dir: Path | str,
    snapshot_id: str,
    day: date,
    underlying: str,
    *,
    settings: LearningSettings | None = None,
    bars_fallback: BarsFallback | None = None,
    publisher: Any = None,
    tenants: list[Tenant] | None = None,
    universe: tuple[str, ...] | None = None,
    load_direction_champion: Callable[[], Any] | None = None,
    vix_fallback: Callable[[date], Any] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DecideOutcome:
    """Decide `snapshot_id` for every tenant (see the module docstring for the order)."""
    from quantsentinel.decide.paper import LearningStateStore, PaperExecutor

    settings = settings or LearningSettings()
    clock = _Clock()
    decisions = DecisionStore(engine)
    executor = PaperExecutor(engine)
    existing = decisions.batch(snapshot_id)
    tenants = tenants if tenants is not None else TenantStore(engine).list()
    by_id = {t.tenant_id: t for t in tenants}
    if existing is not None:
        return _already_decided(decisions, executor, existing, data_dir, by_id, clock)

    extra = {"universe": universe} if universe is not None else {}
    inputs = load_snapshot(
        data_dir, snapshot_id, day, underlying, bars_fallback=bars_fallback, **extra
    )
    from quantsentinel.decide.models import direction_model

    model, model_note = direction_model(
        load_direction_champion, data_dir, day, underlying,
        bars_fallback=bars_fallback, vix_fallback=vix_fallback,
    )  # fmt: skip
    if model is not None:
        inputs = replace(inputs, signals=replace(inputs.signals, direction_model=model))
    clock.lap("load")
    from quantsentinel.risk.structures import ChainView

    chain = ChainView(inputs.chain)
    marked = executor.mark(chain, by_id, settlement_closes(inputs))
    clock.lap("mark")

    states = LearningStateStore(engine)
    found = states.load_many(
        [combiner_key(underlying, a) for a in ("direction", "volatility")]
        + [bandit_key(t) for t in by_id]
    )
    bandits = load_bandits(found, by_id, settings)
    learnt_bandit = learn_from_closed(engine, bandits, underlying)
    combiners: dict[str, CombinerState] = {}

    def combiner_for(axis: str, names: tuple[str, ...]):
        key = combiner_key(underlying, axis)
        combiners[axis] = load_combiner(key, found.get(key), settings.combiner, names)
        return combiners[axis].combiner

    view = build_view(inputs, combiner_for, chain)
    if model is None:
        view.fallbacks["direction_model"] = model_note
    else:
        view.models = (*view.models, "direction_lgbm")
    resolved = resolve_pending(combiners, view.chain.spot, inputs.at, settings.resolve_minutes)
    spot, iv = view.chain.spot, view.implied_vol
    spacing = settings.resolve_minutes  # outcomes that do not overlap (see add_pending)
    add_pending(combiners, view.readings, snapshot_id, inputs.at, spot, iv, spacing)
    clock.lap("view")

    books = executor.books(list(by_id))
    proposals = [propose(view, snapshot_id, t, books[t.tenant_id], bandits[t.tenant_id].bandit)
                 for t in tenants]  # fmt: skip
    clock.lap("propose")
    verdicts = judge(RiskGatekeeper(engine), view, proposals, books)
    clock.lap("castle")
    records = [decision_record(view, p, verdicts.get(p.tenant.tenant_id))
               for p in proposals]  # fmt: skip
    clock.lap("records")

    _save_learning(states, combiners, bandits)
    batch = BatchRecord(snapshot_id, underlying, inputs.ts.to_pydatetime(), now(), view.regime,
                        view.market_record())  # fmt: skip
    try:
        row = decisions.write_batch(batch, records)
    except BatchExists:  # a concurrent run won the race: report what it wrote
        return _already_decided(decisions, executor, decisions.batch(snapshot_id), data_dir,
                                by_id, clock)  # fmt: skip
    clock.lap("commit")

    published = None
    if publisher is not None:
        from quantsentinel.decide.publish import publish_approved

        published = publish_approved(publisher, batch, records)
    clock.lap("publish")
    fills = _open(executor, snapshot_id, records, view.chain, by_id)
    clock.lap("fill")
    return DecideOutcome(
        snapshot_id, row, records, False, view, marked, fills, published,
        {"bandit_rewards": learnt_bandit, "combiner_outcomes": resolved}, clock.timings,
    )  # fmt: skip


def settlement_closes(inputs: SnapshotInputs) -> dict[tuple[str, date], float]:
    """(underlying, session) -> close of the completed sessions before the snapshot: what a
    position that expired on one of those days settles at when it is first marked later."""
    closes = inputs.closes
    own = closes[closes["underlying"] == inputs.underlying] if len(closes) else closes
    return {
        (inputs.underlying, pd.Timestamp(d).date()): float(c)
        for d, c in zip(own["date"], own["close"], strict=True)
    }


def _paper_tenants(records: list[DecisionRecord], by_id: dict[str, Tenant]) -> list:
    return [r for r in records if r.approved and by_id.get(r.tenant_id) is not None
            and by_id[r.tenant_id].trading_mode == "paper"]  # fmt: skip


def _open(executor, batch_id: str, records, chain, by_id) -> list:
    """Fill the batch's approved paper decisions; when the batch as a whole is refused, fill
    them one by one so one bad decision does not hold up every other tenant's fill."""
    import logging

    from quantsentinel.risk.errors import RiskInputError

    paper = _paper_tenants(records, by_id)
    if not paper:
        return []
    try:
        return executor.open(batch_id, paper, chain, by_id)
    except RiskInputError:
        fills = []
        for record in paper:
            try:
                fills += executor.open(batch_id, [record], chain, by_id)
            except RiskInputError as exc:
                logging.getLogger(__name__).error(
                    "paper fill of %s/%s refused: %s", batch_id, record.tenant_id, exc
                )
        return fills


def _save_learning(
    store: Any, combiners: dict[str, CombinerState], bandits: dict[str, BanditState]
) -> None:
    from quantsentinel.decide.paper import StateWrite

    writes = [StateWrite(s.key, "combiner", s.to_json(), None, s.version)
              for s in combiners.values()]  # fmt: skip
    writes += [StateWrite(s.key, "bandit", s.to_json(), s.tenant_id, s.version)
               for s in bandits.values() if s.changed or s.version is None]  # fmt: skip
    store.save_many(writes)


def _already_decided(
    decisions: DecisionStore,
    executor: Any,
    row: dict[str, Any],
    data_dir: Path | str,
    by_id: dict[str, Tenant],
    clock: _Clock,
) -> DecideOutcome:
    """The stored batch, with any fills a crashed run did not get to."""
    from quantsentinel.decide.store import stored_records

    records = stored_records(decisions, row["batch_id"])
    fills: list = []
    if _paper_tenants(records, by_id):
        from quantsentinel.decide.inputs import load_chain
        from quantsentinel.risk.structures import ChainView

        day = _ist_day(row["snapshot_ts"])
        chain = load_chain(data_dir, row["batch_id"], day, row["underlying"])
        fills = _open(executor, row["batch_id"], records, ChainView(chain), by_id)
    clock.lap("already_decided")
    return DecideOutcome(row["batch_id"], row, records, True, fills=fills, timings=clock.timings)


def _ist_day(ts: datetime) -> date:
    from quantsentinel.market.schema import MARKET_TZ

    if ts.tzinfo is None:  # SQLite hands back stored UTC as naive
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(MARKET_TZ).date()


__all__ = ["DecideOutcome", "decide_snapshot"]
