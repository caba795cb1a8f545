"""The registry end to end with a real LightGBM on simulated features and a real MLflow store:
train (under the lock) -> staged -> paired evaluation -> shadow -> champion -> served verified."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest

from quantsentinel.db import engine_for, migrate
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.models import direction
from quantsentinel.ml.registry.adapters import ArtifactIntegrityError
from quantsentinel.ml.registry.locks import LockHeld
from quantsentinel.ml.registry.registry import ModelRegistry
from quantsentinel.ml.registry.store import ModelType
from quantsentinel.ml.registry.tracking import ModelTracker
from quantsentinel.ml.registry.transitions import invariant_violations

# The promotion path needs a model the gates let through; next-day direction of a simulated
# random walk is (rightly) close to unpredictable, so these tests use a deliberately lenient
# contract, and test_the_production_contract_refuses_a_coin_flip shows the real one saying no.
LENIENT = {
    **direction.CONTRACT,
    "floors": {"auc": 0.30, "brier": 0.40},
    "validator_params": {"calibration": {"max_ece": 0.5}},
    "max_shadow_divergence": 0.5,
}


@pytest.fixture(scope="module")
def data():
    sim = MarketSimulator()
    train = direction.direction_dataset(sim, date(2024, 6, 1), date(2025, 7, 1))
    holdout = direction.direction_dataset(sim, date(2025, 7, 1), date(2025, 9, 15))
    return train, holdout


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    tracker = ModelTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "mlartifacts"))
    reg = ModelRegistry(
        engine_for(url), tracker=tracker, artifact_root=tmp_path / "models",
        lock_dir=tmp_path / "locks",
    )  # fmt: skip
    reg.define_type(
        ModelType(direction.TYPE_ID, "lightgbm", retrain_cadence_hours=168,
                  contract=LENIENT, shadow_window_hours=0.0)
    )  # fmt: skip
    return reg


def _to_champion(reg: ModelRegistry, train, holdout, seed: int):
    version = reg.train(
        direction.TYPE_ID, None, lambda: direction.train_direction(train, seed=seed),
        data_version=f"sim-seed7-2025H1-s{seed}", holder={"run_id": f"test-{seed}"},
    )  # fmt: skip
    assert version.status == "staged" and version.mlflow_version
    shadow = reg.evaluate(
        version.version_id, lambda m: direction.evaluate_direction(m, holdout), slice_id="2025Q3"
    )
    return version, shadow


def test_train_evaluate_shadow_promote_and_serve(registry: ModelRegistry, data) -> None:
    train, holdout = data
    first, shadow = _to_champion(registry, train, holdout, seed=1)
    assert shadow.status == "shadow"
    assert registry.tracker.aliases(first.mlflow_model_name) == {"shadow": first.mlflow_version}
    champion = registry.conclude_shadow(
        first.version_id
    )  # no champion yet: nothing to diverge from
    assert champion.status == "champion"
    assert registry.tracker.aliases(first.mlflow_model_name) == {"champion": first.mlflow_version}

    loaded = registry.load_champion(direction.TYPE_ID, "any-tenant")  # falls back to global
    assert loaded.version.version_id == first.version_id
    expected = direction.predict_up_probability(loaded.model, holdout)
    assert expected.shape == (len(holdout),)

    # A retrain is paired against the champion on the same slice, then shadows it.
    second, shadow2 = _to_champion(registry, train, holdout, seed=2)
    evaluation = registry.store.evaluations(second.version_id)[0]
    assert evaluation["champion_version_id"] == first.version_id
    assert set(evaluation["candidate_metrics"]) >= {"auc", "brier", "accuracy"}
    if shadow2.status == "shadow":
        live = holdout.tail(20)
        candidate_model = registry._load(second)
        champ = direction.predict_up_probability(loaded.model, live)
        cand = direction.predict_up_probability(candidate_model, live)
        refs = [f"NIFTY-{d}" for d in live.index]
        registry.log_shadow(
            second.version_id, dict(zip(refs, zip(cand, champ, strict=True), strict=True))
        )
        decided = registry.conclude_shadow(second.version_id)
        assert decided.status in {"champion", "rejected"}
        verdict = registry.store.history(direction.TYPE_ID, None)[-1]["verdict"]
        assert verdict["shadow_predictions"] == 20
    else:
        assert shadow2.status == "rejected"  # the contract said no, with its reason recorded
        assert evaluation["verdict"]["reason"]
    assert invariant_violations(registry.store) == []


def test_a_tampered_artifact_is_refused(registry: ModelRegistry, data) -> None:
    train, holdout = data
    first, _ = _to_champion(registry, train, holdout, seed=1)
    registry.conclude_shadow(first.version_id)
    path = Path(first.artifact_path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    fresh = ModelRegistry(
        registry.engine, artifact_root=registry.artifact_root, lock_dir=registry.lock_dir
    )  # fmt: skip  (no cached model)
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        fresh.load_champion(direction.TYPE_ID, None)


def test_a_failed_training_is_recorded_with_its_context(registry: ModelRegistry) -> None:
    class Diverged(RuntimeError):
        partial_metrics: ClassVar[dict] = {"train_logloss": float("inf")}

    def train():
        raise Diverged("loss became NaN at iteration 17")

    with pytest.raises(Diverged):
        registry.train(direction.TYPE_ID, "acme", train, data_version=None,
                       holder={"run_id": "run-42"})  # fmt: skip
    (attempt,) = registry.store.failed_attempts(direction.TYPE_ID, "acme")
    assert attempt["error_type"] == "Diverged"
    assert "iteration 17" in attempt["error_message"] and "Traceback" in attempt["stack_trace"]
    assert attempt["dagster_run_id"] == "run-42" and attempt["mlflow_run_id"]
    assert registry.store.versions(direction.TYPE_ID, tenant_id="acme", include_global=False) == []


def test_a_second_retrain_of_the_same_scope_fails_fast_naming_the_holder(
    registry: ModelRegistry, data
) -> None:
    train, _ = data

    def nested():
        # While this (type, global) training holds the lock, another one must be refused.
        with pytest.raises(LockHeld, match="run-outer"):
            registry.train(direction.TYPE_ID, None, lambda: direction.train_direction(train),
                           holder={"run_id": "run-inner"})  # fmt: skip
        return direction.train_direction(train)

    version = registry.train(direction.TYPE_ID, None, nested, holder={"run_id": "run-outer"})
    assert version.status == "staged"


def test_a_stale_champion_is_not_served(registry: ModelRegistry, data) -> None:
    from datetime import timedelta

    train, holdout = data
    first, _ = _to_champion(registry, train, holdout, seed=3)
    registry.conclude_shadow(first.version_id)
    champion = registry.store.champion(direction.TYPE_ID, None)
    assert not registry.is_stale(champion)
    fresh_until = champion.created_at + timedelta(hours=2 * 168)
    assert registry.load_champion(direction.TYPE_ID, None, at=fresh_until) is not None
    assert registry.is_stale(champion, at=fresh_until + timedelta(hours=1))
    # Past 2x the retrain cadence the champion is not served: the caller's baseline answers.
    assert (
        registry.load_champion(direction.TYPE_ID, None, at=fresh_until + timedelta(hours=1)) is None
    )


def test_the_production_contract_refuses_a_coin_flip(registry: ModelRegistry, data) -> None:
    train, holdout = data
    registry.define_type(
        ModelType("direction_strict", "lightgbm", retrain_cadence_hours=168,
                  contract=direction.CONTRACT)
    )  # fmt: skip
    version = registry.train("direction_strict", None, lambda: direction.train_direction(train))
    decided = registry.evaluate(
        version.version_id, lambda m: direction.evaluate_direction(m, holdout), slice_id="2025Q3"
    )
    (evaluation,) = registry.store.evaluations(version.version_id)
    assert decided.status == "rejected"
    assert evaluation["verdict"]["blocked_by"].startswith("floor:")
    assert "fails" in evaluation["verdict"]["reason"]


def test_figures_and_tables_of_a_training_land_in_its_mlflow_run(
    registry: ModelRegistry, data
) -> None:
    import dataclasses

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    train, _ = data
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    folds = train.head(3)[direction.FEATURES]

    def train_fn():
        output = direction.train_direction(train, seed=3)
        return dataclasses.replace(output, figures={"roc": figure}, tables={"folds": folds})

    version = registry.train(direction.TYPE_ID, None, train_fn, data_version="sim-plots")
    client = registry.tracker._client
    plots = [f.path for f in client.list_artifacts(version.mlflow_run_id, "plots")]
    tables = [f.path for f in client.list_artifacts(version.mlflow_run_id, "tables")]
    assert plots == ["plots/roc.png"] and tables == ["tables/folds.csv"]
    local = client.download_artifacts(version.mlflow_run_id, "tables/folds.csv", str(Path(
        registry.artifact_root)))  # fmt: skip
    assert Path(local).read_text().splitlines()[0].split(",")[1:] == list(folds.columns)
    png = client.download_artifacts(version.mlflow_run_id, "plots/roc.png", str(Path(
        registry.artifact_root)))  # fmt: skip
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
