"""Engines for the project's own database and the one way its schema is created: Alembic.

SQLite (embedded default) and Postgres (production) run the same migrations; nothing calls
`metadata.create_all`, so the schema a test sees is the schema production gets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.settings import REPO_ROOT

MIGRATIONS_DIR = REPO_ROOT / "migrations"


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL per process."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Sensors and assets write from different threads of one process.
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    # SQLite ignores foreign keys unless each connection asks; Postgres always enforces them, and
    # the embedded default must not accept what production would refuse.
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with engine_for(url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def scratch_postgres_database(admin_url: str, prefix: str = "qs_scratch") -> Iterator[str]:
    """A fresh, empty Postgres database (for tests and benchmarks); dropped afterwards, its
    connections ended first (a child killed mid-test or a pooled connection would block DROP).
    Raises sqlalchemy's OperationalError when the server is unreachable."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
        yield url
    finally:
        engine_for.cache_clear()
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
