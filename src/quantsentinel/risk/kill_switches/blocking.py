"""Which tripped switches halt one decision. Runs on the caller's connection so a decision can
ask inside its tenant-scoped transaction."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quantsentinel.risk.kill_switches import definitions as d
from quantsentinel.risk.kill_switches.state import SwitchState, require_text, to_state
from quantsentinel.risk.tenancy.schema import kill_switches


def _covered_keys(
    tenant_id: str,
    strategy: str | None,
    symbol: str | None,
    broker: str | None,
    exchange: str | None,
    models: Iterable[str],
    live: bool,
) -> list[str]:
    """Switch keys that cover one decision, derived from each kind's scope."""
    scope_keys: dict[str, list[str]] = {
        "global": [d.GLOBAL_KEY],
        "exchange": [exchange] if exchange else [],
        "symbol": [symbol] if symbol else [],
        "broker": [broker] if broker else [],
        "feed": [d.GLOBAL_KEY] + ([symbol] if symbol else []),
        "model": list(models),
        "tenant": [tenant_id],
        "strategy": [d.strategy_key(tenant_id, strategy)] if strategy else [],
    }
    return [
        d.switch_key(spec.name, scope_key)
        for spec in d.KINDS
        if live or not spec.live_only
        for scope_key in scope_keys[spec.scope]
    ]


def blocking(
    conn: Connection,
    *,
    tenant_id: str,
    strategy: str | None = None,
    symbol: str | None = None,
    broker: str | None = None,
    exchange: str | None = "NSE",
    models: Iterable[str] = (),
    live: bool = False,
) -> list[SwitchState]:
    """Every tripped switch that covers a decision for `tenant_id` (on `strategy`, `symbol`,
    routed via `broker` to `exchange`, using `models`), in switch-number order: master, the
    exchange, the symbol, the broker, the symbol's feed and the platform feed '*', the models,
    the tenant's own loss/capital/margin/correlation switches, its strategy's switch, and the
    dry-run lock only for a live execution request. Empty means nothing halts the decision.

    Runs on the caller's connection, so it can sit inside a tenant-scoped transaction (on
    Postgres, row-level security shows that role global rows and its tenant's rows); the query
    filters by tenant itself as well.
    """
    tenant_id = require_text(tenant_id, "tenant_id")
    models = [require_text(m, "model") for m in models]
    keys = _covered_keys(tenant_id, strategy, symbol, broker, exchange, models, live)
    query = sa.select(kill_switches).where(
        kill_switches.c.switch_key.in_(keys),
        kill_switches.c.tripped == sa.true(),
        sa.or_(kill_switches.c.tenant_id.is_(None), kill_switches.c.tenant_id == tenant_id),
    )
    states = [to_state(row) for row in conn.execute(query)]
    return sorted(states, key=lambda s: (s.number, s.scope_key))
