"""Helpers shared by the tenancy suites on SQLite (tests/risk/test_tenancy_*.py) and on Postgres
(tests/pg/test_tenancy_pg.py): the tenant-scoped tables, audit and clock reads, raw rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.schema import kill_switches, risk_audit, signal_deliveries, tenants
from quantsentinel.risk.tenancy.scope import system_scope

SCOPED_TABLES = (tenants, kill_switches, risk_audit, signal_deliveries)
NOT_TENANT_SCOPED = sa.Table("market_notes", sa.MetaData(), sa.Column("note_id", sa.Integer))


# -- helpers shared with the Postgres suite --------------------------------------------------------


def all_audit(engine: sa.Engine) -> list[dict[str, Any]]:
    with system_scope(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(risk_audit).order_by("audit_id"))]


def db_now(engine: sa.Engine) -> datetime:
    with system_scope(engine) as conn:
        value = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
    if isinstance(value, str):  # SQLite: UTC text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backdate_sqlite(engine: sa.Engine, tenant_id: str, days: int) -> None:
    """Only DDL gets past the immutable created_at: drop the guard trigger in this test's
    database, then move created_at back (the paper-only trigger itself stays)."""
    with system_scope(engine) as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS tenants_created_at_update")
        conn.execute(
            sa.text("UPDATE tenants SET created_at = datetime('now', :shift) WHERE tenant_id = :t"),
            {"shift": f"-{days} days", "t": tenant_id},
        )


def raw_tenant_row(tenant_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "tenant_id": tenant_id,
        "name": f"name of {tenant_id}",
        "capital": 1.0,
        "brokerage": BrokeragePlan().to_json(),
        "policy": RiskPolicy().to_json(),
    }
    return {**row, **overrides}


def audit_values(event: str = "verdict", **overrides: Any) -> dict[str, Any]:
    return {"at": datetime.now(UTC), "event": event, "actor": "test", "reason": "r", **overrides}
