"""What the cost engine returns: one `CostLine` per charge per order, grouped per phase.

Every rupee of cost is a line with its base and rate, so a tenant asking "why was this trade's cost
₹312" gets the contract-note view, line by line, and the audit log stores exactly that
(`as_records`). Slippage is a line too, but never counted in `fees`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property, reduce
from typing import Any, NamedTuple

from quantsentinel.risk.costs.rates import BROKERAGE, SLIPPAGE
from quantsentinel.risk.orders import BUY, SELL, Leg

ENTRY, EXIT, SETTLEMENT = "entry", "exit", "settlement"
PHASES = (ENTRY, EXIT, SETTLEMENT)
FLAT_BROKERAGE_SOURCE = "tenant brokerage plan: flat"  # explain() shows these rates as ₹/order


class CostLine(NamedTuple):
    """One charge on one order.

    `base` is the rupee amount the rate applies to (premium/turnover, intrinsic value, the sum of
    GST-able charges); `amount = base x rate` except for brokerage, where a flat plan has base 1
    order and rate = rupees per order, and a percent plan's cap may bind. For slippage `base` is
    units and `rate` the expected rupees per unit.
    """

    charge: str
    leg: int | None
    phase: str
    base: float
    rate: float
    amount: float
    source: str


def unit_lots(legs: Sequence[Leg]) -> int:
    """The structure's unit: gcd of the legs' lots (an iron condor of 2x4 legs is 2 units)."""
    return reduce(math.gcd, (leg.lots for leg in legs))


class _CostSummary:
    """Totals and reports shared by one phase's costs and a round trip's."""

    lines: tuple[CostLine, ...]
    legs: tuple[Leg, ...]
    unit_lots: int

    def __iter__(self) -> Iterator[CostLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @cached_property
    def total(self) -> float:
        return math.fsum(line.amount for line in self.lines)

    @cached_property
    def slippage(self) -> float:
        return math.fsum(line.amount for line in self.lines if line.charge == SLIPPAGE)

    @cached_property
    def fees(self) -> float:
        """Everything but slippage: brokerage, taxes, exchange and regulatory levies."""
        return math.fsum(line.amount for line in self.lines if line.charge != SLIPPAGE)

    @property
    def per_lot(self) -> float:
        """Cost of one 1-lot copy of the structure: total / gcd of the legs' lots."""
        return self.total / self.unit_lots

    def by_charge(self) -> dict[str, float]:
        """Rupees per charge, in the order charges first appear."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.charge] = out.get(line.charge, 0.0) + line.amount
        return out

    def as_records(self) -> list[dict[str, Any]]:
        """One plain dict per line (JSON-ready), for the audit log and asset metadata tables."""
        return [
            {
                "phase": line.phase,
                "charge": line.charge,
                "leg": line.leg,
                "leg_label": self._label(line.leg),
                "base": line.base,
                "rate": line.rate,
                "amount": line.amount,
                "source": line.source,
            }
            for line in self.lines
        ]

    def explain(self) -> str:
        """A readable contract-note style table: one row per line, then the totals."""
        header = (
            f"{'phase':<10} {'side':<6} {'charge':<13} {'leg':<34} {'base':>14} {'rate':>16} "
            f"{'₹':>10}"
        )
        rows = [self._title(), header, "-" * len(header)]
        for line in self.lines:
            rows.append(
                f"{line.phase:<10} {self._side(line):<6} {line.charge:<13} "
                f"{self._label(line.leg):<34.34} {line.base:>14,.2f} {_rate_text(line):>16} "
                f"{line.amount:>10,.2f}"
            )
        rows.append("-" * len(header))
        blank = f"{'':<10} {'':<6}"
        for charge, amount in self.by_charge().items():
            rows.append(f"{blank} {charge:<13} {'total':<34} {'':>14} {'':>16} {amount:>10,.2f}")
        rows.append(
            f"fees ₹{self.fees:,.2f} + slippage ₹{self.slippage:,.2f} = total ₹{self.total:,.2f}"
            f"; per lot (unit {self.unit_lots}) ₹{self.per_lot:,.2f}"
        )
        return "\n".join(rows)

    def _side(self, line: CostLine) -> str:
        """The side the order traded: the leg's own on entry, the opposite on exit."""
        if line.leg is None or line.phase == SETTLEMENT:
            return "settle" if line.phase == SETTLEMENT else ""
        own = self.legs[line.leg].side
        return own if line.phase == ENTRY else (SELL if own == BUY else BUY)

    def _label(self, leg: int | None) -> str:
        return "(order)" if leg is None else f"#{leg} {self.legs[leg].label}"

    def _title(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class OrderCosts(_CostSummary):
    """Costs of one phase (entry, exit or settlement) of a multi-leg order."""

    lines: tuple[CostLine, ...]
    legs: tuple[Leg, ...]
    phase: str
    on: date
    unit_lots: int

    def _title(self) -> str:
        return f"{self.phase} costs on {self.on}: {len(self.legs)} leg(s)"


@dataclass(frozen=True, eq=False)
class RoundTripCosts(_CostSummary):
    """Entry plus exit (closing trades, or cash settlement at expiry)."""

    entry: OrderCosts
    exit: OrderCosts

    @property
    def legs(self) -> tuple[Leg, ...]:  # type: ignore[override]
        return self.entry.legs

    @property
    def unit_lots(self) -> int:  # type: ignore[override]
        return self.entry.unit_lots

    @cached_property
    def lines(self) -> tuple[CostLine, ...]:  # type: ignore[override]
        return self.entry.lines + self.exit.lines

    def _title(self) -> str:
        return (
            f"round trip: entry {self.entry.on}, {self.exit.phase} {self.exit.on}: "
            f"{len(self.legs)} leg(s)"
        )


def _rate_text(line: CostLine) -> str:
    if line.charge == SLIPPAGE:
        return f"₹{line.rate:,.4f}/unit"
    if line.charge == BROKERAGE and line.source.startswith(FLAT_BROKERAGE_SOURCE):
        return f"₹{line.rate:,.2f}/order"
    return f"{line.rate * 100:.6g}%"
