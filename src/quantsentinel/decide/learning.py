"""The learning loops a decide run closes: combiner weights and the tenants' strategy bandits.

Combiners (seed 001 loops 4 and 6) are market state, one per (underlying, axis): a signal's hit
rate is a fact about the market, not about a tenant. Each snapshot's readings wait in the
combiner's `pending` list and are scored once the market has moved for `resolve_minutes` of
session time: direction readings against the log return of the index from the snapshot to the
mark, volatility readings against whether the index moved more than its implied vol priced
(|return| minus the expected absolute move, sqrt(2/pi) x iv x sqrt(elapsed)). The marks are the
paper executor's: the same snapshots it values positions on.

Bandits (loop 2) are tenant state, one per tenant: a reward is the tenant's own closed paper
position, realised P&L net of costs over its max loss, in the regime it was opened in. A decide
run of an underlying learns the positions of that underlying (its marks are what close them, in
snapshot order), and the bandit remembers, per underlying, the last position it learnt from
(`through`), so a reward is counted exactly once however often runs are retried, and a NIFTY
close never hides a BANKNIFTY one stamped earlier.

State is JSON in `learning_states`, written with a version check: two runs racing on one state
cannot both win (the loser fails loudly and is re-run; decide runs are also serialised by a
Dagster tag limit, so this is a guard, not a path).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from quantsentinel.decide.arms import ARM_NAMES
from quantsentinel.ml.bandit import StructureBandit
from quantsentinel.ml.combination import (
    BayesianAveraging,
    BreakerConfig,
    CircuitBreaker,
    SignalReading,
    StackingCombiner,
)
from quantsentinel.risk.tenancy.scope import system_scope

COMBINERS = ("bma", "stacking")
ANY_UNDERLYING = "*"  # a watermark stored before they were kept per underlying
MAX_PENDING = 400  # a day and a half of 5-minute snapshots per underlying
SESSION_MINUTES = 375.0
OVERNIGHT_SESSION_MINUTES = 75.0  # the night counts as a fifth of a session's variance
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class LearningSettings:
    combiner: str = "bma"
    posterior: str = "bootstrap"
    penalty: float = 0.1  # bandit diversification penalty (reward units)
    half_life: float = 50.0  # bandit forgetting, in observations per regime
    resolve_minutes: float = 60.0

    def __post_init__(self) -> None:
        if self.combiner not in COMBINERS:
            raise ValueError(f"combiner must be one of {COMBINERS}, got {self.combiner!r}")
        if not self.resolve_minutes > 0:
            raise ValueError(f"resolve_minutes must be > 0, got {self.resolve_minutes!r}")


def combiner_key(underlying: str, axis: str) -> str:
    return f"combiner:{underlying}:{axis}"


def bandit_key(tenant_id: str) -> str:
    return f"bandit:{tenant_id}"


@dataclass
class CombinerState:
    key: str
    kind: str
    combiner: Any
    pending: list[dict[str, Any]] = field(default_factory=list)
    version: int | None = None
    resolved: int = 0
    last_queued: str | None = None  # ts of the last readings queued (pending or resolved since)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "combiner": self.combiner.to_json(),
                "pending": self.pending,
                "last_queued": self.last_queued,
            }
        )


def new_combiner(kind: str, names: Sequence[str]) -> Any:
    if kind == "stacking":
        return StackingCombiner(list(names))
    return BayesianAveraging(list(names), breaker=CircuitBreaker(list(names), BreakerConfig()))


def load_combiner(key: str, found: tuple[str, int] | None, kind: str, names: Sequence[str]):
    """The stored combiner state, or a fresh one (also when the stored one watches other signals
    or is of another kind: a changed signal set starts learning again, and says so)."""
    if found is not None:
        text, version = found
        data = json.loads(text)
        if data.get("kind") == kind:
            cls = StackingCombiner if kind == "stacking" else BayesianAveraging
            combiner = cls.from_json(data["combiner"])
            if tuple(combiner.names) == tuple(names):
                pending = list(data.get("pending", []))
                return CombinerState(
                    key, kind, combiner, pending, version, last_queued=data.get("last_queued")
                )
        return CombinerState(key, kind, new_combiner(kind, names), [], version)
    return CombinerState(key, kind, new_combiner(kind, names))


def session_minutes_between(start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Trading minutes from `start` to `end` (IST sessions 09:15-15:30), nights counted as
    OVERNIGHT_SESSION_MINUTES each: the clock variance accrues on."""
    from quantsentinel.market import calendar
    from quantsentinel.market.schema import MARKET_TZ

    a, b = start.tz_convert(MARKET_TZ), end.tz_convert(MARKET_TZ)
    if a.date() == b.date():
        return max((b - a).total_seconds() / 60.0, 0.0)
    close = a.normalize() + pd.Timedelta(hours=15, minutes=30)
    open_ = b.normalize() + pd.Timedelta(hours=9, minutes=15)
    minutes = max((close - a).total_seconds(), 0) + max((b - open_).total_seconds(), 0)
    # Whole sessions in between count in full; each night (weekend and holidays included) once.
    between = len(calendar.trading_days(a.date() + timedelta(days=1), b.date() - timedelta(days=1)))
    return minutes / 60.0 + between * SESSION_MINUTES + (between + 1) * OVERNIGHT_SESSION_MINUTES


def resolve_pending(
    states: Mapping[str, CombinerState], spot: float, at: pd.Timestamp, resolve_minutes: float
) -> int:
    """Score every pending reading old enough against the move to `spot`; returns how many."""
    resolved = 0
    for axis, state in states.items():
        keep = []
        for item in state.pending:
            then = pd.Timestamp(item["ts"])
            minutes = session_minutes_between(then, at)
            if minutes < resolve_minutes:
                keep.append(item)
                continue
            move = math.log(spot / float(item["spot"]))
            if axis == "volatility":
                # A trading day of variance is a session plus its night (the same clock as
                # `minutes`), and 252 of them make the year the implied vol is quoted on.
                years = minutes / (SESSION_MINUTES + OVERNIGHT_SESSION_MINUTES) / 252.0
                outcome = abs(move) - SQRT_2_OVER_PI * float(item["iv"]) * math.sqrt(years)
            else:
                outcome = move
            readings = [SignalReading(n, s, c) for n, s, c in item["readings"]]
            state.combiner.record_outcome(readings, outcome, at)
            resolved += 1
        state.pending = keep[-MAX_PENDING:]
        state.resolved += resolved
    return resolved


def add_pending(
    states: Mapping[str, CombinerState],
    readings: Mapping[str, Sequence[SignalReading]],
    snapshot_id: str,
    at: pd.Timestamp,
    spot: float,
    iv: float,
    spacing_minutes: float = 0.0,
) -> None:
    """Queue this snapshot's readings for scoring, once (a retried run, state saved and batch not
    written, must not count the same readings twice), and at most one set per `spacing_minutes`
    of session time. Readings a snapshot apart are scored against overlapping moves, so their
    outcomes are nearly the same coin counted many times: the posteriors would be far more
    certain than the evidence, and the breaker (calibrated on independent outcomes, a handful a
    day) would trip healthy signals within days. With spacing = the horizon, outcomes do not
    overlap."""
    for axis, state in states.items():
        last = state.last_queued
        too_soon = bool(last) and spacing_minutes > 0
        if too_soon and session_minutes_between(pd.Timestamp(last), at) < spacing_minutes:
            continue
        found = [[r.name, r.score, r.confidence] for r in readings.get(axis, ()) if r.score]
        if found and all(item.get("snapshot") != snapshot_id for item in state.pending):
            state.last_queued = at.isoformat()
            state.pending.append({"snapshot": snapshot_id, "ts": at.isoformat(), "spot": spot,
                                  "iv": iv, "readings": found})  # fmt: skip
            state.pending = state.pending[-MAX_PENDING:]


# --- bandits ---------------------------------------------------------------------------------


@dataclass
class BanditState:
    key: str
    tenant_id: str
    bandit: StructureBandit
    # underlying -> (closed_at iso, position_id) of the last position learnt from
    through: dict[str, list[str]] = field(default_factory=dict)
    version: int | None = None
    learnt: int = 0
    changed: bool = False

    def to_json(self) -> str:
        return json.dumps({"bandit": self.bandit.to_json(), "through": self.through})


def new_bandit(settings: LearningSettings) -> StructureBandit:
    return StructureBandit(
        ARM_NAMES,
        posterior=settings.posterior,
        half_life=settings.half_life,
        penalty=settings.penalty,
    )


def load_bandits(
    found: Mapping[str, tuple[str, int]], tenant_ids: Iterable[str], settings: LearningSettings
) -> dict[str, BanditState]:
    out = {}
    for tenant_id in tenant_ids:
        key = bandit_key(tenant_id)
        if key in found:
            text, version = found[key]
            data = json.loads(text)
            bandit = StructureBandit.from_json(data["bandit"])
            through = data.get("through") or {}
            if isinstance(through, list):  # stored before watermarks were per underlying
                through = {ANY_UNDERLYING: through}
            through = dict(through)
            if bandit.arms != ARM_NAMES:  # the arm set changed: learn again, keep the version
                bandit = new_bandit(settings)
            out[tenant_id] = BanditState(key, tenant_id, bandit, through, version)
        else:
            out[tenant_id] = BanditState(key, tenant_id, new_bandit(settings))
    return out


def learn_from_closed(engine: sa.Engine, states: Mapping[str, BanditState], underlying: str) -> int:
    """Feed every tenant's bandit the `underlying` positions closed since it last learnt them,
    in closing order, in one query for all tenants."""
    from quantsentinel.decide.paper.schema import paper_positions as p

    if not states:
        return 0
    marks = [_watermark(s, underlying) for s in states.values()]
    since = min(m[0] for m in marks) if all(marks) else None
    query = sa.select(
        p.c.position_id, p.c.tenant_id, p.c.arm, p.c.regime, p.c.reward, p.c.closed_at
    ).where(p.c.status == "closed", p.c.underlying == underlying)
    if since is not None:
        query = query.where(p.c.closed_at >= datetime.fromisoformat(since))
    with system_scope(engine) as conn:
        rows = conn.execute(query.order_by(p.c.closed_at, p.c.position_id)).all()
    learnt = 0
    for row in rows:
        state = states.get(row.tenant_id)
        if state is None or row.reward is None or row.arm not in state.bandit.arms:
            continue
        closed = _utc(row.closed_at)
        mark = [closed.isoformat(), row.position_id]
        last = _watermark(state, underlying)
        if last is not None and mark <= list(last):
            continue
        if row.regime in state.bandit.regimes:
            state.bandit.update(row.regime, row.arm, float(row.reward), at=closed)
        state.through[underlying] = mark
        state.learnt += 1
        state.changed = True
        learnt += 1
    return learnt


def _watermark(state: BanditState, underlying: str) -> list[str] | None:
    return state.through.get(underlying) or state.through.get(ANY_UNDERLYING)


def _utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
