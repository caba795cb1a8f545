"""Tenants: who they are, their capital, brokerage plan, risk policy and trading mode.

`TenantStore` is the operator's view (the CLI's `qs tenants ...`): it works in `system_scope`,
sees every tenant, and audits every change and every refusal. A refusal's audit row is written in a
transaction of its own after the refused one has rolled back, so the refusal cannot take its own
record with it. A tenant reads its own row with `load_tenant(session)` inside its `tenant_scope`.

The paper-only rule (no 'live' trading in a tenant's first PAPER_ONLY_DAYS days) is the database's
(migration 0003 triggers, on the database clock); this module only translates its refusal into
TenantError('paper_only') and keeps the database's message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.schema import PAPER_ONLY_DAYS, TRADING_MODES, tenants
from quantsentinel.risk.tenancy.scope import (
    TenantSession,
    database_refusal,
    refusal_reason,
    system_scope,
)
from quantsentinel.risk.tenancy.validation import (
    MAX_ACTOR,
    MAX_NAME,
    MAX_TENANT_ID,
    TENANT_ID_PATTERN,
    _as_json,
    _instance,
    _slug,
    _valid_actor,
    _valid_capital,
    _valid_name,
    slugify,
    validate_tenant_id,
)

__all__ = [  # the validation names stay importable from here, where other modules import them
    "MAX_ACTOR",
    "MAX_NAME",
    "MAX_TENANT_ID",
    "TENANT_ID_PATTERN",
    "Tenant",
    "TenantStore",
    "load_tenant",
    "slugify",
    "validate_tenant_id",
]


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    capital: float
    brokerage: BrokeragePlan
    policy: RiskPolicy
    trading_mode: str
    created_at: datetime  # the database clock's, UTC

    @property
    def live_allowed_from(self) -> datetime:
        """The first instant the database lets this tenant trade live."""
        return self.created_at + timedelta(days=PAPER_ONLY_DAYS)

    @property
    def paper_only_until(self) -> date:
        """The (UTC) date on which the paper-only period ends, at `live_allowed_from`."""
        return self.live_allowed_from.date()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Tenant:
        created_at = row["created_at"]
        if created_at.tzinfo is None:  # SQLite hands back the stored UTC text as a naive datetime
            created_at = created_at.replace(tzinfo=UTC)
        return cls(
            tenant_id=row["tenant_id"],
            name=row["name"],
            capital=float(row["capital"]),
            brokerage=BrokeragePlan.from_json(dict(row["brokerage"])),
            policy=RiskPolicy.from_json(dict(row["policy"])),
            trading_mode=row["trading_mode"],
            created_at=created_at.astimezone(UTC),
        )


def load_tenant(session: TenantSession) -> Tenant:
    """The session's own tenant, read inside its scope (row-level security shows it only its row).
    An unknown tenant is refused and audited."""
    rows = session.select(tenants)
    if not rows:
        error = TenantError("unknown_tenant", f"tenant {session.tenant_id!r} does not exist")
        session.audit_refusal(
            error, event="input_error", actor="tenant_scope", inputs={"action": "load_tenant"}
        )
        raise error
    return Tenant.from_row(rows[0])


@dataclass
class _Refusal:
    """What a refusal's audit row needs; `tenant_id` is filled in once the request names one."""

    event: str
    actor: object
    tenant_id: object
    inputs: dict[str, Any]


class TenantStore:
    """The operator's door to tenants (system scope): every change and every refusal audited."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads -----------------------------------------------------------------------------------

    def get(self, tenant_id: str) -> Tenant:
        refusals = self._refusals_audited("input_error", "operator", tenant_id, {"action": "get"})
        with refusals, system_scope(self.engine) as conn:  # the read rolls back before the audit
            return self._read(conn, tenant_id)

    def find(self, tenant_id: str) -> Tenant | None:
        """The tenant, or None: a lookup for callers that audit the refusal themselves with
        their own inputs (the castle's gatekeeper), so a refusal is not audited twice."""
        with system_scope(self.engine) as conn:
            row = conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)).first()
        return Tenant.from_row(row._mapping) if row is not None else None

    def list(self) -> list[Tenant]:
        """Every tenant, by id: an operator's view (a tenant sees only itself, via load_tenant)."""
        with system_scope(self.engine) as conn:
            result = conn.execute(sa.select(tenants).order_by(tenants.c.tenant_id))
            return [Tenant.from_row(row._mapping) for row in result]

    # -- changes ---------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        *,
        capital: float,
        brokerage: BrokeragePlan | None = None,
        policy: RiskPolicy | Mapping[str, Any] | None = None,
        tenant_id: str | None = None,
        actor: str,
    ) -> Tenant:
        """Add a tenant in paper mode; its id is `tenant_id` or a slug of `name`. `policy` is a
        RiskPolicy or a mapping of changes to the default one (the CLI's `field=value` pairs)."""
        request = {
            "action": "add",
            "name": name,
            "capital": capital,
            "tenant_id": tenant_id,
            "brokerage": _as_json(brokerage),
            "policy": _as_json(policy),
        }
        with self._refusals_audited("tenant_refused", actor, None, request) as refusal:
            name = _valid_name(name)
            tenant_id = validate_tenant_id(tenant_id) if tenant_id is not None else _slug(name)
            refusal.tenant_id = tenant_id  # from here on, the refusal is audited under the tenant
            actor = _valid_actor(actor)
            capital = _valid_capital(capital)
            brokerage = _instance(brokerage, BrokeragePlan, "brokerage", "bad_plan")
            if isinstance(policy, Mapping):
                policy = RiskPolicy().updated(dict(policy))
            policy = _instance(policy, RiskPolicy, "policy", "bad_policy")
            with system_scope(self.engine) as conn:
                _refuse_duplicate(conn, tenant_id, name)
                insert = tenants.insert().values(
                    tenant_id=tenant_id,
                    name=name,
                    capital=capital,
                    brokerage=brokerage.to_json(),
                    policy=policy.to_json(),
                    trading_mode="paper",
                )
                try:  # created_at is left to the database (its clock, its trigger)
                    row = conn.execute(insert.returning(*tenants.columns)).one()
                except sa.exc.IntegrityError as exc:  # lost a race with an identical add
                    raise _duplicate(tenant_id, name) from exc
                tenant = Tenant.from_row(row._mapping)
                audit.record(
                    conn,
                    event="tenant_added",
                    actor=actor,
                    tenant_id=tenant_id,
                    approved=True,
                    reason=f"tenant {tenant_id!r} added, paper-only until "
                    f"{tenant.live_allowed_from.isoformat()}",
                    inputs=request,
                    numbers={"capital": capital},
                )
                return tenant

    def set_policy(self, tenant_id: str, changes: Mapping[str, Any], actor: str) -> Tenant:
        """Change some policy fields; the audit row holds each changed field before and after."""
        request = {"action": "set_policy", "changes": changes}
        with self._refusals_audited("input_error", actor, tenant_id, request):
            actor = _valid_actor(actor)
            if not isinstance(changes, Mapping) or not changes:
                raise TenantError(
                    "bad_input", f"policy changes must be a non-empty mapping, got {changes!r}"
                )
            with system_scope(self.engine) as conn:
                before = self._read(conn, tenant_id, lock=True)
                policy = before.policy.updated(dict(changes))
                self._update(conn, tenant_id, policy=policy.to_json())
                names = sorted(changes)
                audit.record(
                    conn,
                    event="policy_changed",
                    actor=actor,
                    tenant_id=tenant_id,
                    approved=True,
                    reason=f"policy changed: {', '.join(names)}",
                    inputs=request,
                    numbers={
                        "before": {n: getattr(before.policy, n) for n in names},
                        "after": {n: getattr(policy, n) for n in names},
                    },
                )
                return replace(before, policy=policy)

    def set_capital(self, tenant_id: str, capital: float, actor: str) -> Tenant:
        """Change the tenant's capital (every %-of-capital limit moves with it, so it is audited as
        a policy change)."""
        request = {"action": "set_capital", "capital": capital}
        with self._refusals_audited("input_error", actor, tenant_id, request):
            actor = _valid_actor(actor)
            capital = _valid_capital(capital)
            with system_scope(self.engine) as conn:
                before = self._read(conn, tenant_id, lock=True)
                self._update(conn, tenant_id, capital=capital)
                audit.record(
                    conn,
                    event="policy_changed",
                    actor=actor,
                    tenant_id=tenant_id,
                    approved=True,
                    reason="capital changed",
                    inputs=request,
                    numbers={"before": {"capital": before.capital}, "after": {"capital": capital}},
                )
                return replace(before, capital=capital)

    def set_trading_mode(self, tenant_id: str, mode: str, actor: str) -> Tenant:
        """'paper' or 'live'. The database refuses 'live' inside the paper-only period; that
        refusal comes back as TenantError('paper_only') carrying the database's message."""
        request = {"action": "set_trading_mode", "mode": mode}
        with self._refusals_audited("input_error", actor, tenant_id, request):
            actor = _valid_actor(actor)
            if mode not in TRADING_MODES:
                raise TenantError(
                    "bad_input", f"trading mode {mode!r} is not one of {', '.join(TRADING_MODES)}"
                )
            with system_scope(self.engine) as conn:
                before = self._read(conn, tenant_id, lock=True)
                if before.trading_mode == mode:
                    return before
                try:
                    self._update(conn, tenant_id, trading_mode=mode)
                except sa.exc.IntegrityError as exc:
                    raise _paper_only(exc, before) from exc
                audit.record(
                    conn,
                    event="mode_changed",
                    actor=actor,
                    tenant_id=tenant_id,
                    approved=True,
                    reason=f"trading mode {before.trading_mode} -> {mode}",
                    inputs=request,
                    numbers={
                        "before": {"trading_mode": before.trading_mode},
                        "after": {"trading_mode": mode},
                    },
                )
                return replace(before, trading_mode=mode)

    # -- internals -------------------------------------------------------------------------------

    def _read(self, conn: Connection, tenant_id: str, *, lock: bool = False) -> Tenant:
        if not isinstance(tenant_id, str) or not tenant_id:
            raise TenantError("unknown_tenant", f"tenant id {tenant_id!r} names no tenant")
        query = sa.select(tenants).where(tenants.c.tenant_id == tenant_id)
        if lock:  # serializes concurrent read-modify-writes of one tenant (Postgres; SQLite
            query = query.with_for_update()  # serializes every writer anyway)
        row = conn.execute(query).one_or_none()
        if row is None:
            raise TenantError("unknown_tenant", f"tenant {tenant_id!r} does not exist")
        return Tenant.from_row(row._mapping)

    def _update(self, conn: Connection, tenant_id: str, **values: Any) -> None:
        statement = tenants.update().where(tenants.c.tenant_id == tenant_id)
        conn.execute(statement.values(**values, updated_at=datetime.now(UTC)))

    @contextmanager
    def _refusals_audited(
        self, event: str, actor: object, tenant_id: object, inputs: dict[str, Any]
    ) -> Iterator[_Refusal]:
        """Runs a change; when it is refused (TenantError), the refused transaction has already
        rolled back, and the refusal is audited in a transaction of its own, then re-raised."""
        refusal = _Refusal(event, actor, tenant_id, inputs)
        try:
            yield refusal
        except TenantError as error:
            self._audit_refusal(refusal, error)
            raise

    def _audit_refusal(self, refusal: _Refusal, error: TenantError) -> None:
        tenant_id = refusal.tenant_id
        storable = isinstance(tenant_id, str) and 0 < len(tenant_id) <= MAX_TENANT_ID
        actor = refusal.actor
        actor_ok = isinstance(actor, str) and 0 < len(actor) <= MAX_ACTOR
        try:
            with system_scope(self.engine) as conn:
                audit.record(
                    conn,
                    event=refusal.event,
                    actor=actor if actor_ok else "unknown",
                    tenant_id=tenant_id if storable else None,
                    approved=False,
                    reason=refusal_reason(error),
                    inputs={"tenant_id": tenant_id, "actor": actor, **refusal.inputs},
                    numbers=error.details or None,
                )
        except Exception as audit_error:  # the refusal stays the error the caller sees
            error.add_note(f"the refusal's audit row could not be written: {audit_error!r}")


def _refuse_duplicate(conn: Connection, tenant_id: str, name: str) -> None:
    query = sa.select(tenants.c.tenant_id, tenants.c.name).where(
        sa.or_(tenants.c.tenant_id == tenant_id, tenants.c.name == name)
    )
    if conn.execute(query).first() is not None:
        raise _duplicate(tenant_id, name)


def _duplicate(tenant_id: str, name: str) -> TenantError:
    return TenantError(
        "duplicate_tenant",
        f"a tenant with id {tenant_id!r} or name {name!r} already exists",
        tenant_id=tenant_id,
        name=name,
    )


def _paper_only(exc: sa.exc.IntegrityError, tenant: Tenant) -> TenantError:
    refusal = database_refusal(exc)
    if refusal is None or refusal[0] != "paper_only":
        raise exc
    # The database's message starts with its rule code; TenantError adds the code itself.
    message = refusal[1].removeprefix("paper_only:").strip()
    if repr(tenant.tenant_id) not in message:  # SQLite's trigger message cannot name the row
        message += (
            f" (tenant {tenant.tenant_id!r}, created {tenant.created_at.isoformat()}, "
            f"may go live from {tenant.live_allowed_from.isoformat()})"
        )
    return TenantError(
        "paper_only",
        message,
        tenant_id=tenant.tenant_id,
        created_at=tenant.created_at,
        live_allowed_from=tenant.live_allowed_from,
    )
