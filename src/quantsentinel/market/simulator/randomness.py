"""Random numbers that depend only on (seed, what they are for), never on call order.

Two tools:
- `stream(seed, *keys)`: a NumPy Generator for a named purpose, e.g. ("intraday", "NIFTY", day).
  Keys go into `SeedSequence.spawn_key`, so streams with different keys are independent, and the
  same keys always give the same stream. Strings are hashed with BLAKE2b, not Python's `hash()`,
  which is salted per process and would make runs irreproducible.
- `hash_uniform` / `hash_normal`: counter-based noise, a pure function of integer arrays (strike,
  expiry, timestamp, ...). A chain row's noise is then the same whether one snapshot or a whole
  day is generated, and generating it is one vectorized expression.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
from scipy.special import ndtri

Key = int | str | date

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def key_int(key: Key) -> int:
    """A stable non-negative integer for one key part."""
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, int):
        if key < 0:
            raise ValueError("integer keys must be non-negative")
        return key
    if isinstance(key, date):
        return key.toordinal()
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def stream(seed: int, *keys: Key) -> np.random.Generator:
    """The generator for one purpose; equal (seed, keys) give identical draws."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=tuple(key_int(k) for k in keys))
    return np.random.Generator(np.random.PCG64(sequence))


def _mix(x: np.ndarray) -> np.ndarray:
    # SplitMix64 finaliser: a bijection on 64-bit words that scrambles every input bit into
    # every output bit, so neighbouring strikes or seconds give unrelated noise.
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hash_uniform(seed: int, *parts: Key | np.ndarray) -> np.ndarray:
    """Uniform(0, 1) noise, elementwise over the broadcast of integer `parts`."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(np.uint64(key_int(seed) & 0xFFFFFFFFFFFFFFFF)))
        for part in parts:
            if isinstance(part, np.ndarray):
                word = part.astype(np.int64).view(np.uint64)
            else:
                word = np.uint64(key_int(part) & 0xFFFFFFFFFFFFFFFF)
            h = _mix(h ^ _mix(word))
    # Top 53 bits -> a double in (0, 1): never exactly 0 or 1, so ndtri stays finite.
    return (np.asarray(h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def hash_normal(seed: int, *parts: Key | np.ndarray) -> np.ndarray:
    """Standard normal noise, elementwise, by inverting the normal CDF of `hash_uniform`."""
    return ndtri(hash_uniform(seed, *parts))
