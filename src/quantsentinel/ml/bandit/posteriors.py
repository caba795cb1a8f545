"""Per-arm posteriors over the mean reward, each with a Thompson draw (pure numpy).

The reward is realised P&L per unit of risk (P&L / max loss, so a defined-risk structure cannot
score below -1). Thompson sampling (Thompson 1933; regret bounds in Agrawal & Goyal 2013, "Further
Optimal Regret Bounds for Thompson Sampling", AISTATS) plays the arm whose *draw from the posterior
of its mean* is largest, so how the posterior spreads decides how much the bandit explores.

Three posteriors, all kept as discountable sufficient statistics (weighted counts), so forgetting
is "multiply the data's weight by a factor" and the prior never fades:

- ``gaussian``: Normal likelihood, Normal-Inverse-Gamma conjugate update, and a Normal draw
  N(m_n, beta_n / (alpha_n kappa_n)) that treats the estimated noise variance as known: the
  seed's posterior, "honest about the mean, wrong about the variance". With a large
  ``Prior.shape`` the variance is pinned at ``Prior.sd``^2 and it is exactly Agrawal & Goyal's
  Gaussian Thompson sampling.
- ``student_t``: the same update, but the draw is from the mean's Student-t marginal
  (2 alpha_n degrees of freedom), which carries the uncertainty of the variance: fat-tailed
  draws while n is small. The variance is still a sample variance, though, which on heavy-tailed
  P&L is too small until a tail event lands, and the draws stay symmetric around the mean.
- ``bootstrap`` (the heavy-tail-aware default): the Bayesian bootstrap / Dirichlet posterior of
  the mean (Rubin 1981) as used by Non-Parametric Thompson Sampling (Riou & Honda 2020, "Bandit
  Algorithms Based on Thompson Sampling for Bounded Reward Distributions", ALT; Baudry, Saux &
  Maillard 2021, "From Optimality to Robustness: Dirichlet Sampling Strategies"): the draw is
  sum_i w_i x_i with w ~ Dirichlet(weights) over the observed rewards *plus two pseudo-rewards at
  the worst and best plausible outcome* (``Prior.lower`` = -1, a full max loss, and
  ``Prior.upper``). It assumes no likelihood, so skew survives into the posterior (after a short
  condor's rare max loss, the draws of its mean are left-skewed, not symmetric), and the
  pseudo-loss keeps a never-yet-burnt short-premium arm uncertain about the tail it has not shown
  yet, which is exactly where a Gaussian posterior is over-confident. Riou & Honda prove this
  index asymptotically optimal for rewards bounded above by the anchor; here the anchor is a prior
  belief, not a constraint (rewards above it are accepted).

Why not a Student-t *likelihood* (scale-mixture Gibbs)? It estimates a robust location, which on
skewed P&L is near the median, not the mean: it would down-weight a condor's rare max losses as
outliers and prefer the arm with the best median -- the wrong arm, by construction, for short
premium. The money is in the mean, so the posterior must stay about the mean and widen instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

# Per arm and regime (years of trades); the oldest go first. Bounds the JSON state (~80 kB for
# 6 arms at the cap) and the cost of a bootstrap draw, which is linear in the history.
MAX_BOOTSTRAP_OBSERVATIONS = 500
NEGLIGIBLE_WEIGHT = 1e-6  # a forgotten observation below this weight is dropped from the history


class BanditError(ValueError):
    """Input the bandit refuses; the message names the field and the value."""


def finite_number(name: str, value: Any) -> float:
    """`value` as a float, or a BanditError naming `name` if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise BanditError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise BanditError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Prior:
    """What the bandit believes about an arm before any reward, in reward units (P&L / max loss).

    mean: prior mean reward (0: no edge assumed).
    sd: scale of one reward: the known noise sd of ``gaussian``, the prior guess of the noise sd of
        ``student_t`` (beta_0 = shape * sd^2).
    strength: how many observations the prior is worth: kappa_0 of the Normal priors, and the
        Dirichlet weight of *each* anchor pseudo-reward of ``bootstrap``.
    shape: alpha_0 of the Inverse-Gamma prior on the variance (``student_t``); 1 is vague.
    lower, upper: ``bootstrap``'s anchor pseudo-rewards, the worst and best plausible reward.
    """

    mean: float = 0.0
    sd: float = 1.0
    strength: float = 1.0
    shape: float = 1.0
    lower: float = -1.0
    upper: float = 1.0

    def __post_init__(self) -> None:
        for name in ("mean", "sd", "strength", "shape", "lower", "upper"):
            finite_number(f"prior.{name}", getattr(self, name))
        for name in ("sd", "strength", "shape"):
            if getattr(self, name) <= 0:
                raise BanditError(f"prior.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.lower < self.upper:
            raise BanditError(
                f"prior.lower must be below prior.upper, got {self.lower!r} >= {self.upper!r}"
            )

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


class ArmPosterior(Protocol):
    """The posterior of one arm's mean reward in one regime."""

    kind: ClassVar[str]

    @property
    def n(self) -> float:
        """Effective number of observations (discounted weights summed)."""
        ...

    def update(self, reward: float) -> None: ...

    def discount(self, factor: float) -> None:
        """Multiply every past observation's weight by `factor` in (0, 1] (forgetting)."""
        ...

    def sample(self, rng: np.random.Generator) -> float:
        """One Thompson draw of the arm's mean reward."""
        ...

    def mean(self) -> float: ...

    def sd(self) -> float:
        """Posterior sd of the mean reward (inf where the posterior has no finite variance)."""
        ...

    def state(self) -> dict[str, Any]: ...


@dataclass
class _WeightedMoments:
    """Discounted weight, weighted sum and weighted sum of squares of the observed rewards."""

    n: float = 0.0
    total: float = 0.0
    squares: float = 0.0

    def add(self, reward: float) -> None:
        self.n += 1.0
        self.total += reward
        self.squares += reward * reward

    def scale(self, factor: float) -> None:
        self.n *= factor
        self.total *= factor
        self.squares *= factor

    def scatter(self) -> float:
        """Weighted sum of squared deviations from the weighted mean (>= 0 despite rounding)."""
        if self.n <= 0:
            return 0.0
        return max(self.squares - self.total * self.total / self.n, 0.0)


class StudentTPosterior:
    """Normal-Inverse-Gamma posterior; the mean's marginal is t_{2 alpha_n}(m_n, s_n^2).

    Updates (weighted data: n = sum w, xbar = sum w x / n, S = sum w (x - xbar)^2):
    kappa_n = kappa0 + n, m_n = (kappa0 m0 + n xbar) / kappa_n, alpha_n = alpha0 + n / 2,
    beta_n = beta0 + S / 2 + kappa0 n (xbar - m0)^2 / (2 kappa_n)   (e.g. Murphy 2007, "Conjugate
    Bayesian analysis of the Gaussian distribution", section 3), s_n^2 = beta_n / (alpha_n kappa_n).
    """

    kind: ClassVar[str] = "student_t"

    def __init__(self, prior: Prior, moments: _WeightedMoments | None = None) -> None:
        self.prior = prior
        self.moments = moments or _WeightedMoments()

    @property
    def n(self) -> float:
        return self.moments.n

    def update(self, reward: float) -> None:
        self.moments.add(reward)

    def discount(self, factor: float) -> None:
        self.moments.scale(factor)

    def parameters(self) -> tuple[float, float, float, float]:
        """(m_n, kappa_n, alpha_n, beta_n) of the Normal-Inverse-Gamma posterior."""
        p, m = self.prior, self.moments
        kappa = p.strength + m.n
        mean = (p.strength * p.mean + m.total) / kappa
        alpha = p.shape + m.n / 2.0
        beta = p.shape * p.sd**2 + m.scatter() / 2.0
        if m.n > 0:
            beta += p.strength * m.n * (m.total / m.n - p.mean) ** 2 / (2.0 * kappa)
        return mean, kappa, alpha, beta

    def mean(self) -> float:
        return self.parameters()[0]

    def scale(self) -> float:
        """s_n: the scale of the mean's Student-t marginal (its sd is larger while dof is small)."""
        _, kappa, alpha, beta = self.parameters()
        return math.sqrt(beta / (alpha * kappa))

    def sd(self) -> float:
        dof = 2.0 * self.parameters()[2]
        return self.scale() * math.sqrt(dof / (dof - 2.0)) if dof > 2.0 else math.inf

    def sample(self, rng: np.random.Generator) -> float:
        mean, _, alpha, _ = self.parameters()
        return mean + self.scale() * float(rng.standard_t(2.0 * alpha))

    def state(self) -> dict[str, Any]:
        return asdict(self.moments)


class GaussianPosterior(StudentTPosterior):
    """The same Normal-Inverse-Gamma update, drawn from N(m_n, s_n^2): variance taken as known.

    This is the Gaussian approximation the seed shipped: the noise variance is the posterior's
    point estimate beta_n / alpha_n, treated as exact, so the draw ignores the variance's own
    uncertainty. With a large ``Prior.shape`` the variance is pinned at ``Prior.sd``^2 and this is
    exactly Agrawal & Goyal's Gaussian Thompson sampling (mean 0, sd 1, strength 1:
    theta ~ N(sum r / (n + 1), 1 / (n + 1))).
    """

    kind: ClassVar[str] = "gaussian"

    def sd(self) -> float:
        return self.scale()

    def sample(self, rng: np.random.Generator) -> float:
        return self.mean() + self.scale() * float(rng.standard_normal())


class BootstrapPosterior:
    """Dirichlet (Bayesian-bootstrap) posterior of the mean over rewards plus two anchor rewards."""

    kind: ClassVar[str] = "bootstrap"

    def __init__(
        self,
        prior: Prior,
        rewards: list[float] | None = None,
        weights: list[float] | None = None,
    ) -> None:
        self.prior = prior
        self.rewards = list(rewards or [])
        self.weights = list(weights or [])
        if len(self.rewards) != len(self.weights):
            raise BanditError(
                f"bootstrap state has {len(self.rewards)} rewards but {len(self.weights)} weights"
            )

    @property
    def n(self) -> float:
        return float(sum(self.weights))

    def update(self, reward: float) -> None:
        self.rewards.append(reward)
        self.weights.append(1.0)
        if len(self.rewards) > MAX_BOOTSTRAP_OBSERVATIONS:
            del self.rewards[0], self.weights[0]

    def discount(self, factor: float) -> None:
        kept = [(r, w * factor) for r, w in zip(self.rewards, self.weights, strict=True)]
        kept = [(r, w) for r, w in kept if w >= NEGLIGIBLE_WEIGHT]
        self.rewards = [r for r, _ in kept]
        self.weights = [w for _, w in kept]

    def _support(self) -> tuple[np.ndarray, np.ndarray]:
        anchors = [self.prior.lower, self.prior.upper]
        values = np.array(anchors + self.rewards, dtype=float)
        alphas = np.array([self.prior.strength] * 2 + self.weights, dtype=float)
        return values, alphas

    def mean(self) -> float:
        values, alphas = self._support()
        return float(alphas @ values / alphas.sum())

    def sd(self) -> float:
        # For w ~ Dirichlet(a), a0 = sum a: Var(sum w x) = sum (a/a0) (x - mean)^2 / (a0 + 1).
        values, alphas = self._support()
        total = alphas.sum()
        centre = alphas @ values / total
        return math.sqrt(float(alphas @ (values - centre) ** 2 / total / (total + 1.0)))

    def sample(self, rng: np.random.Generator) -> float:
        values, alphas = self._support()
        gammas = rng.standard_gamma(alphas)  # Dirichlet draw = normalised independent gammas
        return float(gammas @ values / gammas.sum())

    def state(self) -> dict[str, Any]:
        return {"rewards": list(self.rewards), "weights": list(self.weights)}


POSTERIORS: dict[str, type] = {
    cls.kind: cls for cls in (GaussianPosterior, StudentTPosterior, BootstrapPosterior)
}


def new_posterior(kind: str, prior: Prior) -> ArmPosterior:
    """An empty posterior of `kind` (one of POSTERIORS) under `prior`."""
    if kind not in POSTERIORS:
        raise BanditError(f"posterior must be one of {sorted(POSTERIORS)}, got {kind!r}")
    return POSTERIORS[kind](prior)


def posterior_from_state(kind: str, prior: Prior, state: dict[str, Any]) -> ArmPosterior:
    """Rebuild a posterior from `ArmPosterior.state()` (the JSON form), checking every number."""
    if kind == BootstrapPosterior.kind:
        rewards = [finite_number("state.rewards[]", r) for r in state.get("rewards", [])]
        weights = [finite_number("state.weights[]", w) for w in state.get("weights", [])]
        if any(w < 0 for w in weights):
            raise BanditError(f"state.weights must be >= 0, got {weights!r}")
        return BootstrapPosterior(prior, rewards, weights)
    moments = _WeightedMoments(
        **{k: finite_number(f"state.{k}", state.get(k)) for k in ("n", "total", "squares")}
    )
    if moments.n < 0:
        raise BanditError(f"state.n must be >= 0, got {moments.n!r}")
    posterior = new_posterior(kind, prior)
    posterior.moments = moments  # type: ignore[attr-defined]
    return posterior
