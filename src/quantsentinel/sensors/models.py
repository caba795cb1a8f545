"""Registry sensors: a staged version gets its paired evaluation, an elapsed shadow window gets its
verdict, a failed retrain run leaves a failed-attempt record. All read the production tables only
(no MLflow, no model libraries at tick time); they select versions by status and number their
attempts, so a failed run is retried (with backoff) and a version is never left stuck."""

import dagster as dg
from quantsentinel.assets.models import MODEL_TYPE_TAG, conclude_shadow_job, evaluate_model_job
from quantsentinel.resources.registry import RegistryResource

VERSION_TAG = "qs/version"
MAX_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = 300.0  # per failed attempt: 5, 10, 15 ... minutes
_IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
}


def _attempt_request(
    context: dg.SensorEvaluationContext, job_name: str, op_name: str, version
) -> dg.RunRequest | None:
    """The next attempt for `version`, or None while one is in flight, while backing off after
    a failure, or after MAX_ATTEMPTS (then the version waits for an operator). Selecting by
    status and numbering attempts means a failed run (MLflow down, say) is retried instead of
    leaving the version stuck behind a spent run key."""
    import time

    runs = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=job_name, tags={VERSION_TAG: version.version_id})
    )
    if any(run.status in _IN_FLIGHT for run in runs) or len(runs) >= MAX_ATTEMPTS:
        return None
    if runs:
        records = context.instance.get_run_records(filters=dg.RunsFilter(run_ids=[runs[0].run_id]))
        ended = records[0].end_time if records else None
        if ended and time.time() - ended < RETRY_BACKOFF_SECONDS * len(runs):
            return None
    return dg.RunRequest(
        run_key=f"{job_name}:{version.version_id}:{len(runs) + 1}",
        run_config={"ops": {op_name: {"config": {"version_id": version.version_id}}}},
        tags={
            MODEL_TYPE_TAG: version.type_id,
            "qs/scope": version.tenant_key,
            VERSION_TAG: version.version_id,
        },
    )


@dg.sensor(
    job=evaluate_model_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the paired evaluation of every staged model version (retrying a "
    "failed evaluation with backoff).",
)
def staged_model_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource
) -> dg.SensorResult:
    staged = registry.store().versions_in_status("staged")
    requests = [
        r
        for v in staged
        if (r := _attempt_request(context, evaluate_model_job.name, "evaluate_staged_version", v))
    ]
    if not requests:
        return dg.SensorResult(skip_reason=f"{len(staged)} staged, none needing a run now")
    return dg.SensorResult(run_requests=requests)


@dg.sensor(
    job=conclude_shadow_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Promotes or rejects each shadow version whose shadow window has elapsed "
    "(retrying a failed conclusion with backoff).",
)
def shadow_window_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource
) -> dg.SensorResult:
    from quantsentinel.ml.registry.transitions import Transitions

    due = Transitions(registry.store()).shadow_due()
    requests = [
        r
        for v in due
        if (r := _attempt_request(context, conclude_shadow_job.name, "conclude_shadow_version", v))
    ]
    if not requests:
        return dg.SensorResult(skip_reason="no shadow window has elapsed (or a run is pending)")
    return dg.SensorResult(run_requests=requests)


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
        if store.failed_attempt_for_run(run.run_id) is not None:
            return  # the training code already recorded this failure with its full context
        op_config = (run.run_config or {}).get("ops", {}).get(type_id, {}).get("config", {})
        event = context.failure_event
        store.record_failed_attempt(
            type_id=type_id, tenant_id=op_config.get("tenant_id"), error_type="RunFailure",
            error_message=event.message or "run failed", dagster_run_id=run.run_id,
            stack_trace=str(event.event_specific_data) if event.event_specific_data else None,
        )  # fmt: skip

    return training_failure_sensor
