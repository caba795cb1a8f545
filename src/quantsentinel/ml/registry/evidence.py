"""The evidence behind registry decisions: paired evaluations, shadow predictions and failed
training attempts. Mixed into `RegistryStore`, so callers see one store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.ml.registry import schema as t


def _now() -> datetime:
    return datetime.now(UTC)


class EvidenceMixin:
    engine: Engine

    def evaluations(self, version_id: str) -> list[dict]:
        e = t.model_evaluations.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_evaluations)
                .where(e.candidate_version_id == version_id)
                .order_by(e.id)
            ).mappings()
            return [dict(r) for r in rows]

    def log_shadow_predictions(
        self,
        version_id: str,
        champion_version_id: str | None,
        rows: Iterable[tuple[str, float, float | None]],
    ) -> int:
        """(input_ref, candidate prediction, champion prediction) rows seen on live inputs."""
        values = [
            {
                "version_id": version_id,
                "champion_version_id": champion_version_id,
                "input_ref": ref,
                "candidate_prediction": float(candidate),
                "champion_prediction": None if champ is None else float(champ),
                "at": _now(),
            }
            for ref, candidate, champ in rows
        ]
        if values:
            with self.engine.begin() as conn:
                conn.execute(t.shadow_predictions.insert(), values)
        return len(values)

    def shadow_predictions(self, version_id: str) -> list[dict]:
        s = t.shadow_predictions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.shadow_predictions).where(s.version_id == version_id).order_by(s.id)
            ).mappings()
            return [dict(r) for r in rows]

    def record_failed_attempt(
        self,
        *,
        type_id: str,
        tenant_id: str | None,
        error_type: str,
        error_message: str,
        stack_trace: str | None = None,
        partial_metrics: Mapping[str, float] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        input_artifact_id: str | None = None,
        dagster_run_id: str | None = None,
        mlflow_run_id: str | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                t.failed_training_attempts.insert().values(
                    type_id=type_id,
                    tenant_id=tenant_id,
                    error_type=error_type,
                    error_message=error_message,
                    stack_trace=stack_trace,
                    partial_metrics=t.json_safe(partial_metrics) if partial_metrics else None,
                    hyperparameters=t.json_safe(hyperparameters) if hyperparameters else None,
                    input_artifact_id=input_artifact_id,
                    dagster_run_id=dagster_run_id,
                    mlflow_run_id=mlflow_run_id,
                    attempted_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])

    def failed_attempts(self, type_id: str, tenant_id: str | None) -> list[dict]:
        f = t.failed_training_attempts.c
        scope = f.tenant_id.is_(None) if tenant_id is None else f.tenant_id == tenant_id
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.failed_training_attempts)
                .where(f.type_id == type_id, scope)
                .order_by(f.id.desc())
            ).mappings()
            return [dict(r) for r in rows]

    def failed_attempt_for_run(self, dagster_run_id: str) -> dict | None:
        """The failure recorded for a Dagster run, whichever tenant it trained."""
        f = t.failed_training_attempts.c
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(t.failed_training_attempts).where(f.dagster_run_id == dagster_run_id)
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None
