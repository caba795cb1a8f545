"""Direction model slot: a rule baseline until a direction model is promoted.

Rule baseline: the last 5 completed sessions' log return scaled by the realised daily vol of the
last 20 sessions (a t-statistic of the recent drift):
    z = ln(C_t / C_{t-5}) / (sd_20 x sqrt(5)),  score = tanh(z / Z_SCALE)
with confidence RULE_CONFIDENCE, because short-horizon index momentum is a weak effect; the
answer says fallback="rule_baseline".

Model: any callable taking the feature dict below and returning P(up) in [0, 1] (the registry's
direction model, loaded by the caller). Its score is 2p - 1 and its confidence MODEL_CONFIDENCE.
A model that raises, returns something that is not a number, NaN, or a value outside [0, 1] is
not trusted: the rule answers and `fallback` says "rule_baseline (model failed: ...)", so the
decision records that the promoted model did not answer (DESIGN.md, "rules first").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from quantsentinel.ml.signals.prices import close_series, closes_before_day
from quantsentinel.ml.signals.types import Signal, check_at, neutral, squash

NAME = "direction"
RETURN_SESSIONS, VOL_SESSIONS = 5, 20
Z_SCALE = 2.0
RULE_CONFIDENCE = 0.4
MODEL_CONFIDENCE = 0.7
DirectionModel = Callable[[Mapping[str, float]], float]


def direction_features(series: np.ndarray) -> dict[str, float]:
    """Features both the rule and a model read, from completed-session closes."""
    returns = np.diff(np.log(series[-(VOL_SESSIONS + 1) :]))
    sd = float(np.std(returns, ddof=1))
    ret5 = float(math.log(series[-1] / series[-1 - RETURN_SESSIONS]))
    return {
        "return_5d": ret5,
        "return_1d": float(returns[-1]),
        "realised_vol_20d": sd,
        "z_5d": ret5 / (sd * math.sqrt(RETURN_SESSIONS)) if sd > 0 else 0.0,
    }


def _model_probability(
    model: DirectionModel, features: Mapping[str, float]
) -> tuple[float | None, str]:
    try:
        raw = model(dict(features))
    except Exception as exc:  # any model failure must fall back, and say why
        return None, f"{type(exc).__name__}: {exc}"
    try:
        p = float(raw)
    except (TypeError, ValueError):
        return None, f"returned {raw!r}, not a probability"
    if not math.isfinite(p):
        return None, f"returned {p!r}"
    if not 0.0 <= p <= 1.0:
        return None, f"returned {p!r}, outside [0, 1]"
    return p, ""


def direction_signal(
    daily_closes: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
    model: DirectionModel | None = None,
) -> Signal:
    """The model's call when one is supplied and answers, else the rule baseline."""
    at = check_at(at)
    if daily_closes is None:
        return neutral(NAME, "direction", "no_daily_closes")
    series = close_series(closes_before_day(daily_closes, at), underlying)
    if series.size < VOL_SESSIONS + 1:
        return neutral(NAME, "direction", "short_history", sessions=int(series.size))
    features = direction_features(series)
    failure = "no model"
    if model is not None:
        p, failure = _model_probability(model, features)
        if p is not None:
            return Signal(NAME, "direction", 2.0 * p - 1.0, MODEL_CONFIDENCE,
                          {**features, "p_up": p, "source": "model"})  # fmt: skip
    score = squash(features["z_5d"], Z_SCALE)
    fallback = "rule_baseline" if model is None else f"rule_baseline (model failed: {failure})"
    return Signal(
        NAME, "direction", score, RULE_CONFIDENCE, {**features, "source": "rule"}, fallback
    )
