"""The registry's production layer: the project's own tables beside MLflow (seed 001 §7).

MLflow keeps runs, artifacts and registered-model aliases; these tables keep what MLflow does not:
which version serves each (type, tenant), every transition with its verdict, paired evaluations,
lineage, training-data versions, failed attempts and shadow predictions. The database is the
source of truth for "who is champion"; MLflow aliases follow it.

Invariants enforced by the schema itself, not only by code:
- `model_champions` has one row per (type, tenant scope): at most one production pointer;
- a partial unique index allows one `status = 'champion'` version per (type, tenant scope);
- (type, tenant scope, semantic version) is unique.
`tenant_key` is the tenant id, or "*" for a global model: NULLs are distinct in unique indexes,
so a nullable tenant column could not carry these constraints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

GLOBAL = "*"
STATUSES = ("staged", "evaluated", "shadow", "champion", "archived", "rejected", "rolled_back")

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

model_types = sa.Table(
    "model_types",
    metadata,
    sa.Column("type_id", sa.String(100), primary_key=True),
    sa.Column("framework", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("retrain_cadence_hours", sa.Float, nullable=False),
    sa.Column("shadow_window_hours", sa.Float, nullable=False, server_default="48"),
    sa.Column("contract", JSONType, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

training_data_versions = sa.Table(
    "training_data_versions",
    metadata,
    sa.Column("data_version", sa.String(100), primary_key=True),
    sa.Column("type_id", sa.String(100), sa.ForeignKey("model_types.type_id"), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("location", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version_id", sa.String(36), primary_key=True),
    sa.Column("type_id", sa.String(100), sa.ForeignKey("model_types.type_id"), nullable=False),
    sa.Column("tenant_id", sa.String(64)),  # NULL = global model
    sa.Column("tenant_key", sa.String(64), nullable=False),
    sa.Column("semantic_version", sa.String(20), nullable=False),
    sa.Column("parent_version_id", sa.String(36), sa.ForeignKey("model_versions.version_id")),
    sa.Column("code_git_commit", sa.String(64), nullable=False),
    sa.Column("code_git_branch", sa.String(100), nullable=False),
    sa.Column(
        "training_data_version",
        sa.String(100),
        sa.ForeignKey("training_data_versions.data_version"),
    ),
    sa.Column("training_data_end", sa.Date),
    sa.Column("hyperparameters", JSONType, nullable=False),
    sa.Column("feature_set", JSONType),
    sa.Column("train_metrics", JSONType),
    sa.Column("validation_metrics", JSONType),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("artifact_path", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_size_bytes", sa.BigInteger, nullable=False),
    sa.Column("artifact_fingerprint", sa.String(64), nullable=False),
    sa.Column("mlflow_model_name", sa.String(200)),
    sa.Column("mlflow_version", sa.String(20)),
    sa.Column("mlflow_run_id", sa.String(64)),
    # The champion this version replaced when it was promoted: the rollback chain.
    sa.Column("replaced_version_id", sa.String(36), sa.ForeignKey("model_versions.version_id")),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("evaluated_at", Timestamp),
    sa.Column("shadow_started_at", Timestamp),
    sa.Column("promoted_at", Timestamp),
    sa.Column("archived_at", Timestamp),
    sa.UniqueConstraint("type_id", "tenant_key", "semantic_version", name="uq_version_semver"),
    sa.CheckConstraint(f"status IN {STATUSES!r}", name="ck_version_status"),
)
sa.Index(
    "uq_one_champion_status",
    model_versions.c.type_id,
    model_versions.c.tenant_key,
    unique=True,
    sqlite_where=model_versions.c.status == "champion",
    postgresql_where=model_versions.c.status == "champion",
)
sa.Index("ix_versions_type_tenant", model_versions.c.type_id, model_versions.c.tenant_key)

model_champions = sa.Table(
    "model_champions",
    metadata,
    sa.Column("type_id", sa.String(100), sa.ForeignKey("model_types.type_id"), primary_key=True),
    sa.Column("tenant_key", sa.String(64), primary_key=True),
    sa.Column(
        "version_id", sa.String(36), sa.ForeignKey("model_versions.version_id"), nullable=False
    ),
    sa.Column("updated_at", Timestamp, nullable=False),
)

model_promotions = sa.Table(
    "model_promotions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type_id", sa.String(100), nullable=False),
    sa.Column("tenant_key", sa.String(64), nullable=False),
    sa.Column("version_id", sa.String(36), sa.ForeignKey("model_versions.version_id")),
    sa.Column("from_status", sa.String(20)),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("verdict", JSONType),
    sa.Column("at", Timestamp, nullable=False),
)
sa.Index("ix_promotions_scope", model_promotions.c.type_id, model_promotions.c.tenant_key)

model_evaluations = sa.Table(
    "model_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "candidate_version_id",
        sa.String(36),
        sa.ForeignKey("model_versions.version_id"),
        nullable=False,
    ),
    sa.Column("champion_version_id", sa.String(36), sa.ForeignKey("model_versions.version_id")),
    sa.Column("slice_id", sa.String(100), nullable=False),  # the held-out data both scored
    sa.Column("candidate_metrics", JSONType, nullable=False),
    sa.Column("champion_metrics", JSONType),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("verdict", JSONType, nullable=False),
    sa.Column("evaluated_at", Timestamp, nullable=False),
)

model_lineage = sa.Table(
    "model_lineage",
    metadata,
    sa.Column(
        "parent_version_id",
        sa.String(36),
        sa.ForeignKey("model_versions.version_id"),
        primary_key=True,
    ),
    sa.Column(
        "child_version_id",
        sa.String(36),
        sa.ForeignKey("model_versions.version_id"),
        primary_key=True,
    ),
    sa.Column("relation", sa.String(32), nullable=False),  # retrain | fine_tune | distill
    sa.Column("created_at", Timestamp, nullable=False),
)

shadow_predictions = sa.Table(
    "shadow_predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "version_id", sa.String(36), sa.ForeignKey("model_versions.version_id"), nullable=False
    ),
    sa.Column("champion_version_id", sa.String(36), sa.ForeignKey("model_versions.version_id")),
    sa.Column("input_ref", sa.String(200), nullable=False),  # e.g. the snapshot id it saw
    sa.Column("candidate_prediction", sa.Float, nullable=False),
    sa.Column("champion_prediction", sa.Float),
    sa.Column("at", Timestamp, nullable=False),
)
sa.Index("ix_shadow_version", shadow_predictions.c.version_id)

failed_training_attempts = sa.Table(
    "failed_training_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type_id", sa.String(100), nullable=False),
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("dagster_run_id", sa.String(64)),
    sa.Column("mlflow_run_id", sa.String(64)),
    sa.Column("input_artifact_id", sa.String(100)),  # the training data version it was fed
    sa.Column("hyperparameters", JSONType),
    sa.Column("partial_metrics", JSONType),
    sa.Column("error_type", sa.String(200), nullable=False),
    sa.Column("error_message", sa.Text, nullable=False),
    sa.Column("stack_trace", sa.Text),
    sa.Column("attempted_at", Timestamp, nullable=False),
)

# Who holds a training lock, for the "lock held by which run" message. Informational only: the
# lock itself is a Postgres advisory lock or an OS file lock, both released when a process dies.
model_locks = sa.Table(
    "model_locks",
    metadata,
    sa.Column("type_id", sa.String(100), primary_key=True),
    sa.Column("tenant_key", sa.String(64), primary_key=True),
    sa.Column("holder", JSONType, nullable=False),
    sa.Column("acquired_at", Timestamp, nullable=False),
)


def json_safe(value: Any) -> Any:
    """A copy of `value` that any JSON column accepts: non-finite floats (a diverged loss, a NaN
    AUC on a one-class slice) become "inf" / "-inf" / "nan" strings - Postgres' JSONB rejects
    them as numbers, and a record of *what* went wrong is the point of keeping it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return value


def tenant_key(tenant_id: str | None) -> str:
    """The scope key of a tenant id (None = global)."""
    if tenant_id is None:
        return GLOBAL
    if not tenant_id or tenant_id == GLOBAL or len(tenant_id) > 64:
        raise ValueError(f"invalid tenant id {tenant_id!r}: 1-64 characters, not {GLOBAL!r}")
    return tenant_id
