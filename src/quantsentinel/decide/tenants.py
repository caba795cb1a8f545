"""The tenant half of a decision: draw an arm, size it, ask the castle, write down why.

Per tenant: the tenant's bandit draws among the arms the snapshot allows (penalised by the share
of its book already in each arm), the drawn arm's shared unit structure is sized to the tenant's
capital and policy (layer 4), and the sized candidate goes to the castle through the audited
gatekeeper with every other tenant's. A tenant that gets no candidate (no arm fits, sized to zero)
still gets a decision: blocked by `alpha` or `sizing` with the reason, or by `kill_switch` when
one covers it, so a batch always holds every active tenant.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantsentinel.decide.legs import leg_record
from quantsentinel.decide.store import DecisionRecord
from quantsentinel.decide.view import MarketView
from quantsentinel.ml.bandit import StructureBandit
from quantsentinel.risk.castle.castle import KILL_SWITCH
from quantsentinel.risk.castle.types import Book, Candidate, Verdict
from quantsentinel.risk.gatekeeper import RiskGatekeeper
from quantsentinel.risk.sizing import CVaRScaler, Sizing, SizingPolicy, size_units
from quantsentinel.risk.structures import analyse
from quantsentinel.risk.tenancy.scope import system_scope
from quantsentinel.risk.tenancy.store import Tenant

ALPHA, SIZING, EXITS = "alpha", "sizing", "exits"
PAYOFF_POINTS = 41
# Exits (rule baseline, in rupees of the position's P&L): a credit structure takes half its
# maximum profit and cuts at twice the credit (never beyond 60% of max loss); a debit structure
# takes a gain equal to what it paid (at most 60% of max profit) and cuts at half of it.
CREDIT_TARGET, CREDIT_STOP, DEBIT_STOP, LOSS_CAP = 0.5, 2.0, 0.5, 0.6


@dataclass
class Proposal:
    tenant: Tenant
    arm: str | None = None
    candidate: Candidate | None = None
    sizing: Sizing | None = None
    choice: Any = None
    blocked_by: str | None = None
    reason: str = ""


def tenant_rng(batch_id: str, tenant_id: str) -> np.random.Generator:
    """A generator seeded by (batch, tenant): a re-decided batch draws exactly the same arms."""
    digest = hashlib.sha256(f"{batch_id}/{tenant_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def book_shares(book: Book, arms: Sequence[str]) -> dict[str, float]:
    """Share of the tenant's open positions (by count) in each arm."""
    counts = Counter(p.strategy for p in book.positions if p.strategy in arms)
    total = len(book.positions)
    return {arm: n / total for arm, n in counts.items()} if total else {}


def propose(
    view: MarketView,
    batch_id: str,
    tenant: Tenant,
    book: Book,
    bandit: StructureBandit,
    cvar: CVaRScaler | None = None,
) -> Proposal:
    """Layers 3-4 for one tenant: the candidate the castle will judge, or why there is none."""
    if not view.allowed:
        why = f"no structure fits regime {view.regime} with direction view {view.direction:+.2f}"
        return Proposal(tenant, blocked_by=ALPHA, reason=why)
    choice = bandit.choose(
        view.regime,
        tenant_rng(batch_id, tenant.tenant_id),
        book_shares=book_shares(book, bandit.arms),
        allowed=view.allowed,
    )
    unit = view.unit(choice.arm)
    a = unit.analysis
    sizing = size_units(
        unit_delta=float(a.greeks.delta),
        unit_gamma=float(a.greeks.gamma),
        unit_max_loss=float(a.max_loss),
        unit_max_leg_lots=max(leg.lots for leg in unit.structure.all_legs),
        spot=view.chain.spot,
        forecast_vol=view.forecast_vol,
        capital=tenant.capital,
        policy=SizingPolicy.from_policy(tenant.policy),
        news_multiplier=view.news_multiplier,
        cvar=(cvar or CVaRScaler()).scale(unit.structure),
    )
    proposal = Proposal(tenant, arm=choice.arm, sizing=sizing, choice=choice)
    if sizing.units < 1:
        proposal.blocked_by = SIZING
        proposal.reason = f"{choice.arm} sizes to 0 units (binding: {sizing.binding})"
        return proposal
    proposal.candidate = Candidate(
        tenant_id=tenant.tenant_id,
        strategy=choice.arm,
        structure=unit.structure.scaled(sizing.units),
        decided_at=view.inputs.at.to_pydatetime(),
        outlook=view.outlook,
        models=view.models,
    )
    return proposal


def judge(
    gatekeeper: RiskGatekeeper,
    view: MarketView,
    proposals: Sequence[Proposal],
    books: Mapping[str, Book],
) -> dict[str, Verdict]:
    """The castle's verdicts on every candidate (audited), and kill-switch checks for tenants
    without one: a tripped switch must show as the reason, not hide behind 'no trade'."""
    with_candidate = [p for p in proposals if p.candidate is not None]
    verdicts = gatekeeper.evaluate_many(
        [p.candidate for p in with_candidate],
        view.context,
        dict(books),
        actor="decide",
        tenants={p.tenant.tenant_id: p.tenant for p in with_candidate},
        batch=True,
    )
    out = {p.tenant.tenant_id: v for p, v in zip(with_candidate, verdicts, strict=True)}
    without = [p for p in proposals if p.candidate is None]
    if without:
        with system_scope(gatekeeper.engine) as conn:
            for p in without:
                tripped = gatekeeper.switches.blocking(
                    conn, tenant_id=p.tenant.tenant_id, symbol=view.inputs.underlying
                )
                if tripped:
                    p.blocked_by = KILL_SWITCH
                    p.reason = "; ".join(f"{s.kind} tripped: {s.reason}" for s in tripped)
    return out


def decision_record(
    view: MarketView, proposal: Proposal, verdict: Verdict | None
) -> DecisionRecord:
    """The row a tenant's decision is stored as (approved or blocked, with its reasons)."""
    common = _common(view, proposal)
    if verdict is None:
        return DecisionRecord(
            proposal.tenant.tenant_id, False, proposal.blocked_by, proposal.reason, **common
        )
    structure = verdict.structure or proposal.candidate.structure
    legs = tuple(leg_record(leg) for leg in structure.all_legs)
    units = proposal.sizing.units
    numbers = {
        **common.pop("numbers"),
        "verdict": dict(verdict.numbers),
        "castle": dict(verdict.details),
        "walls_passed": list(verdict.walls_passed),
    }
    if not verdict.approved:
        return DecisionRecord(
            proposal.tenant.tenant_id, False, verdict.blocked_by, verdict.reason,
            structure=structure.kind, legs=legs, units=units, numbers=numbers, **common,
        )  # fmt: skip
    analyses = view.context.analyses  # the castle's analyses of this snapshot, shared
    if structure not in analyses:
        analyses[structure] = analyse(structure, view.chain)
    a = analyses[structure]
    target, stop = exits(float(a.net_premium), float(a.max_profit), float(a.max_loss))
    if not (target > 0 > stop):
        # Approved by the castle but not executable: a position must know when it is done.
        return DecisionRecord(
            proposal.tenant.tenant_id, False, EXITS,
            f"no usable exit levels (target {target:,.2f}, stop {stop:,.2f})",
            structure=structure.kind, legs=legs, units=units, numbers=numbers, **common,
        )  # fmt: skip
    numbers.update(
        margin=round(float(a.margin.total), 2),
        delta=round(float(a.greeks.delta), 4),
        net_premium=round(float(a.net_premium), 2),
        breakevens=[round(float(b), 2) for b in a.breakevens],
    )
    return DecisionRecord(
        proposal.tenant.tenant_id,
        True,
        structure=structure.kind,
        legs=legs,
        units=units,
        entry_zone=entry_zone(structure),
        target=target,
        stop=stop,
        max_profit=float(a.max_profit),
        max_loss=float(a.max_loss),
        expected_cost=_cost(verdict),
        payoff=payoff_points(a.grid, a.pnl),
        numbers=numbers,
        **common,
    )


def _common(view: MarketView, proposal: Proposal) -> dict[str, Any]:
    contributions = {
        f"{axis}:{name}": round(float(value), 5)
        for axis, combo in view.combinations.items()
        for name, value in combo.contributions.items()
        if value
    }
    numbers: dict[str, Any] = {"regime": view.regime, "arm": proposal.arm,
                               "news_action": view.news_action,
                               "forecast_vol": round(view.forecast_vol, 5)}  # fmt: skip
    if proposal.sizing is not None:
        numbers["sizing"] = {"units": proposal.sizing.units, "binding": proposal.sizing.binding,
                             **proposal.sizing.numbers}  # fmt: skip
    if proposal.choice is not None:
        numbers["bandit"] = {"sampled": _rounded(proposal.choice.sampled),
                             "penalised": _rounded(proposal.choice.penalised)}  # fmt: skip
    fallbacks = {**view.fallbacks, "strikes": "rule_baseline (no wing model promoted)"}
    return {"strategy": proposal.arm, "contributions": contributions, "fallbacks": fallbacks,
            "numbers": numbers}  # fmt: skip


def _rounded(values: Mapping[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in values.items()}


def _cost(verdict: Verdict) -> float | None:
    value = verdict.details.get("cost_total")
    return float(value) if isinstance(value, int | float) else None


def exits(net_premium: float, max_profit: float, max_loss: float) -> tuple[float, float]:
    """(target, stop) in rupees of position P&L; `net_premium` > 0 is a credit received."""
    cap = LOSS_CAP * max_loss if math.isfinite(max_loss) else math.inf
    if net_premium > 0:
        target = CREDIT_TARGET * max_profit if math.isfinite(max_profit) else net_premium
        stop = -min(CREDIT_STOP * net_premium, cap)
    else:
        paid = -net_premium
        target = min(paid, LOSS_CAP * max_profit) if math.isfinite(max_profit) else paid
        stop = -min(DEBIT_STOP * paid, cap)
    return round(target, 2), round(stop, 2)


def entry_zone(structure: Any) -> dict[str, float]:
    """Net price per unit of the structure (index points, + = debit paid): at mid, and crossing
    every spread (the worst fill the zone allows)."""
    units = structure.unit_lots if structure.unit_lots else 1
    mid = worst = 0.0
    for leg in structure.all_legs:
        weight = leg.sign * leg.lots / units
        mid += weight * leg.quote.mid
        worst += weight * (leg.quote.ask if leg.sign > 0 else leg.quote.bid)
    return {
        "mid": round(mid, 2),
        "low": round(min(mid, worst), 2),
        "high": round(max(mid, worst), 2),
    }


def payoff_points(grid: np.ndarray, pnl: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The expiry payoff resampled to PAYOFF_POINTS points for the diagram."""
    grid, pnl = np.asarray(grid, float), np.asarray(pnl, float)
    if grid.size <= PAYOFF_POINTS:
        idx = np.arange(grid.size)
    else:
        idx = np.unique(np.linspace(0, grid.size - 1, PAYOFF_POINTS).round().astype(int))
    return tuple((round(float(grid[i]), 2), round(float(pnl[i]), 2)) for i in idx)
