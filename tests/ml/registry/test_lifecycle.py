"""The promotion workflow on the production layer. Runs on SQLite here; tests/pg/test_registry_pg.py
runs the same cases on Postgres (plus the concurrency and crash cases only Postgres can show)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.ml.registry.store import (
    ModelType,
    RegistryError,
    RegistryStore,
    UnknownModelType,
    UnknownVersion,
)
from quantsentinel.ml.registry.transitions import (
    InvalidTransition,
    NoChampion,
    Transitions,
    invariant_violations,
)

TYPE = "direction_lgbm"
PASSED = {"passed": True, "reason": "beats champion", "checks": []}


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrate(url)
    return engine_for(url)


@pytest.fixture
def registry(engine: sa.Engine) -> tuple[RegistryStore, Transitions]:
    store = RegistryStore(engine)
    store.upsert_type(
        ModelType(TYPE, "lightgbm", retrain_cadence_hours=168, contract={"primary": "auc"})
    )
    return store, Transitions(store)


def stage(store: RegistryStore, tenant: str | None = None, version: str | None = None, **kw):
    version = version or store.next_semantic_version(TYPE, tenant)
    return store.register_version(
        type_id=TYPE, tenant_id=tenant, semantic_version=version,
        artifact_path=f"/artifacts/{version}", artifact_sha256="0" * 64, artifact_size_bytes=1,
        artifact_fingerprint="f" * 64, hyperparameters={"num_leaves": 7},
        code_git_commit="abc", code_git_branch="main", **kw,
    )  # fmt: skip


def to_champion(store: RegistryStore, transitions: Transitions, tenant: str | None = None):
    version = stage(store, tenant)
    champion = store.champion(TYPE, tenant, fallback_to_global=False)
    transitions.record_evaluation(
        version.version_id,
        champion_version_id=champion.version_id if champion else None,
        slice_id="holdout-1", candidate_metrics={"auc": 0.6}, champion_metrics=None,
        verdict=PASSED,
    )  # fmt: skip
    transitions.start_shadow(version.version_id)
    return transitions.promote(version.version_id, actor="test", reason="shadow ok")


def test_the_full_path_from_staged_to_champion_is_audited(registry) -> None:
    store, transitions = registry
    first = to_champion(store, transitions)
    assert first.status == "champion" and first.replaced_version_id is None
    second = to_champion(store, transitions)
    assert store.champion(TYPE, None).version_id == second.version_id
    assert store.get_version(first.version_id).status == "archived"
    steps = [
        (h["semantic_version"], h["from_status"], h["to_status"]) for h in store.history(TYPE, None)
    ]
    assert steps == [
        ("1.0.0", None, "staged"), ("1.0.0", "staged", "evaluated"),
        ("1.0.0", "evaluated", "shadow"), ("1.0.0", "shadow", "champion"),
        ("1.1.0", None, "staged"), ("1.1.0", "staged", "evaluated"),
        ("1.1.0", "evaluated", "shadow"), ("1.0.0", "champion", "archived"),
        ("1.1.0", "shadow", "champion"),
    ]  # fmt: skip
    assert invariant_violations(store) == []


def test_a_failed_evaluation_rejects_and_out_of_order_transitions_name_the_status(registry) -> None:
    store, transitions = registry
    version = stage(store)
    with pytest.raises(InvalidTransition, match="it is staged, promote needs shadow"):
        transitions.promote(version.version_id, actor="op", reason="skip the gates")
    failed = {"passed": False, "reason": "auc 0.48 below floor 0.52", "checks": []}
    rejected = transitions.record_evaluation(
        version.version_id, champion_version_id=None, slice_id="h", candidate_metrics={"auc": 0.48},
        champion_metrics=None, verdict=failed,
    )  # fmt: skip
    assert rejected.status == "rejected"
    (evaluation,) = store.evaluations(version.version_id)
    assert evaluation["verdict"]["reason"] == "auc 0.48 below floor 0.52"
    with pytest.raises(InvalidTransition, match="it is rejected"):
        transitions.start_shadow(version.version_id)


def test_rollback_after_rollback_walks_down_the_champion_chain(registry) -> None:
    store, transitions = registry
    v1, v2, v3 = (to_champion(store, transitions) for _ in range(3))
    assert (
        transitions.rollback(TYPE, None, actor="op", reason="bad fills").version_id == v2.version_id
    )
    assert store.get_version(v3.version_id).status == "rolled_back"
    assert (
        transitions.rollback(TYPE, None, actor="op", reason="still bad").version_id == v1.version_id
    )
    with pytest.raises(InvalidTransition, match="first champion"):
        transitions.rollback(TYPE, None, actor="op", reason="again")
    assert store.champion(TYPE, None).version_id == v1.version_id
    assert invariant_violations(store) == []
    with pytest.raises(NoChampion):
        transitions.rollback(TYPE, "tenant-x", actor="op", reason="none here")


def test_a_failing_alias_hook_commits_nothing(registry) -> None:
    store, transitions = registry
    v1 = to_champion(store, transitions)
    v2 = stage(store)
    transitions.record_evaluation(v2.version_id, champion_version_id=v1.version_id, slice_id="h",
                                  candidate_metrics={"auc": 0.7}, champion_metrics={"auc": 0.6},
                                  verdict=PASSED)  # fmt: skip
    transitions.start_shadow(v2.version_id)

    def mlflow_down(new, old):
        raise ConnectionError("MLflow tracking server unreachable")

    with pytest.raises(ConnectionError):
        transitions.promote(v2.version_id, actor="op", reason="r", alias_hook=mlflow_down)
    assert store.champion(TYPE, None).version_id == v1.version_id
    assert store.get_version(v2.version_id).status == "shadow"
    assert invariant_violations(store) == []


def test_tenant_scoped_lookups_never_return_another_tenants_model(registry) -> None:
    store, transitions = registry
    global_champion = to_champion(store, transitions, tenant=None)
    acme = to_champion(store, transitions, tenant="acme")
    stage(store, tenant="globex")
    assert store.champion(TYPE, "acme").version_id == acme.version_id
    # globex has no champion of its own: it gets the global model, never acme's.
    assert store.champion(TYPE, "globex").version_id == global_champion.version_id
    assert store.champion(TYPE, "globex", fallback_to_global=False) is None
    seen_by_globex = {v.tenant_key for v in store.versions(TYPE, tenant_id="globex")}
    assert seen_by_globex == {"globex", "*"}
    only_acme = stage(store, tenant="acme", version="9.9.9")
    assert store.find_version(TYPE, "acme", "9.9.9").version_id == only_acme.version_id
    with pytest.raises(UnknownVersion, match=r"no version 9\.9\.9 \(tenant globex\)"):
        store.find_version(TYPE, "globex", "9.9.9")


def test_registration_errors_are_clear(registry) -> None:
    store, _ = registry
    stage(store, version="2.0.0")
    with pytest.raises(RegistryError, match=r"already has version 2\.0\.0"):
        stage(store, version="2.0.0")
    stage(store, tenant="acme", version="2.0.0")  # the same number in another scope is fine
    with pytest.raises(UnknownModelType, match=r"unknown model type 'nope'.*direction_lgbm"):
        store.get_type("nope")
    with pytest.raises(ValueError, match="invalid tenant id"):
        stage(store, tenant="*")


def test_shadow_predictions_and_the_shadow_window(registry) -> None:
    from datetime import timedelta

    store, transitions = registry
    version = stage(store)
    transitions.record_evaluation(version.version_id, champion_version_id=None, slice_id="h",
                                  candidate_metrics={"auc": 0.6}, champion_metrics=None,
                                  verdict=PASSED)  # fmt: skip
    shadow = transitions.start_shadow(version.version_id)
    store.log_shadow_predictions(
        version.version_id, None, [("snap-1", 0.7, 0.6), ("snap-2", 0.4, None)]
    )
    assert [p["input_ref"] for p in store.shadow_predictions(version.version_id)] == [
        "snap-1",
        "snap-2",
    ]
    assert transitions.shadow_due(shadow.shadow_started_at + timedelta(hours=47)) == []
    due = transitions.shadow_due(shadow.shadow_started_at + timedelta(hours=48))
    assert [v.version_id for v in due] == [version.version_id]


def test_a_candidate_cannot_replace_a_champion_it_was_never_compared_with(registry) -> None:
    from quantsentinel.ml.registry.transitions import ChampionChanged

    store, transitions = registry
    first = to_champion(store, transitions)
    shadowing = stage(store)
    transitions.record_evaluation(shadowing.version_id, champion_version_id=first.version_id,
                                  slice_id="h", candidate_metrics={"auc": 0.7},
                                  champion_metrics={"auc": 0.6}, verdict=PASSED)  # fmt: skip
    transitions.start_shadow(shadowing.version_id)
    operator_pick = to_champion(store, transitions)  # promoted while the other one shadowed
    with pytest.raises(ChampionChanged, match="re-evaluate"):
        transitions.promote(shadowing.version_id, actor="shadow-sensor", reason="window over")
    assert store.champion(TYPE, None).version_id == operator_pick.version_id
    assert store.get_version(shadowing.version_id).status == "shadow"
    assert invariant_violations(store) == []
