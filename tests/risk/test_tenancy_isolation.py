"""Tenancy on SQLite (the embedded default): the tenant scope's application-layer isolation - its
session rules, one signal delivered to one tenant (the database's trigger behind it), and the
property that no application query returns another tenant's rows - with the tenant_context_guard
fixture (tests/risk/conftest.py) proving no tenant context outlives a test (seed 001 §10).

The `check_*` functions take an engine and run here on SQLite and in tests/pg/test_tenancy_pg.py on
the real Postgres server, where row-level security adds a second barrier.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.deliveries import deliveries, record_delivery
from quantsentinel.risk.tenancy.schema import kill_switches, risk_audit, signal_deliveries, tenants
from quantsentinel.risk.tenancy.scope import (
    TenantRequired,
    TenantSession,
    system_scope,
    tenant_context_leaks,
    tenant_scope,
)
from quantsentinel.risk.tenancy.store import TenantStore

from .tenancy_helpers import NOT_TENANT_SCOPED, SCOPED_TABLES, audit_values, raw_tenant_row

# -- the tenant scope ------------------------------------------------------------------------------


def check_tenant_session_rules(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    for name in ("Alpha", "Bravo"):
        store.add(name, capital=100_000, actor="op")
    for missing in (None, "", "   "):
        with pytest.raises(TenantRequired), tenant_scope(engine, missing):
            pass
    with pytest.raises(TenantRequired):
        TenantSession("", None)  # type: ignore[arg-type]

    with tenant_scope(engine, "alpha") as session:
        row = session.insert(risk_audit, **audit_values())
        assert row["tenant_id"] == "alpha"
        with pytest.raises(TenantError) as refused:
            session.insert(risk_audit, **audit_values(tenant_id="bravo"))
        assert refused.value.code == "cross_tenant_write"
        with pytest.raises(TenantError, match="not_tenant_scoped"):
            session.select(NOT_TENANT_SCOPED)
        with pytest.raises(TenantError, match="bad_input"):
            session.insert(tenants, **raw_tenant_row("alpha-2"))
        assert [r["tenant_id"] for r in session.select(tenants)] == ["alpha"]
        kept = session
    # A session kept past its scope (the seed's leaked fixture) refuses to run.
    with pytest.raises(TenantError, match="scope_closed"):
        kept.select(risk_audit)

    # The scope is one transaction: an error rolls back everything in it, except the refusal
    # queued with audit_refusal, which is written after the rollback.
    refusal = TenantError("bad_input", "a refused request")
    with pytest.raises(TenantError), tenant_scope(engine, "alpha") as session:
        session.insert(risk_audit, **audit_values(reason="rolled back"))
        session.audit_refusal(refusal, event="input_error", actor="test")
        raise refusal
    with tenant_scope(engine, "alpha") as session:
        reasons = [r["reason"] for r in session.audit_rows()]
        assert "rolled back" not in reasons
        assert reasons[0] == "bad_input: a refused request"
        session.audit_refusal(refusal, event="input_error", actor="test")  # committed with it
    with tenant_scope(engine, "alpha") as session:
        assert [r["reason"] for r in session.audit_rows()][:2] == [reasons[0]] * 2


def check_delivery_rules(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    for name in ("Alpha", "Bravo"):
        store.add(name, capital=100_000, actor="op")
    with tenant_scope(engine, "alpha") as session:
        first = record_delivery(session, "sig-1", "redis")
        assert record_delivery(session, "sig-1", "redis") == first  # a retry, not a second row
        assert record_delivery(session, "sig-1", "telegram") != first  # same tenant, new channel
        for bad in ("", "x" * 65, None):
            with pytest.raises(TenantError, match="bad_input"):
                record_delivery(session, bad, "redis")
    with pytest.raises(TenantError) as refused, tenant_scope(engine, "bravo") as session:
        record_delivery(session, "sig-1", "redis")
    assert refused.value.code == "cross_tenant_delivery"
    assert "alpha" not in refused.value.message  # the refused tenant does not learn who has it
    with tenant_scope(engine, "bravo") as session:
        assert deliveries(session) == []
        refusals = session.audit_rows(event="delivery_refused")
        assert [r["inputs"]["signal_id"] for r in refusals] == ["sig-1"]
    with tenant_scope(engine, "alpha") as session:
        assert [d["channel"] for d in deliveries(session, signal_id="sig-1")] == [
            "redis",
            "telegram",
        ]
    for omitted in (None, "alpha"):
        with pytest.raises(TenantRequired):
            deliveries(omitted)  # type: ignore[arg-type]

    # The trigger is the backstop: raw SQL that skips the application's check is refused too.
    row = {"signal_id": "sig-1", "tenant_id": "bravo", "channel": "fcm"}
    insert = signal_deliveries.insert().values(**row, delivered_at=datetime.now(UTC))
    refused = pytest.raises(sa.exc.IntegrityError, match="cross_tenant_delivery")
    with refused, system_scope(engine) as conn:
        conn.execute(insert)
    refused = pytest.raises(sa.exc.IntegrityError, match="cross_tenant_delivery")
    with refused, tenant_scope(engine, "bravo") as session:
        session.conn.execute(insert)


# -- the property: no query through the application layer returns another tenant's rows ------------

TABLES_WITH_ROWS = ("risk_audit", "kill_switches", "signal_deliveries")
QUERY_KINDS = ("select", "select_all", "count", "audit_rows", "deliveries", "omitted")
PG_QUERY_KINDS = ("raw_audit_rows", "raw_select")


@st.composite
def tenant_worlds(draw, query_kinds: tuple[str, ...]):
    n = draw(st.integers(min_value=2, max_value=5))
    members = st.integers(min_value=0, max_value=n - 1)
    rows = draw(st.lists(st.tuples(st.sampled_from(TABLES_WITH_ROWS), members), max_size=16))
    global_switches = draw(st.integers(min_value=0, max_value=2))
    queries = draw(
        st.lists(
            st.tuples(
                st.sampled_from(query_kinds),
                members,
                members,
                st.sampled_from([t.name for t in SCOPED_TABLES]),
            ),
            min_size=1,
            max_size=12,
        )
    )
    return n, rows, global_switches, queries


def _populate(engine: sa.Engine, n: int, rows, global_switches: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]  # examples share the database, and the audit cannot be emptied
    ids = [f"w{prefix}-{i}" for i in range(n)]
    store = TenantStore(engine)
    for tenant_id in ids:
        store.add(f"World {tenant_id}", capital=50_000, tenant_id=tenant_id, actor="hypothesis")
    now = datetime.now(UTC)
    for k, (table, member) in enumerate(rows):
        with tenant_scope(engine, ids[member]) as session:
            if table == "risk_audit":
                session.audit(event="verdict", actor="hypothesis", reason=f"row {k}")
            elif table == "signal_deliveries":
                record_delivery(session, f"{prefix}-sig{k}", "redis")
            else:
                session.insert(kill_switches, **_switch(f"{ids[member]}/{k}", now))
    with system_scope(engine) as conn:
        for g in range(global_switches):
            conn.execute(kill_switches.insert().values(**_switch(f"{prefix}/g{g}", now)))
    return ids


def _switch(key: str, now: datetime) -> dict[str, Any]:
    return {
        "switch_key": f"strategy:{key}",
        "kind": "strategy",
        "scope": "strategy",
        "scope_key": key,
        "tripped": True,
        "changed_at": now,
        "changed_by": "hypothesis",
    }


def _keys(table: sa.Table, rows) -> set[tuple]:
    return {tuple(r[c.name] for c in table.primary_key.columns) for r in rows}


def check_no_cross_tenant_rows(engine: sa.Engine, world) -> None:
    n, rows, global_switches, queries = world
    ids = _populate(engine, n, rows, global_switches)
    tables = {t.name: t for t in SCOPED_TABLES}
    with system_scope(engine) as conn:  # the truth, read as the owner
        truth = {
            name: [dict(r._mapping) for r in conn.execute(sa.select(table))]
            for name, table in tables.items()
        }
    own = {
        (name, tenant): _keys(tables[name], [r for r in truth[name] if r["tenant_id"] == tenant])
        for name in tables
        for tenant in ids
    }
    global_keys = _keys(
        kill_switches, [r for r in truth["kill_switches"] if r["tenant_id"] is None]
    )

    def visible(name: str, tenant: str) -> set[tuple]:
        return own[name, tenant] | (global_keys if name == "kill_switches" else set())

    for kind, asker_index, target_index, name in queries:
        asker, target, table = ids[asker_index], ids[target_index], tables[name]
        if kind == "omitted":
            with pytest.raises(TenantRequired), tenant_scope(engine, ["", None][asker_index % 2]):
                pass
            with pytest.raises(TenantRequired):
                deliveries(None)  # type: ignore[arg-type]
            with pytest.raises(ValueError), system_scope(engine) as conn:
                audit.rows(conn, tenant_id="")
            continue
        with tenant_scope(engine, asker) as session:
            if kind == "select":  # asking for the target's rows by criteria
                got = session.select(table, table.c.tenant_id == target)
                expected = own[name, target] if asker == target else set()
            elif kind == "select_all":
                got = session.select(table)
                expected = visible(name, asker)
            elif kind == "count":
                assert session.count(table) == len(visible(name, asker))
                continue
            elif kind == "audit_rows":
                got = session.audit_rows(limit=10_000)
                table, expected = risk_audit, own["risk_audit", asker]
            elif kind == "deliveries":
                theirs = [r for r in truth["signal_deliveries"] if r["tenant_id"] == target]
                signal = theirs[0]["signal_id"] if theirs else "no-such-signal"
                got = deliveries(session, signal_id=signal)
                table = signal_deliveries
                expected = _keys(table, theirs[:1]) if asker == target else set()
            elif kind == "raw_audit_rows":  # audit.rows on the raw connection: RLS filters it
                got = audit.rows(session.conn, tenant_id=target, limit=10_000)
                table = risk_audit
                expected = own["risk_audit", target] if asker == target else set()
            else:  # raw_select: no filter at all in the SQL, only row-level security
                got = [dict(r._mapping) for r in session.conn.execute(sa.select(table))]
                expected = visible(name, asker)
            assert {r["tenant_id"] for r in got} <= {asker, None}
            assert _keys(table, got) == expected


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=tenant_worlds(QUERY_KINDS))
def test_no_application_query_returns_another_tenants_rows(tenant_context_guard, world) -> None:
    check_no_cross_tenant_rows(tenant_context_guard, world)


# -- SQLite runs of the shared checks --------------------------------------------------------------


def test_tenant_session_rules(tenant_context_guard) -> None:
    check_tenant_session_rules(tenant_context_guard)


def test_one_signal_is_delivered_to_one_tenant(tenant_context_guard) -> None:
    check_delivery_rules(tenant_context_guard)


# -- SQLite only -----------------------------------------------------------------------------------


def test_guard_check_catches_a_tenant_scope_left_open(tenant_context_guard) -> None:
    engine = tenant_context_guard
    scope = tenant_scope(engine, "acme")
    session = scope.__enter__()  # what a fixture that forgets to clean up leaves behind
    try:
        assert tenant_context_leaks(engine) == ["tenant scope for 'acme' is still open"]
    finally:
        scope.__exit__(None, None, None)
    assert tenant_context_leaks(engine) == []
    with pytest.raises(TenantError, match="scope_closed"):
        session.select(risk_audit)
