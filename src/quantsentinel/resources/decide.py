"""Knobs of the decide path, read from the environment at run time (settings.export_env)."""

from __future__ import annotations

import dagster as dg
from quantsentinel.market.contracts import UNDERLYINGS


class DecideResource(dg.ConfigurableResource):
    """Which underlyings are decided, how often, and how the loops learn.

    `every_minutes`: a snapshot is decided when its minute of the session (from 09:15 IST) is a
    multiple of it; 5 decides every snapshot the simulator produces. `combiner`: "bma" (Bayesian
    averaging with circuit breakers, the seed's design) or "stacking" (the learned combiner that
    does not assume one true signal). `posterior`: the bandit's ("bootstrap", "student_t",
    "gaussian")."""

    underlyings: str = "NIFTY,BANKNIFTY"
    every_minutes: int = 5
    # A snapshot older than this when the sensor sees it is not decided (0: any age, for
    # replays and backfills): a backlog after an outage must not be traded as if it were live.
    max_age_minutes: int = 15
    combiner: str = "bma"
    posterior: str = "bootstrap"
    penalty: float = 0.1
    resolve_minutes: float = 60.0

    def underlying_list(self) -> list[str]:
        names = [u.strip() for u in self.underlyings.split(",") if u.strip()]
        unknown = sorted(set(names) - set(UNDERLYINGS))
        if unknown:
            raise ValueError(
                f"decide underlyings {', '.join(unknown)} are not in the universe "
                f"({', '.join(UNDERLYINGS)})"
            )
        return names

    def learning(self):
        from quantsentinel.decide.learning import LearningSettings

        return LearningSettings(
            combiner=self.combiner,
            posterior=self.posterior,
            penalty=self.penalty,
            resolve_minutes=self.resolve_minutes,
        )
