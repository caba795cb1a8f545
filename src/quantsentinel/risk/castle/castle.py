"""The castle: bad input and kill switches first, then the walls in sequence; the first refusal
is the verdict (seed 001 §8: the audit log records the first wall that blocked, the canonical
"why was this trade rejected").

Nothing escapes `evaluate` as an exception and nothing unexpected is approved: bad input is a
verdict blocked by 'input' (with the error's code and numbers), an unexpected failure inside a wall
is a verdict blocked by 'error' naming the wall and the exception."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from quantsentinel.risk.castle.assessment import Assessment, HedgeUnavailable
from quantsentinel.risk.castle.types import Candidate, MarketContext, TenantContext, Verdict
from quantsentinel.risk.castle.walls import TailHedgeWall, Wall, default_walls
from quantsentinel.risk.costs import CostEngine
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import validate_legs
from quantsentinel.risk.tenancy.audit import json_safe

KILL_SWITCH = "kill_switch"
INPUT = "input"
ERROR = "error"


class Castle:
    def __init__(
        self, walls: Sequence[Wall] | None = None, cost_engine: CostEngine | None = None
    ) -> None:
        self.walls: list[Wall] = list(walls) if walls is not None else default_walls()
        names = [w.name for w in self.walls]
        if len(set(names)) != len(names):
            raise ValueError(f"wall names must be unique, got {names}")
        self.cost_engine = cost_engine or CostEngine()

    @property
    def wall_names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.walls)

    def assess(
        self, candidate: Candidate, market: MarketContext, tenant: TenantContext
    ) -> Assessment:
        return Assessment(candidate, market, tenant, self.cost_engine)

    def evaluate(
        self,
        candidate: Candidate,
        market: MarketContext,
        tenant: TenantContext,
        active_switches: Iterable[Any] = (),
    ) -> Verdict:
        """Approve or block one candidate. `active_switches` are the tripped kill switches that
        cover this candidate's scope (KillSwitchStore.blocking); any one blocks."""
        tenant_id = getattr(candidate, "tenant_id", None)
        try:
            check_candidate(candidate, market, tenant)
        except RiskInputError as exc:
            return _refusal(tenant_id, INPUT, exc, getattr(candidate, "structure", None))
        switches = list(active_switches)
        if switches:
            first = switches[0]
            return _verdict(
                tenant_id,
                blocked_by=KILL_SWITCH,
                reason=f"kill switch {first.kind} ({first.scope_key}) tripped: {first.reason}",
                numbers={"switches": [f"{s.kind}:{s.scope_key}" for s in switches]},
                structure=candidate.structure,
            )
        a = self.assess(candidate, market, tenant)
        passed: list[str] = []
        for wall in self.walls:
            try:
                block = wall.check(a)
            except HedgeUnavailable:
                # The hedged composite the wall needs cannot be built: the tail-hedge verdict.
                block = TailHedgeWall().check(a)
            except RiskInputError as exc:
                # e.g. a hedge or margin leg without a usable quote: bad input, named.
                return _refusal(tenant_id, INPUT, exc, a.base, tuple(passed))
            except Exception as exc:  # a bug must block, loudly, never approve
                return _refusal(tenant_id, ERROR, exc, a.base, tuple(passed), wall=wall.name)
            if block is not None:
                return _verdict(
                    tenant_id,
                    blocked_by=block.wall,
                    reason=block.reason,
                    numbers=block.numbers,
                    walls_passed=tuple(passed),
                    structure=a.summary_structure(),
                    details=a.summary(),
                )
            passed.append(wall.name)
        edge, win = a.outcome
        return _verdict(
            tenant_id,
            approved=True,
            numbers={"edge_per_lot": round(edge, 2), "win_probability": round(win, 4)},
            walls_passed=tuple(passed),
            structure=a.structure,
            details=a.summary(),
        )


def check_candidate(candidate: Candidate, market: MarketContext, tenant: TenantContext) -> None:
    """Refuse, by name, a candidate the walls could not judge soundly."""
    from quantsentinel.risk.structures import Structure

    if not isinstance(candidate, Candidate):
        raise RiskInputError("bad_input", f"expected a Candidate, got {type(candidate).__name__}")
    if not isinstance(candidate.structure, Structure):
        raise RiskInputError("bad_input", "the candidate carries no structure")
    decided = candidate.decided_at
    if not isinstance(decided, datetime) or decided.utcoffset() is None:
        raise RiskInputError(
            "bad_input", f"decided_at must be a timezone-aware datetime, got {decided!r}"
        )
    if tenant.tenant.tenant_id != candidate.tenant_id:
        raise RiskInputError(
            "bad_input",
            f"candidate for tenant {candidate.tenant_id!r} evaluated with tenant "
            f"{tenant.tenant.tenant_id!r}'s book and policy",
        )
    chain = market.chain
    if candidate.structure.underlying != chain.underlying:
        raise RiskInputError(
            "bad_input",
            f"a {candidate.structure.underlying} structure against a {chain.underlying} chain",
        )
    validate_legs(candidate.structure.all_legs, chain.trade_date)
    for leg in candidate.structure.all_legs:
        if leg.is_option and not chain.has_strike(leg.expiry, leg.strike):
            raise RiskInputError(
                "strike_not_listed",
                f"{leg.label}: the snapshot lists no such contract, so it has no market",
                strike=leg.strike,
                expiry=leg.expiry.isoformat(),
            )


def _verdict(
    tenant_id: Any,
    *,
    approved: bool = False,
    blocked_by: str | None = None,
    reason: str = "",
    numbers: Any = None,
    walls_passed: tuple[str, ...] = (),
    structure: Any = None,
    details: Any = None,
) -> Verdict:
    # Plain JSON in the verdict itself (an unbounded loss is "inf"), not only in the audit row:
    # decision batches and publication serialise it too.
    return Verdict(
        tenant_id=tenant_id,
        approved=approved,
        blocked_by=blocked_by,
        reason=reason,
        numbers=json_safe(dict(numbers or {})),
        walls_passed=walls_passed,
        structure=structure,
        details=json_safe(dict(details or {})),
    )


def _refusal(
    tenant_id: Any,
    blocked_by: str,
    exc: Exception,
    structure: Any = None,
    walls_passed: tuple[str, ...] = (),
    wall: str | None = None,
) -> Verdict:
    if isinstance(exc, RiskInputError):
        numbers = {"code": exc.code, **exc.details}
        reason = str(exc)
    else:
        numbers = {"code": "internal_error", "wall": wall, "exception": type(exc).__name__}
        reason = f"internal error in wall {wall}: {type(exc).__name__}: {exc}"
    return _verdict(
        tenant_id,
        blocked_by=blocked_by,
        reason=reason,
        numbers=numbers,
        walls_passed=walls_passed,
        structure=structure,
    )
