"""ModelTracker against real local MLflow stores (SQLite + file artifacts under tmp; no mocks).

One store is shared by the module because MLflow's first-use schema migration costs ~3 s; each
test uses its own type_id, so tests never see each other's experiments or registered models.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from quantsentinel.ml.registry.tracking import ModelTracker, TrainingRecord, git_revision

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def sandbox_cwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run the module from an empty cwd, so any stray mlflow.db / mlruns would show up there."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        yield cwd


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    return {"uri": f"sqlite:///{root}/mlflow.db", "artifacts": str(root / "artifacts")}


@pytest.fixture(scope="module")
def tracker(store: dict[str, str]) -> ModelTracker:
    return ModelTracker(store["uri"], artifact_root=store["artifacts"])


@pytest.fixture(scope="module")
def client(store: dict[str, str]):
    """An independent client on the same store: what the tracker wrote is readable by anyone."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])


def _model_file(folder: Path, payload: bytes) -> tuple[Path, str]:
    path = folder / "model.json"
    path.write_bytes(payload)
    return path, hashlib.sha256(payload).hexdigest()


def _train(tracker: ModelTracker, folder: Path, type_id: str, **overrides) -> TrainingRecord:
    path, sha = _model_file(folder, overrides.pop("payload", b'{"threshold": 0.5}'))
    kwargs = {
        "type_id": type_id,
        "tenant_id": None,
        "semantic_version": "1.0.0",
        "params": {"lr": 0.1, "leaves": 31, "features": ["rv_1d", "rv_5d"]},
        "metrics": {"auc": 0.71, "logloss": 0.62},
        "artifact_path": path,
        "framework": "json",
        "sha256": sha,
        "code_git_commit": "a" * 40,
        "code_git_branch": "main",
        "training_data_version": "snap-2024-01-31",
    }
    kwargs.update(overrides)
    return tracker.log_training(**kwargs)


def _runs(client, type_id: str):
    experiment = client.get_experiment_by_name(f"qs/{type_id}")
    return client.search_runs([experiment.experiment_id])


def test_log_training_records_run_version_signature_and_bytes(tracker, client, store, tmp_path):
    from mlflow.models import Model

    example = pd.DataFrame({"rv_1d": [0.1, 0.2, 0.3], "dte": [3, 4, 5], "side": ["c", "p", "c"]})
    extra = tmp_path / "summary.txt"
    extra.write_text("lift over baseline: 0.04")
    payload = b'{"threshold": 0.42}'
    record = _train(
        tracker,
        tmp_path,
        "direction",
        payload=payload,
        input_example=example,
        extra_artifacts={"reports/eval.txt": extra},
    )

    assert record.model_name == "qs.direction"
    assert record.mlflow_version == "1"
    assert record.artifact_uri.endswith("/model/model.json")
    assert record.artifact_uri.startswith(Path(store["artifacts"]).as_uri())

    run = client.get_run(record.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == record.experiment_id
    assert run.data.params == {"lr": "0.1", "leaves": "31", "features": '["rv_1d", "rv_5d"]'}
    assert run.data.metrics == {"auc": 0.71, "logloss": 0.62}
    sha = hashlib.sha256(payload).hexdigest()
    expected_tags = {
        "type_id": "direction",
        "tenant_id": "global",
        "semantic_version": "1.0.0",
        "framework": "json",
        "sha256": sha,
        "code_git_commit": "a" * 40,
        "code_git_branch": "main",
        "training_data_version": "snap-2024-01-31",
        "production_status": "staged",
        "artifact_file": "model.json",
        "artifact_size_bytes": str(len(payload)),
    }
    assert expected_tags.items() <= run.data.tags.items()
    assert run.data.tags["mlflow.source.git.commit"] == "a" * 40

    version = client.get_model_version("qs.direction", "1")
    assert version.run_id == record.run_id
    assert expected_tags.items() <= version.tags.items()

    served = [a.path for a in client.list_artifacts(record.run_id, "model")]
    assert sorted(served) == [
        "model/MLmodel",
        "model/input_example.json",
        "model/model.json",
        "model/signature.json",
    ]
    assert [a.path for a in client.list_artifacts(record.run_id, "reports")] == ["reports/eval.txt"]

    # The bytes come back unchanged, through the tracker and through a plain client.
    fetched = tracker.download_model_file("qs.direction", "1", tmp_path / "back" / "m.json")
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == sha
    plain = client.download_artifacts(record.run_id, "model/model.json", str(tmp_path))
    assert Path(plain).read_bytes() == payload

    # Signature and input example are readable with MLflow's own loaders.
    model_dir = Path(client.download_artifacts(record.run_id, "model", str(tmp_path / "dl")))
    mlmodel = Model.load(str(model_dir / "MLmodel"))
    assert mlmodel.signature is not None
    assert mlmodel.signature.inputs.input_names() == ["rv_1d", "dte", "side"]
    assert mlmodel.metadata["sha256"] == sha
    pd.testing.assert_frame_equal(mlmodel.load_input_example(str(model_dir)), example)
    signature = json.loads((model_dir / "signature.json").read_text())
    assert "rv_1d" in signature["inputs"]


def test_versions_accumulate_and_tenants_get_their_own_model(tracker, client, tmp_path):
    first = _train(tracker, tmp_path, "regime")
    second = _train(tracker, tmp_path, "regime", semantic_version="1.1.0", payload=b"v2")
    tenant = _train(tracker, tmp_path, "regime", tenant_id="t-42", training_data_version=None)

    assert (first.mlflow_version, second.mlflow_version) == ("1", "2")
    assert first.experiment_id == second.experiment_id == tenant.experiment_id
    assert tenant.model_name == "qs.regime.tenant.t-42"
    assert tenant.mlflow_version == "1"
    tags = client.get_model_version(tenant.model_name, "1").tags
    assert tags["tenant_id"] == "t-42"
    assert tags["training_data_version"] == "none"
    assert client.get_registered_model(tenant.model_name).tags["tenant_id"] == "t-42"
    # A folder destination keeps the stored file name.
    fetched = tracker.download_model_file("qs.regime", "2", tmp_path)
    assert fetched == tmp_path / "model.json"
    assert fetched.read_bytes() == b"v2"


def test_aliases_move_and_delete(tracker, client, tmp_path):
    for i in range(2):
        _train(tracker, tmp_path, "pin_risk", payload=f"v{i}".encode())
    name = "qs.pin_risk"

    tracker.set_alias(name, "champion", "1")
    assert tracker.aliases(name) == {"champion": "1"}
    tracker.set_alias(name, "champion", "2")
    tracker.set_alias(name, "challenger", "1")
    assert tracker.aliases(name) == {"champion": "2", "challenger": "1"}
    holders = [v for v in ("1", "2") if "champion" in client.get_model_version(name, v).aliases]
    assert holders == ["2"]

    tracker.delete_alias(name, "champion")
    tracker.delete_alias(name, "champion")  # absent now: no error
    assert tracker.aliases(name) == {"challenger": "1"}

    tracker.set_version_tag(name, "2", "production_status", "archived")
    assert client.get_model_version(name, "2").tags["production_status"] == "archived"


def test_two_trackers_on_two_stores_stay_isolated(tracker, client, tmp_path):
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = ModelTracker(f"sqlite:///{other_root}/mlflow.db", artifact_root=str(other_root / "a"))
    mine = _train(tracker, tmp_path, "wing")
    theirs = _train(other, tmp_path, "wing", payload=b"other")

    assert mine.mlflow_version == theirs.mlflow_version == "1"
    assert mine.run_id != theirs.run_id
    assert [r.info.run_id for r in _runs(client, "wing")] == [mine.run_id]
    assert other._client.get_model_version("qs.wing", "1").run_id == theirs.run_id
    other.set_alias("qs.wing", "champion", "1")
    assert tracker.aliases("qs.wing") == {}
    assert theirs.artifact_uri.startswith((other_root / "a").as_uri())


def test_failed_logging_ends_the_run_failed(tracker, client, tmp_path):
    with pytest.raises(FileNotFoundError):
        _train(tracker, tmp_path, "entry", artifact_path=tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="sha256 mismatch"):
        _train(tracker, tmp_path, "entry", sha256="0" * 64)
    with pytest.raises(ValueError, match="extra artifact"):
        _train(tracker, tmp_path, "entry", extra_artifacts={"model/x.txt": tmp_path / "model.json"})

    runs = _runs(client, "entry")
    assert len(runs) == 3
    assert {r.info.status for r in runs} == {"FAILED"}
    assert all(r.data.params["lr"] == "0.1" for r in runs)  # what was logged before the error stays
    assert client.search_model_versions("name='qs.entry'") == []


def test_log_failed_training(tracker, client):
    error = "Traceback (most recent call last):\n  ...\nFloatingPointError: loss is NaN at epoch 3"
    run_id = tracker.log_failed_training(
        type_id="hedger",
        tenant_id="t-7",
        params={"epochs": 10},
        partial_metrics={"loss_epoch_2": 0.31},
        error=error,
    )
    assert run_id is not None
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.params == {"epochs": "10"}
    assert run.data.metrics == {"loss_epoch_2": 0.31}
    assert run.data.tags["tenant_id"] == "t-7"
    assert run.data.tags["production_status"] == "failed"
    assert run.data.tags["error_summary"] == "FloatingPointError: loss is NaN at epoch 3"
    text = client.download_artifacts(run_id, "error.txt")
    assert Path(text).read_text() == error


@pytest.mark.parametrize(
    ("type_id", "tenant_id", "expected"),
    [
        ("direction", None, "qs.direction"),
        ("wing_selector", "3f2b-9c", "qs.wing_selector.tenant.3f2b-9c"),
        ("Vol-HAR", "ACME", "qs.Vol-HAR.tenant.ACME"),
    ],
)
def test_registered_name(type_id, tenant_id, expected):
    tracker = ModelTracker("sqlite:////nonexistent/x.db")  # names need no store
    assert tracker.registered_name(type_id, tenant_id) == expected


@pytest.mark.parametrize(
    ("type_id", "tenant_id"),
    [
        ("", None),
        ("a.tenant.b", None),  # would collide with type "a" of tenant "b"
        ("a", "b.c"),
        ("a/b", None),
        ("has space", None),
        ("_leading", None),
        ("x" * 101, None),
        ("a", ""),
        ("a", "global"),  # the tag value of global models
        ("a", "GLOBAL"),
    ],
)
def test_registered_name_rejects_bad_ids(type_id, tenant_id):
    with pytest.raises(ValueError):
        ModelTracker("sqlite:////nonexistent/x.db").registered_name(type_id, tenant_id)


def test_constructor_refuses_uris_that_would_write_to_cwd():
    with pytest.raises(ValueError):
        ModelTracker("")
    with pytest.raises(ValueError, match="artifact_root is required"):
        ModelTracker("postgresql+psycopg://u@h/db")
    assert ModelTracker("http://mlflow:5000").artifact_root is None


def test_default_artifact_root_sits_beside_the_sqlite_db(store, sandbox_cwd, tmp_path):
    tracker = ModelTracker(store["uri"])  # no artifact_root
    record = _train(tracker, tmp_path, "default_root")
    db_dir = Path(store["uri"].removeprefix("sqlite:///")).parent
    assert record.artifact_uri.startswith((db_dir / "mlartifacts").as_uri())
    assert Path.cwd() == sandbox_cwd
    assert list(sandbox_cwd.iterdir()) == []  # no mlflow.db, no mlruns


def test_git_revision(tmp_path):
    commit, branch = git_revision(REPO)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    assert branch
    assert git_revision() == (commit, branch)  # defaults to the package's own checkout
    assert git_revision(tmp_path) == ("unknown", "unknown")


def test_clean_and_dirty_checkouts(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "work")
    (tmp_path / "f.txt").write_text("1")
    git("add", "f.txt")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "init")
    commit, branch = git_revision(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert branch == "work"
    (tmp_path / "untracked.txt").write_text("x")  # untracked files do not make it dirty
    assert git_revision(tmp_path)[0] == commit
    (tmp_path / "f.txt").write_text("2")
    assert git_revision(tmp_path)[0] == f"{commit}-dirty"


def test_import_is_light():
    code = (
        "import sys, quantsentinel.ml.registry.tracking; "
        "assert 'mlflow' not in sys.modules and 'dagster' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
