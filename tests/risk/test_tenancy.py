"""Tenancy on SQLite (the embedded default): the tenant store and its audited refusals, the tenant
scope's application-layer isolation, the database's triggers (paper-only period, append-only audit,
one signal one tenant), and a fixture that proves no tenant context outlives a test (seed 001 §10).

The `check_*` functions take an engine and run here on SQLite and in tests/pg/test_tenancy_pg.py on
the real Postgres server, where row-level security adds a second barrier.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.deliveries import deliveries, record_delivery
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.schema import (
    PAPER_ONLY_DAYS,
    kill_switches,
    risk_audit,
    signal_deliveries,
    tenants,
)
from quantsentinel.risk.tenancy.scope import (
    TenantRequired,
    TenantSession,
    system_scope,
    tenant_context_leaks,
    tenant_scope,
)
from quantsentinel.risk.tenancy.store import TenantStore, slugify

SCOPED_TABLES = (tenants, kill_switches, risk_audit, signal_deliveries)
NOT_TENANT_SCOPED = sa.Table("market_notes", sa.MetaData(), sa.Column("note_id", sa.Integer))


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


# -- helpers shared with the Postgres suite --------------------------------------------------------


def all_audit(engine: sa.Engine) -> list[dict[str, Any]]:
    with system_scope(engine) as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(risk_audit).order_by("audit_id"))]


def db_now(engine: sa.Engine) -> datetime:
    with system_scope(engine) as conn:
        value = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
    if isinstance(value, str):  # SQLite: UTC text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def backdate_sqlite(engine: sa.Engine, tenant_id: str, days: int) -> None:
    """Only DDL gets past the immutable created_at: drop the guard trigger in this test's
    database, then move created_at back (the paper-only trigger itself stays)."""
    with system_scope(engine) as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS tenants_created_at_update")
        conn.execute(
            sa.text("UPDATE tenants SET created_at = datetime('now', :shift) WHERE tenant_id = :t"),
            {"shift": f"-{days} days", "t": tenant_id},
        )


def raw_tenant_row(tenant_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "tenant_id": tenant_id,
        "name": f"name of {tenant_id}",
        "capital": 1.0,
        "brokerage": BrokeragePlan().to_json(),
        "policy": RiskPolicy().to_json(),
    }
    return {**row, **overrides}


def audit_values(event: str = "verdict", **overrides: Any) -> dict[str, Any]:
    return {"at": datetime.now(UTC), "event": event, "actor": "test", "reason": "r", **overrides}


# -- the tenant store ------------------------------------------------------------------------------


def check_store_lifecycle(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    clock = db_now(engine)
    acme = store.add("Ācme Capital Ltd.", capital=1_000_000, actor="cli:alice")
    assert acme.tenant_id == "acme-capital-ltd"
    assert (acme.trading_mode, acme.capital, acme.policy) == ("paper", 1_000_000.0, RiskPolicy())
    assert abs(acme.created_at - clock) < timedelta(minutes=1)  # the database's clock
    assert (acme.paper_only_until - acme.created_at.date()).days == PAPER_ONLY_DAYS

    plan = BrokeragePlan(kind="percent", percent=0.0003, cap_per_order=20.0)
    beta = store.add(
        "Beta Fund",
        capital=250_000.0,
        brokerage=plan,
        policy={"max_open_positions": 4},
        tenant_id="beta-7",
        actor="cli:alice",
    )
    assert (beta.tenant_id, beta.brokerage, beta.policy.max_open_positions) == ("beta-7", plan, 4)
    assert store.get("beta-7") == beta
    assert [t.tenant_id for t in store.list()] == ["acme-capital-ltd", "beta-7"]

    changed = store.set_policy("beta-7", {"max_open_positions": "6", "max_cost_ratio": 0.3}, "bob")
    assert (changed.policy.max_open_positions, changed.policy.max_cost_ratio) == (6, 0.3)
    assert store.get("beta-7").policy == changed.policy
    assert store.set_capital("beta-7", 300_000, actor="bob").capital == 300_000.0
    assert store.get("beta-7").capital == 300_000.0
    before = len(all_audit(engine))
    assert store.set_trading_mode("beta-7", "paper", actor="bob").trading_mode == "paper"
    assert len(all_audit(engine)) == before  # no change, nothing to audit

    rows = [r for r in all_audit(engine) if r["tenant_id"] == "beta-7"]
    assert [r["event"] for r in rows] == ["tenant_added", "policy_changed", "policy_changed"]
    assert all(r["approved"] is True for r in rows)
    assert rows[1]["numbers"] == {
        "before": {"max_cost_ratio": 0.4, "max_open_positions": 4},
        "after": {"max_cost_ratio": 0.3, "max_open_positions": 6},
    }
    assert rows[1]["actor"] == "bob"
    assert rows[2]["numbers"] == {"before": {"capital": 250_000.0}, "after": {"capital": 300_000.0}}


def check_store_refusals_are_audited(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    acme = store.add("Acme", capital=100_000, actor="op")

    def add(name: str, **overrides: Any) -> Any:
        return store.add(name, **{"capital": 1.0, "actor": "op", **overrides})

    added, other = "tenant_refused", "input_error"
    cases: list[tuple[Callable[[], Any], str, str, str | None]] = [
        (lambda: add("Neg", capital=-1.0), "negative_capital", added, "neg"),
        (lambda: add("Acme"), "duplicate_tenant", added, "acme"),
        (lambda: add("Other", tenant_id="acme"), "duplicate_tenant", added, "acme"),
        (lambda: add("Acme", tenant_id="acme-2"), "duplicate_tenant", added, "acme-2"),
        (lambda: add("P", policy={"max_daily_loss_pct": 2.0}), "bad_policy", added, "p"),
        (lambda: add("Q", policy={"leverage": 3}), "bad_policy", added, "q"),
        (lambda: add("R", capital=float("nan")), "bad_input", added, "r"),
        (lambda: add("S", capital="100"), "bad_input", added, "s"),
        (lambda: add("T", tenant_id="Bad Id!"), "bad_input", added, None),
        (lambda: add("!!!"), "bad_input", added, None),
        (lambda: add("U", actor=""), "bad_input", added, "u"),
        (lambda: store.get("ghost"), "unknown_tenant", other, "ghost"),
        (
            lambda: store.set_policy("ghost", {"max_leg_lots": 5}, "op"),
            "unknown_tenant",
            other,
            "ghost",
        ),
        (lambda: store.set_capital("ghost", 5.0, "op"), "unknown_tenant", other, "ghost"),
        (lambda: store.set_trading_mode("ghost", "paper", "op"), "unknown_tenant", other, "ghost"),
        (lambda: store.set_policy("acme", {"max_leg_lots": 0}, "op"), "bad_policy", other, "acme"),
        (lambda: store.set_policy("acme", {"no_such_limit": 1}, "op"), "bad_policy", other, "acme"),
        (lambda: store.set_policy("acme", {}, "op"), "bad_input", other, "acme"),
        (lambda: store.set_capital("acme", -5, "op"), "negative_capital", other, "acme"),
        (lambda: store.set_trading_mode("acme", "yolo", "op"), "bad_input", other, "acme"),
    ]
    for action, code, event, audited_tenant in cases:
        before = all_audit(engine)
        with pytest.raises(TenantError) as refused:
            action()
        assert refused.value.code == code
        new = all_audit(engine)[len(before) :]
        assert len(new) == 1, (code, new)  # the refusal's own row, not lost with its rollback
        row = new[0]
        assert (row["event"], row["approved"], row["tenant_id"]) == (event, False, audited_tenant)
        assert row["reason"].startswith(f"{code}: ")
    assert store.get("acme") == acme  # every refused change left the tenant as it was
    assert [t.tenant_id for t in store.list()] == ["acme"]
    unnamed = [r for r in all_audit(engine) if r["tenant_id"] is None]
    assert {r["inputs"]["tenant_id"] for r in unnamed} == {"Bad Id!", None}


def check_paper_only_period(engine: sa.Engine, backdate: Callable[[str, int], None]) -> None:
    store = TenantStore(engine)
    young = store.add("Newcomer", capital=100_000, actor="op")

    # The rule is the database's: raw SQL as the schema owner is refused just the same.
    with pytest.raises(sa.exc.IntegrityError, match="paper_only"), system_scope(engine) as conn:
        conn.execute(tenants.insert().values(**raw_tenant_row("born-live", trading_mode="live")))
    with pytest.raises(sa.exc.IntegrityError, match="paper_only"), system_scope(engine) as conn:
        conn.execute(
            tenants.update().where(tenants.c.tenant_id == "newcomer").values(trading_mode="live")
        )
    with pytest.raises(TenantError) as refused:
        store.set_trading_mode("newcomer", "live", actor="op")
    assert refused.value.code == "paper_only"
    assert "'newcomer'" in refused.value.message
    assert young.paper_only_until.isoformat() in refused.value.message

    # created_at is the database clock's: it cannot be changed, nor set in the past on insert.
    immutable = pytest.raises(sa.exc.IntegrityError, match="created_at_immutable")
    with immutable, system_scope(engine) as conn:
        conn.execute(
            tenants.update()
            .where(tenants.c.tenant_id == "newcomer")
            .values(created_at=young.created_at - timedelta(days=30))
        )
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    if engine.dialect.name == "sqlite":  # no BEFORE trigger can rewrite NEW: it refuses instead
        refused = pytest.raises(sa.exc.IntegrityError, match="created_at_immutable")
        with refused, system_scope(engine) as conn:
            conn.execute(tenants.insert().values(**raw_tenant_row("old", created_at=long_ago)))
    else:  # Postgres overwrites it with now()
        with system_scope(engine) as conn:
            conn.execute(tenants.insert().values(**raw_tenant_row("old", created_at=long_ago)))
        assert abs(store.get("old").created_at - db_now(engine)) < timedelta(minutes=1)
    assert store.get("newcomer").created_at == young.created_at

    # The positive path needs DDL rights (see `backdate`): one day short is still refused...
    backdate("newcomer", PAPER_ONLY_DAYS - 1)
    with pytest.raises(TenantError, match="paper_only"):
        store.set_trading_mode("newcomer", "live", actor="op")
    # ...one day past goes live.
    backdate("newcomer", PAPER_ONLY_DAYS + 1)
    assert store.set_trading_mode("newcomer", "live", actor="op").trading_mode == "live"
    assert store.get("newcomer").trading_mode == "live"
    rows = [r for r in all_audit(engine) if r["tenant_id"] == "newcomer"]
    assert [(r["event"], r["approved"]) for r in rows] == [
        ("tenant_added", True),
        ("input_error", False),
        ("input_error", False),
        ("mode_changed", True),
    ]
    assert rows[-1]["numbers"] == {
        "before": {"trading_mode": "paper"},
        "after": {"trading_mode": "live"},
    }


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


def check_audit_is_append_only(engine: sa.Engine) -> None:
    with system_scope(engine) as conn:  # the owner: no role gets past the triggers
        audit.record(conn, event="verdict", actor="castle", tenant_id=None, reason="kept")
    for statement in (
        risk_audit.update().values(reason="rewritten"),
        risk_audit.delete(),
        risk_audit.delete().where(risk_audit.c.reason == "kept"),
    ):
        with pytest.raises(sa.exc.IntegrityError, match="append_only"), system_scope(engine) as c:
            c.execute(statement)
    assert [r["reason"] for r in all_audit(engine)] == ["kept"]


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


def test_store_lifecycle(tenant_context_guard) -> None:
    check_store_lifecycle(tenant_context_guard)


def test_store_refusals_are_audited_with_their_code(tenant_context_guard) -> None:
    check_store_refusals_are_audited(tenant_context_guard)


def test_paper_only_period_is_the_databases_rule(tenant_context_guard) -> None:
    engine = tenant_context_guard
    check_paper_only_period(engine, lambda tenant, days: backdate_sqlite(engine, tenant, days))


def test_tenant_session_rules(tenant_context_guard) -> None:
    check_tenant_session_rules(tenant_context_guard)


def test_one_signal_is_delivered_to_one_tenant(tenant_context_guard) -> None:
    check_delivery_rules(tenant_context_guard)


def test_audit_is_append_only(tenant_context_guard) -> None:
    check_audit_is_append_only(tenant_context_guard)


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


def test_migration_downgrade_removes_the_triggers_and_upgrade_restores_them(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from quantsentinel.db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'updown.db'}"
    migrate(url)
    engine = engine_for(url)
    names = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    with engine.connect() as conn:
        triggers = [r[0] for r in conn.exec_driver_sql(names)]
    assert len(triggers) == 7
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    with engine.connect() as conn:
        assert list(conn.exec_driver_sql(names)) == []
    migrate(url)
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql(names)] == triggers
    engine.dispose()


def test_slugs_are_valid_explicit_ids() -> None:
    assert slugify("  Zeta  Fund (India) #2 ") == "zeta-fund-india-2"
    assert slugify("Ünïcödé Trading") == "unicode-trading"
    assert slugify("x" * 100) == "x" * 64
