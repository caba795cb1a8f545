"""Models group: one training asset per model type (versions live in the registry, not in the
asset), a freshness check on each type's champion, and the evaluation / shadow-conclusion ops the
registry sensors launch."""

from datetime import date, datetime, timedelta

import dagster as dg
from quantsentinel.assets.metadata import table_md
from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.ml.models.catalog import ModelSpec, TrainingWindow, model_specs
from quantsentinel.resources.registry import RegistryResource

GROUP = "models"
MODEL_TYPE_TAG = "qs/model_type"
LIVE_DAYS = 30


class RetrainConfig(dg.Config):
    """Launchpad knobs of a retrain (defaults are what the schedule uses)."""

    tenant_id: str | None = None  # None: the global model
    end_date: str | None = None  # last day of the held-out slice, YYYY-MM-DD; default yesterday
    seed: int = 7
    params_json: str = "{}"  # hyperparameter overrides, e.g. {"num_leaves": 9}
    wait_for_lock_seconds: float = 0.0  # 0: fail fast when a retrain of this scope is running


def _yesterday() -> date:
    return datetime.now(MARKET_TZ).date() - timedelta(days=1)


def build_training_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    type_id = spec.model_type.type_id

    @dg.asset(
        name=type_id,
        group_name=GROUP,
        kinds={spec.model_type.framework, "mlflow"},
        description=f"{spec.model_type.description} Each materialization trains through the "
        "(type, tenant) lock and registers a staged version; the registry sensors evaluate, "
        "shadow and promote it.",
    )
    def training_asset(
        context: dg.AssetExecutionContext, config: RetrainConfig, registry: RegistryResource
    ) -> dg.MaterializeResult:
        import json

        reg = registry.registry()
        reg.define_type(spec.model_type)
        end = date.fromisoformat(config.end_date) if config.end_date else _yesterday()
        window = spec.window_ending(end)
        reg.store.record_training_data(
            window.data_version, type_id, start_date=window.train_start,
            end_date=window.holdout_start, description="simulated features (train slice)",
        )  # fmt: skip
        params = json.loads(config.params_json)
        version = reg.train(
            type_id, config.tenant_id, lambda: spec.train(window, params, config.seed),
            data_version=window.data_version, data_end=window.holdout_start,
            wait=config.wait_for_lock_seconds, holder={"run_id": context.run.run_id},
        )  # fmt: skip
        metrics = {**(version.validation_metrics or {})}
        return dg.MaterializeResult(
            metadata={
                "version": version.semantic_version,
                "version_id": version.version_id,
                "scope": version.scope,
                "status": version.status,
                "mlflow": f"{version.mlflow_model_name} v{version.mlflow_version} "
                f"(run {version.mlflow_run_id})",
                "data_version": window.data_version,
                "code": f"{version.code_git_commit} ({version.code_git_branch})",
                "validation_metrics": dg.MetadataValue.json(metrics),
            }
        )

    return training_asset


def build_freshness_check(spec: ModelSpec) -> dg.AssetChecksDefinition:
    type_id = spec.model_type.type_id

    @dg.asset_check(
        asset=type_id,
        name="champion_fresh",
        description="The global champion exists and was trained within 2x the retrain cadence; "
        "a stale champion is not served (the rule baseline answers instead).",
    )
    def champion_fresh(registry: RegistryResource) -> dg.AssetCheckResult:
        from quantsentinel.ml.registry.store import now

        store = registry.store()
        champion = store.champion(type_id, None)
        cadence = spec.model_type.retrain_cadence_hours
        if champion is None:
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN,
                description="no champion yet: the baseline answers",
            )  # fmt: skip
        age_hours = (now() - champion.created_at).total_seconds() / 3600
        return dg.AssetCheckResult(
            passed=age_hours <= 2 * cadence,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "champion": champion.semantic_version,
                "age_hours": round(age_hours, 1),
                "limit_hours": 2 * cadence,
            },
        )

    return champion_fresh


class VersionConfig(dg.Config):
    version_id: str


def _version_context(registry: RegistryResource, version_id: str):
    """The registry, the version, its model recipe and the data window it was trained on."""
    reg = registry.registry()
    version = reg.store.get_version(version_id)
    return (
        reg,
        version,
        model_specs()[version.type_id],
        TrainingWindow.parse(version.training_data_version),
    )


@dg.op(description="Paired evaluation of a staged version against its scope's champion.")
def evaluate_staged_version(
    context: dg.OpExecutionContext, config: VersionConfig, registry: RegistryResource
) -> None:
    reg, version, spec, window = _version_context(registry, config.version_id)
    decided = reg.evaluate(
        version.version_id, lambda model: spec.evaluate(model, window),
        slice_id=f"{window.holdout_start}..{window.holdout_end}", actor=f"run:{context.run_id}",
    )  # fmt: skip
    (evaluation,) = reg.store.evaluations(version.version_id)[-1:]
    context.add_output_metadata(
        {
            "version": version.semantic_version,
            "outcome": decided.status,
            "reason": evaluation["verdict"]["reason"],
            "checks": table_md(_checks_frame(evaluation["verdict"]["checks"])),
        }
    )


@dg.op(description="Log shadow predictions on live inputs and promote or reject the version.")
def conclude_shadow_version(
    context: dg.OpExecutionContext, config: VersionConfig, registry: RegistryResource
) -> None:
    reg, version, spec, window = _version_context(registry, config.version_id)
    # The shadow's "live" inputs: the days after the held-out slice, which neither model saw.
    live_end = window.holdout_end + timedelta(days=LIVE_DAYS)
    candidate = spec.score_live(reg._load(version), window.holdout_end, live_end)
    champion = reg.store.champion(version.type_id, version.tenant_id, fallback_to_global=False)
    baseline = (
        spec.score_live(reg._load(champion), window.holdout_end, live_end) if champion else {}
    )
    reg.log_shadow(
        version.version_id, {ref: (p, baseline.get(ref)) for ref, p in candidate.items()}
    )
    decided = reg.conclude_shadow(version.version_id, actor=f"run:{context.run_id}")
    context.add_output_metadata(
        {"version": version.semantic_version, "outcome": decided.status,
         "shadow_predictions": len(candidate)}
    )  # fmt: skip


@dg.job(executor_def=dg.in_process_executor, tags={"qs/kind": "model-evaluation"})
def evaluate_model_job() -> None:
    evaluate_staged_version()


@dg.job(executor_def=dg.in_process_executor, tags={"qs/kind": "model-promotion"})
def conclude_shadow_job() -> None:
    conclude_shadow_version()


def _checks_frame(checks):
    import pandas as pd

    return (
        pd.DataFrame(list(checks))[["name", "passed", "value", "bound"]]
        if checks
        else pd.DataFrame()
    )


SPECS = model_specs()
TRAINING_ASSETS = [build_training_asset(spec) for spec in SPECS.values()]
FRESHNESS_CHECKS = [build_freshness_check(spec) for spec in SPECS.values()]
