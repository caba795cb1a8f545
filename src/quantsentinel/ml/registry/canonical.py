"""Canonical fingerprints: a stable hash of a model's structure and parameters.

A byte hash of a pickle is not stable across a save/load round trip (joblib output differs for an
equal object), so the fingerprint hashes what the model *is* - its types, parameters and arrays,
never object addresses - and a reloaded model hashes the same as the one that was saved.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

# State keys that pickling adds, so a reloaded object has them and the original does not.
_VOLATILE_STATE_KEYS = frozenset({"_sklearn_version"})


def _put(h: Any, tag: str, data: bytes = b"") -> None:
    # Length-prefixed tokens: two different token sequences never feed the hasher the same bytes.
    h.update(f"{tag}:{len(data)}:".encode() + data)


def qualified_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None)}:{getattr(obj, '__qualname__', obj.__name__)}"


def _feed_framework_leaf(h: Any, obj: Any) -> bool:
    """Feed objects whose own export is their canonical form; False if `obj` is not one.

    Looked up in sys.modules so that fingerprinting never imports a framework it does not need.
    """
    lgb, xgb, torch = (sys.modules.get(m) for m in ("lightgbm", "xgboost", "torch"))
    if lgb is not None and isinstance(obj, lgb.Booster):
        # Trees + parameters as text, without timestamps: identical after a reload.
        _put(h, "lightgbm.Booster", obj.model_to_string().encode())
    elif xgb is not None and isinstance(obj, xgb.Booster):
        model = json.loads(obj.save_raw(raw_format="json"))
        model.pop("version", None)  # the writing library's version, not part of the model
        _put(h, "xgboost.Booster", json.dumps(model, sort_keys=True).encode())
    elif torch is not None and isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        _put(h, f"torch.Tensor{t.dtype}{tuple(t.shape)}", raw)
    else:
        return False
    return True


def _feed(h: Any, obj: Any, stack: list[int]) -> None:
    """Feed a canonical, identity-free description of `obj` into the hasher `h`."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        data = obj if isinstance(obj, bytes) else obj.encode() if isinstance(obj, str) else None
        _put(h, qualified_name(type(obj)), repr(obj).encode() if data is None else data)
    elif _feed_framework_leaf(h, obj):
        pass
    elif isinstance(obj, np.dtype | np.generic):
        _put(h, f"np:{obj!r}", obj.tobytes() if isinstance(obj, np.generic) else b"")
    elif isinstance(obj, type) or inspect.isroutine(obj) or isinstance(obj, np.ufunc):
        _put(h, "ref", qualified_name(obj).encode())
    elif id(obj) in stack:  # a cycle: refer back by depth, never by address
        _put(h, "cycle", str(stack.index(id(obj))).encode())
    else:
        stack.append(id(obj))
        try:
            _feed_composite(h, obj, stack)
        finally:
            stack.pop()


def _sub_digest(obj: Any, stack: list[int]) -> bytes:
    sub = hashlib.sha256()
    _feed(sub, obj, stack)
    return sub.digest()


def _feed_composite(h: Any, obj: Any, stack: list[int]) -> None:
    if isinstance(obj, np.ndarray):
        _put(h, f"ndarray{obj.dtype!r}{obj.shape}")
        if obj.dtype.hasobject:
            for item in obj.flat:
                _feed(h, item, stack)
        elif obj.dtype.names:  # field by field: struct padding bytes may be uninitialised memory
            for name in obj.dtype.names:
                _feed(h, np.ascontiguousarray(obj[name]), stack)
        else:
            _put(h, "data", np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, list | tuple):
        _put(h, f"{type(obj).__name__}{len(obj)}")
        for item in obj:
            _feed(h, item, stack)
    elif isinstance(obj, Mapping):
        # Ordered by key digest: insertion order is not part of a model's identity.
        items = sorted(((_sub_digest(k, stack), v) for k, v in obj.items()), key=lambda i: i[0])
        _put(h, f"mapping{len(items)}")
        for key_digest, value in items:
            h.update(key_digest)
            _feed(h, value, stack)
    elif isinstance(obj, set | frozenset):
        _put(h, "set", b"".join(sorted(_sub_digest(item, stack) for item in obj)))
    else:
        # Any other object is described the way pickle rebuilds it: callable, arguments, state.
        try:
            reduced = obj.__reduce_ex__(4)
        except Exception as exc:
            raise TypeError(f"cannot fingerprint {type(obj).__qualname__}: {exc}") from exc
        if isinstance(reduced, str):  # pickled by reference to a global
            _put(h, "ref", f"{type(obj).__module__}:{reduced}".encode())
            return
        rebuild, args, state, list_items, dict_items = (*reduced, None, None, None)[:5]
        if isinstance(state, dict):
            state = {k: v for k, v in state.items() if k not in _VOLATILE_STATE_KEYS}
        _put(h, "reduce")
        for part in (rebuild, args, state, list_items and list(list_items)):
            _feed(h, part, stack)
        _feed(h, dict_items and dict(dict_items), stack)


def canonical_fingerprint(obj: Any) -> str:
    """sha256 hex of `obj`'s canonical form: types, parameters, arrays; never object addresses."""
    h = hashlib.sha256()
    _feed(h, obj, [])
    return h.hexdigest()
