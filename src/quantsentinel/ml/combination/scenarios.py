"""Simulated signal histories with a known truth, to measure the combiners against.

The predictable part of the move after decision k is f_k; the move is r_k = beta * f_k + e_k
(e standard normal; `beta` sets how predictable the market is at all). A signal's raw view is
what it sees of f plus noise, score = tanh(raw / 1.5), confidence ~ U(0.3, 1) (uninformative, as
the combiners cannot know a signal's confidence is calibrated). Scenarios:

- "one_true": signal 0 sees f (raw = f + u), the others are independent noise. The case BMA's
  "exactly one true model" assumption describes.
- "correlated_weak": f is a mix of n drivers of unequal importance (1.0 down to 0.4); signal i
  sees driver i only, and all share a noise factor (raw_i = d_i + 0.7 g + u_i; pairwise
  correlation about 0.2). Each is a weak 52-55% hitter; together they know much more than any
  one, which an average of their probabilities cannot express (the seed's "signals that
  genuinely complement each other").
- "redundant": every signal sees the same f weakly (0.5 f + g + u): correlated and equally
  informative. Equal weights are the optimal combination here; it shows what learning costs.
- "switching": the informative signal changes every `regime_days` trading days (0, 1, 2, ...),
  the others are noise at the time: adaptation speed matters.

Decisions fall at irregular instants: `per_day` random minutes of each weekday's 09:15-15:30 IST
session, each decision's move resolving at the next decision (the last of a day one hour later).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from quantsentinel.ml.combination.evaluate import DecisionPoint, Outcome, history_from_arrays
from quantsentinel.ml.combination.types import CombinationError

Scenario = Literal["one_true", "correlated_weak", "redundant", "switching"]
SCENARIOS: tuple[str, ...] = ("one_true", "correlated_weak", "redundant", "switching")
SESSION_OPEN_UTC = pd.Timedelta(hours=3, minutes=45)  # 09:15 IST
SESSION_MINUTES = 375


def decision_times(n_days: int, per_day: int, rng: np.random.Generator) -> list[pd.Timestamp]:
    """`per_day` sorted random instants in each of `n_days` weekdays from 2024-01-01."""
    days = pd.bdate_range("2024-01-01", periods=n_days, tz="UTC")
    out: list[pd.Timestamp] = []
    for day in days:
        minutes = np.sort(rng.choice(SESSION_MINUTES, size=per_day, replace=False))
        out.extend(day + SESSION_OPEN_UTC + pd.Timedelta(minutes=int(m)) for m in minutes)
    return out


def simulate_scenario(
    scenario: Scenario,
    n_days: int = 250,
    per_day: int = 6,
    n_signals: int = 5,
    beta: float = 0.4,
    regime_days: int = 40,
    seed: int = 0,
) -> tuple[list[DecisionPoint], list[Outcome]]:
    """A history (decisions, outcomes) for `evaluate_combiners`; same seed, same history."""
    if scenario not in SCENARIOS:
        raise CombinationError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    for label, value, low in (
        ("n_days", n_days, 1),
        ("per_day", per_day, 1),
        ("n_signals", n_signals, 2),
        ("regime_days", regime_days, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise CombinationError(f"{label} must be an integer >= {low}, got {value!r}")
    if per_day > SESSION_MINUTES:
        raise CombinationError(f"per_day must be <= {SESSION_MINUTES}, got {per_day}")
    rng = np.random.default_rng(seed)
    times = decision_times(n_days, per_day, rng)
    n = len(times)
    loadings = np.zeros((n, n_signals))  # a_ik: how much signal i sees of the predictable part
    shared = 0.0
    if scenario == "correlated_weak":
        # Each signal sees its own driver of the move (they complement each other), drivers
        # of unequal importance, and all share a noise factor (they are correlated).
        importance = np.linspace(1.0, 0.4, n_signals)
        drivers = rng.standard_normal((n, n_signals))
        f = drivers @ importance / np.linalg.norm(importance)
        moves = beta * f + rng.standard_normal(n)
        g = rng.standard_normal(n)
        raw = drivers + 0.7 * g[:, None] + rng.standard_normal((n, n_signals))
    else:
        f = rng.standard_normal(n)
        moves = beta * f + rng.standard_normal(n)
        if scenario == "one_true":
            loadings[:, 0] = 1.0
        elif scenario == "redundant":
            loadings[:, :] = 0.5
            shared = 1.0
        else:
            regime = (np.arange(n) // (regime_days * per_day)) % n_signals
            loadings[np.arange(n), regime] = 1.0
        g = rng.standard_normal(n)
        raw = loadings * f[:, None] + shared * g[:, None] + rng.standard_normal((n, n_signals))
    scores = np.tanh(raw / 1.5)
    confidences = rng.uniform(0.3, 1.0, size=(n, n_signals))
    resolved = []
    for k, t in enumerate(times):
        nxt = times[k + 1] if k + 1 < n else None
        same_day = nxt is not None and nxt.normalize() == t.normalize()
        resolved.append(nxt if same_day else t + pd.Timedelta(hours=1))
    names = [f"signal_{i}" for i in range(n_signals)]
    return history_from_arrays(times, resolved, names, scores, confidences, moves)
