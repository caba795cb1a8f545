"""Tests against the real PostgreSQL server (QS_TEST_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/test). Each test gets a database of its own, dropped after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from quantsentinel.db import scratch_postgres_database

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
