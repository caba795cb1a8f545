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
