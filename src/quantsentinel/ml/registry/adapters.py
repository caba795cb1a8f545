"""Framework adapters: trained model <-> verified bytes on disk (pure; no dagster).

Each adapter serializes, deserializes and fingerprints one framework. Two checks guard a load:

- sha256 of the file bytes, verified *before* deserializing. Several formats here are pickles
  (joblib), and unpickling runs code, so bytes that are not the bytes we wrote are never parsed.
- the fingerprint: a hash of a canonical form of the model (structure + parameters), not of its
  bytes. Serialized bytes are not stable across a save/load round trip (joblib's are not; pickle
  memoises by object identity), so hashing them would make every reload "mismatch". The canonical
  form is stable, and a mismatch after a clean sha256 means the loader's framework version reads
  the same bytes into a different model.

Heavy frameworks are imported inside the adapter methods: this module sits on hot import paths.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from quantsentinel.ml.registry.canonical import canonical_fingerprint, qualified_name

if TYPE_CHECKING:
    import torch


class ArtifactIntegrityError(ValueError):
    """The artifact on disk is not the one registered (its bytes, or what they load into)."""

    def __init__(self, path: Path, check: str, expected: str, actual: str, why: str = "") -> None:
        self.path, self.check, self.expected, self.actual = Path(path), check, expected, actual
        message = f"artifact {path}: {check} check failed: expected {expected}, actual {actual}"
        super().__init__(f"{message}; {why}" if why else message)


class UnknownFramework(ValueError):
    """No adapter is registered under the requested framework name."""

    def __init__(self, framework: str, known: list[str]) -> None:
        self.framework, self.known = framework, known
        super().__init__(f"unknown framework {framework!r}; known frameworks: {', '.join(known)}")


@runtime_checkable
class ModelAdapter(Protocol):
    """Serialize, deserialize and fingerprint the models of one framework."""

    framework: str

    def serialize(self, model: Any) -> bytes: ...

    def deserialize(self, blob: bytes) -> Any: ...

    def fingerprint(self, model: Any) -> str:
        """sha256 hex of a canonical form of structure + parameters, stable across round trips."""
        ...


# ---------------------------------------------------------------- helpers shared by adapters
_MAGIC = b"QSA1"


def _frame(header: dict[str, Any], payload: bytes) -> bytes:
    # A JSON header line tells the loader how to rebuild, without parsing (or unpickling) data.
    return _MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def _unframe(blob: bytes) -> tuple[dict[str, Any], bytes]:
    if not blob.startswith(_MAGIC) or b"\n" not in blob:
        raise ValueError("not a quantsentinel framed artifact (missing header)")
    header, payload = blob[len(_MAGIC) :].split(b"\n", 1)
    return json.loads(header), payload


def _import_ref(ref: str) -> Any:
    """Resolve 'package.module:Qual.Name' to the object it names."""
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"reference {ref!r} is not of the form 'package.module:Name'")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _check_json(value: Any, where: str) -> None:
    """Reject anything canonical JSON would not round-trip exactly, naming where it sits."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not allowed in JSON; use null or a finite bound")
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is {type(key).__name__}; JSON keys are str")
            _check_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
    else:
        raise TypeError(
            f"{where}: {type(value).__qualname__} value {value!r:.80} is not JSON-serializable; "
            "use str, int, float, bool, None, list or dict (a tuple would come back as a list)"
        )


def _canonical_json(value: Any, where: str) -> bytes:
    _check_json(value, where)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _joblib_dumps(model: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    return buf.getvalue()


def _joblib_loads(blob: bytes) -> Any:
    import joblib

    return joblib.load(io.BytesIO(blob))


# ---------------------------------------------------------------- adapters
class _CanonicalFingerprint:
    def fingerprint(self, model: Any) -> str:
        return canonical_fingerprint(model)


class SklearnAdapter(_CanonicalFingerprint):
    """Any scikit-learn estimator or pipeline, through joblib (compress=3)."""

    framework, suffix = "sklearn", ".joblib"

    def serialize(self, model: Any) -> bytes:
        return _joblib_dumps(model)

    def deserialize(self, blob: bytes) -> Any:
        return _joblib_loads(blob)


class LightGBMAdapter(_CanonicalFingerprint):
    """A `lightgbm.Booster` (its model string: no pickle) or an `LGBMModel` wrapper."""

    framework, suffix = "lightgbm", ".lgbm"

    def serialize(self, model: Any) -> bytes:
        import lightgbm as lgb

        if isinstance(model, lgb.Booster):
            return _frame({"kind": "booster"}, model.model_to_string().encode())
        if isinstance(model, lgb.LGBMModel):
            # The wrapper's pickle holds its booster's model string plus the fitted wrapper state
            # (classes, label encoder, parameters) that a bare booster cannot rebuild.
            return _frame(
                {"kind": "sklearn", "class": qualified_name(type(model))}, _joblib_dumps(model)
            )
        raise TypeError(f"lightgbm adapter expects a Booster or LGBMModel, got {type(model)!r}")

    def deserialize(self, blob: bytes) -> Any:
        import lightgbm as lgb

        header, payload = _unframe(blob)
        if header.get("kind") == "booster":
            return lgb.Booster(model_str=payload.decode())
        model = _joblib_loads(payload)
        if not isinstance(model, lgb.LGBMModel):
            raise TypeError(f"lightgbm artifact holds {type(model)!r}, not an LGBMModel")
        return model


class XGBoostAdapter:
    """An `xgboost.Booster` or `XGBModel` wrapper, as UBJSON (no pickle)."""

    framework, suffix = "xgboost", ".xgb"

    def serialize(self, model: Any) -> bytes:
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return _frame({"kind": "booster"}, bytes(model.save_raw(raw_format="ubj")))
        if not isinstance(model, xgb.XGBModel):
            raise TypeError(f"xgboost adapter expects a Booster or XGBModel, got {type(model)!r}")
        # The model file restores the fitted attributes (classes, best iteration) but not the
        # constructor parameters, so those travel in the header.
        header = {
            "kind": "sklearn",
            "class": qualified_name(type(model)),
            "params": model.get_params(),
        }
        try:
            return _frame(header, bytes(model.get_booster().save_raw(raw_format="ubj")))
        except TypeError as exc:
            raise TypeError(f"xgboost wrapper parameters are not JSON-serializable: {exc}") from exc

    def deserialize(self, blob: bytes) -> Any:
        import xgboost as xgb

        header, payload = _unframe(blob)
        if header.get("kind") == "booster":
            model = xgb.Booster()
        else:
            cls = _import_ref(header["class"])
            if not (isinstance(cls, type) and issubclass(cls, xgb.XGBModel)):
                raise TypeError(f"{header['class']!r} is not an xgboost.XGBModel class")
            model = cls(**header["params"])
        model.load_model(bytearray(payload))
        return model

    def fingerprint(self, model: Any) -> str:
        import xgboost as xgb

        if isinstance(model, xgb.XGBModel):
            # Not get_params(): load_model fills unset ones (base_score, booster) from the model
            # file, so they differ after a reload. What predicts is in the booster JSON anyway.
            model = {"class": qualified_name(type(model)), "booster": model.get_booster()}
        return canonical_fingerprint(model)


@dataclass
class TorchBundle:
    """A torch module with the recipe that rebuilds it: `factory(**config)`, then its state_dict.

    `factory` is 'package.module:ClassName', importable wherever the artifact is loaded; `config`
    holds JSON values only, so it round-trips exactly and loads under `weights_only=True`.
    """

    module: torch.nn.Module
    factory: str
    config: dict[str, Any]


class PyTorchAdapter:
    """A `TorchBundle`: factory reference + JSON config + state_dict, loaded weights-only."""

    framework, suffix = "pytorch", ".pt"

    def serialize(self, model: Any) -> bytes:
        import torch

        bundle = self._bundle(model)
        buf = io.BytesIO()
        state = {k: v.detach().cpu() for k, v in bundle.module.state_dict().items()}
        config = _canonical_json(bundle.config, "config").decode()
        torch.save({"factory": bundle.factory, "config_json": config, "state_dict": state}, buf)
        return buf.getvalue()

    def deserialize(self, blob: bytes) -> Any:
        import torch

        # weights_only: tensors and plain containers are rebuilt, arbitrary objects are refused.
        payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        config = json.loads(payload["config_json"])
        module = _import_ref(payload["factory"])(**config)
        module.load_state_dict(payload["state_dict"], strict=True)
        return TorchBundle(module=module.eval(), factory=payload["factory"], config=config)

    def fingerprint(self, model: Any) -> str:
        bundle = self._bundle(model)
        config = _canonical_json(bundle.config, "config").decode()
        state = dict(bundle.module.state_dict())
        return canonical_fingerprint({"factory": bundle.factory, "config": config, "state": state})

    @staticmethod
    def _bundle(model: Any) -> TorchBundle:
        if not isinstance(model, TorchBundle):
            raise TypeError(f"pytorch adapter expects a TorchBundle, got {type(model)!r}")
        return model


class JsonAdapter:
    """Rule parameters (a baseline's thresholds): a JSON object, stored canonically."""

    framework, suffix = "json", ".json"

    def serialize(self, model: Any) -> bytes:
        if not isinstance(model, dict):
            raise TypeError(f"json adapter expects a dict of parameters, got {type(model)!r}")
        return _canonical_json(model, "$")

    def deserialize(self, blob: bytes) -> Any:
        model = json.loads(blob.decode("utf-8"))
        if not isinstance(model, dict):
            raise TypeError(f"json artifact holds {type(model).__name__}, not an object")
        return model

    def fingerprint(self, model: Any) -> str:
        return hashlib.sha256(self.serialize(model)).hexdigest()


_ALL = (SklearnAdapter(), LightGBMAdapter(), XGBoostAdapter(), PyTorchAdapter(), JsonAdapter())
ADAPTERS: Mapping[str, ModelAdapter] = MappingProxyType({a.framework: a for a in _ALL})


def get_adapter(framework: str) -> ModelAdapter:
    """The adapter for `framework`; UnknownFramework (listing the known ones) otherwise."""
    try:
        return ADAPTERS[framework]
    except KeyError:
        raise UnknownFramework(framework, sorted(ADAPTERS)) from None


# ---------------------------------------------------------------- artifacts on disk
@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact was written and what it must hash to when it is read back."""

    path: Path
    sha256: str
    size_bytes: int
    framework: str
    fingerprint: str


def save_artifact(
    model: Any, framework: str, directory: Path, name: str, *, verify_roundtrip: bool = True
) -> ArtifactRef:
    """Serialize `model` to `directory/name<suffix>` atomically and return its reference.

    `verify_roundtrip` deserializes the bytes once and compares fingerprints, so a model that
    cannot come back identically (an unimportable torch factory, say) fails at training time,
    not at promotion. An existing file is never replaced, since registered versions point at it:
    saving identical bytes again is a no-op, different bytes raise FileExistsError.
    """
    adapter = get_adapter(framework)
    if not name or Path(name).name != name or name in {".", ".."}:
        raise ValueError(f"artifact name {name!r} must be a plain file name")
    suffix = getattr(adapter, "suffix", ".bin")
    path = Path(directory) / (name if name.endswith(suffix) else name + suffix)
    blob = adapter.serialize(model)
    fingerprint = adapter.fingerprint(model)
    if (
        verify_roundtrip
        and (again := adapter.fingerprint(adapter.deserialize(blob))) != fingerprint
    ):
        raise ArtifactIntegrityError(path, "round-trip fingerprint", fingerprint, again)
    digest = hashlib.sha256(blob).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    _publish(path, blob, digest)
    return ArtifactRef(path, digest, len(blob), framework, fingerprint)


def _publish(path: Path, blob: bytes, digest: str) -> None:
    """Write a temp file in the same directory, fsync it, then link it into place (no clobber)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o644)  # mkstemp's 0600 would hide the artifact from other service users
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists: never a silent overwrite
        except FileExistsError:
            if (existing := hashlib.sha256(path.read_bytes()).hexdigest()) != digest:
                msg = f"{path} exists with sha256 {existing}, not {digest}; artifacts are immutable"
                raise FileExistsError(msg) from None
        except OSError:
            tmp.replace(path)  # a filesystem without hard links: still atomic
    finally:
        tmp.unlink(missing_ok=True)
    if hasattr(os, "O_DIRECTORY"):  # make the new directory entry durable as well
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_artifact(
    path: Path, *, framework: str, expected_sha256: str, expected_fingerprint: str | None = None
) -> Any:
    """Read, verify and deserialize an artifact; ArtifactIntegrityError on any mismatch.

    The sha256 is checked before the bytes reach a deserializer (joblib unpickles, and unpickling
    runs code). The optional fingerprint check then catches a loader whose framework version turns
    intact bytes into a different model; a deserializer error on intact bytes is reported the same
    way, since it has the same cause.
    """
    adapter, path = get_adapter(framework), Path(path)
    expected = expected_sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"expected_sha256 {expected_sha256!r} is not a sha256 hex digest")
    blob = path.read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if not hmac.compare_digest(actual, expected):
        why = "the bytes are tampered or corrupt and were not deserialized"
        raise ArtifactIntegrityError(path, "sha256", expected, actual, why)
    intact = f"sha256 {actual} matched, so the loader's {framework} reads intact bytes differently"
    try:
        model = adapter.deserialize(blob)
    except Exception as exc:
        loadable, error = f"a loadable {framework} model", f"{type(exc).__name__}: {exc}"
        raise ArtifactIntegrityError(path, "deserialize", loadable, error, intact) from exc
    if expected_fingerprint is not None:
        loaded = adapter.fingerprint(model)
        if loaded != expected_fingerprint:
            raise ArtifactIntegrityError(path, "fingerprint", expected_fingerprint, loaded, intact)
    return model
