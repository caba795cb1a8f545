"""Market input audit: ingested_inputs and quarantine_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingested_inputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("file_name", sa.String(512), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("stored_at", sa.Text, nullable=False),
        sa.Column("partitions", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quarantine_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(128), nullable=False),
        sa.Column("partition_key", sa.String(64), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("times_seen", sa.Integer, nullable=False, server_default="1"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "snapshot_id", "partition_key", name="uq_quarantine_snapshot_partition"
        ),
    )
    op.create_index("ix_quarantine_partition", "quarantine_events", ["partition_key"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_partition", table_name="quarantine_events")
    op.drop_table("quarantine_events")
    op.drop_table("ingested_inputs")
