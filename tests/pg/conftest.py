"""Tests against the real PostgreSQL server (QS_TEST_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/test). Each test gets a database of its own, dropped after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate, scratch_postgres_database
from quantsentinel.risk.tenancy.scope import tenant_context_leaks

ADMIN_URL = os.environ.get("QS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with ExitStack() as stack:
        try:  # only the creation is guarded: a test's own OperationalError must surface as is
            url = stack.enter_context(scratch_postgres_database(ADMIN_URL, prefix="qs_test"))
        except sa.exc.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL at {ADMIN_URL} is not reachable ({exc.orig}); start it with "
                "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        yield url


@pytest.fixture
def tenant_engine(pg_url: str) -> Iterator[sa.Engine]:
    """The scratch database, migrated; its engine is disposed after the test."""
    migrate(pg_url)
    engine = engine_for(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tenant_context_guard(tenant_engine: sa.Engine) -> Iterator[sa.Engine]:
    """Fails the test when tenant context is left anywhere it could leak from (seed 001 §10: a
    fixture once let the previous test's tenant id drive the code under test). Before and after the
    test it checks out pool.size() connections at once, so every idle pooled connection is seen, and
    requires each to show an empty `qs.tenant_id` and current_user == the login role; and no
    tenant scope may still be open."""

    def check(when: str) -> None:
        problems = tenant_context_leaks(tenant_engine)
        if problems:
            pytest.fail(f"tenant context leaked {when}: " + "; ".join(problems))

    check("before the test")
    yield tenant_engine
    check("after the test")
