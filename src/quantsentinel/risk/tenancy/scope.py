"""Tenant scope: the application layer of tenant isolation, and the one way into the database for
tenant work.

`tenant_scope(engine, tenant_id)` opens one transaction for one tenant. On Postgres it runs
`SET LOCAL ROLE qs_app` and `SELECT set_tenant_id(:t)`; both are transaction-local, so they vanish
at commit or rollback and a pooled connection can never carry a tenant (or the role) into the next
user's transaction (seed 001 §10: a test fixture once leaked tenant context between tests).
Row-level security then shows the transaction its own tenant's rows only, whatever SQL runs in it.

In production the application connects as a login role that is a member of `qs_app` (no BYPASSRLS,
not the tables' owner): `SET ROLE qs_app` needs that membership. Tests connect as the superuser and
rely on the same `SET LOCAL ROLE` to become `qs_app`, which is what makes row-level security bite.

`system_scope(engine)` is the operator's door: no tenant, the connection's own login role (the
schema owner, whose access is the explicit `<table>_owner` policy). The CLI, the kill-switch sweeper
and the audit of requests for unknown tenants use it; no tenant-facing code path should.

`TenantSession` adds the tenant to every query it runs and refuses a row for another tenant, so
SQLite (no row-level security) gets the same isolation from the application layer.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from quantsentinel.risk.errors import RiskInputError, TenantError, TenantRequired
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.schema import (
    APP_ROLE,
    DB_RULE_CODES,
    GLOBAL_ROWS_READABLE,
    TENANT_SETTING,
)


def require_tenant(tenant_id: object) -> str:
    """The tenant id, or TenantRequired when it is None or blank (a non-string is bad_input)."""
    if tenant_id is None or (isinstance(tenant_id, str) and not tenant_id.strip()):
        raise TenantRequired(f"a tenant id is required, got {tenant_id!r}")
    if not isinstance(tenant_id, str):
        raise TenantError("bad_input", f"tenant id must be a string, got {tenant_id!r}")
    return tenant_id


def is_postgres(conn_or_engine: Connection | Engine) -> bool:
    return conn_or_engine.dialect.name == "postgresql"


# Open tenant scopes of this process, so a test fixture can prove none outlives its test.
_open_sessions: weakref.WeakSet[TenantSession] = weakref.WeakSet()
_open_lock = threading.Lock()


class TenantSession:
    """One tenant's transaction. Every helper adds `tenant_id = <this tenant>`; none takes a tenant
    argument, so "asking for another tenant's rows" can only ever return nothing. Usable only while
    its `tenant_scope` is open: a session kept past its scope refuses to run (scope_closed)."""

    def __init__(self, tenant_id: str, conn: Connection) -> None:
        self._tenant_id = require_tenant(tenant_id)
        self._conn = conn
        self._open = True
        self._refusals: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"TenantSession({self._tenant_id!r}, {state})"

    @property
    def tenant_id(self) -> str:
        return self._tenant_id

    @property
    def conn(self) -> Connection:
        """The scope's connection. Raw SQL on it is still filtered by row-level security on
        Postgres; on SQLite only these helpers filter, so tenant code should use them."""
        self._require_open()
        return self._conn

    @property
    def is_open(self) -> bool:
        return self._open

    # -- application-layer queries ---------------------------------------------------------------

    def select(self, table: sa.Table, *criteria: Any) -> list[dict[str, Any]]:
        """This tenant's rows of `table` matching `criteria`, in primary-key order. Tables listed
        in GLOBAL_ROWS_READABLE also show their global rows (tenant_id NULL), as the database does.
        """
        query = sa.select(table).where(self._own_rows(table), *criteria)
        query = query.order_by(*table.primary_key.columns)
        return [dict(row._mapping) for row in self.conn.execute(query)]

    def count(self, table: sa.Table, *criteria: Any) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        return int(self.conn.execute(query.where(self._own_rows(table), *criteria)).scalar_one())

    def insert(self, table: sa.Table, **values: Any) -> dict[str, Any]:
        """Insert one row for this tenant and return it as stored. `tenant_id` is filled in; a
        different one is refused (cross_tenant_write) before the database is asked."""
        column = self._tenant_column(table)
        if table.name == "tenants":
            raise TenantError(
                "bad_input", "tenants are added by TenantStore (system scope), not by a tenant"
            )
        given = values.get(column.name, self._tenant_id)
        if given != self._tenant_id:
            raise TenantError(
                "cross_tenant_write",
                f"a {table.name} row for tenant {given!r} cannot be written in tenant "
                f"{self._tenant_id!r}'s scope",
                table=table.name,
                scope_tenant_id=self._tenant_id,
                row_tenant_id=given,
            )
        values[column.name] = self._tenant_id
        statement = table.insert().values(**values).returning(*table.columns)
        return dict(self.conn.execute(statement).one()._mapping)

    def audit(self, *, event: str, actor: str, **fields: Any) -> int:
        """Append an audit row for this tenant inside this transaction (see audit.record)."""
        return audit.record(
            self.conn, event=event, actor=actor, tenant_id=self._tenant_id, **fields
        )

    def audit_rows(self, *, event: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """This tenant's audit rows, newest first."""
        return audit.rows(self.conn, tenant_id=self._tenant_id, event=event, limit=limit)

    def audit_refusal(
        self,
        error: RiskInputError,
        *,
        event: str,
        actor: str,
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Audit a refusal so that it survives the refusal: the row is written when the scope ends,
        in the scope's own transaction if it commits, or in a fresh one after it rolls back (which
        is what raising the error usually causes)."""
        self._require_open()
        self._refusals.append(
            {
                "event": event,
                "actor": actor,
                "approved": False,
                "reason": refusal_reason(error),
                "inputs": dict(inputs) if inputs is not None else None,
                "numbers": dict(error.details) or None,
                "at": datetime.now(UTC),
            }
        )

    # -- internals ---------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._open:
            raise TenantError(
                "scope_closed",
                f"the tenant scope of {self._tenant_id!r} has ended; open a new tenant_scope "
                "instead of keeping a session",
                tenant_id=self._tenant_id,
            )

    def _tenant_column(self, table: sa.Table) -> sa.Column:
        self._require_open()
        column = table.c.get("tenant_id")
        if column is None:
            raise TenantError(
                "not_tenant_scoped",
                f"table {table.name!r} has no tenant_id column; a tenant session reads and "
                "writes tenant-scoped tables only",
                table=table.name,
            )
        return column

    def _own_rows(self, table: sa.Table) -> sa.ColumnElement[bool]:
        column = self._tenant_column(table)
        if table.name in GLOBAL_ROWS_READABLE:
            return sa.or_(column == self._tenant_id, column.is_(None))
        return column == self._tenant_id

    def _write_refusals(self, conn: Connection) -> None:
        for row in self._refusals:
            audit.record(conn, tenant_id=self._tenant_id, **row)

    def _close(self) -> None:
        self._open = False


def refusal_reason(error: RiskInputError) -> str:
    """An audit reason that starts with the error's code (once, even when the message, say a
    database rule's, already does)."""
    if error.message.startswith(f"{error.code}:"):
        return error.message
    return f"{error.code}: {error.message}"


def _enter_tenant(conn: Connection, tenant_id: str) -> None:
    if is_postgres(conn):
        conn.exec_driver_sql(f"SET LOCAL ROLE {APP_ROLE}")
        conn.execute(sa.text("SELECT set_tenant_id(:tenant)"), {"tenant": tenant_id})


@contextmanager
def tenant_scope(engine: Engine, tenant_id: str) -> Iterator[TenantSession]:
    """One transaction for one tenant: commits when the block ends, rolls back when it raises.
    Refusals queued with `session.audit_refusal` are written either way."""
    tenant = require_tenant(tenant_id)
    session: TenantSession | None = None
    try:
        with engine.begin() as conn:
            _enter_tenant(conn, tenant)
            session = TenantSession(tenant, conn)
            with _open_lock:
                _open_sessions.add(session)
            try:
                yield session
                session._write_refusals(conn)
            finally:
                session._close()
                with _open_lock:
                    _open_sessions.discard(session)
        session._refusals.clear()
    except Exception as error:
        if session is not None and session._refusals:
            _write_refusals_after_rollback(engine, session, error)
        raise


def _write_refusals_after_rollback(
    engine: Engine, session: TenantSession, error: Exception
) -> None:
    try:
        with engine.begin() as conn:
            _enter_tenant(conn, session.tenant_id)
            session._write_refusals(conn)
        session._refusals.clear()
    except Exception as audit_error:  # keep the refusal itself as the error the caller sees
        error.add_note(f"the refusal's audit row could not be written: {audit_error!r}")


@contextmanager
def system_scope(engine: Engine) -> Iterator[Connection]:
    """One transaction with no tenant, as the connection's login role (the schema owner): for the
    operator CLI, the kill-switch sweeper and the audit of unknown tenants. On Postgres the role and
    tenant setting are reset for the transaction, so even a connection someone left with a
    session-level tenant or role cannot colour a system write."""
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.exec_driver_sql("SET LOCAL ROLE NONE")
            conn.execute(sa.text("SELECT set_config(:name, '', true)"), {"name": TENANT_SETTING})
        yield conn


def open_tenant_scopes(engine: Engine | None = None) -> list[str]:
    """Tenant ids of the scopes currently open in this process (on `engine`, when given)."""
    with _open_lock:
        sessions = list(_open_sessions)
    return sorted(
        s.tenant_id for s in sessions if s.is_open and (engine is None or s._conn.engine is engine)
    )


def tenant_context_leaks(engine: Engine) -> list[str]:
    """What tenant context is left where none should be: open tenant scopes on `engine`, and on
    Postgres every pooled connection whose tenant setting is not empty or whose current_user is not
    the login role. It checks out pool.size() connections at once, so every idle pooled connection
    is looked at, not only the first one the pool hands out. Empty means clean."""
    problems = [f"tenant scope for {t!r} is still open" for t in open_tenant_scopes(engine)]
    size = getattr(engine.pool, "size", None)
    count = max(1, size()) if callable(size) else 1
    with ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(count)]
        for index, conn in enumerate(connections):
            problems.extend(f"pooled connection {index}: {p}" for p in _connection_leaks(conn))
    return problems


def _connection_leaks(conn: Connection) -> list[str]:
    if not is_postgres(conn):
        return []  # no session state to leak: SQLite has no roles or settings
    row = conn.execute(
        sa.text(
            "SELECT current_setting(:name, true) AS tenant, current_user AS role, "
            "session_user AS login"
        ),
        {"name": TENANT_SETTING},
    ).one()
    login = conn.engine.url.username or row.login
    problems = []
    if row.tenant:
        problems.append(f"{TENANT_SETTING} is {row.tenant!r} outside any tenant scope")
    if row.role != login:
        problems.append(f"current_user is {row.role!r}, not the login role {login!r}")
    conn.rollback()
    return problems


_RULE = re.compile(r"^(?P<code>[a-z_]+): ")


def database_refusal(error: sa.exc.DBAPIError) -> tuple[str, str] | None:
    """(code, message) when `error` is one of the database's own rules (a trigger or
    set_tenant_id; codes in schema.DB_RULE_CODES), else None."""
    orig = error.orig
    diag = getattr(orig, "diag", None)  # psycopg: the primary message, without CONTEXT lines
    message = (getattr(diag, "message_primary", None) or str(orig)).strip()
    match = _RULE.match(message)
    if match is None or match["code"] not in DB_RULE_CODES:
        return None
    return match["code"], message
