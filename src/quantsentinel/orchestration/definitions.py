"""The one place that wires assets, checks, jobs, schedules, sensors and resources together."""

from __future__ import annotations

import dagster as dg
from quantsentinel.assets import market, surface, volatility
from quantsentinel.orchestration.jobs import chain_ingest_job, market_daily_job, market_job
from quantsentinel.orchestration.schedules import SCHEDULES
from quantsentinel.resources import (
    DatabaseResource,
    DataDirResource,
    MarketFeedResource,
    ParquetIOManager,
)
from quantsentinel.sensors.inbox import REJECTED_INPUTS, InboxResource, build_inbox_sensor
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
    }


def build_definitions() -> dg.Definitions:
    load_settings().ensure().export_env()
    return dg.Definitions(
        assets=[
            *dg.load_assets_from_modules([market, volatility, surface]),
            REJECTED_INPUTS,
        ],
        jobs=[market_job, market_daily_job, chain_ingest_job],
        schedules=SCHEDULES,
        sensors=[build_inbox_sensor(chain_ingest_job.name)],
        resources=build_resources(),
    )


defs = build_definitions()
