"""paper execution

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Paper positions opened from approved decisions, their fills, and the learners' state rows. The
rules the database keeps whatever the application does:
- paper_fills are durable records: UPDATE and DELETE (and TRUNCATE on Postgres) are refused for
  every role, like decisions (0004);
- a closed paper position is final: UPDATE and DELETE of a row whose status is 'closed' are
  refused (the realised P&L a learner was rewarded with never changes under it);
- Postgres: row-level security on paper_positions and paper_fills for `qs_app` (a tenant reads and
  writes its own rows: positions select/insert/update, fills select/insert), the owner's explicit
  `<table>_owner` policy for the system scope, as 0003/0004 do; learning_states is system-scoped
  (no grant to `qs_app`).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_positions",
        sa.Column("position_id", sa.String(length=240), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=160), nullable=False),
        sa.Column("underlying", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("structure", sa.String(length=32), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("regime", sa.String(length=16), nullable=False),
        sa.Column(
            "legs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_spot", sa.Float(), nullable=False),
        sa.Column("entry_premium", sa.Float(), nullable=False),
        sa.Column("entry_costs", sa.Float(), nullable=False),
        sa.Column("max_loss", sa.Float(), nullable=True),
        sa.Column("max_profit", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("delta_notional", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("stop", sa.Float(), nullable=True),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="open", nullable=False),
        sa.Column("last_mark_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_mark_value", sa.Float(), nullable=True),
        sa.Column("unrealised_pnl", sa.Float(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=8), nullable=True),
        sa.Column("exit_spot", sa.Float(), nullable=True),
        sa.Column("exit_premium", sa.Float(), nullable=True),
        sa.Column("exit_costs", sa.Float(), nullable=True),
        sa.Column("realised_pnl", sa.Float(), nullable=True),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "(status = 'open' AND closed_at IS NULL AND exit_reason IS NULL "
            "AND realised_pnl IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL "
            "AND exit_reason IN ('target', 'stop', 'expiry') AND realised_pnl IS NOT NULL)",
            name="ck_paper_positions_closed",
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_paper_positions_status"),
        sa.CheckConstraint("units >= 1 AND margin >= 0", name="ck_paper_positions_size"),
        sa.ForeignKeyConstraint(["batch_id"], ["decision_batches.batch_id"]),
        sa.ForeignKeyConstraint(["position_id"], ["decisions.decision_id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.PrimaryKeyConstraint("position_id"),
    )
    op.create_index(
        "ix_paper_positions_open", "paper_positions", ["underlying", "status"], unique=False
    )
    op.create_index(
        "ix_paper_positions_tenant_status", "paper_positions", ["tenant_id", "status"], unique=False
    )
    op.create_table(
        "paper_fills",
        sa.Column("fill_id", sa.String(length=260), nullable=False),
        sa.Column("position_id", sa.String(length=240), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=160), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column(
            "legs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("premium", sa.Float(), nullable=False),
        sa.Column("charges", sa.Float(), nullable=False),
        sa.Column("slippage", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("phase IN ('entry', 'exit')", name="ck_paper_fills_phase"),
        sa.ForeignKeyConstraint(["position_id"], ["paper_positions.position_id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.PrimaryKeyConstraint("fill_id"),
        sa.UniqueConstraint("position_id", "phase", name="uq_paper_fills_position_phase"),
    )
    op.create_index("ix_paper_fills_tenant_ts", "paper_fills", ["tenant_id", "ts"], unique=False)
    op.create_table(
        "learning_states",
        sa.Column("state_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_learning_states_version"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"]),
        sa.PrimaryKeyConstraint("state_key"),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_upgrade()
    elif dialect == "sqlite":
        for name, ddl in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {ddl}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_downgrade()
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("learning_states")
    op.drop_index("ix_paper_fills_tenant_ts", table_name="paper_fills")
    op.drop_table("paper_fills")
    op.drop_index("ix_paper_positions_tenant_status", table_name="paper_positions")
    op.drop_index("ix_paper_positions_open", table_name="paper_positions")
    op.drop_table("paper_positions")


# Frozen copies of the application's names at this revision (a migration means the same forever).
APP_ROLE = "qs_app"
TENANT_SCOPED = ("paper_positions", "paper_fills")
_OWN = "tenant_id = current_tenant_id()"
_FINAL = "append_only: paper_positions: a closed position is final; {event} refused"
_DURABLE = "append_only: paper_fills is a durable record; {event} refused"

SQLITE_TRIGGERS = {
    **{
        f"paper_fills_no_{event.lower()}": (
            f"BEFORE {event} ON paper_fills "
            f"BEGIN SELECT RAISE(ABORT, '{_DURABLE.format(event=event)}'); END"
        )
        for event in ("UPDATE", "DELETE")
    },
    **{
        f"paper_positions_closed_no_{event.lower()}": (
            f"BEFORE {event} ON paper_positions WHEN OLD.status = 'closed' "
            f"BEGIN SELECT RAISE(ABORT, '{_FINAL.format(event=event)}'); END"
        )
        for event in ("UPDATE", "DELETE")
    },
}

# (table, policy, command, USING, WITH CHECK), all TO qs_app; no policy means no access (DELETE).
POLICIES = (
    ("paper_positions", "paper_positions_tenant_select", "SELECT", _OWN, None),
    ("paper_positions", "paper_positions_tenant_insert", "INSERT", None, _OWN),
    ("paper_positions", "paper_positions_tenant_update", "UPDATE", _OWN, _OWN),
    ("paper_fills", "paper_fills_tenant_select", "SELECT", _OWN, None),
    ("paper_fills", "paper_fills_tenant_insert", "INSERT", None, _OWN),
)
TABLE_GRANTS = (
    "GRANT SELECT, INSERT, UPDATE ON paper_positions",
    "GRANT SELECT, INSERT ON paper_fills",
)


def _postgres_upgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION paper_fills_durable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'append_only: paper_fills is a durable record; ' || TG_OP || ' refused';
END
$$""")
    op.execute("""
CREATE OR REPLACE FUNCTION paper_positions_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
            MESSAGE = 'append_only: paper_positions: a closed position is final; ' || TG_OP
                || ' refused';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$""")
    for trigger, timing, level, function in (
        ("paper_fills_durable", "BEFORE UPDATE OR DELETE", "ROW", "paper_fills_durable"),
        ("paper_fills_no_truncate", "BEFORE TRUNCATE", "STATEMENT", "paper_fills_durable"),
        ("paper_positions_final", "BEFORE UPDATE OR DELETE", "ROW", "paper_positions_final"),
    ):
        table = "paper_fills" if trigger.startswith("paper_fills") else "paper_positions"
        op.execute(
            f"CREATE TRIGGER {trigger} {timing} ON {table} "
            f"FOR EACH {level} EXECUTE FUNCTION {function}()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
    for grant in TABLE_GRANTS:
        op.execute(f"{grant} TO {APP_ROLE}")
    for table in TENANT_SCOPED:
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
    for table, policy, _command, _using, _check in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {policy} ON {table}")
    for table in TENANT_SCOPED:
        op.execute(f"DROP POLICY IF EXISTS {table}_owner ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
    op.execute("DROP TRIGGER IF EXISTS paper_fills_durable ON paper_fills")
    op.execute("DROP TRIGGER IF EXISTS paper_fills_no_truncate ON paper_fills")
    op.execute("DROP TRIGGER IF EXISTS paper_positions_final ON paper_positions")
    op.execute("DROP FUNCTION IF EXISTS paper_fills_durable()")
    op.execute("DROP FUNCTION IF EXISTS paper_positions_final()")
