"""`qs models ...` against a registry in a private QS_HOME."""

from __future__ import annotations

import pytest

from quantsentinel.cli import main
from quantsentinel.ml.registry.registry import open_registry
from quantsentinel.ml.registry.store import ModelType
from quantsentinel.settings import Settings

TYPE = "direction_lgbm"
CONTRACT = {"primary": {"name": "auc", "higher_is_better": True}, "floors": {"auc": 0.52}}


def _stage(registry, version: str, auc: float, tenant: str | None = None):
    return registry.store.register_version(
        type_id=TYPE, tenant_id=tenant, semantic_version=version, artifact_path="/m",
        artifact_sha256="0" * 64, artifact_size_bytes=1, artifact_fingerprint="f" * 64,
        hyperparameters={}, code_git_commit="abc", code_git_branch="main",
        validation_metrics={"auc": auc},
    )  # fmt: skip


def _evaluate(registry, version, auc: float):
    verdict = registry.contract(TYPE).check_candidate({"auc": auc}, None).to_json()
    champion = registry.store.champion(TYPE, version.tenant_id, fallback_to_global=False)
    return registry.transitions.record_evaluation(
        version.version_id, champion_version_id=champion.version_id if champion else None,
        slice_id="2025Q3",
        candidate_metrics={"auc": auc}, champion_metrics=None, verdict=verdict,
    )  # fmt: skip


@pytest.fixture
def registry(qs_home: Settings):
    reg = open_registry(qs_home.database_url, qs_home.mlflow_tracking_uri, qs_home.home)
    reg.define_type(ModelType(TYPE, "lightgbm", retrain_cadence_hours=168, contract=CONTRACT))
    first = _stage(reg, "1.0.0", 0.60)
    _evaluate(reg, first, 0.60)
    reg.promote_now(first.version_id, actor="setup", reason="first model")
    second = _stage(reg, "1.1.0", 0.61)
    reg.transitions.start_shadow(_evaluate(reg, second, 0.61).version_id)
    _evaluate(reg, _stage(reg, "1.2.0", 0.49), 0.49)  # below the floor: rejected
    _stage(reg, "1.0.0", 0.70, tenant="acme")
    return reg


def test_list_show_and_history(registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "direction_lgbm  global  1.0.0     ok" in out
    assert "champion 1, rejected 1, shadow 1" in out
    assert "acme" not in out  # no tenant asked for, none shown

    assert main(["models", "list", "--tenant", "acme"]) == 0
    assert "tenant acme" in capsys.readouterr().out

    assert main(["models", "show", TYPE]) == 0
    table = capsys.readouterr().out
    assert "1.2.0" in table and "rejected" in table and "auc=0.4900" in table
    assert "tenant acme" not in table  # the global scope does not see a tenant's versions

    assert main(["models", "show", TYPE, "1.2.0"]) == 0
    detail = capsys.readouterr().out
    assert "FAILED - auc 0.49 fails floor >= 0.52" in detail

    assert main(["models", "history", TYPE]) == 0
    history = capsys.readouterr().out
    assert "staged" in history and "first model" in history


def test_promote_and_rollback_with_clear_errors(registry, capsys) -> None:
    assert main(["models", "promote", TYPE, "1.2.0", "--reason", "try"]) == 1
    out = capsys.readouterr().out
    assert "it is rejected" in out
    assert "contract failed on floor:auc: auc 0.49 fails floor >= 0.52" in out

    assert main(["models", "promote", TYPE, "9.9.9", "--reason", "x"]) == 1
    assert "direction_lgbm has no version 9.9.9 (global)" in capsys.readouterr().out

    assert main(["models", "promote", TYPE, "1.1.0", "--reason", "shadow looked fine"]) == 0
    assert "1.1.0 is now the champion (global)" in capsys.readouterr().out
    assert registry.store.champion(TYPE, None).semantic_version == "1.1.0"

    assert main(["models", "rollback", TYPE, "--reason", "fills degraded"]) == 0
    assert "rolled back 1.1.0 -> 1.0.0" in capsys.readouterr().out
    assert main(["models", "rollback", TYPE, "--reason", "again"]) == 1
    assert "first champion" in capsys.readouterr().out

    assert main(["models", "show", "nope"]) == 1
    assert "unknown model type 'nope' (known: direction_lgbm)" in capsys.readouterr().out


def test_retrain_stages_a_version_or_names_who_holds_the_lock(registry, qs_home, capsys) -> None:
    from quantsentinel.ml.registry.locks import training_lock

    with training_lock(registry.engine, TYPE, "acme", holder={"run_id": "run-7f3a"},
                       lock_dir=qs_home.home / "locks"):  # fmt: skip
        assert (
            main(["models", "retrain", TYPE, "--tenant", "acme", "--end-date", "2025-09-30"]) == 1
        )
    assert "is held by run run-7f3a" in capsys.readouterr().out

    assert main(["models", "retrain", TYPE, "--tenant", "acme", "--end-date", "2025-09-30"]) == 0
    out = capsys.readouterr().out
    assert "staged direction_lgbm 1.1.0 (tenant acme)" in out and "MLflow qs.direction_lgbm" in out
