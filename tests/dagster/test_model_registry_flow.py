"""The registry driven the way operators see it: retrain job -> staged sensor -> evaluation run ->
shadow sensor -> conclusion run -> champion, then the freshness check and the failure sensor."""

from __future__ import annotations

import pytest

import dagster as dg
from quantsentinel.settings import Settings

TYPE_ID = "direction_lgbm"
LENIENT = {
    "primary": {"name": "auc", "higher_is_better": True},
    "floors": {"auc": 0.30},
    "required_metrics": ["auc", "brier"],
    "max_shadow_divergence": 0.5,
}


@pytest.fixture
def defs(qs_home: Settings) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    return build_definitions()


def _tick(defs: dg.Definitions, instance, name: str, cursor: str | None = None):
    from quantsentinel.orchestration.definitions import build_resources

    sensor = defs.resolve_sensor_def(name)
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=build_resources(), cursor=cursor
    ) as context:
        return sensor.evaluate_tick(context)


def _registry(settings: Settings):
    from quantsentinel.resources.registry import RegistryResource

    resource = RegistryResource(
        database_url=settings.database_url,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        home=str(settings.home),
    )
    return resource.registry()


def test_retrain_to_champion_through_jobs_and_sensors(defs: dg.Definitions, qs_home) -> None:
    from quantsentinel.ml.models.catalog import model_specs
    from quantsentinel.ml.registry.store import ModelType

    retrain_config = {"ops": {TYPE_ID: {"config": {"end_date": "2025-09-30"}}}}
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        result = defs.resolve_job_def(f"retrain_{TYPE_ID}").execute_in_process(
            instance=instance, run_config=retrain_config
        )
        assert result.success
        registry = _registry(qs_home)
        # This test is about the machinery, not the (rightly strict) production contract.
        spec_type = model_specs()[TYPE_ID].model_type
        registry.define_type(ModelType(**{**spec_type.__dict__, "contract": LENIENT}))
        (staged,) = registry.store.versions(TYPE_ID, tenant_id=None)
        assert staged.status == "staged" and staged.mlflow_version == "1"

        (request,) = _tick(defs, instance, "staged_model_sensor").run_requests
        assert request.run_key == f"evaluate_model_job:{staged.version_id}:1"

        evaluation = defs.resolve_job_def("evaluate_model_job").execute_in_process(
            instance=instance, run_config=request.run_config, tags=request.tags
        )
        assert evaluation.success
        assert registry.store.get_version(staged.version_id).status == "shadow"

        assert not _tick(defs, instance, "shadow_window_sensor").run_requests  # 48 h to go
        registry.define_type(
            ModelType(**{**spec_type.__dict__, "contract": LENIENT, "shadow_window_hours": 0.0})
        )
        (conclude,) = _tick(defs, instance, "shadow_window_sensor").run_requests
        assert conclude.run_key == f"conclude_shadow_job:{staged.version_id}:1"
        concluded = defs.resolve_job_def("conclude_shadow_job").execute_in_process(
            instance=instance, run_config=conclude.run_config, tags=conclude.tags
        )
        assert concluded.success
        champion = registry.store.champion(TYPE_ID, None)
        assert champion.version_id == staged.version_id
        assert registry.tracker.aliases(champion.mlflow_model_name) == {"champion": "1"}

        health = defs.resolve_job_def("model_health_job").execute_in_process(instance=instance)
        checks = {c.asset_key.to_user_string(): c for c in health.get_asset_check_evaluations()}
        assert set(checks) == set(model_specs())  # every model type's freshness, each run
        check = checks[TYPE_ID]
        assert check.check_name == "champion_fresh" and check.passed
        # Types without a champion warn: their baseline answers.
        assert not any(c.passed for t, c in checks.items() if t != TYPE_ID)


def test_a_failed_retrain_run_is_recorded_by_the_failure_sensor(defs, qs_home) -> None:
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        bad = {"ops": {TYPE_ID: {"config": {"params_json": "{not json"}}}}
        result = defs.resolve_job_def(f"retrain_{TYPE_ID}").execute_in_process(
            instance=instance, run_config=bad, raise_on_error=False
        )
        assert not result.success
        failure_event = next(
            e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"
        )
        from quantsentinel.orchestration.definitions import build_resources

        sensor = defs.resolve_sensor_def("training_failure_sensor")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=failure_event, resources=build_resources(),
        ).for_run_failure()  # fmt: skip
        sensor(context)
        sensor(context)  # a second evaluation of the same failure records nothing more
    attempts = _registry(qs_home).store.failed_attempts(TYPE_ID, None)
    assert len(attempts) == 1
    assert attempts[0]["dagster_run_id"] == result.run_id
    assert attempts[0]["error_type"] == "RunFailure"


def test_a_failed_evaluation_is_retried_not_stuck(
    defs: dg.Definitions, qs_home, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantsentinel.sensors.models as sensors

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        retrain_config = {"ops": {TYPE_ID: {"config": {"end_date": "2025-09-30"}}}}
        assert (
            defs.resolve_job_def(f"retrain_{TYPE_ID}")
            .execute_in_process(instance=instance, run_config=retrain_config)
            .success
        )
        (first,) = _tick(defs, instance, "staged_model_sensor").run_requests
        # The evaluation run fails (here: a broken config stands in for MLflow being down).
        broken = {"ops": {"evaluate_staged_version": {"config": {"version_id": "no-such-id"}}}}
        failed = defs.resolve_job_def("evaluate_model_job").execute_in_process(
            instance=instance, run_config=broken, tags=first.tags, raise_on_error=False
        )
        assert not failed.success
        assert not _tick(defs, instance, "staged_model_sensor").run_requests  # backing off
        monkeypatch.setattr(sensors, "RETRY_BACKOFF_SECONDS", 0.0)
        (second,) = _tick(defs, instance, "staged_model_sensor").run_requests
        assert second.run_key.endswith(":2")
