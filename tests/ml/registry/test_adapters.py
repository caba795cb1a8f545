"""Framework adapters: real tiny models through save -> load, and the integrity checks around it."""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from quantsentinel.ml.registry.adapters import (
    ADAPTERS,
    ArtifactIntegrityError,
    ArtifactRef,
    ModelAdapter,
    TorchBundle,
    UnknownFramework,
    get_adapter,
    load_artifact,
    save_artifact,
)

FRAMEWORKS = ["sklearn", "lightgbm", "xgboost", "pytorch", "json"]


class TinyNet(torch.nn.Module):
    """A small MLP with a BatchNorm, so the state_dict holds buffers and an int64 counter too."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


# The loader imports the factory by name; point it at wherever pytest imported this module from.
TINY_NET_FACTORY = f"{TinyNet.__module__}:{TinyNet.__qualname__}"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return x, y


def _sklearn(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=8, random_state=0))
    return model.fit(x, y), lambda m: m.predict_proba(x)


def _lightgbm(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1, random_state=0)
    return model.fit(x, y), lambda m: m.predict_proba(x)


def _lightgbm_booster(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    import lightgbm as lgb

    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=10)
    return booster, lambda m: m.predict(x)


def _xgboost(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    import xgboost as xgb

    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, random_state=0, n_jobs=1)
    return model.fit(x, y), lambda m: m.predict_proba(x)


def _xgboost_booster(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=10)
    return booster, lambda m: m.predict(xgb.DMatrix(x))


def _pytorch(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    torch.manual_seed(0)
    net = TinyNet(n_in=x.shape[1], hidden=8)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    # Plain gradient steps: constructing a torch.optim optimizer costs seconds of imports.
    for _ in range(20):  # enough steps to move the weights and the BatchNorm running stats
        net.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(1), yt)
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= 0.1 * p.grad
    net.eval()
    bundle = TorchBundle(module=net, factory=TINY_NET_FACTORY, config={"n_in": 5, "hidden": 8})

    def predict(b: TorchBundle) -> np.ndarray:
        with torch.no_grad():
            return b.module(xt).numpy()

    return bundle, predict


def _json(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[Any], Any]]:
    rules = {"iv_rank_min": 0.3, "max_lots": 4, "sides": ["put", "call"], "skip": None}
    rules["thresholds"] = {"crash_prob": 0.05, "use_gex": True, "label": "नमस्ते"}
    return rules, lambda m: m


BUILDERS = {
    ("sklearn", "pipeline"): _sklearn,
    ("lightgbm", "LGBMClassifier"): _lightgbm,
    ("lightgbm", "Booster"): _lightgbm_booster,
    ("xgboost", "XGBClassifier"): _xgboost,
    ("xgboost", "Booster"): _xgboost_booster,
    ("pytorch", "TinyNet"): _pytorch,
    ("json", "rules"): _json,
}


@pytest.fixture(scope="module", params=list(BUILDERS), ids=lambda k: f"{k[0]}-{k[1]}")
def case(request: pytest.FixtureRequest, data: tuple[np.ndarray, np.ndarray]) -> tuple:
    framework = request.param[0]
    model, predict = BUILDERS[request.param](*data)
    return framework, model, predict


def test_round_trip_preserves_predictions_and_fingerprint(case: tuple, tmp_path: Path) -> None:
    framework, model, predict = case
    ref = save_artifact(model, framework, tmp_path, "model")

    assert isinstance(ref, ArtifactRef)
    assert ref.path.parent == tmp_path
    assert ref.size_bytes == ref.path.stat().st_size
    assert ref.framework == framework
    loaded = load_artifact(
        ref.path,
        framework=framework,
        expected_sha256=ref.sha256,
        expected_fingerprint=ref.fingerprint,
    )
    np.testing.assert_array_equal(np.asarray(predict(loaded)), np.asarray(predict(model)))
    adapter = get_adapter(framework)
    assert adapter.fingerprint(loaded) == adapter.fingerprint(model) == ref.fingerprint
    # A second round trip from the loaded model lands on the same fingerprint again.
    again = adapter.deserialize(adapter.serialize(loaded))
    assert adapter.fingerprint(again) == ref.fingerprint


def test_flipped_byte_is_refused(case: tuple, tmp_path: Path) -> None:
    framework, model, _ = case
    ref = save_artifact(model, framework, tmp_path, "model")
    blob = bytearray(ref.path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    ref.path.write_bytes(bytes(blob))

    with pytest.raises(ArtifactIntegrityError) as err:
        load_artifact(ref.path, framework=framework, expected_sha256=ref.sha256)
    message = str(err.value)
    assert str(ref.path) in message and ref.sha256 in message
    assert err.value.actual in message and err.value.actual != ref.sha256


class _CreatesFileWhenUnpickled:
    """A hostile pickle payload: unpickling it calls open(target, 'w'), creating the file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.target), "w")


def test_tampered_pickle_is_never_deserialized(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    ref = save_artifact(model, "sklearn", tmp_path / "store", "model")

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFileWhenUnpickled(marker))
    ref.path.write_bytes(payload)
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_artifact(ref.path, framework="sklearn", expected_sha256=ref.sha256)
    assert not marker.exists()

    # Control: the payload is live, so its absence above means it was never unpickled.
    ADAPTERS["sklearn"].deserialize(payload).close()  # it returns the open file
    assert marker.exists()


def test_wrong_expected_fingerprint_raises(tmp_path: Path, data: tuple) -> None:
    model, _ = _lightgbm_booster(*data)
    ref = save_artifact(model, "lightgbm", tmp_path, "model")
    wrong = "0" * 64

    with pytest.raises(ArtifactIntegrityError, match="fingerprint") as err:
        load_artifact(
            ref.path, framework="lightgbm", expected_sha256=ref.sha256, expected_fingerprint=wrong
        )
    assert wrong in str(err.value) and ref.fingerprint in str(err.value)


def test_different_models_have_different_fingerprints(data: tuple) -> None:
    import lightgbm as lgb

    x, y = data
    a = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y)
    b = lgb.LGBMClassifier(n_estimators=6, verbose=-1).fit(x, y)
    adapter = get_adapter("lightgbm")
    assert adapter.fingerprint(a) != adapter.fingerprint(b)
    # A 1e-12 nudge to one split threshold in one tree of a forest is seen too.
    forest, _ = _sklearn(x, y)
    nudged = copy.deepcopy(forest)
    tree = nudged[-1].estimators_[3].tree_
    state = tree.__getstate__()
    state["nodes"]["threshold"][0] += 1e-12
    tree.__setstate__(state)
    sk = get_adapter("sklearn")
    assert sk.fingerprint(nudged) != sk.fingerprint(forest) == sk.fingerprint(copy.deepcopy(forest))
    rules = ADAPTERS["json"]
    assert rules.fingerprint({"k": 1}) != rules.fingerprint({"k": 2})
    assert rules.fingerprint({"a": 1, "b": 2}) == rules.fingerprint({"b": 2, "a": 1})


def test_unparseable_bytes_with_matching_sha_raise_integrity_error(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "rules.json"
    path.write_bytes(b"[1, 2")
    digest = hashlib.sha256(b"[1, 2").hexdigest()
    with pytest.raises(ArtifactIntegrityError, match="deserialize"):
        load_artifact(path, framework="json", expected_sha256=digest)


def test_unknown_framework_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownFramework) as err:
        get_adapter("tensorflow")
    for name in FRAMEWORKS:
        assert name in str(err.value)
    with pytest.raises(UnknownFramework):
        save_artifact({"a": 1}, "onnx", tmp_path, "model")
    assert sorted(ADAPTERS) == sorted(FRAMEWORKS)
    assert all(isinstance(a, ModelAdapter) and a.framework == k for k, a in ADAPTERS.items())


def test_atomic_write_leaves_no_temp_file_and_never_overwrites(tmp_path: Path) -> None:
    ref = save_artifact({"floor": 0.1}, "json", tmp_path, "rules")
    assert [p.name for p in tmp_path.iterdir()] == ["rules.json"]
    assert ref.path.read_bytes() == b'{"floor":0.1}'

    # Same bytes again is idempotent; different bytes under the same name are refused.
    assert save_artifact({"floor": 0.1}, "json", tmp_path, "rules") == ref
    with pytest.raises(FileExistsError, match="immutable"):
        save_artifact({"floor": 0.2}, "json", tmp_path, "rules")
    assert [p.name for p in tmp_path.iterdir()] == ["rules.json"]
    assert ref.path.read_bytes() == b'{"floor":0.1}'


def test_failed_serialization_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_artifact({"when": object()}, "json", tmp_path, "rules")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="plain file name"):
        save_artifact({"a": 1}, "json", tmp_path, "../escape")


@pytest.mark.parametrize(
    ("rules", "where", "error"),
    [
        ({"t": {"when": object()}}, r"\$\.t\.when: object value", TypeError),
        ({"lots": np.int64(3)}, r"\$\.lots: int64", TypeError),
        ({"band": (1, 2)}, r"\$\.band: tuple .*come back as a list", TypeError),
        ({"xs": [1.0, float("nan")]}, r"\$\.xs\[1\]: nan is not allowed", ValueError),
        ({1: "a"}, r"key 1 is int", TypeError),
    ],
)
def test_json_rejects_non_serializable_values(rules: dict, where: str, error: type) -> None:
    with pytest.raises(error, match=where):
        ADAPTERS["json"].serialize(rules)


def test_torch_bundle_with_unimportable_factory_fails_at_save(tmp_path: Path) -> None:
    net = TinyNet(n_in=2, hidden=3)
    bad = TorchBundle(
        module=net, factory="no_such_pkg.models:TinyNet", config={"n_in": 2, "hidden": 3}
    )
    with pytest.raises(ModuleNotFoundError, match="no_such_pkg"):
        save_artifact(bad, "pytorch", tmp_path, "net")
    assert list(tmp_path.iterdir()) == []


def test_torch_artifact_is_loaded_weights_only(tmp_path: Path) -> None:
    # A torch file that pickles an arbitrary object is refused by the weights-only unpickler,
    # even when its sha256 is the registered one.
    import hashlib

    buf = io.BytesIO()
    torch.save(
        {"factory": TINY_NET_FACTORY, "evil": _CreatesFileWhenUnpickled(tmp_path / "x")}, buf
    )
    path = tmp_path / "net.pt"
    path.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    with pytest.raises(ArtifactIntegrityError, match="deserialize"):
        load_artifact(path, framework="pytorch", expected_sha256=digest)
    assert not (tmp_path / "x").exists()
