"""The volatility forecaster from training to serving: trained through the registry (lock, MLflow
run with its plots and tables), judged by its production contract on held-out days, promoted, and
then answering in the vol_forecasts asset, while an index it was not trained on gets the baseline
with the reason."""

from __future__ import annotations

from datetime import date

import pandas as pd

import dagster as dg
from quantsentinel.assets.partitions import multi_key
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.models import vol_forecaster as vf
from quantsentinel.ml.registry.store import ModelType
from quantsentinel.settings import Settings

TRAIN = (date(2024, 1, 1), date(2025, 3, 3))
HOLDOUT_END = date(2025, 6, 30)
SERVE_DAY = date(2025, 7, 15)
PARAMS = {"universe": ["NIFTY"], "har_window": 150, "garch_window": 150, "refit_every": 40}


def _registry(settings: Settings):
    from quantsentinel.resources.registry import RegistryResource

    return RegistryResource(
        database_url=settings.database_url,
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        home=str(settings.home),
    ).registry()


def test_trained_promoted_and_served(qs_home: Settings) -> None:
    registry = _registry(qs_home)
    registry.define_type(
        ModelType(vf.TYPE_ID, "json", retrain_cadence_hours=168, contract=vf.CONTRACT,
                  shadow_window_hours=0.0)
    )  # fmt: skip
    data = vf.vol_dataset(MarketSimulator(), ["NIFTY"], TRAIN[0], HOLDOUT_END)
    train = {u: m[m.index < pd.Timestamp(TRAIN[1])] for u, m in data.items()}
    version = registry.train(
        vf.TYPE_ID, None, lambda: vf.train_vol_forecaster(train, PARAMS),
        data_version="sim-20240101-20250303-20250630", data_end=TRAIN[1],
    )  # fmt: skip
    client = registry.tracker._client
    logged = {f.path for d in ("plots", "tables") for f in client.list_artifacts(
        version.mlflow_run_id, d)}  # fmt: skip
    assert logged == {
        "plots/forecast_vs_realized_NIFTY.png", "tables/oos_NIFTY.csv",
        "tables/treatments_NIFTY.csv",
    }  # fmt: skip
    assert version.hyperparameters["treatment_NIFTY"] in ("none", "downweight", "cj")

    # The production contract: the held-out QLIKE must beat the 22-day mean at every horizon.
    shadow = registry.evaluate(
        version.version_id, lambda m: vf.evaluate_vol_forecaster(m, data, TRAIN[1]),
        slice_id="2025-03-03..2025-06-30",
    )  # fmt: skip
    (evaluation,) = registry.store.evaluations(version.version_id)
    metrics = evaluation["candidate_metrics"]
    assert shadow.status == "shadow", evaluation["verdict"]["reason"]
    assert all(metrics[f"qlike_ratio_h{h}"] < 1.0 for h in (1, 5, 22))
    assert registry.conclude_shadow(version.version_id).status == "champion"

    from quantsentinel.orchestration.definitions import build_definitions

    job = build_definitions().resolve_job_def("market_job")
    served = {}
    for underlying in ("NIFTY", "BANKNIFTY"):
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(
                instance=instance, partition_key=multi_key(SERVE_DAY, underlying),
                asset_selection=[dg.AssetKey("underlying_bars"), dg.AssetKey("vol_forecasts")],
            )  # fmt: skip
        assert result.success
        served[underlying] = pd.read_parquet(
            qs_home.data_dir / "vol_forecasts" / SERVE_DAY.isoformat() / f"{underlying}.parquet"
        )
    nifty = served["NIFTY"]
    assert set(nifty["source"]) == {"champion"}
    assert set(nifty["model_version"]) == {version.semantic_version}
    weights = nifty["weight_har"] + nifty["weight_garch"]
    assert weights.round(12).eq(1.0).all() and nifty["variance"].gt(0).all()
    banknifty = served["BANKNIFTY"]
    assert set(banknifty["source"]) == {"baseline"}
    assert set(banknifty["fallback_reason"]) == {"champion_refused:underlying_not_fitted"}
