"""The one place that wires assets, checks, jobs, schedules, sensors and resources together."""

from __future__ import annotations

import dagster as dg
from quantsentinel.assets import decisions, evaluation, market, risk, surface, volatility
from quantsentinel.assets.models import (
    FRESHNESS_CHECKS,
    SPECS,
    TRAINING_ASSETS,
    conclude_shadow_job,
    evaluate_model_job,
)
from quantsentinel.orchestration.jobs import (
    chain_ingest_job,
    decide_job,
    evaluation_report_job,
    market_daily_job,
    market_job,
    model_health_job,
    retrain_job,
    risk_sweep_job,
)
from quantsentinel.orchestration.schedules import SCHEDULES, retrain_schedule
from quantsentinel.resources import (
    DatabaseResource,
    DataDirResource,
    MarketFeedResource,
    ParquetIOManager,
)
from quantsentinel.resources.decide import DecideResource
from quantsentinel.resources.publish import PublisherResource
from quantsentinel.resources.registry import RegistryResource
from quantsentinel.resources.risk import RiskResource
from quantsentinel.sensors.decide import build_snapshot_sensor
from quantsentinel.sensors.inbox import REJECTED_INPUTS, InboxResource, build_inbox_sensor
from quantsentinel.sensors.models import (
    build_training_failure_sensor,
    shadow_window_sensor,
    staged_model_sensor,
)
from quantsentinel.settings import load_settings


def build_resources() -> dict[str, object]:
    """Resources read their locations from the environment (EnvVar) at run time, so the same
    definitions serve the embedded default, production and every test's private QS_HOME."""
    return {
        "database": DatabaseResource(url=dg.EnvVar("QS_DATABASE_URL")),
        "data_dir": DataDirResource(path=dg.EnvVar("QS_DATA_DIR")),
        "inbox": InboxResource(path=dg.EnvVar("QS_INBOX_DIR")),
        "feed": MarketFeedResource(source=dg.EnvVar("QS_FEED_SOURCE")),
        "parquet_io_manager": ParquetIOManager(base_dir=dg.EnvVar("QS_DATA_DIR")),
        "registry": RegistryResource(
            database_url=dg.EnvVar("QS_DATABASE_URL"),
            mlflow_tracking_uri=dg.EnvVar("QS_MLFLOW_TRACKING_URI"),
            home=dg.EnvVar("QS_HOME"),
        ),
        "risk": RiskResource(database_url=dg.EnvVar("QS_DATABASE_URL")),
        "decide": DecideResource(
            underlyings=dg.EnvVar("QS_DECIDE_UNDERLYINGS"),
            every_minutes=dg.EnvVar.int("QS_DECIDE_EVERY_MINUTES"),
            max_age_minutes=dg.EnvVar.int("QS_DECIDE_MAX_AGE_MINUTES"),
        ),
        "publisher": PublisherResource(url=dg.EnvVar("QS_PUBLISH_URL")),
    }


def build_definitions() -> dg.Definitions:
    load_settings().ensure().export_env()
    retrain_jobs = {type_id: retrain_job(type_id) for type_id in SPECS}
    return dg.Definitions(
        assets=[
            *dg.load_assets_from_modules(
                [market, volatility, surface, evaluation, risk, decisions]
            ),
            REJECTED_INPUTS,
            *TRAINING_ASSETS,
        ],
        asset_checks=FRESHNESS_CHECKS,
        jobs=[
            market_job, market_daily_job, chain_ingest_job, model_health_job, evaluation_report_job,
            evaluate_model_job, conclude_shadow_job, risk_sweep_job, decide_job,
            *retrain_jobs.values(),
        ],
        schedules=[
            *SCHEDULES,
            *(retrain_schedule(retrain_jobs[t], spec.retrain_cron) for t, spec in SPECS.items()),
        ],
        sensors=[
            build_inbox_sensor(chain_ingest_job.name),
            build_snapshot_sensor(decide_job.name),
            staged_model_sensor,
            shadow_window_sensor,
            build_training_failure_sensor(list(retrain_jobs.values())),
        ],
        resources=build_resources(),
    )  # fmt: skip


defs = build_definitions()
