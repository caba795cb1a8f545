"""What the paper executor returns and how its rows are read back.

Reads that serve one tenant (`positions`, `summary`) run in that tenant's scope, so Postgres'
row-level security checks them a second time. `books` is the decide run's read: every asked
tenant's open positions in ONE system-scope query, because a run over 1,000 tenants must not pay
1,000 round trips before it decides anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.decide.paper.schema import STATUSES, paper_fills, paper_positions
from quantsentinel.risk.castle.types import Book, Position
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.scope import require_tenant, system_scope, tenant_scope

REWARD_CLIP = 3.0
_TIMES = ("opened_at", "last_mark_at", "closed_at", "ts", "created_at")


@dataclass(frozen=True)
class Fill:
    """One durable fill: a position's entry or exit, every leg with its fill price."""

    fill_id: str
    position_id: str
    tenant_id: str
    batch_id: str
    ts: datetime
    phase: str  # entry | exit
    legs: tuple[Mapping[str, Any], ...]
    premium: float  # signed rupees at mids / settlement values, + = received
    charges: float
    slippage: float

    @property
    def costs(self) -> float:
        return self.charges + self.slippage


@dataclass(frozen=True)
class ClosedPosition:
    """A position closed by a mark: what a learner needs to be rewarded with (the bandit's arm and
    regime, the realised P&L and its reward) and what an operator needs to audit it."""

    position_id: str
    tenant_id: str
    batch_id: str
    underlying: str
    arm: str
    regime: str
    opened_at: datetime
    closed_at: datetime
    reason: str  # target | stop | expiry
    realised_pnl: float
    max_loss: float | None  # None = unbounded
    reward: float
    entry_spot: float
    exit_spot: float


@dataclass(frozen=True)
class MarkReport:
    """`marked`: positions valued at this chain's mids; `closed`: those closed by it; `stale`:
    positions the chain lacked a quote for (their previous mark is kept, or an exit leg was priced
    from a fallback: see pricing.price_expiry)."""

    marked: int
    closed: list[ClosedPosition] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def reward_for(realised_pnl: float, max_loss: float | None, margin: float) -> float:
    """Realised P&L per unit of risk, clipped to [-3, 3] (the bandit's reward).

    Risk is the position's max loss when it is finite and positive; an unbounded (or zero) max
    loss falls back to the margin the position blocked, the capital it actually put at risk. The
    clip keeps one outlier (a short strangle through a gap) from swamping a posterior.
    """
    if max_loss is not None and math.isfinite(max_loss) and max_loss > 0:
        scale = max_loss
    elif margin > 0:
        scale = margin
    else:
        raise RiskInputError(
            "bad_decision", "a position needs a positive max_loss or margin to be rewarded against"
        )
    return max(-REWARD_CLIP, min(REWARD_CLIP, realised_pnl / scale))


def utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive UTC text)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def row_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    for name in _TIMES:
        if name in data:
            data[name] = utc(data[name])
    return data


def fill_from_row(row: Mapping[str, Any]) -> Fill:
    return Fill(
        fill_id=row["fill_id"],
        position_id=row["position_id"],
        tenant_id=row["tenant_id"],
        batch_id=row["batch_id"],
        ts=utc(row["ts"]),
        phase=row["phase"],
        legs=tuple(row["legs"]),
        premium=float(row["premium"]),
        charges=float(row["charges"]),
        slippage=float(row["slippage"]),
    )


def books(engine: Engine, tenant_ids: Iterable[str]) -> dict[str, Book]:
    """Open positions as castle `Book`s for every tenant asked for (an empty Book when it has none),
    in one system-scope query."""
    ids = list(dict.fromkeys(require_tenant(t) for t in tenant_ids))
    if not ids:
        return {}
    columns = [
        paper_positions.c[name]
        for name in (
            "tenant_id", "position_id", "underlying", "strategy", "margin", "max_loss",
            "delta_notional",
        )
    ]  # fmt: skip
    query = (
        sa.select(*columns)
        .where(paper_positions.c.status == "open", paper_positions.c.tenant_id.in_(ids))
        .order_by(paper_positions.c.tenant_id, paper_positions.c.opened_at)
    )
    with system_scope(engine) as conn:
        rows = conn.execute(query).all()
    held: dict[str, list[Position]] = {t: [] for t in ids}
    for r in rows:
        held[r.tenant_id].append(
            Position(
                position_id=r.position_id,
                underlying=r.underlying,
                strategy=r.strategy or "",
                margin=float(r.margin),
                max_loss=math.inf if r.max_loss is None else float(r.max_loss),
                delta_notional=float(r.delta_notional),
            )
        )
    return {t: Book(tuple(p)) for t, p in held.items()}


def positions(engine: Engine, tenant_id: str, status: str | None = None) -> list[dict[str, Any]]:
    """A tenant's paper positions (oldest first), read in its own scope."""
    if status is not None and status not in STATUSES:
        raise RiskInputError(
            "bad_input", f"status must be one of {STATUSES} or None, got {status!r}"
        )
    criteria = [] if status is None else [paper_positions.c.status == status]
    with tenant_scope(engine, tenant_id) as session:
        rows = session.select(paper_positions, *criteria)
    out = [row_dict(r) for r in rows]
    out.sort(key=lambda r: (r["opened_at"], r["position_id"]))
    return out


def fills(engine: Engine, tenant_id: str, position_id: str | None = None) -> list[Fill]:
    """A tenant's fills (in time order), read in its own scope."""
    criteria = [] if position_id is None else [paper_fills.c.position_id == position_id]
    with tenant_scope(engine, tenant_id) as session:
        rows = session.select(paper_fills, *criteria)
    out = [fill_from_row(r) for r in rows]
    out.sort(key=lambda f: (f.ts, f.phase != "entry", f.fill_id))
    return out


def summary(engine: Engine, tenant_id: str) -> dict[str, Any]:
    """Counts and P&L of a tenant's paper book, read in its own scope: `realised_pnl` sums closed
    positions (net of all costs), `unrealised_pnl` the last marks of open ones (net of entry
    costs; a position not yet marked counts as minus its entry costs)."""
    with tenant_scope(engine, tenant_id) as session:
        rows = session.select(paper_positions)
        n_fills = session.count(paper_fills)
    open_rows = [r for r in rows if r["status"] == "open"]
    closed = [r for r in rows if r["status"] == "closed"]
    unrealised = [
        r["unrealised_pnl"] if r["unrealised_pnl"] is not None else -r["entry_costs"]
        for r in open_rows
    ]
    return {
        "tenant_id": tenant_id,
        "open": len(open_rows),
        "closed": len(closed),
        "realised_pnl": math.fsum(r["realised_pnl"] for r in closed),
        "unrealised_pnl": math.fsum(unrealised),
        "fills": n_fills,
    }


def as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
