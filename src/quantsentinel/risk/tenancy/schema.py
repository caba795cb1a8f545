"""The tenancy tables: tenants, kill-switch state, the append-only risk audit log, and signal
deliveries. Created by Alembic (migrations/versions/0003_*), never by `create_all`.

Every tenant-scoped table carries `tenant_id`. Isolation is enforced three times (seed 001 §8):
1. application: `risk.tenancy.scope.TenantSession` adds the tenant to every query it runs;
2. database (Postgres): row-level security for the application role `qs_app` on every table in
   TENANT_SCOPED; a transaction that has not called `set_tenant_id(...)` sees no tenant rows;
3. triggers (Postgres and SQLite):
   - tenants: capital >= 0; trading_mode is 'paper' or 'live'; `created_at` is the database clock's
     and immutable; no tenant is 'live' before created_at + PAPER_ONLY_DAYS;
   - risk_audit: append-only, UPDATE, DELETE (and TRUNCATE) are refused for every role;
   - signal_deliveries: a BEFORE INSERT trigger refuses one signal delivered to two tenants.
Migration 0003 holds the DDL. The triggers' errors start with one of DB_RULE_CODES ("paper_only:
..."); the application translates them into the TenantError of the same code.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

APP_ROLE = "qs_app"
TENANT_SETTING = "qs.tenant_id"
PAPER_ONLY_DAYS = 14
TRADING_MODES = ("paper", "live")

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("capital", sa.Float, nullable=False),
    sa.Column("brokerage", JSONType, nullable=False),
    sa.Column("policy", JSONType, nullable=False),
    sa.Column("trading_mode", sa.String(8), nullable=False, server_default="paper"),
    sa.Column("created_at", Timestamp, nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("updated_at", Timestamp),
    sa.CheckConstraint("capital >= 0", name="ck_tenants_capital_nonnegative"),
    sa.CheckConstraint("trading_mode IN ('paper', 'live')", name="ck_tenants_trading_mode"),
)

kill_switches = sa.Table(
    "kill_switches",
    metadata,
    sa.Column("switch_key", sa.String(200), primary_key=True),  # "<kind>:<scope_key>"
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("scope_key", sa.String(200), nullable=False),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id")),  # NULL = not scoped
    sa.Column("tripped", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("numbers", JSONType),
    sa.Column("changed_at", Timestamp, nullable=False),
    sa.Column("changed_by", sa.String(100), nullable=False),
    sa.UniqueConstraint("kind", "scope_key", name="uq_kill_switches_kind_scope"),
)

risk_audit = sa.Table(
    "risk_audit",
    metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False),
    # No foreign key: a refused request for a tenant that does not exist is audited too.
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("wall", sa.String(64)),
    sa.Column("approved", sa.Boolean),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("inputs", JSONType),
    sa.Column("numbers", JSONType),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Index("ix_risk_audit_tenant_at", "tenant_id", "at"),
)

signal_deliveries = sa.Table(
    "signal_deliveries",
    metadata,
    sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("signal_id", sa.String(64), nullable=False),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=False),
    sa.UniqueConstraint("signal_id", "tenant_id", "channel", name="uq_signal_deliveries"),
    sa.Index("ix_signal_deliveries_signal", "signal_id"),
)

# Tables row-level security covers; the tenants table shows a tenant its own row only.
TENANT_SCOPED = ("tenants", "kill_switches", "risk_audit", "signal_deliveries")
# Tables whose rows with tenant_id NULL (global kill switches: master, symbol, stale data) every
# tenant may read but none may write.
GLOBAL_ROWS_READABLE = ("kill_switches",)
# Stable prefixes of the errors the database's own rules raise, on both dialects.
DB_RULE_CODES = (
    "paper_only",
    "created_at_immutable",
    "append_only",
    "cross_tenant_delivery",
    "tenant_required",
)
