"""Kill-switch rows and their two audited transitions, run inside the caller's transaction.

One row per (kind, scope_key), created on first trip and kept afterwards (tripped or not), so the
table is also the list of every scope that ever tripped. Each state change (clear -> tripped,
tripped -> clear) writes one audit row (kill_trip / kill_reset) in the same transaction as the
change: a state nobody can explain never exists. Re-tripping a tripped switch refreshes its reason
and numbers (the latest measurement) without a second kill_trip row.

Concurrency: the row is claimed with INSERT ... ON CONFLICT DO NOTHING and flipped with UPDATEs
conditioned on the current state (`WHERE tripped = false`). On Postgres a racing transaction waits
on the row and re-checks the condition after the winner commits; on SQLite writers are serialised
by the database lock. Either way exactly one transaction sees the change and audits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.kill_switches import definitions as d
from quantsentinel.risk.kill_switches.definitions import KillSwitchError
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.schema import kill_switches, tenants


@dataclass(frozen=True)
class SwitchState:
    """One row of kill_switches. `changed_at`/`changed_by` are those of the last state change;
    `reason`/`numbers` those of the last trip, refresh or reset."""

    kind: str
    scope: str
    scope_key: str
    tenant_id: str | None
    tripped: bool
    reason: str
    numbers: dict[str, Any] | None
    changed_at: datetime
    changed_by: str

    @property
    def switch_key(self) -> str:
        return d.switch_key(self.kind, self.scope_key)

    @property
    def number(self) -> int:
        return d.kind(self.kind).number

    @property
    def auto_reset(self) -> bool:
        return d.kind(self.kind).auto_reset


def to_state(row: Any) -> SwitchState:
    changed_at = row.changed_at
    if changed_at.tzinfo is None:  # SQLite returns the stored UTC time without its zone
        changed_at = changed_at.replace(tzinfo=UTC)
    return SwitchState(
        kind=row.kind,
        scope=row.scope,
        scope_key=row.scope_key,
        tenant_id=row.tenant_id,
        tripped=bool(row.tripped),
        reason=row.reason,
        numbers=row.numbers,
        changed_at=changed_at,
        changed_by=row.changed_by,
    )


def _insert_if_absent(conn: Connection) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise KillSwitchError("bad_database", f"kill switches need Postgres or SQLite: {dialect}")
    return insert(kill_switches)


def require_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KillSwitchError("bad_input", f"{what} must be a non-empty string, got {value!r}")
    return value


def _audit_inputs(spec: d.SwitchKind, scope_key: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": spec.name,
        "number": spec.number,
        "scope": spec.scope,
        "scope_key": scope_key,
        "switch_key": d.switch_key(spec.name, scope_key),
        **extra,
    }


def trip_in(
    conn: Connection,
    spec: d.SwitchKind,
    scope_key: str,
    tenant_id: str | None,
    reason: str,
    numbers: Mapping[str, Any] | None,
    actor: str,
) -> bool:
    """Trip inside the caller's transaction; True when the state changed (and was audited)."""
    if spec.tenant_scoped:
        known = conn.execute(sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id))
        if known.first() is None:
            raise TenantError(
                "unknown_tenant",
                f"no tenant {tenant_id!r} to trip {spec.name}",
                tenant_id=tenant_id,
            )
    key = d.switch_key(spec.name, scope_key)
    safe_numbers = audit.json_safe(dict(numbers or {}))
    now = datetime.now(UTC)
    change = {
        "tripped": True,
        "reason": reason,
        "numbers": safe_numbers,
        "changed_at": now,
        "changed_by": actor,
    }
    this_row = kill_switches.c.switch_key == key
    for _ in range(3):  # each pass either changes state, refreshes, or saw a racing reset
        insert = _insert_if_absent(conn).values(
            switch_key=key,
            kind=spec.name,
            scope=spec.scope,
            scope_key=scope_key,
            tenant_id=tenant_id,
            **change,
        )
        claimed = conn.execute(
            insert.on_conflict_do_nothing().returning(kill_switches.c.switch_key)
        )
        flipped = claimed.first() is not None or (
            conn.execute(
                kill_switches.update()
                .where(this_row, kill_switches.c.tripped == sa.false())
                .values(**change)
            ).rowcount
            == 1
        )
        if flipped:
            audit.record(
                conn,
                event="kill_trip",
                actor=actor,
                tenant_id=tenant_id,
                reason=reason,
                wall=spec.name,
                inputs=_audit_inputs(spec, scope_key),
                numbers=safe_numbers,
                at=now,
            )
            return True
        refreshed = conn.execute(
            kill_switches.update()
            .where(this_row, kill_switches.c.tripped == sa.true())
            .values(reason=reason, numbers=safe_numbers)
        ).rowcount
        if refreshed == 1:
            return False
    raise KillSwitchError("contention", f"{key} kept changing under a concurrent writer")


def reset_in(
    conn: Connection,
    spec: d.SwitchKind,
    scope_key: str,
    reason: str,
    numbers: Mapping[str, Any] | None,
    actor: str,
) -> bool:
    """Reset inside the caller's transaction; True when the state changed (and was audited)."""
    this_row = kill_switches.c.switch_key == d.switch_key(spec.name, scope_key)
    row = conn.execute(sa.select(kill_switches).where(this_row).with_for_update()).first()
    if row is None:
        raise KillSwitchError(
            "unknown_switch",
            f"no {spec.name} switch for scope {scope_key!r} has ever tripped",
            kind=spec.name,
            scope_key=scope_key,
        )
    if not row.tripped:
        return False
    now = datetime.now(UTC)
    kept_numbers = audit.json_safe(dict(numbers)) if numbers is not None else row.numbers
    changed = conn.execute(
        kill_switches.update()
        .where(this_row, kill_switches.c.tripped == sa.true())
        .values(
            tripped=False, reason=reason, numbers=kept_numbers, changed_at=now, changed_by=actor
        )
    ).rowcount
    if changed != 1:
        return False  # a concurrent reset won and audited it
    audit.record(
        conn,
        event="kill_reset",
        actor=actor,
        tenant_id=row.tenant_id,
        reason=reason,
        wall=spec.name,
        inputs=_audit_inputs(
            spec,
            scope_key,
            tripped_reason=row.reason,
            tripped_by=row.changed_by,
            tripped_at=row.changed_at,
        ),
        numbers=kept_numbers,
        at=now,
    )
    return True
