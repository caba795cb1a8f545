"""Multi-timeframe trend with a consensus that keeps the disagreement (seed 001 §5 pipeline 3,
§10 wrong assumption 3: "a system that averages over disagreement throws away the signal in the
disagreement itself").

Horizons and what each reads (all strictly before `at`):
- tick: the last TICK_SNAPSHOTS chain snapshots' spot of today's session (`ts`, `spot` rows,
  e.g. chain_analytics);
- intraday: today's complete 1-minute bars (at least MIN_INTRADAY_BARS);
- daily: the last 5 completed sessions' closes (5 returns);
- weekly: the last 20 completed sessions (4 weeks), read as one 20-day drift.
Each horizon's trend score is tanh(z / TREND_Z_SCALE) with z = `prices.trend_z`; daily and
weekly use the sd of the last 20 daily returns (5 returns estimate their own sd badly).

The `Consensus` keeps: each horizon's score and sign (|score| < SIGN_DEADBAND abstains), which
are bullish / bearish / abstaining / missing, the pairwise sign-agreement matrix (+1 same sign,
-1 opposite, 0 when either abstains), dispersion (population sd of the scores) and the largest
pairwise gap, the short (tick + intraday) and long (daily + weekly) weighted means, and a state:
- "agreement": no two voting horizons disagree. Score = the weighted mean, kept whole;
- "transition": the short horizons vote one way, the long ones the other, neither side split
  internally. The trend may be turning, the moment the seed calls most interesting and least
  certain: score = weighted mean x (1 - |short - long| / 2), and the `transition` flag is raised
  so later layers can prefer structures that profit from either outcome;
- "mixed": any other disagreement. Score = weighted mean x MIXED_SHRINK (seed: mixed halves it);
- "neutral": every available horizon abstains (score 0);
- "insufficient": fewer than two horizons have data (neutral answer with that fallback).
Confidence = coverage (weight share of the horizons with data) x (1 - min(1, dispersion)) x
the state's factor. Weights default to the seed's (intraday 0.65, daily 0.20, tick 0.10, weekly
0.05) and are a parameter: the seed itself calls fixed weights a simplification with a cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.ml.signals.prices import (
    close_series,
    closes_before_day,
    complete_bars,
    trend_z,
)
from quantsentinel.ml.signals.types import (
    Signal,
    SignalInputError,
    before,
    check_at,
    neutral,
    require_columns,
    squash,
)

NAME = "multi_timeframe"
HORIZONS = ("tick", "intraday", "daily", "weekly")
SHORT, LONG = ("tick", "intraday"), ("daily", "weekly")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "tick": 0.10,
    "intraday": 0.65,
    "daily": 0.20,
    "weekly": 0.05,
}
TICK_SNAPSHOTS = 6
MIN_TICK_SNAPSHOTS = 3
MIN_INTRADAY_BARS = 10
DAILY_SESSIONS, WEEKLY_SESSIONS, VOL_SESSIONS = 5, 20, 20
TREND_Z_SCALE = 2.0
SIGN_DEADBAND = 0.15
MIXED_SHRINK = 0.5
STATE_CONFIDENCE = {"agreement": 1.0, "transition": 0.6, "mixed": 0.5, "neutral": 0.5}


@dataclass(frozen=True)
class Consensus:
    """The disagreement structure of the horizons (module docstring)."""

    scores: dict[str, float]
    weights: dict[str, float]
    signs: dict[str, int]
    bullish: tuple[str, ...]
    bearish: tuple[str, ...]
    abstaining: tuple[str, ...]
    missing: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]  # over `horizons` order, present horizons only
    dispersion: float
    max_gap: float
    weighted_mean: float
    short_score: float
    long_score: float
    coverage: float
    state: str
    transition: bool
    score: float
    confidence: float

    @property
    def horizons(self) -> tuple[str, ...]:
        return tuple(self.scores)

    def agreement_frame(self) -> pd.DataFrame:
        """The pairwise sign-agreement matrix with horizon labels."""
        return pd.DataFrame(self.matrix, index=list(self.horizons), columns=list(self.horizons))

    def disagreements(self) -> list[tuple[str, str, float]]:
        """(horizon, horizon, |score gap|) for every pair voting opposite ways, largest first."""
        pairs = [
            (a, b, abs(self.scores[a] - self.scores[b]))
            for a, b in combinations(self.horizons, 2)
            if self.signs[a] * self.signs[b] < 0
        ]
        return sorted(pairs, key=lambda p: -p[2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "scores": dict(self.scores),
            "signs": dict(self.signs),
            "bullish": list(self.bullish),
            "bearish": list(self.bearish),
            "abstaining": list(self.abstaining),
            "missing": list(self.missing),
            "matrix": [list(r) for r in self.matrix],
            "disagreements": [list(p) for p in self.disagreements()],
            "dispersion": self.dispersion,
            "max_gap": self.max_gap,
            "weighted_mean": self.weighted_mean,
            "short_score": self.short_score,
            "long_score": self.long_score,
            "coverage": self.coverage,
            "state": self.state,
            "transition": self.transition,
        }


def _mean(
    scores: Mapping[str, float], weights: Mapping[str, float], names: tuple[str, ...]
) -> float:
    used = [h for h in names if h in scores]
    total = sum(weights[h] for h in used)
    return sum(weights[h] * scores[h] for h in used) / total if total > 0 else 0.0


def consensus(
    scores: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS
) -> Consensus:
    """Consensus of per-horizon trend scores in [-1, 1]; None or NaN marks a missing horizon."""
    for h, w in weights.items():
        if h not in HORIZONS or not (math.isfinite(w) and w > 0):
            raise SignalInputError(f"weights[{h!r}] must be a positive weight of one of {HORIZONS}")
    present: dict[str, float] = {}
    for h in HORIZONS:
        s = scores.get(h)
        if s is None or not math.isfinite(s):
            continue
        if not -1.0 <= s <= 1.0:
            raise SignalInputError(f"horizon score {h!r} must be in [-1, 1], got {s!r}")
        present[h] = float(s)
    missing = tuple(h for h in HORIZONS if h not in present)
    w = {h: float(weights.get(h, 0.0)) for h in HORIZONS}
    signs = {h: 0 if abs(s) < SIGN_DEADBAND else (1 if s > 0 else -1) for h, s in present.items()}
    names = tuple(present)
    matrix = tuple(tuple(signs[a] * signs[b] for b in names) for a in names)
    values = np.array(list(present.values()))
    dispersion = float(values.std()) if values.size else 0.0
    max_gap = float(values.max() - values.min()) if values.size else 0.0
    total = sum(w.values())
    coverage = sum(w[h] for h in names) / total if total > 0 else 0.0
    mean = _mean(present, w, names)
    short, long = _mean(present, w, SHORT), _mean(present, w, LONG)
    voting = [h for h in names if signs[h] != 0]
    opposed = any(signs[a] * signs[b] < 0 for a, b in combinations(voting, 2))
    side = lambda group: {signs[h] for h in group if h in voting}  # noqa: E731
    if len(names) < 2:
        state = "insufficient"
    elif not voting:
        state = "neutral"
    elif not opposed:
        state = "agreement"
    elif len(side(SHORT)) == 1 and len(side(LONG)) == 1 and side(SHORT) != side(LONG):
        state = "transition"
    else:
        state = "mixed"
    if state == "agreement":
        score = mean
    elif state == "transition":
        score = mean * (1.0 - abs(short - long) / 2.0)
    elif state == "mixed":
        score = mean * MIXED_SHRINK
    else:
        score = 0.0
    confidence = coverage * (1.0 - min(1.0, dispersion)) * STATE_CONFIDENCE.get(state, 0.0)
    return Consensus(
        scores=present, weights={h: w[h] for h in names}, signs=signs,
        bullish=tuple(h for h in names if signs[h] > 0),
        bearish=tuple(h for h in names if signs[h] < 0),
        abstaining=tuple(h for h in names if signs[h] == 0),
        missing=missing, matrix=matrix, dispersion=dispersion, max_gap=max_gap,
        weighted_mean=mean, short_score=short, long_score=long, coverage=coverage,
        state=state, transition=state == "transition",
        score=float(np.clip(score, -1.0, 1.0)), confidence=float(np.clip(confidence, 0.0, 1.0)),
    )  # fmt: skip


def horizon_scores(
    snapshots: pd.DataFrame | None,
    bars: pd.DataFrame | None,
    daily_closes: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
) -> dict[str, float | None]:
    """Each horizon's trend score at `at`, None where its data is missing."""
    at = check_at(at)
    today = at.tz_convert(MARKET_TZ).date()
    out: dict[str, float | None] = dict.fromkeys(HORIZONS)
    if snapshots is not None:
        require_columns(snapshots, ("ts", "spot"), "snapshots")
        rows = before(snapshots, at, "snapshots")
        if "underlying" in rows:
            rows = rows[rows["underlying"].astype(str) == underlying]
        rows = rows.drop_duplicates("ts", keep="last")
        rows = rows[(rows["ts"].dt.tz_convert(MARKET_TZ).dt.date == today).to_numpy()]
        spots = rows["spot"].to_numpy(float)[-TICK_SNAPSHOTS:]
        if spots.size >= MIN_TICK_SNAPSHOTS and np.all(np.isfinite(spots) & (spots > 0)):
            out["tick"] = squash(trend_z(spots), TREND_Z_SCALE)
    if bars is not None:
        own = complete_bars(bars, at, underlying)
        own = own[(own["ts"].dt.tz_convert(MARKET_TZ).dt.date == today).to_numpy()]
        closes = own["close"].to_numpy(float)
        if closes.size >= MIN_INTRADAY_BARS and np.all(np.isfinite(closes) & (closes > 0)):
            out["intraday"] = squash(trend_z(closes), TREND_Z_SCALE)
    if daily_closes is not None:
        series = close_series(closes_before_day(daily_closes, at), underlying)
        returns = np.diff(np.log(series[-(VOL_SESSIONS + 1) :]))
        step_sd = float(np.std(returns, ddof=1)) if returns.size > 2 else None
        if series.size > DAILY_SESSIONS:
            out["daily"] = squash(trend_z(series[-(DAILY_SESSIONS + 1) :], step_sd), TREND_Z_SCALE)
        if series.size > WEEKLY_SESSIONS:
            out["weekly"] = squash(
                trend_z(series[-(WEEKLY_SESSIONS + 1) :], step_sd), TREND_Z_SCALE
            )
    return out


def multi_timeframe_signal(
    snapshots: pd.DataFrame | None,
    bars: pd.DataFrame | None,
    daily_closes: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> Signal:
    """The consensus-conditioned trend signal (axis direction); `detail` is the Consensus."""
    scores = horizon_scores(snapshots, bars, daily_closes, at, underlying=underlying)
    c = consensus(scores, weights)
    numbers = c.to_dict()
    if c.state == "insufficient":
        signal = neutral(NAME, "direction", "insufficient_horizons", **numbers)
        return replace(signal, detail=c)
    return Signal(NAME, "direction", c.score, c.confidence, numbers, None, detail=c)
