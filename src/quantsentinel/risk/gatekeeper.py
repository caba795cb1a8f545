"""The audited entry point to the castle: one call per candidate, one audit row per answer.

`RiskGatekeeper.evaluate` resolves the tenant (an unknown tenant is refused and audited), reads
the kill switches that cover the candidate inside the tenant's own scope (on Postgres, row-level
security shows it only global switches and its own), runs the castle, and appends the verdict to
the audit log in the same transaction, with the tenant, the wall, the reason, the numbers and the
inputs. Nothing is approved without its audit row: if the audit insert fails, so does the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from quantsentinel.risk.castle.castle import INPUT, Castle
from quantsentinel.risk.castle.types import Book, Candidate, MarketContext, TenantContext, Verdict
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.kill_switches.store import KillSwitchStore
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.scope import system_scope, tenant_scope
from quantsentinel.risk.tenancy.store import Tenant, TenantStore


class RiskGatekeeper:
    def __init__(self, engine: Engine, castle: Castle | None = None) -> None:
        self.engine = engine
        self.castle = castle or Castle()
        self.tenants = TenantStore(engine)
        self.switches = KillSwitchStore(engine)

    def evaluate(
        self,
        candidate: Candidate,
        market: MarketContext,
        book: Book | None = None,
        *,
        actor: str = "castle",
        tenant: Tenant | None = None,
    ) -> Verdict:
        """The verdict for one candidate, audited. Pass `tenant` when the caller already loaded
        it (a decision batch loads every tenant once)."""
        return self.evaluate_many(
            [candidate],
            market,
            {candidate.tenant_id: book or Book()},
            actor=actor,
            tenants={candidate.tenant_id: tenant} if tenant else None,
        )[0]

    def evaluate_many(
        self,
        candidates: Sequence[Candidate],
        market: MarketContext,
        books: dict[str, Book] | None = None,
        *,
        actor: str = "castle",
        tenants: dict[str, Tenant] | None = None,
    ) -> list[Verdict]:
        """Verdicts for candidates of possibly many tenants, in order; one transaction per tenant
        (its kill switches, verdicts and audit rows commit together)."""
        books = books or {}
        verdicts: dict[int, Verdict] = {}
        by_tenant: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            by_tenant.setdefault(c.tenant_id, []).append(i)
        for tenant_id, indices in by_tenant.items():
            tenant = (tenants or {}).get(tenant_id)
            if tenant is None:
                tenant = self.tenants.find(tenant_id) if isinstance(tenant_id, str) else None
            if tenant is None:
                exc = TenantError("unknown_tenant", f"tenant {tenant_id!r} does not exist")
                for i in indices:
                    verdicts[i] = self._refuse_unknown(candidates[i], exc, actor)
                continue
            context = TenantContext(tenant, books.get(tenant_id, Book()))
            with tenant_scope(self.engine, tenant_id) as session:
                # Candidates of one tenant share scopes: each distinct scope is read once.
                active_by_scope: dict[tuple, list] = {}
                for i in indices:
                    c = candidates[i]
                    scope = (c.strategy, c.structure.underlying, c.broker, c.models, c.live)
                    if scope not in active_by_scope:
                        active_by_scope[scope] = self.switches.blocking(
                            session.conn,
                            tenant_id=tenant_id,
                            strategy=c.strategy,
                            symbol=c.structure.underlying,
                            broker=c.broker,
                            models=c.models,
                            live=c.live,
                        )
                    active = active_by_scope[scope]
                    verdict = self.castle.evaluate(c, market, context, active)
                    audit.record(session.conn, **_audit_fields(verdict, c, market, actor))
                    verdicts[i] = verdict
        return [verdicts[i] for i in range(len(candidates))]

    def _refuse_unknown(self, candidate: Candidate, exc: TenantError, actor: str) -> Verdict:
        verdict = Verdict(
            tenant_id=candidate.tenant_id,
            approved=False,
            blocked_by=INPUT,
            reason=str(exc),
            numbers={"code": exc.code, **exc.details},
            walls_passed=(),
            structure=candidate.structure,
        )
        # No tenant scope exists for a tenant that does not: the system scope writes the row.
        with system_scope(self.engine) as conn:
            audit.record(conn, **_audit_fields(verdict, candidate, None, actor))
        return verdict


def _audit_fields(
    verdict: Verdict, candidate: Candidate, market: MarketContext | None, actor: str
) -> dict[str, Any]:
    legs = [leg.label for leg in candidate.structure.all_legs] if candidate.structure else []
    inputs: dict[str, Any] = {
        "strategy": candidate.strategy,
        "structure": candidate.structure.kind if candidate.structure else None,
        "legs": legs,
        "decided_at": candidate.decided_at,
        "edge_per_lot": candidate.edge_per_lot,
        "win_probability": candidate.win_probability,
        "outlook": candidate.outlook.source if candidate.outlook is not None else None,
        "models": list(candidate.models),
        "live": candidate.live,
    }
    if market is not None:
        inputs.update(
            snapshot=str(market.chain.snapshot_id)
            if hasattr(market.chain, "snapshot_id")
            else None,
            spot=market.chain.spot,
            regime=market.regime,
        )
    return {
        "event": "verdict" if verdict.blocked_by != INPUT else "input_error",
        "actor": actor,
        "tenant_id": candidate.tenant_id,
        "wall": verdict.blocked_by,
        "approved": verdict.approved,
        "reason": verdict.reason,
        "inputs": inputs,
        "numbers": {**verdict.numbers, **verdict.details},
    }
