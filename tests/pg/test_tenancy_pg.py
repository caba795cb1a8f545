"""Tenancy on the real Postgres server: the shared checks of tests/risk/test_tenancy_store.py and
tests/risk/test_tenancy_isolation.py, plus what only Postgres has - row-level security for qs_app,
audit triggers that refuse the owner and the superuser (TRUNCATE and replica mode too), the
delivery trigger across row-level security and across concurrent transactions, the guard catching
leaked session state, and migration 0003 run on two databases at once."""

from __future__ import annotations

import importlib.util
import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from quantsentinel.db import MIGRATIONS_DIR, engine_for, migrate, scratch_postgres_database
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy.schema import (
    APP_ROLE,
    TENANT_SCOPED,
    kill_switches,
    risk_audit,
    signal_deliveries,
)
from quantsentinel.risk.tenancy.scope import system_scope, tenant_context_leaks, tenant_scope
from quantsentinel.risk.tenancy.store import TenantStore

from ..risk.tenancy_helpers import audit_values
from ..risk.test_tenancy_isolation import (
    PG_QUERY_KINDS,
    QUERY_KINDS,
    check_delivery_rules,
    check_no_cross_tenant_rows,
    check_tenant_session_rules,
    tenant_worlds,
)
from ..risk.test_tenancy_store import (
    check_audit_is_append_only,
    check_paper_only_period,
    check_store_lifecycle,
    check_store_refusals_are_audited,
)
from .conftest import ADMIN_URL

pytestmark = pytest.mark.pg

TABLES = {t: sa.table(t, sa.column("tenant_id")) for t in TENANT_SCOPED}


def backdate_postgres(engine: sa.Engine, tenant_id: str, days: int) -> None:
    """Only DDL gets past the immutable created_at: the schema owner switches the guard trigger
    off for one statement, inside one transaction, and back on (ALWAYS, as the migration has it)."""
    with system_scope(engine) as conn:
        conn.exec_driver_sql("ALTER TABLE tenants DISABLE TRIGGER tenants_created_at_guard")
        conn.execute(
            sa.text(
                "UPDATE tenants SET created_at = now() - make_interval(days => :days) "
                "WHERE tenant_id = :tenant"
            ),
            {"days": days, "tenant": tenant_id},
        )
        conn.exec_driver_sql("ALTER TABLE tenants ENABLE ALWAYS TRIGGER tenants_created_at_guard")


@contextmanager
def app_role_without_tenant(engine: sa.Engine) -> Iterator[sa.Connection]:
    """What a code path that forgot set_tenant_id gets: the application role, no tenant."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL ROLE {APP_ROLE}")
        yield conn


def two_tenants_with_rows(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    now = datetime.now(UTC)
    for name in ("Alpha", "Bravo"):
        tenant = store.add(name, capital=100_000, actor="op").tenant_id
        with tenant_scope(engine, tenant) as session:
            session.audit(event="verdict", actor="castle", reason=f"{tenant} verdict")
            delivery = {"signal_id": f"{tenant}-sig", "channel": "redis", "delivered_at": now}
            session.insert(signal_deliveries, **delivery)
            session.insert(kill_switches, **switch(f"{tenant}-strategy", now))
    with system_scope(engine) as conn:  # a global switch: tenant_id NULL
        conn.execute(kill_switches.insert().values(**switch("master", now, kind="master")))


def switch(key: str, now: datetime, kind: str = "strategy", **overrides: Any) -> dict[str, Any]:
    return {
        "switch_key": f"{kind}:{key}",
        "kind": kind,
        "scope": kind,
        "scope_key": key,
        "tripped": True,
        "changed_at": now,
        "changed_by": "test",
        **overrides,
    }


def tenants_seen(conn: sa.Connection, table: str) -> list[str | None]:
    query = sa.select(TABLES[table].c.tenant_id)
    return sorted(conn.execute(query).scalars(), key=lambda t: (t is None, t or ""))


def refused(engine: sa.Engine, tenant: str, statement: sa.Executable, match: str) -> None:
    """`statement`, run raw in `tenant`'s scope, fails with a database error matching `match` (a
    failed statement ends its transaction, so each gets a scope of its own)."""
    with pytest.raises(sa.exc.DBAPIError, match=match), tenant_scope(engine, tenant) as session:
        session.conn.execute(statement)


# -- the shared checks, on Postgres ----------------------------------------------------------------


def test_store_lifecycle(tenant_context_guard) -> None:
    check_store_lifecycle(tenant_context_guard)


def test_store_refusals_are_audited_with_their_code(tenant_context_guard) -> None:
    check_store_refusals_are_audited(tenant_context_guard)


def test_paper_only_period_is_the_databases_rule(tenant_context_guard) -> None:
    engine = tenant_context_guard
    check_paper_only_period(engine, lambda tenant, days: backdate_postgres(engine, tenant, days))


def test_tenant_session_rules(tenant_context_guard) -> None:
    check_tenant_session_rules(tenant_context_guard)


def test_one_signal_is_delivered_to_one_tenant(tenant_context_guard) -> None:
    check_delivery_rules(tenant_context_guard)


def test_audit_is_append_only(tenant_context_guard) -> None:
    check_audit_is_append_only(tenant_context_guard)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=tenant_worlds(QUERY_KINDS + PG_QUERY_KINDS))
def test_no_query_returns_another_tenants_rows(tenant_context_guard, world) -> None:
    check_no_cross_tenant_rows(tenant_context_guard, world)


# -- row-level security ----------------------------------------------------------------------------


def test_the_app_role_without_a_tenant_sees_no_rows_at_all(tenant_context_guard) -> None:
    engine = tenant_context_guard
    two_tenants_with_rows(engine)
    with system_scope(engine) as conn:  # the rows are there...
        assert all(tenants_seen(conn, table) for table in TENANT_SCOPED)
    with app_role_without_tenant(engine) as conn:  # ...and invisible, global switches included
        assert conn.execute(sa.text("SELECT current_tenant_id()")).scalar() is None
        assert {table: tenants_seen(conn, table) for table in TENANT_SCOPED} == {
            table: [] for table in TENANT_SCOPED
        }
    refusal = pytest.raises(sa.exc.DBAPIError, match="tenant_required")
    with refusal, app_role_without_tenant(engine) as conn:
        conn.execute(sa.text("SELECT set_tenant_id('')"))
    # A committed tenant scope leaves nothing behind for the next transaction on the pool.
    with tenant_scope(engine, "alpha"):
        pass
    with app_role_without_tenant(engine) as conn:
        assert all(tenants_seen(conn, table) == [] for table in TENANT_SCOPED)


def test_a_tenant_sees_only_its_own_rows_and_the_global_switches(tenant_context_guard) -> None:
    engine = tenant_context_guard
    two_tenants_with_rows(engine)
    for tenant in ("alpha", "bravo"):
        with tenant_scope(engine, tenant) as session:
            seen = {table: tenants_seen(session.conn, table) for table in TENANT_SCOPED}
            assert seen == {
                "tenants": [tenant],
                "kill_switches": [tenant, None],
                "risk_audit": [tenant, tenant],  # tenant_added and the verdict
                "signal_deliveries": [tenant],
            }


def test_policies_refuse_rows_for_another_tenant_even_in_raw_sql(tenant_context_guard) -> None:
    engine = tenant_context_guard
    two_tenants_with_rows(engine)
    now = datetime.now(UTC)
    rls, denied = "row-level security", "permission denied"
    delivery = {"signal_id": "x", "channel": "redis", "delivered_at": now}
    for statement, match in (
        (risk_audit.insert().values(**audit_values(tenant_id="bravo")), rls),
        (signal_deliveries.insert().values(**delivery, tenant_id="bravo"), rls),
        (kill_switches.insert().values(**switch("b2", now, tenant_id="bravo")), rls),
        (kill_switches.insert().values(**switch("global-2", now, kind="symbol")), rls),
        (
            sa.text(
                "INSERT INTO tenants (tenant_id, name, capital, brokerage, policy) "
                "VALUES ('alpha-2', 'x', 1, '{}', '{}')"
            ),
            denied,
        ),
        (sa.text("DELETE FROM tenants"), denied),
        (sa.text("UPDATE tenants SET capital = 1e9"), denied),  # limits change only audited
        (sa.text("UPDATE risk_audit SET reason = ''"), denied),
        (sa.text("DELETE FROM signal_deliveries"), denied),
    ):
        refused(engine, "alpha", statement, match)

    with tenant_scope(engine, "alpha") as session:
        conn = session.conn
        # Rows it cannot see, it cannot change: the global switch and bravo's are untouched.
        reset = sa.text("UPDATE kill_switches SET tripped = false")
        assert conn.execute(reset).rowcount == 1  # its own switch only
    with system_scope(engine) as conn:
        switches = sa.select(kill_switches.c.switch_key, kill_switches.c.tripped)
        tripped = dict(conn.execute(switches).all())
        capital = dict(conn.execute(sa.text("SELECT tenant_id, capital FROM tenants")).all())
    assert tripped == {
        "strategy:alpha-strategy": False,
        "strategy:bravo-strategy": True,
        "master:master": True,
    }
    assert capital == {"alpha": 100_000.0, "bravo": 100_000.0}


def test_only_ddl_rights_switch_a_rule_off(tenant_context_guard) -> None:
    engine = tenant_context_guard
    TenantStore(engine).add("Alpha", capital=1.0, actor="op")
    for table, trigger in (
        ("tenants", "tenants_paper_only_guard"),
        ("tenants", "tenants_created_at_guard"),
        ("risk_audit", "risk_audit_append_only"),
        ("signal_deliveries", "signal_deliveries_one_tenant"),
    ):
        refused(engine, "alpha", sa.text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"), "owner")
    refused(engine, "alpha", sa.text("ALTER TABLE risk_audit NO FORCE ROW LEVEL SECURITY"), "owner")


def test_the_audit_refuses_the_superuser_truncate_and_replica_mode(tenant_context_guard) -> None:
    engine = tenant_context_guard
    two_tenants_with_rows(engine)
    with system_scope(engine) as conn:
        superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        assert conn.execute(sa.text(superuser)).scalar() is True
        before = conn.execute(sa.select(sa.func.count()).select_from(risk_audit)).scalar_one()
    with pytest.raises(sa.exc.IntegrityError, match="append_only"), system_scope(engine) as conn:
        conn.exec_driver_sql("TRUNCATE risk_audit")
    # Replica mode switches ordinary triggers off; these are ENABLE ALWAYS.
    with pytest.raises(sa.exc.IntegrityError, match="append_only"), system_scope(engine) as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql("DELETE FROM risk_audit")
    with system_scope(engine) as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(risk_audit)).scalar_one()
    assert after == before > 0


# -- the delivery trigger under concurrency --------------------------------------------------------


def _wait_for(engine: sa.Engine, sql: str, what: str, tries: int = 400) -> None:
    for _ in range(tries):
        with engine.connect() as conn:
            if conn.exec_driver_sql(sql).scalar():
                return
        time.sleep(0.025)
    pytest.fail(f"never saw {what}")


def test_two_concurrent_first_deliveries_of_one_signal_cannot_both_commit(
    tenant_context_guard,
) -> None:
    engine = tenant_context_guard
    store = TenantStore(engine)
    for name in ("Alpha", "Bravo"):
        store.add(name, capital=1.0, actor="op")
    row = {"signal_id": "race", "channel": "redis", "delivered_at": datetime.now(UTC)}
    outcome: dict[str, Any] = {}

    def bravo_delivers() -> None:
        try:
            with tenant_scope(engine, "bravo") as session:
                session.conn.execute(signal_deliveries.insert().values(**row, tenant_id="bravo"))
            outcome["committed"] = True
        except sa.exc.DBAPIError as exc:
            outcome["error"] = exc

    alpha = tenant_scope(engine, "alpha")
    session = alpha.__enter__()
    try:  # alpha's delivery is in, not yet committed, when bravo's arrives
        session.conn.execute(signal_deliveries.insert().values(**row, tenant_id="alpha"))
        second = threading.Thread(target=bravo_delivers)
        second.start()
        _wait_for(
            engine,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            "bravo's delivery waiting on the signal's lock",
        )
    finally:
        alpha.__exit__(None, None, None)
    second.join(timeout=60)
    assert "committed" not in outcome
    assert "cross_tenant_delivery" in str(outcome["error"])
    with system_scope(engine) as conn:
        owners = conn.execute(sa.text("SELECT tenant_id FROM signal_deliveries")).scalars().all()
    assert owners == ["alpha"]


# -- the guard -------------------------------------------------------------------------------------


def pooled_states(engine: sa.Engine) -> dict[int, tuple[str | None, str]]:
    """backend pid -> (qs.tenant_id, current_user) of pool.size() connections held at once."""
    held = [engine.connect() for _ in range(engine.pool.size())]
    try:
        query = sa.text(
            "SELECT pg_backend_pid(), current_setting('qs.tenant_id', true), current_user"
        )
        return {pid: (tenant, user) for pid, tenant, user in (c.execute(query).one() for c in held)}
    finally:
        for conn in held:
            conn.close()


def test_tenant_scope_leaves_nothing_on_its_pooled_connection(tenant_context_guard) -> None:
    engine = tenant_context_guard
    TenantStore(engine).add("Alpha", capital=1.0, actor="op")
    query = sa.text("SELECT pg_backend_pid(), current_tenant_id(), current_user")
    with tenant_scope(engine, "alpha") as session:
        committed_pid, tenant, user = session.conn.execute(query).one()
        assert (tenant, user) == ("alpha", APP_ROLE)
    with pytest.raises(RuntimeError), tenant_scope(engine, "alpha") as session:
        rolled_back_pid = session.conn.execute(query).one()[0]
        raise RuntimeError("roll back")
    login = engine.url.username
    states = pooled_states(engine)
    for pid in (committed_pid, rolled_back_pid):
        assert states[pid][0] in (None, "")
        assert states[pid][1] == login


def test_guard_finds_a_session_level_tenant_on_any_pooled_connection(tenant_context_guard) -> None:
    engine = tenant_context_guard
    held = [engine.connect() for _ in range(3)]
    held[2].execute(sa.text("SELECT set_config('qs.tenant_id', 'acme', false)"))  # session-level
    held[2].commit()
    for conn in held:
        conn.close()  # back to the pool; the leaked one is last in line
    with engine.connect() as first:  # which is why one checked-out connection proves nothing
        assert not first.execute(sa.text("SELECT current_setting('qs.tenant_id', true)")).scalar()
    leaks = tenant_context_leaks(engine)
    assert len(leaks) == 1
    assert "qs.tenant_id is 'acme' outside any tenant scope" in leaks[0]
    engine.dispose()  # closes the leaked connection, so the guard's own after-check passes
    assert tenant_context_leaks(engine) == []


def test_guard_finds_a_session_level_role_on_a_pooled_connection(tenant_context_guard) -> None:
    engine = tenant_context_guard
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET ROLE {APP_ROLE}")  # session-level, unlike tenant_scope's
        conn.commit()
    leaks = tenant_context_leaks(engine)
    assert len(leaks) == 1
    assert f"current_user is '{APP_ROLE}', not the login role" in leaks[0]
    engine.dispose()
    assert tenant_context_leaks(engine) == []


def test_system_scope_ignores_a_leaked_tenant_and_role(tenant_context_guard) -> None:
    engine = tenant_context_guard
    engine.dispose()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET ROLE {APP_ROLE}")
        conn.execute(sa.text("SELECT set_config('qs.tenant_id', 'acme', false)"))
        conn.commit()
    with system_scope(engine) as conn:
        tenant, user = conn.execute(sa.text("SELECT current_tenant_id(), current_user")).one()
    assert (tenant, user) == (None, engine.url.username)
    engine.dispose()


# -- the migration ---------------------------------------------------------------------------------


def _migration_0003():
    path = MIGRATIONS_DIR / "versions" / "0003_tenancy_risk_audit_kill_switches.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_role_creation_survives_the_concurrent_creation_race() -> None:
    """Two migrations both see no role and both CREATE it: the second waits on the first's
    uncommitted row, then gets unique_violation, which the DO block takes as "exists". A throwaway
    role stands in for qs_app, which other databases on this server already depend on."""
    create = _migration_0003().create_role_sql
    role = f"qs_race_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN_URL)
    outcome: dict[str, Any] = {}

    def second_migration() -> None:
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(create(role))
            outcome["ok"] = True
        except sa.exc.DBAPIError as exc:
            outcome["error"] = exc

    second = threading.Thread(target=second_migration)
    try:
        with admin.connect() as first:
            first.exec_driver_sql(create(role))  # created, not committed
            second.start()
            _wait_for(
                admin,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%%CREATE ROLE%%' AND pid <> pg_backend_pid()",
                "the second CREATE ROLE waiting on the first",
            )
            first.commit()
        second.join(timeout=60)
        assert outcome == {"ok": True}
        with admin.connect() as conn:
            count = "SELECT count(*) FROM pg_roles WHERE rolname = :role"
            assert conn.execute(sa.text(count), {"role": role}).scalar() == 1
    finally:
        if second.is_alive():  # a failure above: let it finish before the role is dropped
            second.join(timeout=60)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def test_two_databases_migrate_at_once(pg_url: str) -> None:
    """As the test suite does under xdist: one process per migration (Alembic's `op` is
    process-global, so threads would share it)."""
    with scratch_postgres_database(ADMIN_URL, prefix="qs_test") as other:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            # 0003 is the revision under test (later revisions add their own policies); map
            # re-raises a child's exception here.
            pool.map(partial(migrate, revision="0003"), [pg_url, other])
        for url in (pg_url, other):
            engine = engine_for(url)
            with engine.connect() as conn:
                policies = conn.exec_driver_sql("SELECT count(*) FROM pg_policy").scalar()
                forced = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_class WHERE relforcerowsecurity"
                ).scalar()
            assert (policies, forced) == (12, len(TENANT_SCOPED))
            engine.dispose()


def test_downgrade_undoes_the_postgres_rules_and_upgrade_restores_them(pg_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    migrate(pg_url, "0003")  # the revision under test
    engine = engine_for(pg_url)
    objects = sa.text(
        "SELECT (SELECT count(*) FROM pg_policy), "
        "(SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal), "
        "(SELECT count(*) FROM pg_proc WHERE proname IN ('set_tenant_id', 'current_tenant_id')), "
        "(SELECT count(*) FROM pg_namespace WHERE nspacl::text LIKE :grantee)"
    )
    grantee = {"grantee": f"%{APP_ROLE}=%"}
    with engine.connect() as conn:
        assert conn.execute(objects, grantee).one() == (12, 5, 2, 1)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    with engine.connect() as conn:
        assert conn.execute(objects, grantee).one() == (0, 0, 0, 0)
        role = sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r")
        assert conn.execute(role, {"r": APP_ROLE}).scalar() == 1  # cluster-wide: it stays
    migrate(pg_url, "0003")  # the revision under test
    with engine.connect() as conn:
        assert conn.execute(objects, grantee).one() == (12, 5, 2, 1)
    engine.dispose()


def test_tenant_error_for_a_refused_live_switch_keeps_the_database_message(
    tenant_context_guard,
) -> None:
    engine = tenant_context_guard
    tenant = TenantStore(engine).add("Alpha", capital=1.0, actor="op")
    with pytest.raises(TenantError) as refused_live:
        TenantStore(engine).set_trading_mode("alpha", "live", actor="op")
    message = str(refused_live.value)  # the code once, then the database's own words
    assert message.startswith("paper_only: tenant 'alpha' is paper-only until ")
    assert tenant.paper_only_until.isoformat() in message
