"""Paper execution and learning state: positions opened from approved decisions, their fills, and
the per-tenant / per-model state the learners (bandit, combiners) carry between runs.

Created by Alembic (migrations/versions/0005_*). The database guarantees, besides the code:
- a position is one stored decision (`position_id` = its decision id, a foreign key), of an
  existing tenant and batch; `status` is 'open' or 'closed', and a closed row names its reason
  and realised P&L;
- fills are durable records: UPDATE and DELETE are refused by triggers for every role (one entry
  and at most one exit fill per position: `fill_id` is "<position_id>/<phase>");
- a closed position is final: UPDATE and DELETE of a closed row are refused (the realised P&L a
  learner was rewarded with can never change under it);
- Postgres: row-level security on `paper_positions` and `paper_fills` for the application role (a
  tenant reads and writes its own rows only); `learning_states` is system-scoped (no tenant grant).

Money convention (pricing.py, executor.py): premiums are signed rupees, + = received; costs are
positive rupees; a leg's fill price is its mid moved by the slippage the cost engine charged.
"""

from __future__ import annotations

import sqlalchemy as sa

# The tenancy metadata: positions reference tenants and decision batches by foreign key, and one
# MetaData resolves them (decide.schema registers the decision tables on it).
import quantsentinel.decide.schema  # noqa: F401
from quantsentinel.risk.tenancy.schema import JSONType, Timestamp, metadata

STATUSES = ("open", "closed")
EXIT_REASONS = ("target", "stop", "expiry")
PHASES = ("entry", "exit")

paper_positions = sa.Table(
    "paper_positions",
    metadata,
    # The decision it executes ("<batch_id>/<tenant_id>"): a position exists only for a stored one.
    sa.Column(
        "position_id", sa.String(240), sa.ForeignKey("decisions.decision_id"), primary_key=True
    ),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column(
        "batch_id", sa.String(160), sa.ForeignKey("decision_batches.batch_id"), nullable=False
    ),
    sa.Column("underlying", sa.String(32), nullable=False),
    sa.Column("strategy", sa.String(64)),
    sa.Column("structure", sa.String(32)),
    sa.Column("arm", sa.String(64), nullable=False),  # the bandit arm rewarded when it closes
    sa.Column("regime", sa.String(16), nullable=False),  # the regime it was decided in
    sa.Column("legs", JSONType, nullable=False),  # decide.legs records + fill_price per leg
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("opened_at", Timestamp, nullable=False),  # the entry chain's exchange time
    sa.Column("entry_spot", sa.Float, nullable=False),
    sa.Column("entry_premium", sa.Float, nullable=False),  # signed rupees at mids, + = received
    sa.Column("entry_costs", sa.Float, nullable=False),  # charges + slippage, rupees
    sa.Column("max_loss", sa.Float),  # rupees; NULL = unbounded
    sa.Column("max_profit", sa.Float),  # rupees; NULL = unbounded
    sa.Column("margin", sa.Float, nullable=False),
    sa.Column("delta_notional", sa.Float, nullable=False),  # delta (units) x entry spot
    sa.Column("target", sa.Float),  # take profit at unrealised P&L >= target
    sa.Column("stop", sa.Float),  # cut at unrealised P&L <= stop (negative)
    sa.Column("expiry", sa.Date, nullable=False),  # the nearest leg's
    sa.Column("status", sa.String(8), nullable=False, server_default="open"),
    sa.Column("last_mark_at", Timestamp),
    sa.Column("last_mark_value", sa.Float),  # signed value at mids (long +), rupees
    sa.Column("unrealised_pnl", sa.Float),
    sa.Column("closed_at", Timestamp),
    sa.Column("exit_reason", sa.String(8)),
    sa.Column("exit_spot", sa.Float),
    sa.Column("exit_premium", sa.Float),  # signed rupees at mids / settlement, + = received
    sa.Column("exit_costs", sa.Float),
    sa.Column("realised_pnl", sa.Float),  # net of entry and exit costs
    sa.Column("reward", sa.Float),  # realised / risk, clipped to [-3, 3]
    sa.CheckConstraint("status IN ('open', 'closed')", name="ck_paper_positions_status"),
    sa.CheckConstraint(
        "(status = 'open' AND closed_at IS NULL AND exit_reason IS NULL "
        "AND realised_pnl IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL "
        "AND exit_reason IN ('target', 'stop', 'expiry') AND realised_pnl IS NOT NULL)",
        name="ck_paper_positions_closed",
    ),
    sa.CheckConstraint("units >= 1 AND margin >= 0", name="ck_paper_positions_size"),
    sa.Index("ix_paper_positions_open", "underlying", "status"),
    sa.Index("ix_paper_positions_tenant_status", "tenant_id", "status"),
)

paper_fills = sa.Table(
    "paper_fills",
    metadata,
    sa.Column("fill_id", sa.String(260), primary_key=True),  # "<position_id>/<phase>"
    sa.Column(
        "position_id",
        sa.String(240),
        sa.ForeignKey("paper_positions.position_id"),
        nullable=False,
    ),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id"), nullable=False),
    sa.Column("batch_id", sa.String(160), nullable=False),
    sa.Column("ts", Timestamp, nullable=False),  # the chain's exchange time
    sa.Column("phase", sa.String(8), nullable=False),
    sa.Column("legs", JSONType, nullable=False),  # per leg: quote, fill_price, charges, slippage
    sa.Column("premium", sa.Float, nullable=False),  # signed rupees at mids, + = received
    sa.Column("charges", sa.Float, nullable=False),  # brokerage, taxes, levies
    sa.Column("slippage", sa.Float, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("phase IN ('entry', 'exit')", name="ck_paper_fills_phase"),
    sa.UniqueConstraint("position_id", "phase", name="uq_paper_fills_position_phase"),
    sa.Index("ix_paper_fills_tenant_ts", "tenant_id", "ts"),
)

learning_states = sa.Table(
    "learning_states",
    metadata,
    sa.Column("state_key", sa.String(200), primary_key=True),  # "bandit:<tenant>", ...
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id")),  # NULL = global
    sa.Column("state", sa.Text, nullable=False),  # the learner's own JSON, stored verbatim
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("version >= 1", name="ck_learning_states_version"),
)

TENANT_SCOPED = ("paper_positions", "paper_fills")
