"""What the kill-switch sweep needs from the paper books, for every tenant in one query: today's
realised P&L, the open positions' unrealised P&L and margin, and each strategy's closed-trade
P&L series (switch 1, strategy drawdown; switch 2, tenant daily loss; switch 9, margin use)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.decide.paper.schema import paper_positions as p
from quantsentinel.risk.tenancy.scope import system_scope


@dataclass
class BookPnl:
    realised_today: float = 0.0
    unrealised: float = 0.0
    margin_used: float = 0.0
    strategy_pnl: dict[str, list[float]] = field(default_factory=dict)


def book_pnl(engine: Engine, tenant_ids: Iterable[str], now: datetime) -> dict[str, BookPnl]:
    """Every asked tenant's figures (zeros without positions). "Today" is the exchange's date."""
    from quantsentinel.market.schema import MARKET_TZ

    ids = list(tenant_ids)
    out = {t: BookPnl() for t in ids}
    if not ids:
        return out
    day_start = pd.Timestamp(now).tz_convert(MARKET_TZ).normalize().tz_convert(UTC)
    query = (
        sa.select(
            p.c.tenant_id,
            p.c.arm,
            p.c.status,
            p.c.margin,
            p.c.unrealised_pnl,
            p.c.realised_pnl,
            p.c.closed_at,
        )
        .where(p.c.tenant_id.in_(ids))
        .order_by(p.c.closed_at, p.c.position_id)
    )
    with system_scope(engine) as conn:
        rows = conn.execute(query).all()
    for row in rows:
        book = out[row.tenant_id]
        if row.status == "open":
            book.unrealised += float(row.unrealised_pnl or 0.0)
            book.margin_used += float(row.margin or 0.0)
            continue
        closed = pd.Timestamp(row.closed_at)
        closed = closed.tz_localize(UTC) if closed.tzinfo is None else closed
        if closed >= day_start:
            book.realised_today += float(row.realised_pnl)
        book.strategy_pnl.setdefault(row.arm, []).append(float(row.realised_pnl))
    return out
