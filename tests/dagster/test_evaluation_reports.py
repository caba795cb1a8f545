"""The research reports as an operator runs them: each materializes its table and plots into the
asset metadata and logs the same figures to an MLflow run."""

from __future__ import annotations

import pytest

import dagster as dg
from quantsentinel.settings import Settings


@pytest.fixture
def defs(qs_home: Settings) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    return build_definitions()


def _run(defs: dg.Definitions, asset: str, config: dict):
    job = defs.resolve_job_def("evaluation_report_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(asset)],
            run_config={"ops": {asset: {"config": config}}},
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def _artifacts(settings: Settings, run_id: str) -> set[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    return {f.path for folder in ("plots", "tables") for f in client.list_artifacts(run_id, folder)}


def test_density_accuracy_report(defs: dg.Definitions, qs_home: Settings) -> None:
    meta = _run(defs, "density_accuracy", {"seeds": 2})
    for model in ("lognormal", "merton", "heston"):
        assert "data:image/png;base64," in meta[f"density_{model}"]
        assert f"| {model} |" in meta["accuracy"]
    assert _artifacts(qs_home, meta["mlflow_run_id"]) == {
        "plots/density_heston.png", "plots/density_lognormal.png", "plots/density_merton.png",
        "tables/density_errors.csv", "tables/summary.csv",
    }  # fmt: skip


def test_vol_evaluation_report(defs: dg.Definitions, qs_home: Settings) -> None:
    config = {"sim_days": 330, "arch_datasets": "", "har_window": 150, "garch_window": 150,
              "refit_every": 40}  # fmt: skip
    meta = _run(defs, "vol_evaluation", config)
    assert set(meta["chosen"]) == {"simulator_NIFTY"}
    for model in ("ensemble", "har", "garch", "random_walk", "rolling_mean", "har_cj"):
        assert f"| {model} |" in meta["evaluation"]
    assert "data:image/png;base64," in meta["forecast_vs_realized_simulator_NIFTY"]
    assert _artifacts(qs_home, meta["mlflow_run_id"]) == {
        "plots/forecast_vs_realized_simulator_NIFTY.png", "tables/evaluation.csv",
        "tables/treatments.csv", "tables/vix.csv",
    }  # fmt: skip


def test_vol_evaluation_refuses_an_unknown_dataset(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("evaluation_report_job")
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="ftse"):
        job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("vol_evaluation")],
            run_config={"ops": {"vol_evaluation": {"config": {"arch_datasets": "sp500,ftse"}}}},
        )  # fmt: skip
