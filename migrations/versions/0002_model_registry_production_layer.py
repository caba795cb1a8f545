"""model registry production layer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "failed_training_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("input_artifact_id", sa.String(length=100), nullable=True),
        sa.Column(
            "hyperparameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "partial_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_type", sa.String(length=200), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("stack_trace", sa.Text(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "model_locks",
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_key", sa.String(length=64), nullable=False),
        sa.Column(
            "holder",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("type_id", "tenant_key"),
    )
    op.create_table(
        "model_types",
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("framework", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("retrain_cadence_hours", sa.Float(), nullable=False),
        sa.Column("shadow_window_hours", sa.Float(), server_default="48", nullable=False),
        sa.Column(
            "contract",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("type_id"),
    )
    op.create_table(
        "training_data_versions",
        sa.Column("data_version", sa.String(length=100), nullable=False),
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["model_types.type_id"],
        ),
        sa.PrimaryKeyConstraint("data_version"),
    )
    op.create_table(
        "model_versions",
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_key", sa.String(length=64), nullable=False),
        sa.Column("semantic_version", sa.String(length=20), nullable=False),
        sa.Column("parent_version_id", sa.String(length=36), nullable=True),
        sa.Column("code_git_commit", sa.String(length=64), nullable=False),
        sa.Column("code_git_branch", sa.String(length=100), nullable=False),
        sa.Column("training_data_version", sa.String(length=100), nullable=True),
        sa.Column("training_data_end", sa.Date(), nullable=True),
        sa.Column(
            "hyperparameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "feature_set",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "train_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "validation_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("artifact_path", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("artifact_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("artifact_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("mlflow_model_name", sa.String(length=200), nullable=True),
        sa.Column("mlflow_version", sa.String(length=20), nullable=True),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("replaced_version_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shadow_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('staged', 'evaluated', 'shadow', 'champion', "
            "'archived', 'rejected', 'rolled_back')",
            name="ck_version_status",
        ),
        sa.ForeignKeyConstraint(
            ["parent_version_id"],
            ["model_versions.version_id"],
        ),
        sa.ForeignKeyConstraint(
            ["replaced_version_id"],
            ["model_versions.version_id"],
        ),
        sa.ForeignKeyConstraint(
            ["training_data_version"],
            ["training_data_versions.data_version"],
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["model_types.type_id"],
        ),
        sa.PrimaryKeyConstraint("version_id"),
        sa.UniqueConstraint("type_id", "tenant_key", "semantic_version", name="uq_version_semver"),
    )
    op.create_index(
        "ix_versions_type_tenant", "model_versions", ["type_id", "tenant_key"], unique=False
    )
    op.create_index(
        "uq_one_champion_status",
        "model_versions",
        ["type_id", "tenant_key"],
        unique=True,
        sqlite_where=sa.text("status = 'champion'"),
        postgresql_where=sa.text("status = 'champion'"),
    )
    op.create_table(
        "model_champions",
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_key", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["model_types.type_id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.version_id"],
        ),
        sa.PrimaryKeyConstraint("type_id", "tenant_key"),
    )
    op.create_table(
        "model_evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("candidate_version_id", sa.String(length=36), nullable=False),
        sa.Column("champion_version_id", sa.String(length=36), nullable=True),
        sa.Column("slice_id", sa.String(length=100), nullable=False),
        sa.Column(
            "candidate_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "champion_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column(
            "verdict",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_version_id"],
            ["model_versions.version_id"],
        ),
        sa.ForeignKeyConstraint(
            ["champion_version_id"],
            ["model_versions.version_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "model_lineage",
        sa.Column("parent_version_id", sa.String(length=36), nullable=False),
        sa.Column("child_version_id", sa.String(length=36), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_version_id"],
            ["model_versions.version_id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_version_id"],
            ["model_versions.version_id"],
        ),
        sa.PrimaryKeyConstraint("parent_version_id", "child_version_id"),
    )
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type_id", sa.String(length=100), nullable=False),
        sa.Column("tenant_key", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "verdict",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.version_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_promotions_scope", "model_promotions", ["type_id", "tenant_key"], unique=False
    )
    op.create_table(
        "shadow_predictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("champion_version_id", sa.String(length=36), nullable=True),
        sa.Column("input_ref", sa.String(length=200), nullable=False),
        sa.Column("candidate_prediction", sa.Float(), nullable=False),
        sa.Column("champion_prediction", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["champion_version_id"],
            ["model_versions.version_id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.version_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shadow_version", "shadow_predictions", ["version_id"], unique=False)
    op.drop_index(op.f("ix_quarantine_partition"), table_name="quarantine_events")


def downgrade() -> None:

    op.create_index(
        op.f("ix_quarantine_partition"), "quarantine_events", ["partition_key"], unique=False
    )
    op.drop_index("ix_shadow_version", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
    op.drop_index("ix_promotions_scope", table_name="model_promotions")
    op.drop_table("model_promotions")
    op.drop_table("model_lineage")
    op.drop_table("model_evaluations")
    op.drop_table("model_champions")
    op.drop_index(
        "uq_one_champion_status",
        table_name="model_versions",
        sqlite_where=sa.text("status = 'champion'"),
        postgresql_where=sa.text("status = 'champion'"),
    )
    op.drop_index("ix_versions_type_tenant", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("training_data_versions")
    op.drop_table("model_types")
    op.drop_table("model_locks")
    op.drop_table("failed_training_attempts")
