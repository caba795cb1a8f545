"""Fixtures shared by the tests in tests/risk: `tenant_context_guard`, the SQLite database the
tenancy suites (test_tenancy_store.py, test_tenancy_isolation.py) run on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.tenancy.scope import tenant_context_leaks


def fail_on_tenant_context(engine: sa.Engine, when: str) -> None:
    problems = tenant_context_leaks(engine)
    if problems:
        pytest.fail(f"tenant context leaked {when}: " + "; ".join(problems))


@pytest.fixture
def tenant_context_guard(tmp_path) -> Iterator[sa.Engine]:
    """A migrated SQLite database, checked for leftover tenant context before and after the test
    (the SQLite twin of tests/pg/conftest.py's fixture: here the open-scope registry is the state
    that could leak, as SQLite has no roles or session settings)."""
    url = f"sqlite:///{tmp_path / 'tenancy.db'}"
    migrate(url)
    engine = engine_for(url)
    fail_on_tenant_context(engine, "before the test")
    yield engine
    fail_on_tenant_context(engine, "after the test")
    engine.dispose()
