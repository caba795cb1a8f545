"""Implied-distribution signal: the density's downside asymmetry against its own history.

Axis: direction. The volatility signal already reads the level of implied vol; what only the
Breeden-Litzenberger density adds is its shape, and the shape's asymmetry is a statement about
direction: how much the market pays to insure the downside relative to the upside. Following
Xing, Zhang & Zhao (2010, "What does the individual option volatility smirk tell us about future
equity returns?"), a smirk that is steeper than usual reflects informed demand for downside
protection and precedes weaker returns, so unusual downside asymmetry scores bearish. Levels are
not comparable across underlyings and regimes, hence z-scores against the underlying's own trailing
history (the asset's rows before `at`).

Two readings per snapshot, from the `implied_distribution` asset:
- skew: the truncated density's skewness (more negative = steeper put skew);
- excess left tail: probit(crash_probability) minus what a normal density with the same expected
  absolute move would give, probit-space so a 5-day and a 15-day density are on one scale:
      sigma = implied_move * sqrt(pi/2)   (E|X| = sigma sqrt(2/pi) for a normal X)
      excess = Phi^-1(P(S_T <= (1 + crash_move) F)) - ln(1 + crash_move) / sigma.
Like is compared with like: per snapshot one published expiry, the one whose T is nearest
`target_days` among those with at least `min_days` (calendar days) left, so the history does not
jump between a 1-day and a 20-day density as weeklies roll.

    fear  = mean(-z_skew, z_excess_tail)
    score = -tanh(fear / Z_SCALE)

Confidence: history length (full at `window` rows), halved when the two readings disagree in
sign, capped at MAX_CONFIDENCE because the return predictability behind the direction reading is
modest and documented for stocks more than indices.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import ndtri

from quantsentinel.ml.signals.types import (
    Signal,
    SignalInputError,
    before,
    check_at,
    neutral,
    require_columns,
    squash,
)

NAME = "implied_distribution"
COLUMNS = (
    "snapshot_id", "ts", "underlying", "expiry", "T", "published", "skewness",
    "crash_probability", "implied_move",
)  # fmt: skip
Z_SCALE = 2.0
MAX_SNAPSHOT_AGE = pd.Timedelta(days=3)  # the asset publishes the day's last snapshot
MAX_CONFIDENCE = 0.7
_PROB_FLOOR = 1e-9


def excess_left_tail(
    crash_probability: np.ndarray, implied_move: np.ndarray, crash_move: float
) -> np.ndarray:
    """Left-tail mass beyond a normal reference, in probit units (module docstring)."""
    sigma = np.asarray(implied_move, float) * math.sqrt(math.pi / 2.0)
    p = np.clip(np.asarray(crash_probability, float), _PROB_FLOOR, 1.0 - _PROB_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ndtri(p) - math.log1p(crash_move) / sigma


def _one_per_snapshot(rows: pd.DataFrame, target_days: float, min_days: float) -> pd.DataFrame:
    days = rows["T"].to_numpy(float) * 365.0
    rows = rows[days >= min_days].assign(_gap=np.abs(days[days >= min_days] - target_days))
    rows = rows.sort_values(["ts", "_gap"], kind="stable")
    return rows.drop_duplicates("snapshot_id", keep="first").drop(columns="_gap")


def implied_distribution_signal(
    implied_distribution: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
    window: int = 60,
    min_history: int = 10,
    target_days: float = 14.0,
    min_days: float = 5.0,
    crash_move: float = -0.05,
    max_snapshot_age: pd.Timedelta = MAX_SNAPSHOT_AGE,
) -> Signal:
    """Downside asymmetry of the implied density vs its trailing history (module docstring)."""
    at = check_at(at)
    if not -1.0 < crash_move < 0.0:
        raise SignalInputError(f"crash_move must be in (-1, 0), got {crash_move!r}")
    if implied_distribution is None:
        return neutral(NAME, "direction", "no_implied_distribution")
    require_columns(implied_distribution, COLUMNS, "implied_distribution")
    rows = before(implied_distribution, at, "implied_distribution")
    rows = rows[(rows["underlying"].astype(str) == underlying) & rows["published"].astype(bool)]
    values = rows[["T", "skewness", "crash_probability", "implied_move"]].to_numpy(float)
    rows = rows[np.isfinite(values).all(axis=1) & (values[:, 3] > 0)]
    rows = _one_per_snapshot(rows, target_days, min_days)
    if rows.empty:
        return neutral(NAME, "direction", "no_implied_distribution")
    if at - rows["ts"].iloc[-1] > max_snapshot_age:
        return neutral(NAME, "direction", "stale_implied_distribution")
    rows = rows.iloc[-(window + 1) :]
    skew = rows["skewness"].to_numpy(float)
    tail = excess_left_tail(rows["crash_probability"], rows["implied_move"], crash_move)
    history = len(rows) - 1
    if history < min_history:
        return neutral(NAME, "direction", "short_history", history=history, needed=min_history)
    z = []
    for series in (skew, tail):
        past = series[:-1]
        sd = float(np.std(past, ddof=1))
        if not (sd > 0):
            return neutral(NAME, "direction", "flat_history", history=history)
        z.append((float(series[-1]) - float(np.mean(past))) / sd)
    z_skew, z_tail = z
    fear = 0.5 * (-z_skew + z_tail)
    agree = 1.0 if (-z_skew) * z_tail >= 0 else 0.5
    confidence = MAX_CONFIDENCE * min(1.0, history / window) * agree
    last = rows.iloc[-1]
    numbers = {
        "snapshot_id": str(last["snapshot_id"]),
        "expiry": str(pd.Timestamp(last["expiry"]).date()),
        "days_to_expiry": float(last["T"]) * 365.0,
        "skewness": float(skew[-1]),
        "excess_left_tail": float(tail[-1]),
        "z_skew": z_skew,
        "z_excess_left_tail": z_tail,
        "fear": fear,
        "history": history,
    }
    return Signal(NAME, "direction", -squash(fear, Z_SCALE), confidence, numbers)
