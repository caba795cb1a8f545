"""Regret of the bandit's posteriors on simulated reward streams (Gaussian vs heavy-tailed).

`simulate_regret` drives the real `StructureBandit` (one regime) for `horizon` rounds in each of
`runs` independent runs and records the cumulative pseudo-regret sum_t (mu* - mu_{a_t}), with mu
the arms' true means. Each run's reward streams come from their own seed drawn from `rng`, so
two posteriors simulated from equally seeded Generators face the very same rewards (common random
numbers: their difference is the posterior, not the luck of the draw).

The heavy-tailed scenario is built so that the best arm is not the one with the best median: a
short-premium arm (frequent small gains, rare near-max losses) has the best median and a worse
mean than a long-premium arm (frequent small losses, rare large gains, Student-t tails).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from quantsentinel.ml.bandit.posteriors import BanditError, Prior
from quantsentinel.ml.bandit.thompson import StructureBandit

SIMULATION_REGIME = "NORMAL"
LOCK_IN_TAIL = 0.25  # a run "locks in" if its most-played arm over the last quarter is not best


@dataclass(frozen=True)
class ArmRewards:
    """An arm's reward distribution: exact mean and median, and a sampler draw(rng, size)."""

    name: str
    mean: float
    median: float
    draw: Callable[[np.random.Generator, int], np.ndarray]


def gaussian_rewards(name: str, mean: float, sd: float) -> ArmRewards:
    """Normal rewards N(mean, sd^2)."""
    return ArmRewards(name, mean, mean, lambda rng, size: rng.normal(mean, sd, size))


def student_t_rewards(name: str, mean: float, scale: float, dof: float) -> ArmRewards:
    """Symmetric heavy tails: mean + scale * t_dof (dof > 1 so the mean exists)."""
    if dof <= 1:
        raise BanditError(f"dof must be > 1 for the mean to exist, got {dof!r}")
    return ArmRewards(name, mean, mean, lambda rng, size: mean + scale * rng.standard_t(dof, size))


def mixture_rewards(
    name: str,
    usual: float,
    usual_sd: float,
    rare: float,
    rare_scale: float,
    rare_prob: float,
    dof: float = 2.5,
) -> ArmRewards:
    """With probability 1 - rare_prob N(usual, usual_sd^2), else rare + rare_scale * t_dof.

    Short premium is usual > 0 with a rare large loss; long premium the mirror image. The median
    is computed numerically from the mixture's CDF (it sits in the usual component).
    """
    if not 0 < rare_prob < 0.5:
        raise BanditError(f"rare_prob must be in (0, 0.5), got {rare_prob!r}")
    if dof <= 1:
        raise BanditError(f"dof must be > 1 for the mean to exist, got {dof!r}")
    mean = (1 - rare_prob) * usual + rare_prob * rare

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        is_rare = rng.random(size) < rare_prob
        usual_draw = rng.normal(usual, usual_sd, size)
        rare_draw = rare + rare_scale * rng.standard_t(dof, size)
        return np.where(is_rare, rare_draw, usual_draw)

    median = _mixture_median(usual, usual_sd, rare, rare_scale, rare_prob, dof)
    return ArmRewards(name, mean, median, draw)


def _mixture_median(
    usual: float, usual_sd: float, rare: float, rare_scale: float, rare_prob: float, dof: float
) -> float:
    from scipy import optimize, stats  # lazy: only scenario construction needs scipy

    def cdf(x: float) -> float:
        return float(
            (1 - rare_prob) * stats.norm.cdf(x, usual, usual_sd)
            + rare_prob * stats.t.cdf((x - rare) / rare_scale, dof)
        )

    low, high = (
        min(usual, rare) - 50 * (usual_sd + rare_scale),
        max(usual, rare) + 50 * (usual_sd + rare_scale),
    )
    return float(optimize.brentq(lambda x: cdf(x) - 0.5, low, high))


def heavy_tailed_scenario() -> list[ArmRewards]:
    """Four structures in P&L / max-loss units; the best median (iron_condor) is not the best mean.

    iron_condor: +0.20 usually, a ~max loss (-0.85, t tails) 15% of the time: mean 0.0425,
        median 0.19 (the best median).
    straddle: -0.15 usually, a large gain (+1.35, t tails) 20% of the time: mean 0.15 (the best
        mean), median -0.13.
    vertical_debit: symmetric t_2.5 around 0.04.
    strangle_short: +0.15 usually, -1.0 15% of the time: mean -0.0225.
    """
    return [
        mixture_rewards("iron_condor", 0.20, 0.05, -0.85, 0.15, 0.15),
        mixture_rewards("straddle", -0.15, 0.08, 1.35, 0.4, 0.20),
        student_t_rewards("vertical_debit", 0.04, 0.3, 2.5),
        mixture_rewards("strangle_short", 0.15, 0.05, -1.0, 0.2, 0.15),
    ]


def gaussian_scenario(gap: float = 0.3, sd: float = 0.3) -> list[ArmRewards]:
    """Three clearly separated Normal arms (means 0, gap, 2*gap): the sanity scenario."""
    return [
        gaussian_rewards("iron_condor", 0.0, sd),
        gaussian_rewards("vertical_debit", gap, sd),
        gaussian_rewards("straddle", 2 * gap, sd),
    ]


@dataclass(frozen=True)
class RegretResult:
    """Cumulative pseudo-regret curves (runs x horizon) and arm-play counts (runs x arms)."""

    posterior: str
    arms: tuple[str, ...]
    best_arm: str
    regret: np.ndarray
    plays: np.ndarray
    late_plays: np.ndarray  # plays over the last LOCK_IN_TAIL of the horizon

    def at(self, t: int) -> np.ndarray:
        """Cumulative regret after `t` rounds, one value per run."""
        if not 1 <= t <= self.regret.shape[1]:
            raise BanditError(f"t must be in [1, {self.regret.shape[1]}], got {t!r}")
        return self.regret[:, t - 1]

    def locked_in_fraction(self) -> float:
        """Share of runs whose most-played arm over the horizon's last quarter is not the best."""
        favourite = self.late_plays.argmax(axis=1)
        return float(np.mean(favourite != self.arms.index(self.best_arm)))


def simulate_regret(
    posterior: str,
    arms: Sequence[ArmRewards],
    horizon: int,
    runs: int,
    rng: np.random.Generator,
    prior: Prior | None = None,
    half_life: float | None = None,
) -> RegretResult:
    """Run the bandit `runs` times for `horizon` rounds on `arms`; see the module docstring."""
    if not arms:
        raise BanditError("arms must not be empty")
    for name, value in (("horizon", horizon), ("runs", runs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BanditError(f"{name} must be a positive integer, got {value!r}")
    names = tuple(a.name for a in arms)
    means = np.array([a.mean for a in arms])
    best = int(means.argmax())
    gaps = means[best] - means
    seeds = rng.integers(0, 2**63 - 1, size=(runs, 2))
    regret = np.empty((runs, horizon))
    plays = np.zeros((runs, len(arms)), dtype=int)
    late_plays = np.zeros_like(plays)
    late_from = horizon - max(1, round(horizon * LOCK_IN_TAIL))
    for run in range(runs):
        reward_rng = np.random.default_rng(seeds[run, 0])
        choice_rng = np.random.default_rng(seeds[run, 1])
        # One stream per arm, drawn up front: the t-th play of an arm gets its t-th reward
        # whichever posterior is playing, so posteriors compare on identical outcomes.
        streams = np.stack([a.draw(reward_rng, horizon) for a in arms])
        bandit = StructureBandit(
            names,
            posterior=posterior,
            prior=prior,
            half_life=half_life,
            regimes=(SIMULATION_REGIME,),
        )
        step_regret = np.empty(horizon)
        for t in range(horizon):
            arm = names.index(bandit.choose(SIMULATION_REGIME, choice_rng).arm)
            bandit.update(SIMULATION_REGIME, names[arm], float(streams[arm, plays[run, arm]]))
            plays[run, arm] += 1
            if t >= late_from:
                late_plays[run, arm] += 1
            step_regret[t] = gaps[arm]
        regret[run] = np.cumsum(step_regret)
    return RegretResult(posterior, names, names[best], regret, plays, late_plays)
