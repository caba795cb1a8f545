"""Decision batches: one row per decided snapshot, one decision row per tenant in it.

Created by Alembic (migrations/versions/0004_*). The database guarantees, besides the code:
- one decision per (batch, tenant); every decision names an existing tenant and batch;
- decisions and batches are durable records: UPDATE and DELETE are refused by triggers;
- Postgres: row-level security on `decisions` for the application role (a tenant reads its own
  decisions and nothing else; only the system scope writes a batch).
"""

from __future__ import annotations

import sqlalchemy as sa

# The tenancy metadata: decisions reference tenants by foreign key, and one MetaData resolves it.
from quantsentinel.risk.tenancy.schema import JSONType, Timestamp, metadata

decision_batches = sa.Table(
    "decision_batches",
    metadata,
    sa.Column("batch_id", sa.String(160), primary_key=True),  # the snapshot id it decided
    sa.Column("underlying", sa.String(32), nullable=False),
    sa.Column("snapshot_ts", Timestamp, nullable=False),
    sa.Column("decided_at", Timestamp, nullable=False),
    sa.Column("regime", sa.String(16), nullable=False),
    sa.Column("market", JSONType, nullable=False),  # shared market facts: spot, vols, signals
    sa.Column("tenants", sa.Integer, nullable=False),
    sa.Column("approved", sa.Integer, nullable=False),
    sa.Column("blocked_by", JSONType, nullable=False),  # wall -> count
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("approved >= 0 AND approved <= tenants", name="ck_batches_counts"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(240), primary_key=True),  # "<batch_id>/<tenant_id>"
    sa.Column(
        "batch_id", sa.String(160), sa.ForeignKey("decision_batches.batch_id"), nullable=False
    ),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("approved", sa.Boolean, nullable=False),
    sa.Column("blocked_by", sa.String(64)),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("strategy", sa.String(64)),
    sa.Column("structure", sa.String(32)),
    sa.Column("legs", JSONType, nullable=False),  # [{kind, strike, expiry, side, lots, price}]
    sa.Column("units", sa.Integer, nullable=False, server_default="0"),
    sa.Column("entry_zone", JSONType),  # {"low": net premium, "high": ...}
    sa.Column("target", sa.Float),
    sa.Column("stop", sa.Float),
    sa.Column("max_profit", sa.Float),  # rupees; NULL with numbers.unbounded when unbounded
    sa.Column("max_loss", sa.Float),
    sa.Column("expected_cost", sa.Float),
    sa.Column("payoff", JSONType),  # [[price, pnl], ...] at expiry
    sa.Column("contributions", JSONType),  # signal -> weighted contribution that drove it
    sa.Column("fallbacks", JSONType),  # component -> why a baseline answered
    sa.Column("numbers", JSONType),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("batch_id", "tenant_id", name="uq_decisions_batch_tenant"),
    sa.Index("ix_decisions_tenant_created", "tenant_id", "created_at"),
)

TENANT_SCOPED = ("decisions",)
