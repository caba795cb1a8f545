"""The audited castle entry point on Postgres: tenant scope under row-level security, kill switches
read through it, verdicts and refusals in the append-only audit log."""

from __future__ import annotations

import sqlalchemy as sa

from tests.risk import gatekeeper_cases as cases


def test_verdicts_are_audited(tenant_context_guard: sa.Engine) -> None:
    cases.check_verdicts_are_audited(tenant_context_guard)


def test_kill_switches_block_with_their_reason(tenant_context_guard: sa.Engine) -> None:
    cases.check_kill_switches_block_with_their_reason(tenant_context_guard)


def test_bad_input_is_named_audited_and_never_approved(tenant_context_guard: sa.Engine) -> None:
    cases.check_bad_input_is_named_audited_and_never_approved(tenant_context_guard)


def test_one_bad_candidate_does_not_cost_the_batch_its_audit(
    tenant_context_guard: sa.Engine,
) -> None:
    cases.check_one_bad_candidate_does_not_cost_the_batch_its_audit(tenant_context_guard)


def test_verdict_audit_rows_are_visible_only_to_their_tenant(tenant_context_guard) -> None:
    from quantsentinel.risk.gatekeeper import RiskGatekeeper
    from quantsentinel.risk.tenancy.store import TenantStore
    from tests.risk import castle_fixtures as f

    engine = tenant_context_guard
    for name in ("Acme", "Beta"):
        TenantStore(engine).add(name, capital=2_000_000, actor="test")
    RiskGatekeeper(engine).evaluate_many(
        [cases._good("acme"), cases._good("beta")], f.market(), actor="test"
    )
    verdicts = "SELECT tenant_id FROM risk_audit WHERE event = 'verdict' ORDER BY tenant_id"
    with engine.begin() as conn:  # raw SQL as the application role: only RLS stands in the way
        conn.execute(sa.text("SET LOCAL ROLE qs_app"))
        assert conn.execute(sa.text(verdicts)).scalars().all() == []
        conn.execute(sa.text("SELECT set_tenant_id('beta')"))
        assert conn.execute(sa.text(verdicts)).scalars().all() == ["beta"]
