"""`Structure`: a named set of legs plus the tail-hedge legs attached to it.

The castle evaluates `all_legs` (structure + hedge): a hedged composite is one position. Builders
for every kind in `STRUCTURE_KINDS` live in `builders`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import FUTURE, Leg

STRUCTURE_KINDS = (
    "single_leg",
    "vertical_debit",
    "vertical_credit",
    "straddle",
    "strangle",
    "iron_condor",
    "iron_fly",
    "butterfly",
    "calendar",
    "futures",
)


@dataclass(frozen=True)
class Structure:
    """A named set of legs, plus the tail-hedge legs attached to it (the composite)."""

    kind: str
    legs: tuple[Leg, ...]
    hedge: tuple[Leg, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "legs", tuple(self.legs))
        object.__setattr__(self, "hedge", tuple(self.hedge))
        if self.kind not in STRUCTURE_KINDS:
            raise RiskInputError(
                "unknown_structure",
                f"structure kind {self.kind!r} is not one of {', '.join(STRUCTURE_KINDS)}",
            )
        if not self.legs:
            raise OrderError("empty_order", f"a {self.kind} needs at least one leg")
        for leg in self.all_legs:
            if not isinstance(leg, Leg):
                raise OrderError("bad_input", f"{type(leg).__name__} is not a Leg")
        underlyings = {leg.underlying for leg in self.all_legs}
        if len(underlyings) != 1:
            raise RiskInputError(
                "mixed_underlyings",
                f"a structure trades one underlying, got {', '.join(sorted(underlyings))}",
            )

    @property
    def all_legs(self) -> tuple[Leg, ...]:
        """The structure's legs followed by its hedge legs: what is traded and evaluated."""
        return self.legs + self.hedge

    @property
    def underlying(self) -> str:
        return self.legs[0].underlying

    @property
    def expiry(self) -> date:
        """The nearest expiry among all legs (where the payoff is measured)."""
        return min(leg.expiry for leg in self.all_legs)

    @property
    def unit_lots(self) -> int:
        """Greatest common divisor of the legs' lots: the structure is this many copies of one."""
        return math.gcd(*(leg.lots for leg in self.all_legs))

    @property
    def is_composite(self) -> bool:
        return bool(self.hedge)

    def with_hedge(self, legs: tuple[Leg, ...] | list[Leg]) -> Structure:
        """A copy whose hedge is `legs` (replacing any previous hedge)."""
        return replace(self, hedge=tuple(legs))

    def scaled(self, units: int) -> Structure:
        """`units` copies of one unit of the structure (every leg, hedge legs too, scaled alike):
        lots per leg = leg.lots / unit_lots x units, so the legs keep their ratios."""
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise OrderError("zero_lots", f"a structure is scaled to >= 1 unit, got {units!r}")
        unit = self.unit_lots
        return replace(
            self,
            legs=tuple(leg.scaled(leg.lots // unit * units) for leg in self.legs),
            hedge=tuple(leg.scaled(leg.lots // unit * units) for leg in self.hedge),
        )

    def describe(self) -> str:
        """One line: kind, underlying, nearest expiry and every leg (hedge legs after a bar)."""
        text = f"{self.kind} {self.underlying} {self.expiry:%d%b%y}: "
        text += ", ".join(_short_label(leg) for leg in self.legs)
        if self.hedge:
            text += " | hedge: " + ", ".join(_short_label(leg) for leg in self.hedge)
        return text


def _short_label(leg: Leg) -> str:
    what = "FUT" if leg.kind == FUTURE else f"{leg.strike:g}{leg.kind}"
    return f"{leg.side} {leg.lots}x {what} {leg.expiry:%d%b}"
