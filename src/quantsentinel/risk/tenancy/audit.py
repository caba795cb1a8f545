"""The append-only risk audit log: every verdict, refused input, kill-switch change and tenant
change, with the tenant, the wall, the reason and the inputs, verbatim. The database refuses
UPDATE and DELETE on `risk_audit` (migration 0003); this module only ever inserts and reads."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quantsentinel.risk.errors import TenantRequired
from quantsentinel.risk.tenancy.schema import risk_audit

EVENTS = (
    "verdict",  # the castle's answer for one candidate (approved or blocked by a wall)
    "input_error",  # a request refused before any wall: bad order, unknown tenant, ...
    "kill_trip",
    "kill_reset",
    "tenant_added",
    "tenant_refused",
    "policy_changed",
    "mode_changed",
    "delivery_refused",
)


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN/inf become strings (they are facts worth keeping: an unbounded loss is
    'inf'), dates become ISO strings, numpy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def record(
    conn: Connection,
    *,
    event: str,
    actor: str,
    tenant_id: str | None,
    reason: str = "",
    wall: str | None = None,
    approved: bool | None = None,
    inputs: Mapping[str, Any] | None = None,
    numbers: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit row inside the caller's transaction; returns its id."""
    if event not in EVENTS:
        raise ValueError(f"audit event {event!r} is not one of {', '.join(EVENTS)}")
    result = conn.execute(
        risk_audit.insert()
        .values(
            at=at or datetime.now(UTC),
            tenant_id=tenant_id,
            event=event,
            wall=wall,
            approved=approved,
            reason=reason,
            inputs=json_safe(dict(inputs)) if inputs is not None else None,
            numbers=json_safe(dict(numbers)) if numbers is not None else None,
            actor=actor,
        )
        .returning(risk_audit.c.audit_id)
    )
    return int(result.scalar_one())


def record_many(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append many audit rows (each with `record`'s keyword fields) in one statement inside the
    caller's transaction: a decide batch audits 1,000 verdicts without 1,000 round trips."""
    now = datetime.now(UTC)
    values = []
    for e in entries:
        if e["event"] not in EVENTS:
            raise ValueError(f"audit event {e['event']!r} is not one of {', '.join(EVENTS)}")
        inputs, numbers = e.get("inputs"), e.get("numbers")
        values.append(
            {
                "at": e.get("at") or now,
                "tenant_id": e["tenant_id"],
                "event": e["event"],
                "wall": e.get("wall"),
                "approved": e.get("approved"),
                "reason": e.get("reason", ""),
                "inputs": json_safe(dict(inputs)) if inputs is not None else None,
                "numbers": json_safe(dict(numbers)) if numbers is not None else None,
                "actor": e["actor"],
            }
        )
    if values:
        conn.execute(risk_audit.insert(), values)


def rows(
    conn: Connection, *, tenant_id: str, event: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """A tenant's audit rows, newest first, on the caller's connection. The tenant is required:
    there is no all-tenants read in the application layer. Tenant code reads through
    `TenantSession.audit_rows` (its own scope, RLS on Postgres); this raw form is for operators."""
    if not tenant_id:
        raise TenantRequired("audit rows are read per tenant: tenant_id is required")
    query = sa.select(risk_audit).where(risk_audit.c.tenant_id == tenant_id)
    if event is not None:
        query = query.where(risk_audit.c.event == event)
    query = query.order_by(risk_audit.c.audit_id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]
