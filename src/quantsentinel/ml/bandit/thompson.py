"""A regime-partitioned Thompson-sampling bandit over option structures (issue 6, layer 3).

Context is the regime (seed 001 loop 2: "each regime maintains its own posterior over arm
rewards"): a reward observed in HIGH_VOL never moves a LOW_VOL_RANGE posterior, because the same
structure pays differently in each. Arms are the caller's structure names.

Choosing: draw once from every arm's posterior (in arm order, so a seeded Generator gives the same
choice), subtract the diversification penalty, and take the best arm among those allowed (the
castle's regime wall may forbid some; they are still drawn, so the record shows what was passed
over). Ties go to the earlier arm.

Diversification penalty (seed 001's diverse_reward layer, made explicit): with ``book_shares``
the share of the tenant's open book already in each arm (shares in [0, 1], summing to at most 1;
by risk, lots or count -- the caller decides and says so), the value compared is

    penalised[arm] = sampled[arm] - penalty * book_shares.get(arm, 0)

in reward units: ``penalty=0.2`` means a book that is all condors needs a condor draw 0.2 of max
loss better than the alternative before another condor is opened. It changes choices, never the
posteriors: rewards stay the P&L that happened.

Forgetting (``half_life``): the prior stays, the data fade. In ``"observations"`` units every
update in a regime multiplies the weight of every past reward *of that regime* (all arms) by
0.5 ** (1 / half_life) -- discounted Thompson sampling (Raj & Kalyani 2017), so an arm not played
for a while regains width and gets re-tried, and a regime seen rarely (CRISIS) keeps what it
learnt between visits. In ``"days"`` units the factor is 0.5 ** (elapsed days / half_life) since
the regime's previous update, and `update` needs ``at``.

State is plain JSON (`to_json` / `from_json`) so it can live in a per-tenant database row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from quantsentinel.ml.bandit.posteriors import (
    POSTERIORS,
    ArmPosterior,
    BanditError,
    Prior,
    finite_number,
    new_posterior,
    posterior_from_state,
)
from quantsentinel.risk.castle.regime import REGIMES

if TYPE_CHECKING:
    import pandas as pd

STATE_VERSION = 1
HALF_LIFE_UNITS = ("observations", "days")
BOOK_SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Choice:
    """One decision: the arm, every arm's Thompson draw, and the draws after the penalty."""

    regime: str
    arm: str
    sampled: dict[str, float]
    penalised: dict[str, float]
    allowed: tuple[str, ...] = field(default=())


def _as_datetime(name: str, value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise BanditError(f"{name} must be a date or datetime, got {value!r}")


class StructureBandit:
    """Contextual (regime-partitioned) Thompson sampling over structures, with forgetting."""

    def __init__(
        self,
        arms: Sequence[str],
        posterior: str = "bootstrap",
        prior: Prior | None = None,
        half_life: float | None = None,
        half_life_unit: str = "observations",
        penalty: float = 0.0,
        regimes: Sequence[str] = REGIMES,
    ) -> None:
        self.arms = self._names("arms", arms)
        self.regimes = self._names("regimes", regimes)
        if posterior not in POSTERIORS:
            raise BanditError(f"posterior must be one of {sorted(POSTERIORS)}, got {posterior!r}")
        self.posterior = posterior
        self.prior = prior if prior is not None else Prior()
        if not isinstance(self.prior, Prior):
            raise BanditError(f"prior must be a Prior, got {prior!r}")
        if half_life is not None:
            half_life = finite_number("half_life", half_life)
            if half_life <= 0:
                raise BanditError(f"half_life must be > 0 (or None: never forget), got {half_life}")
        if half_life_unit not in HALF_LIFE_UNITS:
            raise BanditError(
                f"half_life_unit must be one of {HALF_LIFE_UNITS}, got {half_life_unit!r}"
            )
        self.half_life = half_life
        self.half_life_unit = half_life_unit
        self.penalty = finite_number("penalty", penalty)
        if self.penalty < 0:
            raise BanditError(f"penalty must be >= 0, got {penalty!r}")
        self._posteriors: dict[str, dict[str, ArmPosterior]] = {
            regime: {arm: new_posterior(posterior, self.prior) for arm in self.arms}
            for regime in self.regimes
        }
        self._last_update: dict[str, datetime | None] = {regime: None for regime in self.regimes}

    @staticmethod
    def _names(field_name: str, names: Sequence[str]) -> tuple[str, ...]:
        if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
            raise BanditError(
                f"{field_name} must be a sequence of non-empty strings, got {names!r}"
            )
        if not names:
            raise BanditError(f"{field_name} must not be empty")
        if len(set(names)) != len(names):
            raise BanditError(f"{field_name} must be distinct, got {list(names)!r}")
        return tuple(names)

    def _check_regime(self, regime: str) -> dict[str, ArmPosterior]:
        if regime not in self._posteriors:
            raise BanditError(f"regime must be one of {self.regimes}, got {regime!r}")
        return self._posteriors[regime]

    def _check_arm(self, field_name: str, arm: str) -> str:
        if arm not in self.arms:
            raise BanditError(f"{field_name} must be one of {self.arms}, got {arm!r}")
        return arm

    def posterior_of(self, regime: str, arm: str) -> ArmPosterior:
        """The live posterior of `arm` in `regime` (read it; change it through `update`)."""
        return self._check_regime(regime)[self._check_arm("arm", arm)]

    def _book_shares(self, book_shares: Mapping[str, float] | None) -> dict[str, float]:
        if book_shares is None:
            return {}
        shares = {
            self._check_arm("book_shares key", arm): finite_number(f"book_shares[{arm!r}]", share)
            for arm, share in book_shares.items()
        }
        for arm, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise BanditError(f"book_shares[{arm!r}] must be in [0, 1], got {share!r}")
        if sum(shares.values()) > 1.0 + BOOK_SHARE_TOLERANCE:
            raise BanditError(f"book_shares must sum to at most 1, got {sum(shares.values())!r}")
        return shares

    def choose(
        self,
        regime: str,
        rng: np.random.Generator,
        book_shares: Mapping[str, float] | None = None,
        allowed: Collection[str] | None = None,
    ) -> Choice:
        """Thompson-sample every arm in `regime`; pick the best penalised draw among `allowed`."""
        posteriors = self._check_regime(regime)
        if not isinstance(rng, np.random.Generator):
            raise BanditError(f"rng must be a numpy Generator, got {rng!r}")
        shares = self._book_shares(book_shares)
        if allowed is None:
            permitted = self.arms
        else:
            permitted_set = {self._check_arm("allowed arm", a) for a in allowed}
            permitted = tuple(a for a in self.arms if a in permitted_set)
            if not permitted:
                raise BanditError(f"allowed must name at least one arm, got {allowed!r}")
        sampled = {arm: posteriors[arm].sample(rng) for arm in self.arms}
        penalised = {arm: v - self.penalty * shares.get(arm, 0.0) for arm, v in sampled.items()}
        best = max(permitted, key=lambda a: (penalised[a], -self.arms.index(a)))
        return Choice(regime, best, sampled, penalised, permitted)

    def update(
        self, regime: str, arm: str, reward: float, at: date | datetime | None = None
    ) -> None:
        """Record `reward` (P&L / max loss) for `arm` in `regime`, forgetting old data first."""
        posteriors = self._check_regime(regime)
        self._check_arm("arm", arm)
        reward = finite_number("reward", reward)
        factor = self._forgetting_factor(regime, at)
        if factor < 1.0:
            for posterior in posteriors.values():
                posterior.discount(factor)
        posteriors[arm].update(reward)

    def _forgetting_factor(self, regime: str, at: date | datetime | None) -> float:
        if self.half_life_unit == "days":
            if at is None and self.half_life is not None:
                raise BanditError("at is required when half_life_unit is 'days'")
            if at is None:
                return 1.0
            when = _as_datetime("at", at)
            last = self._last_update[regime]
            if last is not None and when < last:
                raise BanditError(f"at must not go back in time: {when} is before {last}")
            self._last_update[regime] = when
            if self.half_life is None or last is None:
                return 1.0
            return 0.5 ** ((when - last).total_seconds() / 86400.0 / self.half_life)
        if at is not None:
            _as_datetime("at", at)  # accepted and ignored: forgetting counts observations
        return 1.0 if self.half_life is None else 0.5 ** (1.0 / self.half_life)

    def summary(self, regime: str) -> pd.DataFrame:
        """Per arm in `regime`: effective n, posterior mean and sd of the mean reward."""
        import pandas as pd  # lazy: the decide path should not pay pandas' import for a bandit

        posteriors = self._check_regime(regime)
        rows = [
            {"arm": arm, "n": p.n, "posterior_mean": p.mean(), "posterior_sd": p.sd()}
            for arm, p in posteriors.items()
        ]
        return pd.DataFrame(rows, columns=["arm", "n", "posterior_mean", "posterior_sd"])

    def to_dict(self) -> dict[str, Any]:
        """The whole bandit as JSON-ready data (configuration and every posterior)."""
        return {
            "version": STATE_VERSION,
            "arms": list(self.arms),
            "regimes": list(self.regimes),
            "posterior": self.posterior,
            "prior": self.prior.to_dict(),
            "half_life": self.half_life,
            "half_life_unit": self.half_life_unit,
            "penalty": self.penalty,
            "state": {
                regime: {
                    "last_update": None if last is None else last.isoformat(),
                    "arms": {arm: p.state() for arm, p in self._posteriors[regime].items()},
                }
                for regime, last in self._last_update.items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StructureBandit:
        """Rebuild from `to_dict`; a missing or malformed field raises BanditError naming it."""
        if not isinstance(data, Mapping):
            raise BanditError(f"bandit state must be a JSON object, got {type(data).__name__}")
        required = ("version", "arms", "regimes", "posterior", "prior", "state")
        missing = [k for k in required if k not in data]
        if missing:
            raise BanditError(f"bandit state is missing fields {missing}")
        if data["version"] != STATE_VERSION:
            raise BanditError(
                f"bandit state version must be {STATE_VERSION}, got {data['version']!r}"
            )
        try:
            prior = Prior(**data["prior"])
        except TypeError as exc:
            raise BanditError(f"bandit state prior is malformed: {exc}") from exc
        bandit = cls(
            data["arms"],
            posterior=data["posterior"],
            prior=prior,
            half_life=data.get("half_life"),
            half_life_unit=data.get("half_life_unit", "observations"),
            penalty=data.get("penalty", 0.0),
            regimes=data["regimes"],
        )
        state = data["state"]
        if not isinstance(state, Mapping) or set(state) != set(bandit.regimes):
            raise BanditError(f"bandit state.state must have one entry per regime {bandit.regimes}")
        for regime, entry in state.items():
            arms = entry.get("arms", {}) if isinstance(entry, Mapping) else None
            if not isinstance(arms, Mapping) or set(arms) != set(bandit.arms):
                raise BanditError(f"bandit state.state[{regime!r}].arms must name every arm")
            for arm, arm_state in arms.items():
                bandit._posteriors[regime][arm] = posterior_from_state(
                    bandit.posterior, prior, arm_state
                )
            last = entry.get("last_update")
            try:
                bandit._last_update[regime] = None if last is None else datetime.fromisoformat(last)
            except (TypeError, ValueError) as exc:
                raise BanditError(
                    f"bandit state.state[{regime!r}].last_update must be ISO 8601, got {last!r}"
                ) from exc
        return bandit

    @classmethod
    def from_json(cls, text: str) -> StructureBandit:
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise BanditError(f"bandit state is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def expected_best(bandit: StructureBandit, regime: str) -> str:
    """The arm with the highest posterior mean in `regime` (greedy read-out, no exploration)."""
    posteriors = bandit._check_regime(regime)
    return max(bandit.arms, key=lambda a: (posteriors[a].mean(), -bandit.arms.index(a)))
