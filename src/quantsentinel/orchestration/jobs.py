"""Jobs. Market runs use the in-process executor: their steps are small and sequential, and a
subprocess per step would cost seconds per run (STACK-NOTES: ~5-9 s vs ~0.1-0.3 s)."""

from __future__ import annotations

import dagster as dg
from quantsentinel.ml.models.catalog import model_specs

PER_UNDERLYING_MARKET = dg.AssetSelection.assets(
    "raw_chain_snapshots",
    "chain_snapshots",
    "quarantined_snapshots",
    "underlying_bars",
    "realized_vol",
    "iv_surface",
    "chain_analytics",
    "implied_distribution",
    "vol_forecasts",
)
CHAIN_PATH = dg.AssetSelection.assets(
    "raw_chain_snapshots",
    "chain_snapshots",
    "quarantined_snapshots",
    "iv_surface",
    "chain_analytics",
    "implied_distribution",
)

market_job = dg.define_asset_job(
    "market_job",
    selection=PER_UNDERLYING_MARKET,
    executor_def=dg.in_process_executor,
    description="One trading day of one underlying: chains landed, validated, quarantined, "
    "bars, realized vol and its forecasts, IV surface, chain analytics and implied densities.",
)

market_daily_job = dg.define_asset_job(
    "market_daily_job",
    selection=dg.AssetSelection.assets("india_vix", "news_events"),
    executor_def=dg.in_process_executor,
    description="Market-wide series of a trading day: the volatility index and news events.",
)

chain_ingest_job = dg.define_asset_job(
    "chain_ingest_job",
    selection=CHAIN_PATH,
    executor_def=dg.in_process_executor,
    description="Re-validate one partition after inbox files landed in it (sensor-launched).",
)

risk_sweep_job = dg.define_asset_job(
    "risk_sweep_job",
    selection=dg.AssetSelection.assets("kill_switch_state"),
    executor_def=dg.in_process_executor,
    description="Sweep the twelve kill switches (trip breaches, reset what cleared) and check "
    "that none is tripped.",
)

decide_job = dg.define_asset_job(
    "decide_job",
    selection=dg.AssetSelection.assets("decision_batches"),
    executor_def=dg.in_process_executor,
    tags={"qs/decide": "serial"},
    description="Decide one validated snapshot for every tenant (sensor-launched, run key = "
    "snapshot id): signals, combination, bandit, sizing, castle, one-transaction batch, paper "
    "fills, publication.",
)

EVALUATION_REPORTS = ["vol_evaluation", "density_accuracy"]

evaluation_report_job = dg.define_asset_job(
    "evaluation_report_job",
    selection=dg.AssetSelection.assets(*EVALUATION_REPORTS),
    executor_def=dg.in_process_executor,
    description="Research reports: volatility forecast evaluation (simulator and arch data) and "
    "implied-density accuracy on known models; tables and plots in metadata and MLflow.",
)


def retrain_job(type_id: str) -> dg.UnresolvedAssetJobDefinition:
    """One retrain job per model type; tagged so the failure sensor knows which type failed."""
    from quantsentinel.assets.models import MODEL_TYPE_TAG

    return dg.define_asset_job(
        f"retrain_{type_id}",
        selection=dg.AssetSelection.assets(type_id),
        executor_def=dg.in_process_executor,
        tags={MODEL_TYPE_TAG: type_id},
        description=f"Retrain {type_id} through the registry (launch with config for a tenant "
        "or another window).",
    )


MODEL_TYPES = list(model_specs())

model_health_job = dg.define_asset_job(
    "model_health_job",
    selection=dg.AssetSelection.checks_for_assets(*MODEL_TYPES),
    executor_def=dg.in_process_executor,
    description="Champion freshness checks of every model type.",
)
