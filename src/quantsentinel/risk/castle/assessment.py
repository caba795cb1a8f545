"""Lazily computed facts about one candidate, shared by the walls.

Walls run cheapest first and most stop early (regime, news), so nothing expensive is computed
until a wall asks: the tail hedge (a search over strikes), the structure analysis (payoff,
Greeks, margin scan), the round-trip costs and the expected outcome are each computed at most once
per candidate, on first use. Everything after the tail-hedge decision sees the *evaluated*
structure: the hedged composite when the base needs a hedge and one was found.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

from quantsentinel.risk.castle.types import Candidate, MarketContext, TenantContext
from quantsentinel.risk.costs import CostEngine
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.structures import analyse, expected_outcome
from quantsentinel.risk.structures.hedge import needs_tail_hedge, select_tail_hedge

STRESS_MOVE = 0.10  # the tail scenario a hedge must cover: a 10% gap either way by expiry


class HedgeUnavailable(Exception):
    """The base structure needs a tail hedge and none meets the protection level."""

    def __init__(self, error: RiskInputError | None) -> None:
        super().__init__(str(error))
        self.error = error


class Assessment:
    def __init__(
        self,
        candidate: Candidate,
        market: MarketContext,
        tenant: TenantContext,
        cost_engine: CostEngine,
    ) -> None:
        self.candidate = candidate
        self.market = market
        self.tenant = tenant
        self.policy = tenant.tenant.policy
        self.capital = float(tenant.tenant.capital)
        self._costs = cost_engine

    @property
    def base(self):
        return self.candidate.structure

    @cached_property
    def hedge_required(self) -> bool:
        return needs_tail_hedge(self.base)

    @cached_property
    def hedge(self) -> tuple[Any | None, RiskInputError | None]:
        """(HedgeChoice, None) when a hedge meets the protection level, else (None, why)."""
        if not self.hedge_required:
            return None, None
        # The hedge must also leave the composite inside the policy's per-position loss limit,
        # or a hedge would be bought only for the policy wall to refuse what it protects.
        limit = min(self.policy.tail_loss_pct, self.policy.max_position_loss_pct) * self.capital
        try:
            choice = select_tail_hedge(
                self.base, self.market.chain, max_stress_loss=limit, stress_move=STRESS_MOVE
            )
        except RiskInputError as exc:
            return None, exc
        return choice, None

    @cached_property
    def structure(self):
        """The structure the walls evaluate: the composite when a hedge was attached. When the
        base needs a hedge and none meets the level, the structure to evaluate does not exist:
        the first wall that asks for it gets `HedgeUnavailable`, and the verdict is the
        tail-hedge wall's (not a misleading cost or policy block on the naked structure)."""
        choice, error = self.hedge
        if choice is not None:
            return choice.composite
        if self.hedge_required:
            raise HedgeUnavailable(error)
        return self.base

    @cached_property
    def analysis(self):
        cache = self.market.analyses
        structure = self.structure
        if structure not in cache:
            if len(cache) > 4096:  # a snapshot's candidates, not a leak across snapshots
                cache.clear()
            cache[structure] = analyse(structure, self.market.chain)
        return cache[structure]

    @cached_property
    def margin_required(self) -> float:
        return float(self.analysis.margin.total)

    @cached_property
    def costs(self):
        return self._costs.round_trip(
            self.structure.all_legs, self.market.chain.trade_date, self.tenant.tenant.brokerage
        )

    @property
    def unit_lots(self) -> int:
        return self.structure.unit_lots

    @cached_property
    def outcome(self) -> tuple[float, float]:
        """(gross expected P&L per unit, win probability) of the evaluated structure."""
        c = self.candidate
        if c.outlook is not None:
            ev, win = expected_outcome(
                self.structure, c.outlook.prices, c.outlook.weights, chain=self.market.chain
            )
            return float(ev) / self.unit_lots, float(win)
        edge = float(c.edge_per_lot)
        choice, _ = self.hedge
        if choice is not None:
            # Without a distribution the hedge's payoff is unknown: charge its whole premium.
            edge -= float(choice.hedge_cost) / self.unit_lots
        return edge, float(c.win_probability)

    def summary_structure(self):
        """The structure a verdict names: the composite when one was built, else the base."""
        choice, _ = self.hedge if "hedge" in self.__dict__ else (None, None)
        return choice.composite if choice is not None else self.base

    def summary(self) -> dict[str, Any]:
        """What was computed (only what some wall asked for), for the verdict and the audit."""
        out: dict[str, Any] = {"structure": self.summary_structure().describe()}
        cache = self.__dict__
        if "analysis" in cache:
            a = self.analysis
            out.update(
                net_premium=round(float(a.net_premium), 2),
                max_profit=_num(a.max_profit),
                max_loss=_num(a.max_loss),
                breakevens=[round(float(b), 2) for b in a.breakevens],
                margin=round(self.margin_required, 2),
            )
        if "costs" in cache:
            out.update(
                cost_total=round(float(self.costs.total), 2),
                cost_fees=round(float(self.costs.fees), 2),
                cost_slippage=round(float(self.costs.slippage), 2),
            )
        if "hedge" in cache and self.hedge[0] is not None:
            choice = self.hedge[0]
            out.update(
                hedge_cost=round(float(choice.hedge_cost), 2),
                stress_loss_before=_num(choice.stress_loss_before),
                stress_loss_after=_num(choice.stress_loss_after),
            )
        return out


def _num(value: float) -> float | str:
    return round(float(value), 2) if math.isfinite(value) else "inf"
