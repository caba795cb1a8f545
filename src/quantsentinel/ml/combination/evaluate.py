"""Strictly online evaluation of combiners on a history of decisions and realised moves.

Each decision k (time t_k, the readings then) is answered by every combiner after it has
learnt from exactly the outcomes resolved at or before t_k, in the order they resolved. An
outcome must resolve strictly after its own decision (a move known at the decision instant is
not a move after it), so no decision ever sees its own outcome or a later one: the combiner
state a decision reads is a function of the past alone (the test perturbs a future outcome and
checks that the earlier answers do not move).

Reported per combiner:
- hit rate of sign(score) against the realised direction, over decisions where both are
  non-zero, with its binomial standard error; coverage = share of decisions with a view;
- Brier score and log-loss of the implied P(up) over decisions whose move had a direction
  (a combiner with no view answers 1/2: Brier 0.25, log-loss ln 2 = 0.693);
- P&L of sign(score) x realised return (one unit per decision, no costs), and its t-statistic.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.ml.combination.stacking import StackingCombiner
from quantsentinel.ml.combination.types import (
    CombinationError,
    Combiner,
    SignalReading,
    as_utc,
    check_return,
)
from quantsentinel.ml.combination.weights import BayesianAveraging

_EPS = 1e-12


@dataclass(frozen=True)
class DecisionPoint:
    """The readings a decision at `at` was made from."""

    at: pd.Timestamp
    readings: tuple[SignalReading, ...]


@dataclass(frozen=True)
class Outcome:
    """The realised return after a decision, known at `resolved_at`."""

    realised_return: float
    resolved_at: pd.Timestamp


@dataclass(frozen=True)
class CombinerScore:
    """One combiner's online record: the table's figures and every answer it gave."""

    name: str
    n_decisions: int
    coverage: float
    hit_rate: float
    hit_rate_se: float
    brier: float
    log_loss: float
    pnl: float
    pnl_t: float
    scores: tuple[float, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Evaluation:
    results: dict[str, CombinerScore]

    def table(self) -> pd.DataFrame:
        """One row per combiner, the figures only."""
        rows = [
            {
                "combiner": r.name,
                "n": r.n_decisions,
                "coverage": r.coverage,
                "hit_rate": r.hit_rate,
                "hit_se": r.hit_rate_se,
                "brier": r.brier,
                "log_loss": r.log_loss,
                "pnl": r.pnl,
                "pnl_t": r.pnl_t,
            }
            for r in self.results.values()
        ]
        return pd.DataFrame(rows).set_index("combiner")


CombinerFactory = Callable[[Sequence[str]], Combiner]


def default_combiners() -> dict[str, CombinerFactory]:
    """Equal weights (baseline), Beta-Bernoulli averaging, and the stacking combiner."""
    return {
        "equal_weight": lambda names: BayesianAveraging(names, weighting="equal"),
        "bayesian_averaging": lambda names: BayesianAveraging(names),
        "stacking": lambda names: StackingCombiner(names),
    }


def _check_history(
    signal_history: Sequence[DecisionPoint], outcomes: Sequence[Outcome]
) -> tuple[list[str], list[pd.Timestamp], list[pd.Timestamp], list[float]]:
    if len(signal_history) != len(outcomes):
        raise CombinationError(
            f"signal_history has {len(signal_history)} decisions but outcomes has "
            f"{len(outcomes)}: they must align one to one"
        )
    if not signal_history:
        raise CombinationError("signal_history is empty: nothing to evaluate")
    names: list[str] = []
    decided, resolved, moves = [], [], []
    for k, (point, outcome) in enumerate(zip(signal_history, outcomes, strict=True)):
        if not isinstance(point, DecisionPoint) or not isinstance(outcome, Outcome):
            raise CombinationError(
                f"decision {k}: expected DecisionPoint and Outcome, got "
                f"{type(point).__name__} and {type(outcome).__name__}"
            )
        at = as_utc(point.at, f"signal_history[{k}].at")
        done = as_utc(outcome.resolved_at, f"outcomes[{k}].resolved_at")
        if decided and at < decided[-1]:
            raise CombinationError(
                f"signal_history[{k}].at {at.isoformat()} is before the previous decision "
                f"{decided[-1].isoformat()}: decisions must be in time order"
            )
        if done <= at:
            raise CombinationError(
                f"outcomes[{k}].resolved_at {done.isoformat()} is not after its decision at "
                f"{at.isoformat()}: an outcome must resolve after the decision it scores"
            )
        for reading in point.readings:
            if reading.name not in names:
                names.append(reading.name)
        decided.append(at)
        resolved.append(done)
        moves.append(check_return(outcome.realised_return, f"outcomes[{k}].realised_return"))
    return names, decided, resolved, moves


def _run_online(
    combiner: Combiner,
    signal_history: Sequence[DecisionPoint],
    decided: list[pd.Timestamp],
    resolved: list[pd.Timestamp],
    moves: list[float],
) -> tuple[np.ndarray, np.ndarray]:
    pending: list[tuple[pd.Timestamp, int]] = []
    scores, probabilities = np.zeros(len(decided)), np.zeros(len(decided))
    for k, at in enumerate(decided):
        while pending and pending[0][0] <= at:  # outcomes known by now, in resolution order
            done, j = heapq.heappop(pending)
            combiner.record_outcome(signal_history[j].readings, moves[j], done)
        answer = combiner.combine(signal_history[k].readings, at)
        scores[k], probabilities[k] = answer.score, answer.probability
        heapq.heappush(pending, (resolved[k], k))
    return scores, probabilities


def _score(name: str, scores: np.ndarray, probs: np.ndarray, moves: np.ndarray) -> CombinerScore:
    direction = np.sign(moves)
    side = np.sign(scores)
    judged = (side != 0) & (direction != 0)
    n_judged = int(judged.sum())
    hit_rate = float((side[judged] == direction[judged]).mean()) if n_judged else math.nan
    hit_se = math.sqrt(hit_rate * (1 - hit_rate) / n_judged) if n_judged else math.nan
    has_direction = direction != 0
    y = (direction[has_direction] > 0).astype(float)
    p = np.clip(probs[has_direction], _EPS, 1 - _EPS)
    brier = float(np.mean((p - y) ** 2)) if y.size else math.nan
    log_loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if y.size else math.nan
    pnl_each = side * moves
    spread = float(pnl_each.std(ddof=1)) if pnl_each.size > 1 else 0.0
    pnl_t = float(pnl_each.mean() / spread * math.sqrt(pnl_each.size)) if spread > 0 else 0.0
    return CombinerScore(
        name=name,
        n_decisions=int(scores.size),
        coverage=float((side != 0).mean()),
        hit_rate=hit_rate,
        hit_rate_se=hit_se,
        brier=brier,
        log_loss=log_loss,
        pnl=float(pnl_each.sum()),
        pnl_t=pnl_t,
        scores=tuple(scores.tolist()),
        probabilities=tuple(probs.tolist()),
    )


def evaluate_combiners(
    signal_history: Sequence[DecisionPoint],
    outcomes: Sequence[Outcome],
    combiners: Mapping[str, CombinerFactory] | None = None,
    names: Sequence[str] | None = None,
) -> Evaluation:
    """Run each combiner strictly online over the history and score it (module docstring).

    Args:
        signal_history: decisions in time order.
        outcomes: outcomes[k] is decision k's realised return and when it became known.
        combiners: label -> factory called with the signal names, giving a fresh combiner
            (default: `default_combiners()`).
        names: the signals (default: every name read in the history, in first-seen order).
    """
    seen, decided, resolved, moves = _check_history(signal_history, outcomes)
    signal_names = list(names) if names is not None else seen
    unknown = [n for n in seen if n not in signal_names]
    if unknown:
        raise CombinationError(f"history reads signals missing from names: {', '.join(unknown)}")
    factories = default_combiners() if combiners is None else dict(combiners)
    if not factories:
        raise CombinationError("combiners is empty: nothing to evaluate")
    move_array = np.array(moves)
    results = {}
    for label, factory in factories.items():
        scores, probs = _run_online(factory(signal_names), signal_history, decided, resolved, moves)
        results[label] = _score(label, scores, probs, move_array)
    return Evaluation(results)


def history_from_arrays(
    times: Sequence[Any],
    resolved: Sequence[Any],
    names: Sequence[str],
    scores: np.ndarray,
    confidences: np.ndarray,
    returns: Sequence[float],
) -> tuple[list[DecisionPoint], list[Outcome]]:
    """Build the evaluation inputs from arrays (scores / confidences: decisions x signals)."""
    scores, confidences = np.asarray(scores, float), np.asarray(confidences, float)
    shape = (len(times), len(names))
    if scores.shape != shape or confidences.shape != shape:
        raise CombinationError(
            f"scores {scores.shape} and confidences {confidences.shape} must both be {shape} "
            "(decisions x signals)"
        )
    if len(resolved) != len(times) or len(returns) != len(times):
        raise CombinationError(
            f"times ({len(times)}), resolved ({len(resolved)}) and returns ({len(returns)}) "
            "must have the same length"
        )
    history = [
        DecisionPoint(
            as_utc(t, "times"),
            tuple(
                SignalReading(n, float(scores[k, i]), float(confidences[k, i]))
                for i, n in enumerate(names)
            ),
        )
        for k, t in enumerate(times)
    ]
    outs = [
        Outcome(float(r), as_utc(d, "resolved")) for r, d in zip(returns, resolved, strict=True)
    ]
    return history, outs
