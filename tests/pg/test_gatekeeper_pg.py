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
