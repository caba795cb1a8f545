"""The decide path on the real Postgres: the batch, its audit rows and its paper positions are
written by the system for every tenant, and row-level security shows each tenant only its own."""

from __future__ import annotations

import sqlalchemy as sa

from quantsentinel.decide.paper import PaperExecutor, paper_positions
from quantsentinel.decide.schema import decisions
from quantsentinel.decide.store import DecisionStore
from quantsentinel.risk.tenancy.scope import tenant_scope
from quantsentinel.risk.tenancy.store import TenantStore
from tests.decide.test_decide_run import _decide, market  # noqa: F401 - the module fixture


def test_batch_on_postgres_is_whole_and_each_tenant_sees_its_own(
    tenant_context_guard: sa.Engine,
    market,  # noqa: F811
) -> None:
    engine = tenant_context_guard
    store = TenantStore(engine)
    for tid, capital in (("alpha", 5_000_000.0), ("beta", 5_000_000.0), ("gamma", 3_000_000.0)):
        store.add(tid.title(), capital=capital, tenant_id=tid, actor="test")
    outs = [_decide(engine, market, i) for i in (0, 6, 12)]
    assert all(o.batch["tenants"] == 3 for o in outs)
    approved = {r.tenant_id for o in outs for r in o.approved}
    assert approved, "the calm forecast gives short premium an edge for someone"
    judged: dict[str, int] = {}  # tenant -> verdicts the castle gave it (audited)
    for o in outs:
        for r in o.records:
            if "walls_passed" in r.numbers:
                judged[r.tenant_id] = judged.get(r.tenant_id, 0) + 1

    for tenant in ("alpha", "beta", "gamma"):
        with tenant_scope(engine, tenant) as session:
            rows = session.select(decisions)
            positions = session.select(paper_positions)
            audit = session.conn.execute(
                sa.text("SELECT tenant_id FROM risk_audit WHERE actor = 'decide'")
            ).all()
        assert {r["tenant_id"] for r in rows} == {tenant} and len(rows) == 3
        assert {p["tenant_id"] for p in positions} <= {tenant}
        assert bool(positions) == (tenant in approved)
        # The castle's verdicts were audited in the batch's one system transaction, yet under
        # row-level security each tenant reads only its own.
        assert {a.tenant_id for a in audit} <= {tenant}
        assert len(audit) == judged.get(tenant, 0)  # one audit row per castle verdict
    assert DecisionStore(engine).tenant_decisions("alpha")[0]["tenant_id"] == "alpha"
    summary = PaperExecutor(engine).summary(next(iter(approved)))
    assert summary["open"] + summary["closed"] >= 1
