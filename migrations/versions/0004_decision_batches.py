"""decision batches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_batches",
        sa.Column("batch_id", sa.String(length=160), nullable=False),
        sa.Column("underlying", sa.String(length=32), nullable=False),
        sa.Column("snapshot_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("regime", sa.String(length=16), nullable=False),
        sa.Column(
            "market",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenants", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column(
            "blocked_by",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("approved >= 0 AND approved <= tenants", name="ck_batches_counts"),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(length=240), nullable=False),
        sa.Column("batch_id", sa.String(length=160), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("blocked_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("structure", sa.String(length=32), nullable=True),
        sa.Column(
            "legs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("units", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "entry_zone",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("stop", sa.Float(), nullable=True),
        sa.Column("max_profit", sa.Float(), nullable=True),
        sa.Column("max_loss", sa.Float(), nullable=True),
        sa.Column("expected_cost", sa.Float(), nullable=True),
        sa.Column(
            "payoff",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "contributions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "fallbacks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["decision_batches.batch_id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
        ),
        sa.PrimaryKeyConstraint("decision_id"),
        sa.UniqueConstraint("batch_id", "tenant_id", name="uq_decisions_batch_tenant"),
    )
    op.create_index(
        "ix_decisions_tenant_created", "decisions", ["tenant_id", "created_at"], unique=False
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_upgrade()
    elif dialect == "sqlite":
        for table in DURABLE:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'append_only: {table} is a durable record; "
                    f"{event} refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_downgrade()
    elif dialect == "sqlite":
        for table in DURABLE:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    op.drop_index("ix_decisions_tenant_created", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("decision_batches")


# Decisions and their batches are the durable record of what every tenant was told: refused to
# change or vanish for every role (ENABLE ALWAYS), like the risk audit log.
APP_ROLE = "qs_app"
DURABLE = ("decision_batches", "decisions")
_OWN = "tenant_id = current_tenant_id()"


def _postgres_upgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION decisions_durable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'append_only: ' || TG_TABLE_NAME || ' is a durable record; ' || TG_OP
            || ' refused';
END
$$""")
    for table in DURABLE:
        for suffix, timing, level in (
            ("durable", "BEFORE UPDATE OR DELETE", "ROW"),
            ("no_truncate", "BEFORE TRUNCATE", "STATEMENT"),
        ):
            trigger = f"{table}_{suffix}"
            op.execute(
                f"CREATE TRIGGER {trigger} {timing} ON {table} "
                f"FOR EACH {level} EXECUTE FUNCTION decisions_durable()"
            )
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
    # A tenant reads its own decisions; batches hold only market facts and counts. Only the
    # system scope (the decide job) writes either.
    op.execute(f"GRANT SELECT ON decision_batches, decisions TO {APP_ROLE}")
    op.execute("ALTER TABLE decisions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE decisions FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY decisions_owner ON decisions TO CURRENT_USER USING (true) WITH CHECK (true)"
    )
    op.execute(
        f"CREATE POLICY decisions_tenant_select ON decisions FOR SELECT TO {APP_ROLE} "
        f"USING ({_OWN})"
    )


def _postgres_downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS decisions_tenant_select ON decisions")
    op.execute("DROP POLICY IF EXISTS decisions_owner ON decisions")
    op.execute("ALTER TABLE decisions NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE decisions DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE ALL ON decision_batches, decisions FROM {APP_ROLE}")
    for table in DURABLE:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_durable ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS decisions_durable()")
