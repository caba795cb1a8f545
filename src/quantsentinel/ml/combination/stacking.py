"""A learned combiner that does not assume exactly one true signal (seed 001 admits BMA does).

Model: P(next move up | views) = sigma(w . x), x_i = score_i * confidence_i (0 when a signal has
no reading), w a Gaussian posterior N(m, P^-1): Bayesian online logistic regression.

Why this and not averaging: BMA weights ask "which single signal is right?" and average the
signals' predictions, so two independent signals that both say "up" give no more confidence than
one, and two copies of one signal get double its weight. Logistic regression adds log-odds:
independent evidence accumulates, correlated evidence is discounted by the joint fit (the
coefficients of two copies share one signal's weight), a shared noise component can be hedged
out with a negative coefficient, and a consistently wrong signal is turned around instead of
dropped. That is Bayesian model *combination*, the upgrade the seed names.

Why this form of logistic regression:
- L2 = the Gaussian prior, centred on "average the signals": the features are the mean view
  x_bar and each view x_i, with a weak penalty `l2_common` on the mean-view coefficient and a
  strong one `l2` on each signal's own coefficient. The effective weight of signal i is
  b_common / k + b_i. With the few hundred effective outcomes a 14-day half-life leaves, and
  weak signals, freely estimated weights lose to a plain average (the "forecast combination
  puzzle", Smith & Wallis 2009); shrinking towards equal weights rather than towards zero is the
  classic remedy (Diebold & Pauly 1990). The one shared coefficient learns fast from all signals
  at once; a signal earns its own deviation (up, down, or negative) only on enough evidence;
- online Laplace update (Spiegelhalter & Lauritzen 1990; as in Chapelle & Li 2011): for one new
  (x, y) the posterior mode lies on m + t P^-1 x, so it is a 1-D Newton solve of
  t = y - sigma(m.x + t x.P^-1 x); then P += sigma'(x.w*) x x^T. O(k^2) per outcome, no window
  to store, no learning rate to tune;
- forgetting on elapsed time, in information form: the evidence beyond the prior (P - P0 and
  P m) is scaled by 2^(-days / half_life) before each update, the Gaussian analogue of the Beta
  forgetting in `BayesianAveraging`, so the two adapt on the same clock;
- predictions are moderated by the posterior uncertainty (MacKay 1992's probit approximation,
  sigma(m.x / sqrt(1 + pi/8 x.P^-1 x))): early on, or when the signals move out of the range
  seen, the combined probability stays near 1/2 instead of over-trusting a noisy mean.

No intercept by default: a constant term would make a view out of the base rate of up moves
when every signal is silent, and the direction traded should come from the signals.

The combined score is 2p - 1 = tanh(logit / 2), in (-1, 1), so it is directly comparable with
the averaging score's sign; `weights` are the posterior-mean coefficients (they need not be
positive nor sum to 1) and `contributions` are the moderated logit terms.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.ml.combination.types import (
    Combination,
    CombinationError,
    SignalReading,
    as_utc,
    check_names,
    check_positive,
    check_return,
    decay_factor,
    elapsed_days,
    load_state,
    readings_by_name,
    weighted_dispersion,
)

INTERCEPT = "(intercept)"
COMMON = "(mean view)"
_NEWTON_STEPS = 30


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class StackingCombiner:
    """Bayesian online logistic regression of the up/down direction on the signals' views.

    Args:
        names: the signals combined.
        l2: prior precision of each signal's own coefficient (its L2 penalty): how strongly its
            weight is held to the common one.
        l2_common: prior precision of the mean-view coefficient (weak: it should learn fast).
        half_life_days: forgetting half-life in calendar days.
        fit_intercept: add a constant feature (off by default, see the module docstring).
    """

    def __init__(
        self,
        names: Sequence[str],
        l2: float = 10.0,
        l2_common: float = 0.5,
        half_life_days: float = 14.0,
        fit_intercept: bool = False,
    ) -> None:
        self.names = check_names(names)
        self.l2 = check_positive(l2, "l2")
        self.l2_common = check_positive(l2_common, "l2_common")
        self.half_life_days = check_positive(half_life_days, "half_life_days")
        if not isinstance(fit_intercept, bool):
            raise CombinationError(f"fit_intercept must be a bool, got {fit_intercept!r}")
        self.fit_intercept = fit_intercept
        self.features = (COMMON, *self.names) + ((INTERCEPT,) if fit_intercept else ())
        k = len(self.features)
        self._prior_precision = np.diag(
            [self.l2_common] + [self.l2] * len(self.names) + ([self.l2] if fit_intercept else [])
        )
        self._precision = self._prior_precision.copy()
        self._info = np.zeros(k)  # precision @ mean (the prior mean is 0)
        self._updated_at: pd.Timestamp | None = None
        self.n_updates = 0

    def __repr__(self) -> str:
        return (
            f"StackingCombiner({len(self.names)} signals, l2={self.l2:g}, "
            f"half_life_days={self.half_life_days:g}, fit_intercept={self.fit_intercept})"
        )

    def _features(self, readings: Sequence[SignalReading]) -> np.ndarray:
        by_name = readings_by_name(readings, self.names)
        x = [by_name[n].view if n in by_name else 0.0 for n in self.names]
        return np.array([sum(x) / len(x), *x] + ([1.0] if self.fit_intercept else []))

    def _posterior_at(self, stamp: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """(precision, information) decayed from the last update to `stamp`."""
        if self._updated_at is None:
            return self._precision, self._info
        factor = decay_factor(elapsed_days(self._updated_at, stamp, "at"), self.half_life_days)
        precision = self._prior_precision + (self._precision - self._prior_precision) * factor
        return precision, self._info * factor

    def coefficients(self, at: Any = None) -> dict[str, float]:
        """Posterior-mean effective coefficient per signal (and intercept) at `at` (default:
        as last updated)."""
        precision, info = (
            (self._precision, self._info) if at is None else self._posterior_at(as_utc(at))
        )
        return self._effective_weights(np.linalg.solve(precision, info))

    def _effective_weights(self, mean: np.ndarray) -> dict[str, float]:
        """Per-signal coefficient: the shared mean-view coefficient's 1/k share plus the
        signal's own deviation (what the signal's view is actually multiplied by)."""
        common = float(mean[0]) / len(self.names)
        out = {n: common + float(b) for n, b in zip(self.names, mean[1:], strict=False)}
        if self.fit_intercept:
            out[INTERCEPT] = float(mean[-1])
        return out

    def combine(self, readings: Sequence[SignalReading], at: Any) -> Combination:
        """Moderated P(up) from the readings, and the score 2p - 1."""
        stamp = as_utc(at)
        x = self._features(readings)
        precision, info = self._posterior_at(stamp)
        covariance = np.linalg.inv(precision)
        mean = covariance @ info
        variance = float(x @ covariance @ x)
        moderation = 1.0 / math.sqrt(1.0 + math.pi * variance / 8.0)
        logit = float(mean @ x) * moderation
        probability = _sigmoid(logit)
        weights = self._effective_weights(mean)
        views = {n: float(v) for n, v in zip(self.names, x[1:], strict=False)}
        contributions = {n: weights[n] * views[n] * moderation for n in self.names}
        if self.fit_intercept:
            contributions[INTERCEPT] = weights[INTERCEPT] * moderation
        present = {r.name for r in readings}
        return Combination(
            score=min(1.0, max(-1.0, math.tanh(logit / 2.0))),
            probability=probability,
            weights=weights,
            contributions=contributions,
            disagreement=weighted_dispersion(weights, views),
            excluded={n: "no reading at this decision" for n in self.names if n not in present},
        )

    def record_outcome(
        self, readings: Sequence[SignalReading], realised_return: float, at: Any
    ) -> None:
        """One Laplace update with the decision's views and the realised direction (resolved at
        `at`). A move of exactly 0 has no direction and teaches nothing; it is skipped."""
        move = check_return(realised_return)
        x = self._features(readings)
        stamp = as_utc(at)
        precision, info = self._posterior_at(stamp)
        if move != 0.0 and np.any(x != 0.0):
            y = 1.0 if move > 0 else 0.0
            covariance = np.linalg.inv(precision)
            mean = covariance @ info
            sx = covariance @ x
            mu, v = float(x @ mean), float(x @ sx)
            t = 0.0  # solve t = y - sigma(mu + t v); the left side minus right is increasing
            for _ in range(_NEWTON_STEPS):
                s = _sigmoid(mu + t * v)
                step = (t - y + s) / (1.0 + v * s * (1.0 - s))
                t -= step
                if abs(step) < 1e-12:
                    break
            mode = mean + t * sx
            s = _sigmoid(float(x @ mode))
            precision = precision + s * (1.0 - s) * np.outer(x, x)
            info = precision @ mode
            self.n_updates += 1
        self._precision, self._info, self._updated_at = precision, info, stamp

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "stacking",
                "names": list(self.names),
                "l2": self.l2,
                "l2_common": self.l2_common,
                "half_life_days": self.half_life_days,
                "fit_intercept": self.fit_intercept,
                "precision": self._precision.tolist(),
                "info": self._info.tolist(),
                "updated_at": None if self._updated_at is None else self._updated_at.isoformat(),
                "n_updates": self.n_updates,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> StackingCombiner:
        data = load_state(text, "stacking", "StackingCombiner")
        try:
            out = cls(
                data["names"],
                l2=data["l2"],
                l2_common=data["l2_common"],
                half_life_days=data["half_life_days"],
                fit_intercept=data["fit_intercept"],
            )
            precision = np.array(data["precision"], dtype=float)
            info = np.array(data["info"], dtype=float)
            k = len(out.features)
            if precision.shape != (k, k) or info.shape != (k,):
                raise CombinationError(
                    f"StackingCombiner JSON: precision {precision.shape} / info {info.shape} "
                    f"do not fit {k} features"
                )
            out._precision, out._info = precision, info
            stamp = data["updated_at"]
            out._updated_at = None if stamp is None else as_utc(stamp, "updated_at")
            out.n_updates = int(data["n_updates"])
        except KeyError as exc:
            raise CombinationError(f"StackingCombiner JSON is missing field {exc}") from exc
        return out
