"""The OpportunityScorer (seed 001 §8, wall 6): is the trade worth taking after every cost?

Three checks in a fixed order, the first failure returned with its numbers:
1. net expected value per lot after every cost line and slippage must exceed `min_net_ev`
   (zero by default: the hard rule);
2. frictions (fees + slippage) must be at most `max_cost_ratio` of the gross edge (40% default:
   a thin edge that survives costs today does not survive a slightly worse fill);
3. the win probability must be at least `min_win_probability` (45% default).
Thresholds are per tenant (RiskPolicy). Unlike the seed's sketch, a non-finite or negative cost is
refused as bad input rather than silently clipped, and a zero edge fails check 1 with its numbers
instead of dividing by zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.policy import RiskPolicy


@dataclass(frozen=True)
class ScoreThresholds:
    max_cost_ratio: float = 0.40
    min_win_probability: float = 0.45
    min_net_ev: float = 0.0

    @classmethod
    def from_policy(cls, policy: RiskPolicy) -> ScoreThresholds:
        return cls(
            max_cost_ratio=policy.max_cost_ratio, min_win_probability=policy.min_win_probability
        )


@dataclass(frozen=True)
class OpportunityScore:
    passed: bool
    failed_check: str | None  # net_ev | cost_ratio | win_probability
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)


class OpportunityScorer:
    def __init__(self, thresholds: ScoreThresholds | None = None) -> None:
        self.thresholds = thresholds or ScoreThresholds()

    def score(
        self,
        *,
        edge_per_lot: float,
        cost_per_lot: float,
        slippage_per_lot: float,
        win_probability: float,
    ) -> OpportunityScore:
        values = {
            "edge_per_lot": edge_per_lot,
            "cost_per_lot": cost_per_lot,
            "slippage_per_lot": slippage_per_lot,
            "win_probability": win_probability,
        }
        for name, value in values.items():
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise RiskInputError("bad_input", f"{name} must be a finite number, got {value!r}")
        if cost_per_lot < 0 or slippage_per_lot < 0:
            raise RiskInputError("bad_input", "costs and slippage are never negative", **values)
        if not 0.0 <= win_probability <= 1.0:
            raise RiskInputError("bad_input", f"win_probability {win_probability} not in [0, 1]")
        t = self.thresholds
        frictions = cost_per_lot + slippage_per_lot
        net = edge_per_lot - frictions
        ratio = frictions / edge_per_lot if edge_per_lot > 0 else math.inf
        numbers = {
            **values,
            "net_ev_per_lot": round(net, 4),
            "cost_ratio": round(ratio, 6) if math.isfinite(ratio) else ratio,
            "max_cost_ratio": t.max_cost_ratio,
            "min_win_probability": t.min_win_probability,
            "min_net_ev": t.min_net_ev,
        }
        if not net > t.min_net_ev:
            return OpportunityScore(
                False, "net_ev", f"net_ev_per_lot={net:.2f} <= {t.min_net_ev:.2f}", numbers
            )
        if ratio > t.max_cost_ratio:
            return OpportunityScore(
                False,
                "cost_ratio",
                f"cost_ratio={ratio:.2f} > {t.max_cost_ratio:.2f}: frictions eat the edge",
                numbers,
            )
        if win_probability < t.min_win_probability:
            return OpportunityScore(
                False,
                "win_probability",
                f"win_probability={win_probability:.2f} below floor {t.min_win_probability:.2f}",
                numbers,
            )
        return OpportunityScore(True, None, "", numbers)
