"""Registry sensors: a staged version gets its paired evaluation, an elapsed shadow window gets its
verdict, a failed retrain run leaves a failed-attempt record. All read the production tables only
(no MLflow, no model libraries at tick time) and use run keys, so a version is handled once."""

import dagster as dg
from quantsentinel.assets.models import MODEL_TYPE_TAG, conclude_shadow_job, evaluate_model_job
from quantsentinel.resources.registry import RegistryResource


def _version_run(
    op_name: str, prefix: str, version_id: str, type_id: str, scope: str
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{prefix}:{version_id}",
        run_config={"ops": {op_name: {"config": {"version_id": version_id}}}},
        tags={MODEL_TYPE_TAG: type_id, "qs/scope": scope},
    )


@dg.sensor(
    job=evaluate_model_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the paired evaluation of every newly staged model version.",
)
def staged_model_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource
) -> dg.SensorResult:
    staged = registry.store().transitions_since(int(context.cursor or 0), "staged")
    requests = [
        _version_run(
            "evaluate_staged_version",
            "evaluate",
            row["version_id"],
            row["type_id"],
            row["tenant_key"],
        )
        for row in staged
    ]
    cursor = str(staged[-1]["id"]) if staged else context.cursor
    if not requests:
        return dg.SensorResult(skip_reason="no newly staged versions", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


@dg.sensor(
    job=conclude_shadow_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Promotes or rejects each shadow version whose shadow window has elapsed.",
)
def shadow_window_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource
) -> dg.SensorResult:
    from quantsentinel.ml.registry.transitions import Transitions

    due = Transitions(registry.store()).shadow_due()
    if not due:
        return dg.SensorResult(skip_reason="no shadow window has elapsed")
    return dg.SensorResult(
        run_requests=[
            _version_run(
                "conclude_shadow_version", "conclude", v.version_id, v.type_id, v.tenant_key
            )
            for v in due
        ]
    )


def build_training_failure_sensor(jobs: list) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="training_failure_sensor",
        monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records a failed retrain run (one that died before the registry could "
        "record it itself) in failed_training_attempts, with its error and run id.",
    )
    def training_failure_sensor(
        context: dg.RunFailureSensorContext, registry: RegistryResource
    ) -> None:
        run = context.dagster_run
        type_id = run.tags.get(MODEL_TYPE_TAG)
        if type_id is None:
            return
        store = registry.store()
        if any(a["dagster_run_id"] == run.run_id for a in store.failed_attempts(type_id, None)):
            return  # the training code already recorded this failure with its full context
        event = context.failure_event
        store.record_failed_attempt(
            type_id=type_id, tenant_id=None, error_type="RunFailure",
            error_message=event.message or "run failed", dagster_run_id=run.run_id,
            stack_trace=str(event.event_specific_data) if event.event_specific_data else None,
        )  # fmt: skip

    return training_failure_sensor
