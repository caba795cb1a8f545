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
from quantsentinel.risk.tenancy.store import (
    MAX_TENANT_ID,
    Tenant,
    TenantStore,
    validate_tenant_id,
)


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
        batch: bool = False,
    ) -> list[Verdict]:
        """Verdicts for candidates of possibly many tenants, in order.

        Per tenant: its kill switches are read in one short tenant-scoped transaction, the castle
        runs outside any transaction (a hedge search must not hold a database lock), and the
        tenant's verdicts are appended to the audit log in one transaction. The castle never
        raises; if the audit write fails, the whole tenant's answer fails with it (nothing is
        returned unaudited).

        `batch=True` is the decide run's mode (the system deciding a snapshot for every tenant):
        every switch is read in one system-scope transaction and every audit row written in one,
        instead of two transactions per tenant, which dominated a 1,000-tenant batch. The reads
        are the same queries, each filtered by its tenant; if the audit write fails, no verdict
        of the batch is returned."""
        if batch:
            return self._evaluate_batch(candidates, market, books or {}, actor, tenants or {})
        books = books or {}
        verdicts: dict[int, Verdict] = {}
        by_tenant: dict[object, list[int]] = {}
        for i, c in enumerate(candidates):
            by_tenant.setdefault(c.tenant_id, []).append(i)
        for tenant_id, indices in by_tenant.items():
            tenant = (tenants or {}).get(tenant_id) or self._find(tenant_id)
            if isinstance(tenant, TenantError):
                for i in indices:
                    verdicts[i] = self._refuse_unknown(candidates[i], tenant, actor)
                continue
            context = TenantContext(tenant, books.get(tenant_id, Book()))
            active = self._active_switches(tenant.tenant_id, [candidates[i] for i in indices])
            answered = [
                (
                    i,
                    self.castle.evaluate(
                        candidates[i], market, context, active[_scope(candidates[i])]
                    ),
                )
                for i in indices
            ]
            with tenant_scope(self.engine, tenant.tenant_id) as session:
                for i, verdict in answered:
                    audit.record(
                        session.conn, **_audit_fields(verdict, candidates[i], market, actor)
                    )
                    verdicts[i] = verdict
        return [verdicts[i] for i in range(len(candidates))]

    def _evaluate_batch(
        self,
        candidates: Sequence[Candidate],
        market: MarketContext,
        books: dict[str, Book],
        actor: str,
        tenants: dict[str, Tenant],
    ) -> list[Verdict]:
        verdicts: dict[int, Verdict] = {}
        known: dict[int, Tenant] = {}
        for i, c in enumerate(candidates):
            tenant = tenants.get(c.tenant_id) or self._find(c.tenant_id)
            if isinstance(tenant, TenantError):
                verdicts[i] = self._refuse_unknown(c, tenant, actor)
            else:
                known[i] = tenant
        active: dict[tuple, list] = {}
        with system_scope(self.engine) as conn:
            for i, tenant in known.items():
                key = (tenant.tenant_id, _scope(candidates[i]))
                if key not in active:
                    strategy, symbol, broker, models, live = key[1]
                    active[key] = self.switches.blocking(
                        conn, tenant_id=tenant.tenant_id, strategy=strategy, symbol=symbol,
                        broker=broker, models=models, live=live,
                    )  # fmt: skip
        answered = {
            i: self.castle.evaluate(
                candidates[i],
                market,
                TenantContext(tenant, books.get(tenant.tenant_id, Book())),
                active[(tenant.tenant_id, _scope(candidates[i]))],
            )
            for i, tenant in known.items()
        }
        with system_scope(self.engine) as conn:
            audit.record_many(
                conn,
                [_audit_fields(v, candidates[i], market, actor) for i, v in answered.items()],
            )
        verdicts.update(answered)
        return [verdicts[i] for i in range(len(candidates))]

    def _find(self, tenant_id: object) -> Tenant | TenantError:
        try:
            validate_tenant_id(tenant_id)
        except TenantError as exc:
            return exc
        tenant = self.tenants.find(tenant_id)
        if tenant is None:
            return TenantError("unknown_tenant", f"tenant {tenant_id!r} does not exist")
        return tenant

    def _active_switches(self, tenant_id: str, candidates: list[Candidate]) -> dict[tuple, list]:
        """Tripped switches per distinct decision scope, read once in the tenant's own scope."""
        out: dict[tuple, list] = {}
        with tenant_scope(self.engine, tenant_id) as session:
            for c in candidates:
                scope = _scope(c)
                if scope not in out:
                    strategy, symbol, broker, models, live = scope
                    out[scope] = self.switches.blocking(
                        session.conn,
                        tenant_id=tenant_id,
                        strategy=strategy,
                        symbol=symbol,
                        broker=broker,
                        models=models,
                        live=live,
                    )
        return out

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
        # No tenant scope exists for a tenant that does not: the system scope writes the row,
        # with the id cut to the column's width (the full id stays in the inputs).
        fields = _audit_fields(verdict, candidate, None, actor)
        raw = candidate.tenant_id
        fields["tenant_id"] = raw[:MAX_TENANT_ID] if isinstance(raw, str) and raw else None
        fields["inputs"]["tenant_id"] = repr(raw)
        with system_scope(self.engine) as conn:
            audit.record(conn, **fields)
        return verdict


def _scope(c: Candidate) -> tuple:
    structure = getattr(c, "structure", None)
    symbol = getattr(structure, "underlying", None)
    return (c.strategy, symbol, c.broker, tuple(c.models), bool(c.live))


def _audit_fields(
    verdict: Verdict, candidate: Candidate, market: MarketContext | None, actor: str
) -> dict[str, Any]:
    structure = getattr(candidate, "structure", None)
    legs = [_label(leg) for leg in getattr(structure, "all_legs", ())]
    inputs: dict[str, Any] = {
        "strategy": candidate.strategy,
        "structure": getattr(structure, "kind", None),
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
        "numbers": {**verdict.numbers, "evaluated": dict(verdict.details)}
        if verdict.details
        else dict(verdict.numbers),
    }


def _label(leg: Any) -> str:
    try:
        return leg.label
    except (AttributeError, TypeError, ValueError):
        return repr(leg)
