"""The audited castle entry point on SQLite (Postgres twin: tests/pg/test_gatekeeper_pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.tenancy.scope import tenant_context_leaks
from tests.risk import gatekeeper_cases as cases


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    engine = engine_for(url)
    assert tenant_context_leaks(engine) == []
    yield engine
    assert tenant_context_leaks(engine) == []


def test_verdicts_are_audited(engine: sa.Engine) -> None:
    cases.check_verdicts_are_audited(engine)


def test_kill_switches_block_with_their_reason(engine: sa.Engine) -> None:
    cases.check_kill_switches_block_with_their_reason(engine)


def test_bad_input_is_named_audited_and_never_approved(engine: sa.Engine) -> None:
    cases.check_bad_input_is_named_audited_and_never_approved(engine)


def test_one_bad_candidate_does_not_cost_the_batch_its_audit(engine: sa.Engine) -> None:
    cases.check_one_bad_candidate_does_not_cost_the_batch_its_audit(engine)
