"""tenancy risk audit kill switches

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

The tables, then the rules the database enforces on them whatever the application does (seed 001
§8: three isolation layers, any one breaking is caught by the other two):
- Postgres: the application role `qs_app`, row-level security on every tenant-scoped table, and
  the triggers below; SQLite (embedded default): the same triggers in SQLite syntax. SQLite has no
  roles, so there the application layer (`risk.tenancy.scope`) and the triggers are the barriers.
- tenants: `created_at` is the database clock's and immutable; no tenant is 'live' before
  `created_at + PAPER_ONLY_DAYS` (the dry-run lock is the database's, not a flag in code).
- risk_audit: append-only for every role, the owner included.
- signal_deliveries: one signal is never delivered to two tenants.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of quantsentinel.risk.tenancy.schema's constants at this revision: a migration must
# mean the same thing forever, so a change of rule is a new migration, not an edited import.
APP_ROLE = "qs_app"
TENANT_SETTING = "qs.tenant_id"
PAPER_ONLY_DAYS = 14
TENANT_SCOPED = ("tenants", "kill_switches", "risk_audit", "signal_deliveries")


def upgrade() -> None:
    op.create_table(
        "risk_audit",
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("wall", sa.String(length=64), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index("ix_risk_audit_tenant_at", "risk_audit", ["tenant_id", "at"], unique=False)
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("capital", sa.Float(), nullable=False),
        sa.Column(
            "brokerage",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "policy",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("trading_mode", sa.String(length=8), server_default="paper", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("trading_mode IN ('paper', 'live')", name="ck_tenants_trading_mode"),
        sa.CheckConstraint("capital >= 0", name="ck_tenants_capital_nonnegative"),
        sa.PrimaryKeyConstraint("tenant_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "kill_switches",
        sa.Column("switch_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("scope_key", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("tripped", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
        ),
        sa.PrimaryKeyConstraint("switch_key"),
        sa.UniqueConstraint("kind", "scope_key", name="uq_kill_switches_kind_scope"),
    )
    op.create_table(
        "signal_deliveries",
        sa.Column("delivery_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
        ),
        sa.PrimaryKeyConstraint("delivery_id"),
        sa.UniqueConstraint("signal_id", "tenant_id", "channel", name="uq_signal_deliveries"),
    )
    op.create_index("ix_signal_deliveries_signal", "signal_deliveries", ["signal_id"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_upgrade()
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_downgrade()
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_signal_deliveries_signal", table_name="signal_deliveries")
    op.drop_table("signal_deliveries")
    op.drop_table("kill_switches")
    op.drop_table("tenants")
    op.drop_index("ix_risk_audit_tenant_at", table_name="risk_audit")
    op.drop_table("risk_audit")


# --- Postgres -------------------------------------------------------------------------------------
# Messages are built with || (never % placeholders) so no layer between here and the server can
# mistake them for bind parameters. Each starts with a stable code ("paper_only: ...") that the
# application translates into the TenantError of the same code.


def create_role_sql(role: str) -> str:
    """Create `role` (NOLOGIN) unless it exists. Roles are cluster-wide while migrations run per
    database, often several at once: two transactions can both see no role and both CREATE it; the
    second then fails with unique_violation (or duplicate_object), which here just means "exists".
    A role created beforehand by an operator is used as is (the migrator then needs no CREATEROLE).
    """
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$"""


def _utc(expr: str) -> str:
    return f"date_trunc('second', ({expr}) AT TIME ZONE 'UTC')::text || ' UTC'"


TENANT_FUNCTIONS = {
    "set_tenant_id(text)": f"""
CREATE OR REPLACE FUNCTION set_tenant_id(tenant text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF tenant IS NULL OR btrim(tenant) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'tenant_required: set_tenant_id needs a tenant id';
    END IF;
    -- is_local = true: the setting ends with the transaction, so a pooled connection can never
    -- carry one tenant's context into the next user's transaction.
    RETURN set_config('{TENANT_SETTING}', tenant, true);
END
$$""",
    # '' and unset read the same: after a transaction-local set_config ends, the placeholder
    # setting reads '' rather than NULL, and '' must not match any row either.
    "current_tenant_id()": f"""
CREATE OR REPLACE FUNCTION current_tenant_id() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('{TENANT_SETTING}', true), '') $$""",
}

# One function per rule, so that a test (or an operator with DDL rights) can switch one rule off.
# Triggers of one event fire in name order: created_at is fixed before the paper-only check.
TRIGGER_FUNCTIONS = {
    "tenants_created_at_guard()": f"""
CREATE OR REPLACE FUNCTION tenants_created_at_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The database's clock, whatever the caller sent: a tenant cannot be backdated past the
        -- paper-only window.
        NEW.created_at := now();
    ELSIF NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'created_at_immutable: tenant ' || quote_literal(OLD.tenant_id)
                || ' was created at ' || {_utc("OLD.created_at")} || '; created_at cannot change';
    END IF;
    RETURN NEW;
END
$$""",
    "tenants_paper_only_guard()": f"""
CREATE OR REPLACE FUNCTION tenants_paper_only_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live_from timestamptz := NEW.created_at + interval '{PAPER_ONLY_DAYS} days';
BEGIN
    IF NEW.trading_mode = 'live' AND now() < live_from THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'paper_only: tenant ' || quote_literal(NEW.tenant_id)
                || ' is paper-only until ' || {_utc("live_from")} || ' (created '
                || {_utc("NEW.created_at")}
                || '; a tenant trades paper for its first {PAPER_ONLY_DAYS} days)';
    END IF;
    RETURN NEW;
END
$$""",
    "risk_audit_append_only()": """
CREATE OR REPLACE FUNCTION risk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'append_only: risk_audit is append-only; ' || TG_OP || ' refused';
END
$$""",
    # SECURITY DEFINER: under row-level security the inserting role sees only its own tenant's
    # deliveries, so an invoker's check would never find the other tenant. The fixed search_path
    # keeps a caller's schema from substituting its own signal_deliveries.
    # The advisory lock (per signal) makes two concurrent first deliveries of one signal queue up,
    # so the second one's check sees the first one's committed row (READ COMMITTED, the default).
    # The message does not name the other tenant: the refused tenant must not learn who it is.
    "signal_deliveries_one_tenant()": """
CREATE OR REPLACE FUNCTION signal_deliveries_one_tenant() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema} AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('signal_deliveries'), hashtext(NEW.signal_id));
    IF EXISTS (SELECT 1 FROM {schema}.signal_deliveries
               WHERE signal_id = NEW.signal_id AND tenant_id <> NEW.tenant_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'unique_violation',
            MESSAGE = 'cross_tenant_delivery: signal ' || quote_literal(NEW.signal_id)
                || ' is already delivered to another tenant; refused for tenant '
                || quote_literal(NEW.tenant_id);
    END IF;
    RETURN NEW;
END
$$""",
}

# (table, trigger, timing and events, level, function). ENABLE ALWAYS: they fire even under
# session_replication_role = replica, so only DDL (ALTER TABLE ... DISABLE TRIGGER) can stop one.
TRIGGERS = (
    ("tenants", "tenants_created_at_guard", "BEFORE INSERT OR UPDATE", "ROW", None),
    ("tenants", "tenants_paper_only_guard", "BEFORE INSERT OR UPDATE", "ROW", None),
    ("risk_audit", "risk_audit_append_only", "BEFORE UPDATE OR DELETE", "ROW", None),
    (
        "risk_audit",
        "risk_audit_no_truncate",
        "BEFORE TRUNCATE",
        "STATEMENT",
        "risk_audit_append_only",
    ),
    ("signal_deliveries", "signal_deliveries_one_tenant", "BEFORE INSERT", "ROW", None),
)

_OWN = "tenant_id = current_tenant_id()"
# (table, policy, command, USING, WITH CHECK), all TO qs_app. No policy for a command means qs_app
# may not do it at all (row-level security denies by default): a tenant reads its own tenants row
# and nothing else there; global kill switches (tenant_id NULL: master, symbol, stale data) are
# read-only; the audit and the deliveries are insert-and-read. Without a tenant set nothing is
# visible, global switches included: a forgotten set_tenant_id shows up as "no rows", never as a
# partial view.
POLICIES = (
    ("tenants", "tenants_own_row_select", "SELECT", _OWN, None),
    (
        "kill_switches",
        "kill_switches_tenant_select",
        "SELECT",
        f"{_OWN} OR (tenant_id IS NULL AND current_tenant_id() IS NOT NULL)",
        None,
    ),
    ("kill_switches", "kill_switches_tenant_insert", "INSERT", None, _OWN),
    ("kill_switches", "kill_switches_tenant_update", "UPDATE", _OWN, _OWN),
    ("risk_audit", "risk_audit_tenant_select", "SELECT", _OWN, None),
    ("risk_audit", "risk_audit_tenant_insert", "INSERT", None, _OWN),
    ("signal_deliveries", "signal_deliveries_tenant_select", "SELECT", _OWN, None),
    ("signal_deliveries", "signal_deliveries_tenant_insert", "INSERT", None, _OWN),
)

TABLE_GRANTS = (
    # Read-only: a tenant's capital, limits and mode change only through the operator's audited
    # TenantStore, never through an unaudited UPDATE from a tenant's own code path.
    "GRANT SELECT ON tenants",
    "GRANT SELECT, INSERT, UPDATE ON kill_switches",
    "GRANT SELECT, INSERT ON risk_audit",
    "GRANT SELECT, INSERT ON signal_deliveries",
)
SERIAL_COLUMNS = (("risk_audit", "audit_id"), ("signal_deliveries", "delivery_id"))


def _current_schema() -> str:
    bind = op.get_bind()
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return bind.dialect.identifier_preparer.quote(schema)


def _serial_sequences() -> list[str]:
    bind = op.get_bind()
    query = sa.text("SELECT pg_get_serial_sequence(:table, :column)")
    return [
        bind.execute(query, {"table": table, "column": column}).scalar_one()
        for table, column in SERIAL_COLUMNS
    ]


def _postgres_upgrade() -> None:
    schema = _current_schema()
    op.execute(create_role_sql(APP_ROLE))
    for ddl in TENANT_FUNCTIONS.values():
        op.execute(ddl)
    for ddl in TRIGGER_FUNCTIONS.values():
        op.execute(ddl.replace("{schema}", schema))
    for table, trigger, timing, level, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {trigger} {timing} ON {table} "
            f"FOR EACH {level} EXECUTE FUNCTION {function or trigger}()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")

    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}")
    for grant in TABLE_GRANTS:
        op.execute(f"{grant} TO {APP_ROLE}")
    for sequence in _serial_sequences():
        op.execute(f"GRANT USAGE ON SEQUENCE {sequence} TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION {', '.join(TENANT_FUNCTIONS)} TO {APP_ROLE}")

    for table in TENANT_SCOPED:
        # FORCE: the owner is subject to the policies too, so its unrestricted access is the
        # explicit, reviewable `<table>_owner` policy (for system writes and the SECURITY DEFINER
        # trigger) rather than a silent exemption. Superusers bypass row-level security anyway.
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_owner ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)"
        )
    for table, policy, command, using, check in POLICIES:
        clauses = (f" USING ({using})" if using else "") + (
            f" WITH CHECK ({check})" if check else ""
        )
        op.execute(f"CREATE POLICY {policy} ON {table} FOR {command} TO {APP_ROLE}{clauses}")


def _postgres_downgrade() -> None:
    """Undo `_postgres_upgrade` in this database. The role itself stays: it is cluster-wide and
    shared with every other database migrated on the same server (tests migrate many at once);
    dropping it here would break them. After this it holds no privilege in this database."""
    schema = _current_schema()
    for table, policy, _command, _using, _check in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
    for table in TENANT_SCOPED:
        op.execute(f"DROP POLICY IF EXISTS {table}_owner ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
    for sequence in _serial_sequences():
        op.execute(f"REVOKE ALL ON SEQUENCE {sequence} FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {APP_ROLE}")
    for table, trigger, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for signature in (*TRIGGER_FUNCTIONS, *TENANT_FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")


# --- SQLite ---------------------------------------------------------------------------------------
# RAISE takes a literal message in SQLite, so these name the rule, not the row; the application adds
# the tenant and the date when it translates them. Times are UTC text (CURRENT_TIMESTAMP) and
# julianday() reads them; an unreadable created_at is refused rather than compared as NULL.

_ONE_MINUTE = "(60.0 / 86400.0)"
SQLITE_MESSAGES = {  # SQLite allows no concatenation inside RAISE: one literal each
    "backdated": "created_at_immutable: a tenant's created_at is the database clock; an explicit "
    "created_at more than a minute from now is refused",
    "created_at": "created_at_immutable: a tenant's created_at cannot change",
    "new_live": f"paper_only: a new tenant trades paper for its first {PAPER_ONLY_DAYS} days",
    "young_live": f"paper_only: a tenant younger than {PAPER_ONLY_DAYS} days cannot trade live",
    "audit_update": "append_only: risk_audit is append-only; UPDATE refused",
    "audit_delete": "append_only: risk_audit is append-only; DELETE refused",
    "delivery": "cross_tenant_delivery: this signal is already delivered to another tenant",
}


def _sqlite_trigger(name: str, event: str, when: str | None, message: str) -> str:
    literal = "'" + SQLITE_MESSAGES[message].replace("'", "''") + "'"
    condition = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} {event}{condition} BEGIN SELECT RAISE(ABORT, {literal}); END"


SQLITE_TRIGGERS = {
    "tenants_created_at_insert": _sqlite_trigger(
        "tenants_created_at_insert",
        "BEFORE INSERT ON tenants",
        "julianday(NEW.created_at) IS NULL"
        f" OR abs(julianday(NEW.created_at) - julianday('now')) > {_ONE_MINUTE}",
        "backdated",
    ),
    "tenants_created_at_update": _sqlite_trigger(
        "tenants_created_at_update",
        "BEFORE UPDATE ON tenants",
        "NEW.created_at IS NOT OLD.created_at",
        "created_at",
    ),
    "tenants_paper_only_insert": _sqlite_trigger(
        "tenants_paper_only_insert",
        "BEFORE INSERT ON tenants",
        "NEW.trading_mode = 'live'",
        "new_live",
    ),
    "tenants_paper_only_update": _sqlite_trigger(
        "tenants_paper_only_update",
        "BEFORE UPDATE ON tenants",
        "NEW.trading_mode = 'live'"
        f" AND julianday('now') < julianday(NEW.created_at) + {PAPER_ONLY_DAYS}",
        "young_live",
    ),
    "risk_audit_no_update": _sqlite_trigger(
        "risk_audit_no_update", "BEFORE UPDATE ON risk_audit", None, "audit_update"
    ),
    "risk_audit_no_delete": _sqlite_trigger(
        "risk_audit_no_delete", "BEFORE DELETE ON risk_audit", None, "audit_delete"
    ),
    # SQLite serializes writers, so this check cannot race the way Postgres' can.
    "signal_deliveries_one_tenant": _sqlite_trigger(
        "signal_deliveries_one_tenant",
        "BEFORE INSERT ON signal_deliveries",
        "EXISTS (SELECT 1 FROM signal_deliveries"
        " WHERE signal_id = NEW.signal_id AND tenant_id <> NEW.tenant_id)",
        "delivery",
    ),
}
