"""The shape every layer-1 signal answers in, and the input guards they all share.

A signal is a pure function of market data strictly before the decision time `at`. It answers a
`Signal`: a score in [-1, 1] on one axis and a confidence in [0, 1]. Two rules hold everywhere:

- missing data is not an error: the signal answers neutral (score 0, confidence 0) and names why
  in `fallback`, so a decision never fails because one input is absent (DESIGN.md, "rules first");
- malformed data is an error: wrong columns, naive timestamps or a naive `at` raise
  `SignalInputError` (a ValueError) naming the field and the value, because a silently wrong
  input is worse than a loud one.

Every signal filters its own inputs with `before(...)` instead of trusting the caller: the
no-look-ahead guarantee then lives next to the code that could break it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Axis = Literal["direction", "volatility"]
AXES: tuple[str, ...] = ("direction", "volatility")


class SignalInputError(ValueError):
    """Malformed input to a signal (not missing input: that answers a neutral Signal)."""


@dataclass(frozen=True)
class Signal:
    """One signal's answer at one decision time.

    axis "direction": positive = bullish on the underlying. axis "volatility": positive = options
    cheap against the expected move (favour long premium). `numbers` holds the plain values the
    score came from (for the audit trail); `fallback` names why a baseline or neutral answer was
    given (None when the signal answered from its full inputs). `detail` carries a richer object
    (a Consensus, a NewsResponse, per-stock scores) and takes no part in equality.
    """

    name: str
    axis: Axis
    score: float
    confidence: float
    numbers: dict[str, Any] = field(default_factory=dict)
    fallback: str | None = None
    detail: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise SignalInputError(
                f"signal {self.name!r}: axis must be one of {AXES}, not {self.axis!r}"
            )
        for label, value, low in (
            ("score", self.score, -1.0),
            ("confidence", self.confidence, 0.0),
        ):
            if not (
                isinstance(value, int | float) and math.isfinite(value) and low <= value <= 1.0
            ):
                raise SignalInputError(
                    f"signal {self.name!r}: {label} must be a finite number in [{low:g}, 1], "
                    f"got {value!r}"
                )

    @property
    def is_neutral(self) -> bool:
        return self.score == 0.0 and self.confidence == 0.0


def neutral(name: str, axis: Axis, fallback: str, **numbers: Any) -> Signal:
    """The answer when an input is missing: no view, no confidence, and the reason."""
    return Signal(name, axis, 0.0, 0.0, dict(numbers), fallback)


def squash(x: float, scale: float) -> float:
    """A bounded, odd, monotone transform to (-1, 1): tanh(x / scale). `scale` is the input
    at which the score reaches tanh(1) = 0.76, so each signal states its own "large"."""
    if not math.isfinite(x):
        return 0.0
    return float(np.tanh(x / scale))


def clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def check_at(at: Any) -> pd.Timestamp:
    """`at` as a UTC Timestamp; naive or non-time values are refused by name."""
    try:
        stamp = pd.Timestamp(at)
    except (TypeError, ValueError) as exc:
        raise SignalInputError(f"at must be a tz-aware timestamp, got {at!r}") from exc
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise SignalInputError(f"at must be a tz-aware timestamp (UTC), got naive {at!r}")
    return stamp.tz_convert("UTC")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise SignalInputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SignalInputError(f"{what} is missing columns: {', '.join(missing)}")


def utc_times(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    """The tz-aware time column converted to UTC; a naive or non-time column is refused."""
    values = frame[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        if values.empty and values.dtype == object:
            return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=values.index)
        raise SignalInputError(
            f"{what}.{column} must be tz-aware timestamps (UTC), got dtype {values.dtype}"
        )
    return values.dt.tz_convert("UTC")


def before(frame: pd.DataFrame, at: pd.Timestamp, what: str, column: str = "ts") -> pd.DataFrame:
    """Rows of `frame` whose `column` is strictly before `at`, in time order: the one place a
    signal drops the future, whatever the caller passed."""
    times = utc_times(frame, column, what)
    kept = frame.loc[(times < at).to_numpy()]
    if times.is_monotonic_increasing:  # the usual case (asset frames are in time order)
        return kept
    return kept.sort_values(column, kind="stable")


def finite(value: Any) -> float:
    """A float, NaN for anything not a finite number (None, NA, strings)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out if math.isfinite(out) else float("nan")
