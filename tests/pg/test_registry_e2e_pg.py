"""The registry end to end on the real Postgres server: the same cases as
tests/ml/registry/test_registry_e2e.py (real LightGBM, real MLflow), with the production layer,
the training lock and the promotion transactions on Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantsentinel.db import engine_for, migrate
from quantsentinel.ml.models import direction
from quantsentinel.ml.registry.registry import ModelRegistry
from quantsentinel.ml.registry.store import ModelType
from quantsentinel.ml.registry.tracking import ModelTracker

from ..ml.registry.test_registry_e2e import (  # noqa: F401  (collected here against Postgres)
    LENIENT,
    data,
    test_a_failed_training_is_recorded_with_its_context,
    test_a_second_retrain_of_the_same_scope_fails_fast_naming_the_holder,
    test_a_tampered_artifact_is_refused,
    test_train_evaluate_shadow_promote_and_serve,
)

pytestmark = pytest.mark.pg


@pytest.fixture
def registry(pg_url: str, tmp_path: Path) -> ModelRegistry:
    migrate(pg_url)
    tracker = ModelTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "mlartifacts"))
    reg = ModelRegistry(
        engine_for(pg_url), tracker=tracker, artifact_root=tmp_path / "models",
        lock_dir=tmp_path / "locks",
    )  # fmt: skip
    reg.define_type(
        ModelType(direction.TYPE_ID, "lightgbm", retrain_cadence_hours=168, contract=LENIENT,
                  shadow_window_hours=0.0)
    )  # fmt: skip
    return reg


def test_these_cases_really_run_on_postgres(registry: ModelRegistry) -> None:
    """Guards the fixture override: the imported cases must not silently fall back to SQLite."""
    assert registry.engine.dialect.name == "postgresql"
