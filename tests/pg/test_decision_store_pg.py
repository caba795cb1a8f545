"""Decision batches on Postgres: atomic batches under concurrent readers, durable rows for every
role, and row-level security letting a tenant read only its own decisions."""

from __future__ import annotations

import sqlalchemy as sa

from quantsentinel.decide.schema import decisions
from quantsentinel.decide.store import DecisionStore
from tests.decide import decision_store_cases as cases


def test_a_batch_is_written_whole_and_read_per_tenant(tenant_context_guard: sa.Engine) -> None:
    cases.check_a_batch_is_written_whole_and_read_per_tenant(tenant_context_guard)


def test_no_partial_batch_is_ever_visible(tenant_context_guard: sa.Engine) -> None:
    cases.check_no_partial_batch_is_ever_visible(tenant_context_guard)


def test_decisions_are_durable(tenant_context_guard: sa.Engine) -> None:
    cases.check_decisions_are_durable(tenant_context_guard)


def test_concurrent_reader_sees_all_or_nothing(tenant_context_guard: sa.Engine) -> None:
    cases.check_concurrent_reader_sees_all_or_nothing(tenant_context_guard)


def test_row_level_security_hides_other_tenants_decisions(tenant_context_guard) -> None:
    engine = tenant_context_guard
    cases._tenants(engine, "Acme", "Beta")
    DecisionStore(engine).write_batch(
        cases.batch(), [cases.approved("acme"), cases.blocked("beta")]
    )
    with engine.begin() as conn:  # raw SQL as the application role, bypassing the app filter
        conn.execute(sa.text("SET LOCAL ROLE qs_app"))
        assert conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar() == 0
        conn.execute(sa.text("SELECT set_tenant_id('acme')"))
        rows = conn.execute(sa.select(decisions.c.tenant_id)).scalars().all()
        assert rows == ["acme"]
