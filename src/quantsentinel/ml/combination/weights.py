"""Adaptive weights by Bayesian model averaging on each signal's hit rate (seed 001, loop 4).

Each signal's hit rate p (the sign of its score matched the realised direction) has a
Beta(alpha, beta) posterior. A hit adds 1 to alpha, a miss 1 to beta. Forgetting: between two
updates `d` days apart the evidence beyond the prior decays by 2^(-d / half_life):

    alpha <- alpha0 + (alpha - alpha0) * 2^(-d/h),   beta <- beta0 + (beta - beta0) * 2^(-d/h)

so an outcome a half-life old counts half as much as one today, and a signal that stops being
scored drifts back to the prior instead of keeping a stale verdict. Decay runs on elapsed time,
not on the number of updates, so irregular decision instants are handled (seed: "smoothed with a
14-day half-life"; we forget the evidence itself rather than EMA-smoothing the weights, which
would lag twice).

Weight of a signal, `weighting`:
- "edge" (default): the posterior mean edge max(E[p] - 1/2, 0). For a vote among independent
  classifiers of accuracy p_i the optimal weight is log(p_i / (1 - p_i)) (Nitzan & Paroush 1982),
  which near p = 1/2, where every real signal lives, is 4 (p_i - 1/2): proportional to the edge.
  Measured (benchmarks/bench_combination.py, 4 seeds): better Brier and log-loss than
  "probability" on all four scenarios, hit rate +0.5 pp where one signal is true, within
  0.3 pp (well inside one s.e.) elsewhere.
- "probability": P(p > 1/2 | data), the posterior probability the signal beats a coin (the
  brief's first suggestion). It saturates and is flat near 1/2: a pure-noise signal keeps ~0.5
  while a real 57% hitter reaches ~0.9, so four noise signals keep 70% of the weight between
  them. Offered for comparison; the benchmark prints both.
- "equal": every eligible signal 1 (the baseline); the floor is not applied.

Evidence gate: a signal whose P(p > 1/2) is below `floor` (default 1/2: more likely worse than a
coin than better; for a Beta that is alpha < beta) gets weight 0. Its outcomes are still recorded,
so it can earn its way back. The uncertainty P(p > 1/2) carries is used here, and the prior
shrinks E[p] towards 1/2 on few outcomes. Cold start: when no eligible signal has an edge yet
(every posterior still has alpha = beta, e.g. before any outcome), the signals with no net
evidence share the weight equally instead of the combiner going silent. The remaining weights
are normalised to sum to 1 (or are all 0, and the combined score is 0: no signal is trusted, so
there is no view).

Combined score = sum_i w_i * score_i * confidence_i over the signals read at this decision. A
convex combination of numbers in [-1, 1] is in [-1, 1]; the clip only absorbs rounding.
Implied probability of an up move: the BMA predictive mixture sum_i w_i * q_i with
q_i = 1/2 + (E[p_i] - 1/2) * score_i * confidence_i (a signal predicts "up" with its posterior hit
rate when it says up at full strength, and nothing when it has no view). Because it averages
probabilities it cannot add up independent evidence: that is the seed's admitted limitation and
the reason `StackingCombiner` exists.

A `CircuitBreaker` may be attached: an open signal gets weight 0 and a half-open one has its raw
weight multiplied by the breaker's test weight before normalisation (so it is that fraction of
its normal weight relative to the others, and the weights still sum to 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from quantsentinel.ml.combination.breaker import CircuitBreaker
from quantsentinel.ml.combination.types import (
    Combination,
    CombinationError,
    SignalReading,
    as_utc,
    check_names,
    check_positive,
    check_return,
    check_unit,
    decay_factor,
    elapsed_days,
    load_state,
    readings_by_name,
    weighted_dispersion,
)

Weighting = Literal["probability", "edge", "equal"]
WEIGHTINGS: tuple[str, ...] = ("probability", "edge", "equal")


@dataclass(frozen=True)
class BetaPosterior:
    """Beta(alpha, beta) on a hit rate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def prob_better_than_coin(self) -> float:
        """P(p > 1/2) = 1 - I_{1/2}(alpha, beta), the regularised incomplete beta function."""
        from scipy.special import betainc  # lazy: scipy.special costs ~0.2 s to import

        return float(1.0 - betainc(self.alpha, self.beta, 0.5))

    def decayed(self, factor: float, prior: BetaPosterior) -> BetaPosterior:
        """The evidence beyond `prior` scaled by `factor` (forgetting)."""
        return BetaPosterior(
            prior.alpha + (self.alpha - prior.alpha) * factor,
            prior.beta + (self.beta - prior.beta) * factor,
        )

    def updated(self, hit: bool) -> BetaPosterior:
        return BetaPosterior(self.alpha + (1.0 if hit else 0.0), self.beta + (0.0 if hit else 1.0))


class BayesianAveraging:
    """Beta-Bernoulli model averaging over named signals, with forgetting and a floor.

    Args:
        names: the signals combined (readings of other signals are refused).
        half_life_days: forgetting half-life in calendar days (seed: 14).
        prior: (alpha0, beta0) of every signal's Beta prior; (1, 1) is uniform.
        floor: P(hit rate > 1/2) below which a signal gets zero weight.
        weighting: "edge" | "probability" | "equal" (see the module docstring for why
            "edge" is the default).
        breaker: an optional CircuitBreaker over the same names; `record` feeds it.
    """

    def __init__(
        self,
        names: Sequence[str],
        half_life_days: float = 14.0,
        prior: tuple[float, float] = (1.0, 1.0),
        floor: float = 0.5,
        weighting: Weighting = "edge",
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.names = check_names(names)
        self.half_life_days = check_positive(half_life_days, "half_life_days")
        if not isinstance(prior, tuple | list) or len(prior) != 2:
            raise CombinationError(f"prior must be a pair (alpha0, beta0), got {prior!r}")
        self.prior = BetaPosterior(
            check_positive(prior[0], "prior alpha0"), check_positive(prior[1], "prior beta0")
        )
        self.floor = check_unit(floor, "floor", open_high=True)
        if weighting not in WEIGHTINGS:
            raise CombinationError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.weighting: Weighting = weighting
        if breaker is not None:
            missing = [n for n in self.names if n not in breaker.names]
            if missing:
                raise CombinationError(f"breaker does not watch signals: {', '.join(missing)}")
        self.breaker = breaker
        self._posteriors: dict[str, BetaPosterior] = dict.fromkeys(self.names, self.prior)
        self._updated_at: dict[str, pd.Timestamp | None] = dict.fromkeys(self.names, None)

    def __repr__(self) -> str:
        return (
            f"BayesianAveraging({len(self.names)} signals, half_life_days={self.half_life_days:g}, "
            f"floor={self.floor:g}, weighting={self.weighting!r})"
        )

    # -- posterior -------------------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if name not in self._posteriors:
            raise CombinationError(
                f"unknown signal {name!r}; this combiner knows {', '.join(self.names)}"
            )

    def posterior(self, name: str, at: Any = None) -> BetaPosterior:
        """Signal `name`'s Beta posterior, decayed to `at` (default: as last updated)."""
        self._check_name(name)
        current, updated_at = self._posteriors[name], self._updated_at[name]
        if at is None or updated_at is None:
            return current
        stamp = as_utc(at)
        days = elapsed_days(updated_at, stamp, f"at for signal {name!r}")
        return current.decayed(decay_factor(days, self.half_life_days), self.prior)

    def record(self, name: str, hit: bool, at: Any) -> None:
        """One resolved outcome of signal `name`: decay its posterior to `at`, then count it."""
        self._check_name(name)
        if not isinstance(hit, bool):
            raise CombinationError(f"hit for signal {name!r} must be a bool, got {hit!r}")
        stamp = as_utc(at)
        self._posteriors[name] = self.posterior(name, stamp).updated(hit)
        self._updated_at[name] = stamp
        if self.breaker is not None:
            self.breaker.observe(name, hit, stamp)

    def record_outcome(
        self, readings: Sequence[SignalReading], realised_return: float, at: Any
    ) -> None:
        """Score every reading of one decision against the realised move, resolved at `at`.

        A reading with score 0 took no side and a move of exactly 0 has no direction: neither
        counts as a hit or a miss.
        """
        move = check_return(realised_return)
        by_name = readings_by_name(readings, self.names)
        stamp = as_utc(at)
        if move == 0.0:
            return
        for name, reading in by_name.items():
            if reading.score != 0.0:
                self.record(name, (reading.score > 0) == (move > 0), stamp)

    # -- weights ---------------------------------------------------------------------------

    def _raw_weights(
        self, stamp: pd.Timestamp, present: Sequence[str]
    ) -> tuple[dict[str, float], dict[str, str]]:
        raw: dict[str, float] = {}
        excluded: dict[str, str] = {}
        for name in self.names:
            if name not in present:
                excluded[name] = "no reading at this decision"
                continue
            post = self.posterior(name, stamp)
            p_edge = post.prob_better_than_coin
            if self.weighting != "equal" and p_edge < self.floor:
                excluded[name] = f"P(hit rate > 1/2) = {p_edge:.3f} below floor {self.floor:g}"
                continue
            if self.weighting == "probability":
                value = p_edge
            elif self.weighting == "edge":
                value = max(post.mean - 0.5, 0.0)
            else:
                value = 1.0
            if self.breaker is not None:
                multiplier = self.breaker.multiplier(name, stamp)
                if multiplier == 0.0:
                    excluded[name] = f"circuit breaker {self.breaker.state(name, stamp).value}"
                    continue
                value *= multiplier
            raw[name] = value
        if self.weighting == "edge" and raw and not any(raw.values()):
            raw = self._cold_start(stamp, raw)
        for name in [n for n, v in raw.items() if v == 0.0]:
            excluded[name] = (
                f"posterior mean hit rate {self.posterior(name, stamp).mean:.3f}: no edge"
            )
            del raw[name]
        return raw, excluded

    def _cold_start(self, stamp: pd.Timestamp, raw: dict[str, float]) -> dict[str, float]:
        """Equal weight for the eligible signals with no net evidence (alpha = beta), times
        their breaker multiplier, when no signal has an edge yet."""
        out = {}
        for name in raw:
            post = self.posterior(name, stamp)
            level = 1.0 if math.isclose(post.alpha, post.beta, rel_tol=1e-12) else 0.0
            out[name] = level * (
                1.0 if self.breaker is None else self.breaker.multiplier(name, stamp)
            )
        return out

    def weights(self, at: Any, present: Sequence[str] | None = None) -> dict[str, float]:
        """Normalised weight per signal at `at` (all names; zero for floored / open / absent).

        `present` restricts the weights to the signals read at a decision (default: all).
        """
        stamp = as_utc(at)
        raw, _ = self._raw_weights(stamp, self.names if present is None else present)
        return _normalised(self.names, raw)

    def combine(self, readings: Sequence[SignalReading], at: Any) -> Combination:
        """The weighted view of this decision's readings (see the module docstring)."""
        stamp = as_utc(at)
        by_name = readings_by_name(readings, self.names)
        raw, excluded = self._raw_weights(stamp, list(by_name))
        weights = _normalised(self.names, raw)
        views = {name: r.view for name, r in by_name.items()}
        contributions = {name: weights[name] * views.get(name, 0.0) for name in self.names}
        score = min(1.0, max(-1.0, math.fsum(contributions.values())))
        probability = 0.5
        for name, view in views.items():
            if weights[name] > 0:
                edge = self.posterior(name, stamp).mean - 0.5
                probability += weights[name] * edge * view
        return Combination(
            score=score,
            probability=min(1.0, max(0.0, probability)),
            weights=weights,
            contributions=contributions,
            disagreement=weighted_dispersion(weights, views),
            excluded=excluded,
        )

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> str:
        """Configuration and every posterior (with its timestamp); the breaker's state nested."""
        return json.dumps(
            {
                "kind": "bayesian_averaging",
                "names": list(self.names),
                "half_life_days": self.half_life_days,
                "prior": [self.prior.alpha, self.prior.beta],
                "floor": self.floor,
                "weighting": self.weighting,
                "posteriors": {
                    name: {
                        "alpha": post.alpha,
                        "beta": post.beta,
                        "updated_at": _iso(self._updated_at[name]),
                    }
                    for name, post in self._posteriors.items()
                },
                "breaker": None if self.breaker is None else json.loads(self.breaker.to_json()),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> BayesianAveraging:
        data = load_state(text, "bayesian_averaging", "BayesianAveraging")
        try:
            breaker = (
                None
                if data["breaker"] is None
                else CircuitBreaker.from_json(json.dumps(data["breaker"]))
            )
            out = cls(
                data["names"],
                half_life_days=data["half_life_days"],
                prior=tuple(data["prior"]),
                floor=data["floor"],
                weighting=data["weighting"],
                breaker=breaker,
            )
            for name, state in data["posteriors"].items():
                out._check_name(name)
                out._posteriors[name] = BetaPosterior(
                    check_positive(state["alpha"], f"{name}.alpha"),
                    check_positive(state["beta"], f"{name}.beta"),
                )
                stamp = state["updated_at"]
                out._updated_at[name] = (
                    None if stamp is None else as_utc(stamp, f"{name}.updated_at")
                )
        except KeyError as exc:
            raise CombinationError(f"BayesianAveraging JSON is missing field {exc}") from exc
        return out


def _normalised(names: Sequence[str], raw: dict[str, float]) -> dict[str, float]:
    total = math.fsum(raw.values())
    if total <= 0:
        return dict.fromkeys(names, 0.0)
    return {name: raw.get(name, 0.0) / total for name in names}


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()
