"""Signal deliveries: the durable record that a signal reached a tenant on a channel (Redis pub/sub
or the in-process publisher carries it; this row is what stays).

A signal belongs to exactly one tenant (seed 001 §8, the architectural layer). Delivering it to a
second tenant is refused twice: first here, by an application check that sees every tenant's rows
on SQLite (on Postgres row-level security hides other tenants from it, so it finds nothing), then by
the table's BEFORE INSERT trigger, which sees all rows on both dialects and is the backstop. Either
refusal is TenantError('cross_tenant_delivery') and an audit row 'delivery_refused' that survives
the refused transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy.schema import signal_deliveries
from quantsentinel.risk.tenancy.scope import (
    TenantRequired,
    TenantSession,
    database_refusal,
    is_postgres,
)

MAX_ID = 64  # signal_id and channel are String(64)


def record_delivery(
    session: TenantSession, signal_id: str, channel: str, *, actor: str = "signal_publisher"
) -> int:
    """Record that `signal_id` was delivered to the session's tenant on `channel`; returns the
    delivery id. Recording the same (signal, tenant, channel) again returns the first id, so a
    publisher may retry."""
    _require_session(session)
    signal_id = _identifier(signal_id, "signal_id")
    channel = _identifier(channel, "channel")
    conn = session.conn
    table = signal_deliveries
    existing = _existing(conn, session.tenant_id, signal_id, channel)
    if existing is not None:
        return existing
    # Deliberately not session.select: this check must look beyond the session's own tenant.
    other = conn.execute(
        sa.select(table.c.delivery_id)
        .where(table.c.signal_id == signal_id, table.c.tenant_id != session.tenant_id)
        .limit(1)
    ).first()
    if other is not None:
        _refuse(session, signal_id, channel, actor, caught_by="application")
    try:
        with _statement_savepoint(conn):
            row = session.insert(
                table, signal_id=signal_id, channel=channel, delivered_at=datetime.now(UTC)
            )
    except sa.exc.IntegrityError as exc:
        refusal = database_refusal(exc)
        if refusal is not None and refusal[0] == "cross_tenant_delivery":
            _refuse(session, signal_id, channel, actor, caught_by="database", detail=refusal[1])
        existing = _existing(conn, session.tenant_id, signal_id, channel)
        if existing is None:  # not the race with an identical delivery: a real failure
            raise
        return existing
    return int(row["delivery_id"])


def deliveries(session: TenantSession, signal_id: str | None = None) -> list[dict[str, Any]]:
    """The session's tenant's deliveries (of one signal, when given), oldest first."""
    _require_session(session)
    criteria = [] if signal_id is None else [signal_deliveries.c.signal_id == signal_id]
    return session.select(signal_deliveries, *criteria)


def _refuse(
    session: TenantSession,
    signal_id: str,
    channel: str,
    actor: str,
    *,
    caught_by: str,
    detail: str | None = None,
) -> None:
    # The message names neither the other tenant nor its delivery: the refused tenant must not
    # learn who received the signal.
    error = TenantError(
        "cross_tenant_delivery",
        f"signal {signal_id!r} is already delivered to another tenant; it cannot also go to "
        f"tenant {session.tenant_id!r}",
        signal_id=signal_id,
        channel=channel,
        caught_by=caught_by,
        **({"database_message": detail} if detail else {}),
    )
    session.audit_refusal(
        error,
        event="delivery_refused",
        actor=actor,
        inputs={"signal_id": signal_id, "channel": channel},
    )
    raise error


def _existing(conn: Connection, tenant_id: str, signal_id: str, channel: str) -> int | None:
    table = signal_deliveries
    return conn.execute(
        sa.select(table.c.delivery_id).where(
            table.c.signal_id == signal_id,
            table.c.tenant_id == tenant_id,
            table.c.channel == channel,
        )
    ).scalar_one_or_none()


@contextmanager
def _statement_savepoint(conn: Connection) -> Iterator[None]:
    """On Postgres a failed statement aborts the whole transaction; a savepoint keeps the caller's
    transaction usable after a refusal. SQLite's RAISE(ABORT) undoes only the statement, and
    pysqlite's savepoints are unreliable, so there is none there."""
    with conn.begin_nested() if is_postgres(conn) else nullcontext():
        yield


def _require_session(session: object) -> None:
    if not isinstance(session, TenantSession):
        raise TenantRequired(f"deliveries are read and written in a tenant scope, got {session!r}")


def _identifier(value: object, what: str) -> str:
    if not (isinstance(value, str) and value.strip() and len(value) <= MAX_ID):
        raise TenantError(
            "bad_input", f"{what} must be 1-{MAX_ID} characters, got {value!r}", **{what: value}
        )
    return value
