"""The registry as model code uses it: train under the lock, stage, evaluate, shadow, promote.

    registry = ModelRegistry(engine, tracker=ModelTracker(uri), artifact_root=..., lock_dir=...)
    version = registry.train("direction_lgbm", None, train_fn, data_version="sim-2026-01")
    registry.evaluate(version.version_id, evaluate_fn, slice_id="holdout-2026-02")  # -> shadow
    registry.log_shadow(...); registry.conclude_shadow(version.version_id)          # -> champion
    loaded = registry.load_champion("direction_lgbm", tenant_id)   # verified sha256 + fingerprint

MLflow holds the runs, artifacts and aliases ("champion", "shadow"); the project's tables hold the
production state. A champion is loaded from the registry's own artifact file and served only if
its sha256 and fingerprint match what was registered.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from quantsentinel.ml.registry.adapters import load_artifact, save_artifact
from quantsentinel.ml.registry.contracts import (
    EvaluationPayload,
    ValidationContract,
    divergence,
)
from quantsentinel.ml.registry.locks import training_lock
from quantsentinel.ml.registry.store import (
    ModelType,
    RegistryError,
    RegistryStore,
    VersionRecord,
    now,
)
from quantsentinel.ml.registry.transitions import ChampionChanged, InvalidTransition, Transitions


@dataclass(frozen=True)
class TrainingOutput:
    model: Any
    hyperparameters: Mapping[str, Any]
    train_metrics: Mapping[str, float] = field(default_factory=dict)
    validation_metrics: Mapping[str, float] = field(default_factory=dict)
    feature_set: list[str] | None = None
    input_example: Any = None  # a small pandas DataFrame: MLflow's input example and signature
    # What a person opens in the MLflow run: matplotlib figures (logged as plots/<name>.png) and
    # DataFrames (tables/<name>.csv), e.g. forecast vs realized or the CV folds behind a metric.
    figures: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationOutput:
    metrics: Mapping[str, float]
    payload: EvaluationPayload | None = None


@dataclass(frozen=True)
class LoadedModel:
    version: VersionRecord
    model: Any


class ModelRegistry:
    def __init__(
        self,
        engine: Engine,
        *,
        artifact_root: Path,
        lock_dir: Path,
        tracker: Any = None,  # a tracking.ModelTracker; None runs without MLflow (tests, tools)
        repo: Path | None = None,
    ) -> None:
        self.store = RegistryStore(engine)
        self.transitions = Transitions(self.store)
        self.engine = engine
        self.artifact_root = Path(artifact_root)
        self.lock_dir = Path(lock_dir)
        self.tracker = tracker
        self.repo = repo
        self._cache: dict[tuple[str, str], Any] = {}
        self._cache_lock = threading.Lock()

    # --- types ----------------------------------------------------------------------------
    def define_type(self, model_type: ModelType) -> None:
        ValidationContract.from_json(model_type.contract)  # refuse a malformed contract early
        self.store.upsert_type(model_type)

    def contract(self, type_id: str) -> ValidationContract:
        return ValidationContract.from_json(self.store.get_type(type_id).contract)

    # --- training -------------------------------------------------------------------------
    def train(
        self,
        type_id: str,
        tenant_id: str | None,
        train_fn: Callable[[], TrainingOutput],
        *,
        data_version: str | None = None,
        data_end: date | None = None,
        parent_version_id: str | None = None,
        wait: float = 0.0,
        holder: Mapping[str, Any] | None = None,
    ) -> VersionRecord:
        """Train through the (type, tenant) lock and register a staged version. A failure is
        recorded (failed_training_attempts + a FAILED MLflow run) and re-raised."""
        from quantsentinel.ml.registry.provenance import git_revision

        model_type = self.store.get_type(type_id)
        if data_version is not None:  # lineage needs the row; recording it again is a no-op
            self.store.record_training_data(data_version, type_id, end_date=data_end)
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with training_lock(
            self.engine, type_id, tenant_id, wait=wait, holder=holder, lock_dir=self.lock_dir
        ):
            try:
                output = train_fn()
            except Exception as exc:
                self._record_failure(type_id, tenant_id, exc, data_version, holder)
                raise
            semver = self.store.next_semantic_version(type_id, tenant_id)
            scope = "global" if tenant_id is None else f"tenant-{tenant_id}"
            ref = save_artifact(
                output.model, model_type.framework, self.artifact_root / type_id / scope, semver
            )
            commit, branch = git_revision(self.repo)
            mlflow_fields = {}
            if self.tracker is not None:
                record = self._log_training(
                    output,
                    type_id=type_id, tenant_id=tenant_id, semantic_version=semver,
                    params=output.hyperparameters,
                    metrics={**_prefixed("train", output.train_metrics),
                             **_prefixed("val", output.validation_metrics)},
                    artifact_path=ref.path, framework=model_type.framework, sha256=ref.sha256,
                    code_git_commit=commit, code_git_branch=branch,
                    training_data_version=data_version,
                )  # fmt: skip
                mlflow_fields = {
                    "mlflow_model_name": record.model_name,
                    "mlflow_version": record.mlflow_version,
                    "mlflow_run_id": record.run_id,
                }
            return self.store.register_version(
                type_id=type_id, tenant_id=tenant_id, semantic_version=semver,
                artifact_path=str(ref.path), artifact_sha256=ref.sha256,
                artifact_size_bytes=ref.size_bytes, artifact_fingerprint=ref.fingerprint,
                hyperparameters=output.hyperparameters, code_git_commit=commit,
                code_git_branch=branch, training_data_version=data_version,
                training_data_end=data_end, feature_set=output.feature_set,
                train_metrics=output.train_metrics, validation_metrics=output.validation_metrics,
                parent_version_id=parent_version_id, **mlflow_fields,
            )  # fmt: skip

    def _log_training(self, output: TrainingOutput, **fields: Any) -> Any:
        """MLflow run for one training, with the output's figures and tables as run artifacts."""
        from quantsentinel.ml.registry.provenance import staged_artifacts

        with staged_artifacts(output.figures, output.tables, table_index=True) as extras:
            return self.tracker.log_training(
                **fields, input_example=output.input_example, extra_artifacts=extras
            )

    def _record_failure(self, type_id, tenant_id, exc, data_version, holder) -> None:
        partial = getattr(exc, "partial_metrics", None) or {}
        mlflow_run = None
        if self.tracker is not None:
            try:
                mlflow_run = self.tracker.log_failed_training(
                    type_id=type_id, tenant_id=tenant_id, params={},
                    partial_metrics=partial, error=f"{type(exc).__name__}: {exc}",
                )  # fmt: skip
            except Exception:  # the failure record below must land even if MLflow is down
                mlflow_run = None
        self.store.record_failed_attempt(
            type_id=type_id, tenant_id=tenant_id, error_type=type(exc).__name__,
            error_message=str(exc), stack_trace=traceback.format_exc(),
            partial_metrics=partial, input_artifact_id=data_version,
            dagster_run_id=(holder or {}).get("run_id"), mlflow_run_id=mlflow_run,
        )  # fmt: skip

    # --- evaluation and shadow ---------------------------------------------------------------
    def evaluate(
        self,
        version_id: str,
        evaluate_fn: Callable[[Any], EvaluationOutput],
        *,
        slice_id: str,
        actor: str = "evaluation",
    ) -> VersionRecord:
        """Paired evaluation: candidate and champion scored by the same function on the same
        held-out slice; the contract's gates decide; a pass starts the shadow window."""
        candidate = self.store.get_version(version_id)
        champion = self.store.champion(
            candidate.type_id, candidate.tenant_id, fallback_to_global=False
        )
        cand_out = evaluate_fn(self._load(candidate))
        champ_out = evaluate_fn(self._load(champion)) if champion else None
        verdict = self.contract(candidate.type_id).check_candidate(
            cand_out.metrics, champ_out.metrics if champ_out else None, cand_out.payload
        )
        evaluated = self.transitions.record_evaluation(
            version_id, champion_version_id=champion.version_id if champion else None,
            slice_id=slice_id, candidate_metrics=cand_out.metrics,
            champion_metrics=champ_out.metrics if champ_out else None,
            verdict=verdict.to_json(), actor=actor,
        )  # fmt: skip
        if evaluated.status != "evaluated":
            return evaluated
        shadow = self.transitions.start_shadow(version_id, actor=actor)
        self._set_alias(shadow, "shadow")
        return shadow

    def log_shadow(
        self, version_id: str, predictions: Mapping[str, tuple[float, float | None]]
    ) -> int:
        """Record what a shadow version predicted on live inputs beside the champion's answer."""
        version = self.store.get_version(version_id)
        if version.status != "shadow":
            raise InvalidTransition(f"{version.semantic_version} is {version.status}, not shadow")
        champion = self.store.champion(version.type_id, version.tenant_id, fallback_to_global=False)
        rows = [(ref, cand, champ) for ref, (cand, champ) in predictions.items()]
        return self.store.log_shadow_predictions(
            version_id, champion.version_id if champion else None, rows
        )

    def conclude_shadow(self, version_id: str, *, actor: str = "shadow-sensor") -> VersionRecord:
        """At the end of the window: promote if the shadow predictions stayed within the
        contract's divergence bound from the champion's, else reject."""
        version = self.store.get_version(version_id)
        contract = self.contract(version.type_id)
        paired = [
            (p["champion_prediction"], p["candidate_prediction"])
            for p in self.store.shadow_predictions(version_id)
            if p["champion_prediction"] is not None
        ]
        if paired:
            champ, cand = (np.asarray(x, dtype=float) for x in zip(*paired, strict=True))
            measured = divergence(champ, cand)
        else:  # no champion to diverge from (a first model), or nothing logged against one
            has_champion = self.store.champion(
                version.type_id, version.tenant_id, fallback_to_global=False
            )
            measured = float("nan") if has_champion else 0.0
        verdict = contract.check_shadow(measured).to_json()
        verdict["shadow_predictions"] = len(paired)
        if not verdict["passed"]:
            rejected = self.transitions.reject(
                version_id, actor=actor, reason=verdict["reason"], verdict=verdict
            )
            self._delete_alias(rejected, "shadow")
            return rejected
        try:
            return self.transitions.promote(
                version_id, actor=actor, reason=f"shadow window passed: {verdict['reason']}",
                verdict=verdict, alias_hook=self._champion_alias_hook,
            )  # fmt: skip
        except ChampionChanged as exc:
            # Its evidence is against a champion that is gone: a recorded "no", not a stuck
            # shadow version the sensor would retry forever.
            rejected = self.transitions.reject(version_id, actor=actor, reason=str(exc))
            self._delete_alias(rejected, "shadow")
            return rejected

    def promote_now(self, version_id: str, *, actor: str, reason: str) -> VersionRecord:
        """Operator promotion of a version that passed its evaluation, skipping the rest of the
        shadow window (audited as such)."""
        return self.transitions.promote(
            version_id, actor=actor, reason=reason, allowed_from=("shadow", "evaluated"),
            alias_hook=self._champion_alias_hook,
        )  # fmt: skip

    def rollback(
        self, type_id: str, tenant_id: str | None, *, actor: str, reason: str
    ) -> VersionRecord:
        return self.transitions.rollback(
            type_id, tenant_id, actor=actor, reason=reason, alias_hook=self._champion_alias_hook
        )

    # --- serving ----------------------------------------------------------------------------
    def load_champion(
        self, type_id: str, tenant_id: str | None, *, at: datetime | None = None
    ) -> LoadedModel | None:
        """The champion for (type, tenant) - the tenant's, else the global one - with its
        artifact verified; None when there is none or it is stale at `at` (default: now), and
        the rule baseline answers instead."""
        version = self.store.champion(type_id, tenant_id)
        if version is None or self.is_stale(version, at):
            return None
        return LoadedModel(version, self._load(version))

    def is_stale(self, version: VersionRecord, at: datetime | None = None) -> bool:
        """Past twice its type's retrain cadence since it was trained (seed 001 kill switch 8)."""
        cadence = self.store.get_type(version.type_id).retrain_cadence_hours
        return (at or now()) - version.created_at > timedelta(hours=2 * cadence)

    def _load(self, version: VersionRecord) -> Any:
        key = (version.version_id, version.artifact_sha256)
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        framework = self.store.get_type(version.type_id).framework
        model = load_artifact(
            Path(version.artifact_path),
            framework=framework,
            expected_sha256=version.artifact_sha256,
            expected_fingerprint=version.artifact_fingerprint,
        )
        with self._cache_lock:
            self._cache[key] = model
        return model

    # --- MLflow aliases follow the database -------------------------------------------------
    def _champion_alias_hook(self, new: VersionRecord, old: VersionRecord | None) -> None:
        self._set_alias(new, "champion")
        self._delete_alias(new, "shadow")

    def _set_alias(self, version: VersionRecord, alias: str) -> None:
        if self.tracker is not None and version.mlflow_model_name and version.mlflow_version:
            self.tracker.set_alias(version.mlflow_model_name, alias, version.mlflow_version)

    def _delete_alias(self, version: VersionRecord, alias: str) -> None:
        if self.tracker is None or not version.mlflow_model_name:
            return
        if self.tracker.aliases(version.mlflow_model_name).get(alias) == version.mlflow_version:
            self.tracker.delete_alias(version.mlflow_model_name, alias)

    def sync_aliases(self, type_id: str, tenant_id: str | None) -> str | None:
        """Point MLflow's "champion" alias at the database's champion (after a crash between the
        alias move and the commit, or a manual edit in the MLflow UI). Returns its version."""
        champion = self.store.champion(type_id, tenant_id, fallback_to_global=False)
        if champion is None:
            return None
        self._set_alias(champion, "champion")
        return champion.mlflow_version


def open_registry(database_url: str, tracking_uri: str, home: Path) -> ModelRegistry:
    """The registry of an installation: the project database (migrated), MLflow at
    `tracking_uri`, artifacts under <home>/models, training locks under <home>/locks."""
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.ml.registry.tracking import ModelTracker

    migrate(database_url)
    root = Path(home)
    return ModelRegistry(
        engine_for(database_url),
        tracker=ModelTracker(tracking_uri, str(root / "mlflow" / "artifacts")),
        artifact_root=root / "models",
        lock_dir=root / "locks",
    )


def _prefixed(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items()}


__all__ = [
    "EvaluationOutput",
    "LoadedModel",
    "ModelRegistry",
    "RegistryError",
    "TrainingOutput",
]
