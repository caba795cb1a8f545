"""The twelve kill switches on the real Postgres server: the same scenarios the SQLite suite runs
(tests/risk/test_kill_switches.py), plus races that only a server with row locks can stage:
sweepers and operators on separate connections tripping the same switch at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for
from quantsentinel.risk.kill_switches import (
    GLOBAL_KEY,
    MASTER,
    STALE_DATA,
    SYMBOL_ANOMALY,
    TENANT_DAILY_LOSS,
    blocking,
    switch_key,
)
from quantsentinel.risk.tenancy.scope import tenant_scope

from ..risk.kill_switch_helpers import CASES, POLICIES, Case, SwitchEnv, calm, make_env
from ..risk.test_kill_switches import (
    check_calm_world_trips_nothing,
    check_concurrent_sweepers_trip_once,
    check_dry_run_lock,
    check_master_blocks_everything,
    check_switch_lifecycle,
)

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_env(pg_url: str) -> Iterator[SwitchEnv]:
    yield make_env(pg_url)
    engine_for(pg_url).dispose()


def test_calm_world_trips_nothing(pg_env: SwitchEnv) -> None:
    check_calm_world_trips_nothing(pg_env)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_switch_lifecycle(pg_env: SwitchEnv, case: Case) -> None:
    check_switch_lifecycle(pg_env, case)


def test_master_blocks_everything(pg_env: SwitchEnv) -> None:
    check_master_blocks_everything(pg_env)


def test_dry_run_lock(pg_env: SwitchEnv) -> None:
    check_dry_run_lock(pg_env)


def test_concurrent_sweepers_trip_once(pg_env: SwitchEnv) -> None:
    check_concurrent_sweepers_trip_once(pg_env, threads=6, rounds=5)


LOCK_WAITERS = sa.text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def gated_race(env: SwitchEnv, threads: int, action: Callable[[int], object]) -> list[object]:
    """Run `action(i)` on `threads` threads that all reach their first kill_switches write
    before any of them can make it: a held table lock parks every writer, and is released only
    once the server shows all of them waiting. Without the gate the first thread usually commits
    before the others start, and a racy implementation would pass."""
    results: list[object] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results.append(action(i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    with env.engine.connect() as gate:
        gate.execute(sa.text("LOCK TABLE kill_switches IN SHARE ROW EXCLUSIVE MODE"))
        for w in workers:
            w.start()
        with env.engine.connect() as watcher:
            for _ in range(3000):  # polls until the condition holds; nothing is timed
                if watcher.execute(LOCK_WAITERS).scalar_one() >= threads:
                    break
                watcher.rollback()
                threading.Event().wait(0.01)
            else:
                pytest.fail(f"not all {threads} writers reached the gate; errors: {errors!r}")
        gate.commit()
    for w in workers:
        w.join()
    assert errors == []
    return results


def test_gated_sweepers_trip_and_reset_once(pg_env: SwitchEnv) -> None:
    """Each round a new feed goes stale (so the row is claimed by INSERT ... ON CONFLICT) and
    then recovers: six sweepers parked at the same write produce one trip and one reset."""
    threads, base = 6, calm(pg_env)
    for round_ in range(1, 4):
        feed = f"FEED{round_}"
        stale = replace(base, feeds={**base.feeds, feed: None})
        tripped = gated_race(pg_env, threads, lambda i, o=stale: pg_env.store.sweep(o, POLICIES))
        assert sum(len(r.tripped) for r in tripped) == 1
        assert len(pg_env.audit("kill_trip", STALE_DATA)) == round_
        fresh = replace(base, feeds={**base.feeds, feed: base.now})
        reset = gated_race(pg_env, threads, lambda i, o=fresh: pg_env.store.sweep(o, POLICIES))
        assert sum(len(r.reset) for r in reset) == 1
        assert len(pg_env.audit("kill_reset", STALE_DATA)) == round_
    assert pg_env.store.tripped() == []


def test_gated_hand_trips_and_resets_are_audited_once(pg_env: SwitchEnv) -> None:
    """Operators racing on one switch: one trip row, then one reset row."""
    store, threads = pg_env.store, 8
    gated_race(pg_env, threads, lambda i: store.trip(MASTER, GLOBAL_KEY, reason=f"{i}", actor="o"))
    assert len(pg_env.audit("kill_trip", MASTER)) == 1
    gated_race(pg_env, threads, lambda i: store.reset(MASTER, GLOBAL_KEY, actor="o", reason="ok"))
    assert len(pg_env.audit("kill_reset", MASTER)) == 1
    gated_race(pg_env, threads, lambda i: store.trip(MASTER, GLOBAL_KEY, reason="again", actor="o"))
    assert len(pg_env.audit("kill_trip", MASTER)) == 2
    assert [s.switch_key for s in store.tripped()] == [switch_key(MASTER, GLOBAL_KEY)]


def test_blocking_inside_a_tenant_scope_under_row_level_security(pg_env: SwitchEnv) -> None:
    """A decision asks `blocking` in its own tenant scope (role qs_app, row-level security): it
    sees the global switches and its own, never another tenant's, whichever tenant it names."""
    store = pg_env.store
    store.trip(MASTER, GLOBAL_KEY, reason="drill", actor="ops")
    store.trip(SYMBOL_ANOMALY, "NIFTY", reason="circuit", actor="ops")
    for tenant in ("alpha", "beta"):
        store.trip(TENANT_DAILY_LOSS, tenant, tenant_id=tenant, reason="loss", actor="ops")
    with tenant_scope(pg_env.engine, "alpha") as session:
        role = session.conn.execute(sa.text("SELECT current_user")).scalar_one()
        assert role == "qs_app"
        own = {s.switch_key for s in blocking(session.conn, tenant_id="alpha", symbol="NIFTY")}
        other = {s.switch_key for s in blocking(session.conn, tenant_id="beta", symbol="NIFTY")}
    shared = {switch_key(MASTER, GLOBAL_KEY), switch_key(SYMBOL_ANOMALY, "NIFTY")}
    assert own == shared | {switch_key(TENANT_DAILY_LOSS, "alpha")}
    assert other == shared  # beta's row is invisible to alpha's scope; alpha's is filtered out
    with pg_env.engine.connect() as conn:  # the operator's view holds both tenants' rows
        names = {s.switch_key for s in blocking(conn, tenant_id="beta", symbol="NIFTY")}
    assert names == shared | {switch_key(TENANT_DAILY_LOSS, "beta")}
