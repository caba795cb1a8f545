"""Risk group: the kill-switch sweep, with switch state, tenants and the latest verdicts as
metadata, and a check that fails while any kill switch is tripped.

The sweep observes each tenant's capital and age (capital floor, dry-run lock), its paper book
(today's realised and unrealised P&L, margin in use, each strategy's closed-trade P&L: daily loss,
margin utilisation, strategy drawdown), every registered model's champion age
against its retrain cadence (model staleness), and, during the session, how long ago the inbox
feed last delivered (stale data; the simulator default has no live feed, so no feed is judged).
"""

from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

import dagster as dg
from quantsentinel.assets.metadata import table_md
from quantsentinel.resources.registry import RegistryResource
from quantsentinel.resources.risk import RiskResource
from quantsentinel.risk.kill_switches.definitions import DRY_RUN_LOCK

GROUP = "risk"
VERDICTS_SHOWN = 20


def _observations(risk: RiskResource, registry: RegistryResource, now: datetime, tenants):
    from quantsentinel.decide.paper.exposure import book_pnl
    from quantsentinel.market.calendar import in_session
    from quantsentinel.market.records import ingested_inputs
    from quantsentinel.ml.registry.schema import GLOBAL
    from quantsentinel.risk.kill_switches import GLOBAL_KEY, Observations, TenantState
    from quantsentinel.risk.kill_switches.observations import ModelState

    books = book_pnl(risk.engine(), [t.tenant_id for t in tenants], now)
    states = [
        TenantState(
            tenant_id=t.tenant_id,
            capital=t.capital,
            created_at=t.created_at,
            realised_pnl=books[t.tenant_id].realised_today,
            unrealised_pnl=books[t.tenant_id].unrealised,
            margin_used=books[t.tenant_id].margin_used,
            strategy_pnl=books[t.tenant_id].strategy_pnl,
        )
        for t in tenants
    ]
    store = registry.store()
    models = []
    for model_type in store.list_types():
        champion = store.champion(model_type.type_id, None)
        if champion is not None and champion.tenant_key == GLOBAL:
            models.append(
                ModelState(
                    name=model_type.type_id,
                    cadence=timedelta(hours=model_type.retrain_cadence_hours),
                    last_trained=champion.created_at,
                )
            )
    feeds = {}
    if in_session(pd.Timestamp(now)) and risk_feed_is_live():
        with risk.engine().connect() as conn:
            last = conn.execute(sa.select(sa.func.max(ingested_inputs.c.received_at))).scalar()
        feeds[GLOBAL_KEY] = last.replace(tzinfo=UTC) if last and last.tzinfo is None else last
    observations = Observations(now=now, tenants=states, models=models, feeds=feeds)
    return observations, {t.tenant_id: t.policy for t in tenants}


def risk_feed_is_live() -> bool:
    from quantsentinel.settings import load_settings

    return load_settings().feed_source == "files"


def _latest_verdicts(risk: RiskResource) -> pd.DataFrame:
    from quantsentinel.risk.tenancy.schema import risk_audit
    from quantsentinel.risk.tenancy.scope import system_scope

    c = risk_audit.c
    query = (
        sa.select(c.at, c.tenant_id, c.event, c.approved, c.wall, c.reason)
        .where(c.event.in_(("verdict", "input_error")))
        .order_by(c.audit_id.desc())
        .limit(VERDICTS_SHOWN)
    )
    with system_scope(risk.engine()) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return pd.DataFrame(rows, columns=["at", "tenant_id", "event", "approved", "wall", "reason"])


@dg.asset(
    group_name=GROUP,
    check_specs=[
        dg.AssetCheckSpec(
            "no_kill_switch_tripped",
            asset="kill_switch_state",
            description="Fails while any of the twelve kill switches is tripped: new decisions "
            "are halted in its scope until it clears or an operator resets it.",
        )
    ],
)
def kill_switch_state(
    context: dg.AssetExecutionContext, risk: RiskResource, registry: RegistryResource
):
    """Sweep the twelve kill switches: trip what breaches, auto-reset what cleared."""
    now = datetime.now(UTC)
    tenants_now = risk.tenants()
    observations, policies = _observations(risk, registry, now, tenants_now)
    result = risk.kill_switches().sweep(observations, policies, actor="dagster:kill_switch_state")
    states = risk.kill_switches().status()
    # The dry-run lock is every new tenant's normal state for 14 days (it only refuses live
    # execution), not an incident: it is listed, but does not fail the check.
    paper_only = [s for s in states if s.tripped and s.kind == DRY_RUN_LOCK]
    tripped = [s for s in states if s.tripped and s.kind != DRY_RUN_LOCK]
    table = pd.DataFrame(
        [
            {
                "#": s.number,
                "kind": s.kind,
                "scope": s.scope_key,
                "state": "TRIPPED" if s.tripped else "clear",
                "since": s.changed_at,
                "by": s.changed_by,
                "reason": s.reason,
            }
            for s in states
        ],
        columns=["#", "kind", "scope", "state", "since", "by", "reason"],
    )
    tenants = pd.DataFrame(
        [
            {
                "tenant": t.tenant_id,
                "capital": t.capital,
                "mode": t.trading_mode,
                "paper until": t.paper_only_until.isoformat(),
                "margin buffer": t.policy.margin_buffer,
                "max cost ratio": t.policy.max_cost_ratio,
                "min win prob": t.policy.min_win_probability,
            }
            for t in tenants_now
        ]
    )
    metadata = {
        "tripped": len(tripped),
        "paper_only_tenants": [s.scope_key for s in paper_only],
        "tripped_now": [f"{s.kind}:{s.scope_key}" for s in result.tripped],
        "reset_now": [f"{s.kind}:{s.scope_key}" for s in result.reset],
        "switches": table_md(table, max_rows=50),
        "tenants": table_md(tenants, max_rows=50),
        "latest_verdicts": table_md(_latest_verdicts(risk), max_rows=VERDICTS_SHOWN),
        "swept_at": now.isoformat(),
    }
    check = dg.AssetCheckResult(
        check_name="no_kill_switch_tripped",
        passed=not tripped,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"tripped": [f"{s.kind}:{s.scope_key}: {s.reason}" for s in tripped][:50]},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
