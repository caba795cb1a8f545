"""The shapes layer 2 speaks in, and the input guards every combiner shares.

A layer-1 signal answers a score in [-1, 1] and a confidence in [0, 1]; a combiner reads those
(`SignalReading`), answers one `Combination` per decision, and learns from the realised move
once it is known (`record_outcome`). Every combiner is axis-agnostic: the caller keeps one
combiner per axis (direction, volatility) and supplies the matching outcome.

Times are tz-aware instants (naive ones are refused, as in layer 1): forgetting runs on elapsed
calendar time, so a combiner fed at irregular instants (a snapshot every 5 minutes, a gap over a
holiday) forgets by how long it has been, not by how many updates it has seen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400.0


class CombinationError(ValueError):
    """Bad input to a combiner: the message names the field and the value."""


@dataclass(frozen=True)
class SignalReading:
    """One signal's answer at one decision: `score` in [-1, 1], `confidence` in [0, 1]."""

    name: str
    score: float
    confidence: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise CombinationError(
                f"SignalReading.name must be a non-empty string, got {self.name!r}"
            )
        for label, value, low in (
            ("score", self.score, -1.0),
            ("confidence", self.confidence, 0.0),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float | np.floating | np.integer)
                or not math.isfinite(value)
                or not low <= value <= 1.0
            ):
                raise CombinationError(
                    f"SignalReading {self.name!r}: {label} must be a finite number in "
                    f"[{low:g}, 1], got {value!r}"
                )

    @property
    def view(self) -> float:
        """score x confidence: the signed strength the combiners weigh (0 = no view)."""
        return float(self.score) * float(self.confidence)

    @classmethod
    def from_signal(cls, signal: Any) -> SignalReading:
        """From a layer-1 `Signal` (anything with name, score and confidence)."""
        return cls(signal.name, float(signal.score), float(signal.confidence))


@dataclass(frozen=True)
class Combination:
    """A combiner's answer for one decision.

    score: the combined view in [-1, 1] (its sign is the direction traded).
    probability: the implied probability that the next move is up (for Brier / log-loss).
    weights: what each signal's view (score x confidence) was multiplied by; absent signals 0.
    contributions: each signal's share of the score before clipping (BMA: w_i x view_i, summing
        to the score; stacking: logit units, summing to the logit whose tanh(./2) is the score).
    disagreement: weighted dispersion of the views around the combined view, in [0, 1]; high
        when the weighted signals pull apart (seed §10: disagreement is information, keep it).
    excluded: signal -> why it got zero weight (floor, breaker open, no reading).
    """

    score: float
    probability: float
    weights: dict[str, float]
    contributions: dict[str, float]
    disagreement: float
    excluded: dict[str, str] = field(default_factory=dict)


class Combiner(Protocol):
    """What `evaluate_combiners` and a decide run need from a combiner."""

    def combine(self, readings: Sequence[SignalReading], at: Any) -> Combination: ...

    def record_outcome(
        self, readings: Sequence[SignalReading], realised_return: float, at: Any
    ) -> None: ...


def as_utc(at: Any, what: str = "at") -> pd.Timestamp:
    """`at` as a UTC Timestamp; naive or non-time values are refused by name."""
    if not isinstance(at, datetime | str | np.datetime64):
        raise CombinationError(f"{what} must be a tz-aware timestamp, got {at!r}")
    try:
        stamp = pd.Timestamp(at)
    except (TypeError, ValueError) as exc:
        raise CombinationError(f"{what} must be a tz-aware timestamp, got {at!r}") from exc
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise CombinationError(f"{what} must be a tz-aware timestamp (UTC), got naive {at!r}")
    return stamp.tz_convert("UTC")


def elapsed_days(earlier: pd.Timestamp, later: pd.Timestamp, what: str) -> float:
    """Days from `earlier` to `later`; going back in time is an error (state cannot un-learn)."""
    days = (later - earlier).total_seconds() / SECONDS_PER_DAY
    if days < 0:
        raise CombinationError(
            f"{what} {later.isoformat()} is before the last update at {earlier.isoformat()}: "
            "a combiner's state only moves forward in time"
        )
    return days


def decay_factor(days: float, half_life_days: float) -> float:
    """2^(-days / half_life): how much of an old observation's weight is left."""
    return float(0.5 ** (days / half_life_days))


def check_positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CombinationError(f"{what} must be a finite positive number, got {value!r}")
    if value <= 0:
        raise CombinationError(f"{what} must be > 0, got {value!r}")
    return float(value)


def check_unit(value: Any, what: str, *, open_low: bool = False, open_high: bool = False) -> float:
    """A number in [0, 1] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CombinationError(f"{what} must be a finite number in [0, 1], got {value!r}")
    if value < 0 or value > 1 or (open_low and value == 0) or (open_high and value == 1):
        low, high = "(" if open_low else "[", ")" if open_high else "]"
        raise CombinationError(f"{what} must be in {low}0, 1{high}, got {value!r}")
    return float(value)


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """The signal names a combiner is built for: non-empty, unique strings."""
    if isinstance(names, str):
        raise CombinationError(
            f"names must be a sequence of signal names, got the string {names!r}"
        )
    out = tuple(names)
    if not out:
        raise CombinationError("names must hold at least one signal name, got none")
    for name in out:
        if not isinstance(name, str) or not name:
            raise CombinationError(f"signal names must be non-empty strings, got {name!r}")
    duplicated = sorted({n for n in out if out.count(n) > 1})
    if duplicated:
        raise CombinationError(f"signal names must be unique, repeated: {', '.join(duplicated)}")
    return out


def readings_by_name(
    readings: Sequence[SignalReading], known: Sequence[str]
) -> dict[str, SignalReading]:
    """Readings keyed by signal; an unknown signal or one read twice is an error."""
    out: dict[str, SignalReading] = {}
    for reading in readings:
        if not isinstance(reading, SignalReading):
            raise CombinationError(
                f"readings must be SignalReading objects, got {type(reading).__name__}"
            )
        if reading.name not in known:
            raise CombinationError(
                f"reading for unknown signal {reading.name!r}; this combiner knows "
                f"{', '.join(known)}"
            )
        if reading.name in out:
            raise CombinationError(f"signal {reading.name!r} has two readings in one decision")
        out[reading.name] = reading
    return out


def check_return(value: Any, what: str = "realised_return") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise CombinationError(f"{what} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise CombinationError(f"{what} must be finite, got {value!r}")
    return float(value)


def weighted_dispersion(weights: Mapping[str, float], views: Mapping[str, float]) -> float:
    """sqrt(sum w_i (v_i - v_bar)^2) with w normalised to |w| and each view signed by its
    weight (a negative stacking weight turns the view around), so it reads the same for BMA
    weights (>= 0, sum 1) and for learned coefficients. 0 when nothing is weighted."""
    magnitudes = np.array([abs(weights[n]) for n in views])
    total = magnitudes.sum()
    if total <= 0:
        return 0.0
    omega = magnitudes / total
    signed = np.array([math.copysign(1.0, weights[n]) * views[n] for n in views])
    centre = float(omega @ signed)
    return float(math.sqrt(max(0.0, float(omega @ (signed - centre) ** 2))))


def load_state(text: str, kind: str, owner: str) -> dict[str, Any]:
    """The parsed JSON state of `owner` (a class name, for messages), refused by name when it does
    not parse or was written by another kind of object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CombinationError(f"{owner} JSON does not parse: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise CombinationError(f"JSON is not a {owner} state (kind mismatch)")
    return data
