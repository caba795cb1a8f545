"""MLflow tracking and registration for model training runs (seed 001 §7; pure, no dagster).

`ModelTracker` wraps one `mlflow.MlflowClient` bound to an explicit URI. The fluent API
(`mlflow.start_run`, `mlflow.set_tracking_uri`) is avoided on purpose: it keeps a process-global
active run and tracking URI, so two trackers (tests, or the embedded and production stores) could
not coexist, and a Dagster step that failed mid-run would leak an active run into the next step.

mlflow is imported lazily inside methods: the import costs ~2.6 s and this module sits on import
paths (resources, sensors) that must stay fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from quantsentinel.ml.registry.provenance import git_revision, staged_artifacts

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

# git_revision and staged_artifacts live in `provenance`; re-exported for existing callers.
__all__ = ["ModelTracker", "TrainingRecord", "git_revision", "staged_artifacts"]

# Dots separate the parts of a registered name, so ids must not contain them: otherwise type
# "a.tenant.b" (global) and type "a" of tenant "b" would map to the same MLflow model.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_GLOBAL = "global"  # tenant tag value of a global model; hence not a valid tenant id
_MODEL_DIR = "model"  # run artifact folder the model version points at
_MAX_EXAMPLE_ROWS = 20  # an input example documents the schema; it is not a data snapshot
_BATCH = 100  # MLflow accepts at most 100 params or tags per log_batch call
_NO_EXTRAS: Mapping[str, Path] = MappingProxyType({})


@dataclass(frozen=True)
class TrainingRecord:
    """Where a training landed in MLflow: the run and the registered model version it created."""

    run_id: str
    experiment_id: str
    model_name: str
    mlflow_version: str  # registered model version number, as MLflow reports it ("1", "2", ...)
    artifact_uri: str  # URI of the model file itself (the bytes whose sha256 was recorded)


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValueError(
            f"invalid {kind} {value!r}: use 1-100 characters from [A-Za-z0-9_-], "
            "starting with a letter or digit (dots are reserved as name separators)"
        )


def _param_value(value: Any) -> str:
    # JSON for structured values so a nested hyperparameter dict stays parseable in the UI/API.
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _default_artifact_root(tracking_uri: str) -> str | None:
    """Artifact root to use when none is given, so nothing lands in the current directory.

    MLflow's database stores default artifacts to `./mlruns` relative to the process's cwd; for
    SQLite we keep them beside the database file instead. A tracking server decides for itself.
    """
    scheme = tracking_uri.split(":", 1)[0].lower() if "://" in tracking_uri else ""
    if scheme == "sqlite":
        db_path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
        if not db_path or db_path == ":memory:":
            raise ValueError("an in-memory SQLite tracking store needs an explicit artifact_root")
        return (Path(db_path).resolve().parent / "mlartifacts").as_uri()
    if scheme.split("+", 1)[0] in {"postgresql", "mysql", "mssql"}:
        raise ValueError(
            f"artifact_root is required with a database tracking URI ({scheme}://...): "
            "MLflow would otherwise write artifacts under ./mlruns of whatever directory runs"
        )
    return None


def _as_uri(location: str) -> str:
    if "://" in location or location.startswith("file:"):
        return location
    return Path(location).expanduser().resolve().as_uri()


class ModelTracker:
    """Training runs, registered versions, aliases and tags in one MLflow store.

    The registry URI equals the tracking URI: versions point at run artifacts, so the two must
    be the same store. Experiments are named `qs/<type_id>`; registered models follow
    `registered_name`.
    """

    def __init__(self, tracking_uri: str, artifact_root: str | None = None) -> None:
        if not tracking_uri:
            # An empty URI would make MLflow fall back to ./mlflow.db in the current directory.
            raise ValueError("tracking_uri is required")
        self.tracking_uri = tracking_uri
        self.artifact_root = (
            _as_uri(artifact_root) if artifact_root else _default_artifact_root(tracking_uri)
        )

    @cached_property
    def _client(self) -> MlflowClient:
        # Built on first use so constructing a tracker (e.g. in a resource) does not import mlflow.
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def registered_name(self, type_id: str, tenant_id: str | None) -> str:
        """Registered-model name: `qs.<type>` (global) or `qs.<type>.tenant.<tenant>`."""
        _check_id("type_id", type_id)
        if tenant_id is None:
            return f"qs.{type_id}"
        _check_id("tenant_id", tenant_id)
        if tenant_id.lower() == _GLOBAL:
            # "global" is the tenant tag of global models; a tenant with that id would be ambiguous.
            raise ValueError(f"tenant_id {tenant_id!r} is reserved; pass None for a global model")
        return f"qs.{type_id}.tenant.{tenant_id}"

    def _experiment_id(self, type_id: str) -> str:
        from mlflow.exceptions import MlflowException

        name = f"qs/{type_id}"
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                # A deleted experiment still owns its name; restoring beats failing every retrain.
                self._client.restore_experiment(experiment.experiment_id)
            return experiment.experiment_id
        location = f"{self.artifact_root.rstrip('/')}/{type_id}" if self.artifact_root else None
        try:
            return self._client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # Another process created it between our lookup and create.
            experiment = self._client.get_experiment_by_name(name)
            assert experiment is not None
            return experiment.experiment_id

    def _start_run(
        self, type_id: str, tenant_id: str | None, run_name: str, tags: Mapping[str, str]
    ) -> tuple[str, str]:
        self.registered_name(type_id, tenant_id)  # validate ids before touching the store
        experiment_id = self._experiment_id(type_id)
        run = self._client.create_run(experiment_id, tags=dict(tags), run_name=run_name)
        return run.info.run_id, experiment_id

    def _log_values(
        self, run_id: str, params: Mapping[str, Any], metrics: Mapping[str, float]
    ) -> None:
        from mlflow.entities import Metric, Param
        from mlflow.utils.time import get_current_time_millis

        param_list = [Param(str(k), _param_value(v)) for k, v in params.items()]
        now = get_current_time_millis()
        metric_list = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
        for i in range(0, len(param_list), _BATCH):
            self._client.log_batch(run_id, params=param_list[i : i + _BATCH])
        for i in range(0, len(metric_list), 10 * _BATCH):
            self._client.log_batch(run_id, metrics=metric_list[i : i + 10 * _BATCH])

    def _fail_run(self, run_id: str, exc: BaseException) -> None:
        try:
            self._client.set_terminated(run_id, status="FAILED")
        except Exception as end_exc:  # the original error matters more; keep both visible
            exc.add_note(f"could not mark MLflow run {run_id} FAILED: {end_exc!r}")

    def log_training(
        self,
        *,
        type_id: str,
        tenant_id: str | None,
        semantic_version: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifact_path: Path,
        framework: str,
        sha256: str,
        code_git_commit: str,
        code_git_branch: str,
        training_data_version: str | None,
        input_example: pd.DataFrame | None = None,
        extra_artifacts: Mapping[str, Path] = _NO_EXTRAS,
        run_name: str | None = None,
    ) -> TrainingRecord:
        """Log one successful training and register it as a new, staged model version.

        The model file is stored as-is under `model/` rather than through an MLflow flavor: the
        registry verifies the sha256 of exactly the bytes it serves, and a flavor would re-serialize
        them. `model/MLmodel` (flavor-less, with signature and input example) is written beside it
        so the MLflow UI and `mlflow.models.get_model_info` still show the schema. `extra_artifacts`
        maps a destination path in the run (e.g. "plots/calibration.png") to a local file or folder.

        If any step fails the run is ended FAILED (never left RUNNING) and the error propagates.
        """
        model_name = self.registered_name(type_id, tenant_id)
        artifact_path = Path(artifact_path)
        tags = {
            "type_id": type_id,
            "tenant_id": tenant_id or _GLOBAL,
            "semantic_version": semantic_version,
            "framework": framework,
            "sha256": sha256,
            "code_git_commit": code_git_commit,
            "code_git_branch": code_git_branch,
            # MLflow tags are strings; "none" keeps the key present for consumers that index it.
            "training_data_version": training_data_version or "none",
            "production_status": "staged",
            "artifact_file": artifact_path.name,
        }
        # MLflow's own keys make the commit and branch show in the UI's run "Source" column.
        run_tags = {
            **tags,
            "mlflow.source.git.commit": code_git_commit,
            "mlflow.source.git.branch": code_git_branch,
        }
        name = run_name or f"{type_id}-{tenant_id or _GLOBAL}-v{semantic_version}"
        run_id, experiment_id = self._start_run(type_id, tenant_id, name, run_tags)
        try:
            self._log_values(run_id, params, metrics)
            actual = _sha256(artifact_path)  # raises FileNotFoundError for a missing file
            if actual != sha256.lower():
                raise ValueError(
                    f"sha256 mismatch for {artifact_path}: caller says {sha256}, file is {actual}"
                )
            size = str(artifact_path.stat().st_size)
            self._client.set_tag(run_id, "artifact_size_bytes", size)
            self._client.log_artifact(run_id, str(artifact_path), _MODEL_DIR)
            self._log_model_metadata(run_id, tags, input_example)
            for dest, local in extra_artifacts.items():
                self._log_extra(run_id, dest, Path(local))
            version = self._register(model_name, run_id, {**tags, "artifact_size_bytes": size})
            artifact_uri = self._client.get_run(run_id).info.artifact_uri
            self._client.set_terminated(run_id, status="FINISHED")
        except BaseException as exc:  # includes interrupts: a killed step must not stay RUNNING
            self._fail_run(run_id, exc)
            raise
        return TrainingRecord(
            run_id=run_id,
            experiment_id=experiment_id,
            model_name=model_name,
            mlflow_version=version,
            artifact_uri=f"{artifact_uri.rstrip('/')}/{_MODEL_DIR}/{artifact_path.name}",
        )

    def _log_model_metadata(
        self, run_id: str, tags: Mapping[str, str], input_example: pd.DataFrame | None
    ) -> None:
        from mlflow.models import Model, infer_signature

        model = Model(artifact_path=_MODEL_DIR, run_id=run_id, metadata=dict(tags))
        if input_example is not None:
            example = input_example.head(_MAX_EXAMPLE_ROWS)
            model.signature = infer_signature(input_example)
            # MLflow's own layout for a DataFrame example, so Model.load_input_example reads it.
            model.saved_input_example_info = {
                "artifact_path": "input_example.json",
                "type": "dataframe",
                "pandas_orient": "split",
            }
            self._client.log_text(
                run_id,
                example.to_json(orient="split", index=False, date_format="iso"),
                f"{_MODEL_DIR}/input_example.json",
            )
            self._client.log_dict(run_id, model.signature.to_dict(), f"{_MODEL_DIR}/signature.json")
        self._client.log_text(run_id, model.to_yaml(), f"{_MODEL_DIR}/MLmodel")

    def _log_extra(self, run_id: str, dest: str, local: Path) -> None:
        rel = PurePosixPath(dest)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] == _MODEL_DIR:
            # model/ is what a version serves; extras must not change the served folder.
            raise ValueError(f"invalid extra artifact destination {dest!r}")
        parent = str(rel.parent) if str(rel.parent) != "." else None
        if local.is_dir():
            self._client.log_artifacts(run_id, str(local), str(rel))
            return
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / rel.name  # log_artifact keeps the basename, so rename a copy
            shutil.copyfile(local, staged)
            self._client.log_artifact(run_id, str(staged), parent)

    def _register(self, model_name: str, run_id: str, tags: Mapping[str, str]) -> str:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                scope = {key: tags[key] for key in ("type_id", "tenant_id")}
                self._client.create_registered_model(model_name, tags=scope)
            except MlflowException as create_exc:  # a concurrent trainer created it first
                if create_exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        version = self._client.create_model_version(
            model_name, f"runs:/{run_id}/{_MODEL_DIR}", run_id=run_id, tags=dict(tags)
        )
        return str(version.version)

    def log_report(
        self,
        experiment: str,
        run_name: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        extra_artifacts: Mapping[str, Path] = _NO_EXTRAS,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A finished run that is not a training (an evaluation report, a backtest) in the
        experiment `qs/<experiment>`; returns its run id. Non-finite metrics are skipped (MLflow
        stores NaN, but a NaN score reads as a number in the UI's comparisons)."""
        commit, branch = git_revision()
        run_tags = {**(tags or {}), "mlflow.source.git.commit": commit,
                    "mlflow.source.git.branch": branch}  # fmt: skip
        _check_id("experiment", experiment)
        experiment_id = self._experiment_id(experiment)
        run_id = self._client.create_run(
            experiment_id, tags=run_tags, run_name=run_name
        ).info.run_id
        try:
            finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
            self._log_values(run_id, params, finite)
            for dest, local in extra_artifacts.items():
                self._log_extra(run_id, dest, Path(local))
            self._client.set_terminated(run_id, status="FINISHED")
        except BaseException as exc:
            self._fail_run(run_id, exc)
            raise
        return run_id

    def log_failed_training(
        self,
        *,
        type_id: str,
        tenant_id: str | None,
        params: Mapping[str, Any],
        partial_metrics: Mapping[str, float],
        error: str,
    ) -> str | None:
        """Record a failed training as a FAILED run with `error.txt`; returns its run id.

        Best effort: this runs while handling another failure, so an MLflow error here is not
        raised (it would mask the training error). None means the run could not be created.
        """
        self.registered_name(type_id, tenant_id)  # bad ids are a caller bug: raise those
        # A traceback ends with "ExcType: message", the line worth seeing in the runs table.
        summary = error.strip().splitlines()[-1] if error.strip() else ""
        tags = {
            "type_id": type_id,
            "tenant_id": tenant_id or _GLOBAL,
            "production_status": "failed",
            "error_summary": summary[:500],
        }
        try:
            run_id, _ = self._start_run(type_id, tenant_id, f"{type_id}-failed", tags)
        except Exception:
            return None
        # Keep whatever could be logged; the run still ends FAILED.
        with contextlib.suppress(Exception):
            self._client.log_text(run_id, error, "error.txt")
            self._log_values(run_id, params, partial_metrics)
        with contextlib.suppress(Exception):
            self._client.set_terminated(run_id, status="FAILED")
        return run_id

    def set_alias(self, model_name: str, alias: str, mlflow_version: str) -> None:
        """Point `alias` at a version; MLflow moves it if another version held it."""
        self._client.set_registered_model_alias(model_name, alias, str(mlflow_version))

    def delete_alias(self, model_name: str, alias: str) -> None:
        """Remove `alias`; a no-op when no version holds it (rollbacks may repeat)."""
        if alias in self.aliases(model_name):
            self._client.delete_registered_model_alias(model_name, alias)

    def aliases(self, model_name: str) -> dict[str, str]:
        """alias -> version number (as str; MLflow 3.17 returns ints here)."""
        registered = self._client.get_registered_model(model_name)
        return {alias: str(version) for alias, version in registered.aliases.items()}

    def set_version_tag(self, model_name: str, mlflow_version: str, key: str, value: str) -> None:
        """Set one tag on a registered model version (e.g. production_status)."""
        self._client.set_model_version_tag(model_name, str(mlflow_version), key, value)

    def download_model_file(self, model_name: str, mlflow_version: str, dest: Path) -> Path:
        """Fetch a version's model file; `dest` is a file path, or an existing folder to put it in.

        Only the model file is fetched (not MLmodel/examples), so the caller can verify the sha256
        recorded on the version against exactly these bytes.
        """
        version = self._client.get_model_version(model_name, str(mlflow_version))
        file_name = version.tags.get("artifact_file")
        if not version.run_id or not file_name:
            raise ValueError(
                f"{model_name} v{mlflow_version} was not registered by ModelTracker "
                "(no run or artifact_file tag)"
            )
        dest = Path(dest)
        target = dest / file_name if dest.is_dir() else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            fetched = self._client.download_artifacts(
                version.run_id, f"{_MODEL_DIR}/{file_name}", tmp
            )
            shutil.move(fetched, target)
        return target
