"""The twelve kill switches' store on a migrated SQLite database: trip through a real sweep, state,
audit rows, `blocking`, reset (the pure trigger logic is in test_kill_switches_triggers.py).

The `check_*` scenarios take a `SwitchEnv` and hold for any backend: tests/pg/
test_kill_switches_pg.py runs the same ones against the real Postgres server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.kill_switches import (
    CAPITAL_FLOOR,
    CORRELATION_CLUSTER,
    DRY_RUN_LOCK,
    GLOBAL_KEY,
    KINDS,
    MARGIN_UTILIZATION,
    MASTER,
    MODEL_STALENESS,
    STALE_DATA,
    STRATEGY_DRAWDOWN,
    SYMBOL_ANOMALY,
    TENANT_DAILY_LOSS,
    KillSwitchError,
    Observations,
    switch_key,
    thresholds,
)

from .kill_switch_helpers import (
    CASES,
    POLICIES,
    POLICY,
    TENANTS,
    Case,
    SwitchEnv,
    _tenant,
    calm,
    make_env,
)


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[SwitchEnv]:
    env = make_env(f"sqlite:///{tmp_path / 'qs.db'}")
    yield env
    engine_for.cache_clear()


# --- backend-agnostic scenarios -------------------------------------------------------------------


def check_calm_world_trips_nothing(env: SwitchEnv) -> None:
    result = env.store.sweep(calm(env), POLICIES)
    assert result.tripped == [] and result.reset == [] and result.still_tripped == []
    assert env.store.status() == []
    assert env.blocking(tenant_id="alpha", symbol="NIFTY", broker="upstox", live=True) == set()


def check_switch_lifecycle(env: SwitchEnv, case: Case) -> None:
    """Trip through the real trigger by a sweep, check state, audit and `blocking`, then reset."""
    spec = next(k for k in KINDS if k.name == case.kind)
    breach = case.breach(calm(env))
    result = env.store.sweep(breach, POLICIES)
    assert [s.switch_key for s in result.tripped] == [case.key]
    assert result.reset == [] and result.still_tripped == []

    state = env.store.state(case.kind, case.scope_key)
    assert state is not None and state.tripped and state.tenant_id == case.tenant_id
    assert state.scope == spec.scope and state.changed_by == "sweeper" and state.reason
    assert case.check_numbers(state.numbers)

    (trip_row,) = env.audit("kill_trip")
    assert trip_row["wall"] == case.kind and trip_row["tenant_id"] == case.tenant_id
    assert trip_row["inputs"]["scope_key"] == case.scope_key
    assert trip_row["inputs"]["number"] == spec.number
    assert trip_row["reason"] == state.reason and trip_row["numbers"] == state.numbers
    assert trip_row["actor"] == "sweeper" and trip_row["approved"] is None

    for scope in case.covered:
        assert case.key in env.blocking(**scope), scope
    for scope in case.unrelated:
        assert case.key not in env.blocking(**scope), scope

    # The breach persists: no second trip row, the switch is still tripped.
    again = env.store.sweep(breach, POLICIES)
    assert again.tripped == [] and [s.switch_key for s in again.still_tripped] == [case.key]
    assert len(env.audit("kill_trip")) == 1

    cleared = env.store.sweep(calm(env), POLICIES)
    if spec.auto_reset:
        assert [s.switch_key for s in cleared.reset] == [case.key]
        assert cleared.still_tripped == []
        (reset_row,) = env.audit("kill_reset")
        assert reset_row["actor"] == "sweeper" and reset_row["wall"] == case.kind
        assert reset_row["reason"].startswith("condition clear")
        assert reset_row["inputs"]["tripped_reason"] == state.reason
    else:
        assert cleared.reset == [] and [s.switch_key for s in cleared.still_tripped] == [case.key]
        assert env.audit("kill_reset") == []
        assert case.key in env.blocking(**case.covered[0])
        env.store.reset(case.kind, case.scope_key, actor="ops:asha", reason="cause understood")
        (reset_row,) = env.audit("kill_reset")
        assert reset_row["actor"] == "ops:asha" and reset_row["reason"] == "cause understood"
        assert reset_row["tenant_id"] == case.tenant_id
    final = env.store.state(case.kind, case.scope_key)
    assert final is not None and not final.tripped
    assert all(case.key not in env.blocking(**scope) for scope in case.covered)
    assert env.store.sweep(calm(env), POLICIES).tripped == []
    assert env.store.tripped() == []


def check_master_blocks_everything(env: SwitchEnv) -> None:
    master = switch_key(MASTER, GLOBAL_KEY)
    state = env.store.trip(MASTER, GLOBAL_KEY, reason="bad deploy", actor="ops:ravi")
    assert state.tripped and state.tenant_id is None and state.number == 12
    scopes = [
        {"tenant_id": t, "symbol": s, "broker": b, "exchange": e, "strategy": "x", "models": ["m"]}
        for t in TENANTS
        for s in ("NIFTY", "RELIANCE", None)
        for b in ("upstox", "groww", None)
        for e in ("NSE", "BSE", None)
    ]
    assert all(env.blocking(**scope) == {master} for scope in scopes)
    (row,) = env.audit("kill_trip", MASTER)
    assert row["tenant_id"] is None and row["actor"] == "ops:ravi" and row["reason"] == "bad deploy"

    result = env.store.sweep(calm(env), POLICIES)
    assert result.reset == [] and [s.switch_key for s in result.still_tripped] == [master]
    env.store.reset(MASTER, GLOBAL_KEY, actor="ops:ravi", reason="rolled back")
    assert env.blocking(tenant_id="alpha", symbol="NIFTY") == set()
    assert [r["reason"] for r in env.audit("kill_reset", MASTER)] == ["rolled back"]


def check_dry_run_lock(env: SwitchEnv) -> None:
    created = env.created_at("alpha")
    young = env.store.sweep(calm(env, now=created + timedelta(days=1)), POLICIES)
    keys = {switch_key(DRY_RUN_LOCK, t) for t in TENANTS}
    assert {s.switch_key for s in young.tripped} == keys
    assert switch_key(DRY_RUN_LOCK, "alpha") in env.blocking(tenant_id="alpha", live=True)
    assert switch_key(DRY_RUN_LOCK, "beta") not in env.blocking(tenant_id="alpha", live=True)
    assert env.blocking(tenant_id="alpha", live=False) == set()  # paper decisions go on
    assert {r["tenant_id"] for r in env.audit("kill_trip", DRY_RUN_LOCK)} == set(TENANTS)

    with pytest.raises(KillSwitchError) as refused:
        env.store.reset(DRY_RUN_LOCK, "alpha", actor="ops", reason="impatient")
    assert refused.value.code == "not_by_hand"
    with pytest.raises(KillSwitchError):
        env.store.trip(DRY_RUN_LOCK, "alpha", tenant_id="alpha", reason="x", actor="ops")

    released = env.store.sweep(calm(env, now=created + timedelta(days=15)), POLICIES)
    assert {s.switch_key for s in released.reset} == keys
    assert env.blocking(tenant_id="alpha", live=True) == set()
    assert len(env.audit("kill_reset", DRY_RUN_LOCK)) == 2


def check_concurrent_sweepers_trip_once(env: SwitchEnv, threads: int = 4, rounds: int = 3) -> None:
    """Sweepers racing on the same breach produce one trip (and one reset) per round."""
    breach = _tenant(calm(env), "alpha", margin_used=950_000.0, available_capital=1_000_000.0)

    def race(observations: Observations) -> list[Any]:
        barrier, results, errors = threading.Barrier(threads), [], []

        def sweeper(name: str) -> None:
            try:
                barrier.wait()
                results.append(env.store.sweep(observations, POLICIES, actor=name))
            except Exception as exc:  # surfaced below with the thread's failure
                errors.append(exc)

        workers = [threading.Thread(target=sweeper, args=(f"s{i}",)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        return results

    for round_ in range(1, rounds + 1):
        tripped = race(breach)
        assert sum(len(r.tripped) for r in tripped) == 1
        assert len(env.audit("kill_trip", MARGIN_UTILIZATION)) == round_
        reset = race(calm(env))
        assert sum(len(r.reset) for r in reset) == 1
        assert len(env.audit("kill_reset", MARGIN_UTILIZATION)) == round_
    with env.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM kill_switches")).scalar_one() == 1


# --- SQLite store tests ---------------------------------------------------------------------------


def test_calm_world_trips_nothing(sqlite_env: SwitchEnv) -> None:
    check_calm_world_trips_nothing(sqlite_env)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_switch_lifecycle(sqlite_env: SwitchEnv, case: Case) -> None:
    check_switch_lifecycle(sqlite_env, case)


def test_master_blocks_everything(sqlite_env: SwitchEnv) -> None:
    check_master_blocks_everything(sqlite_env)


def test_dry_run_lock(sqlite_env: SwitchEnv) -> None:
    check_dry_run_lock(sqlite_env)


def test_concurrent_sweepers_trip_once(sqlite_env: SwitchEnv) -> None:
    check_concurrent_sweepers_trip_once(sqlite_env)


def test_every_kind_has_a_lifecycle_test() -> None:
    covered = {c.kind for c in CASES} | {MASTER, DRY_RUN_LOCK}
    assert covered == {k.name for k in KINDS} and len(KINDS) == 12
    assert sorted(k.number for k in KINDS) == list(range(1, 13))


def test_reset_rules_and_thresholds_of_the_twelve() -> None:
    automatic = {
        STALE_DATA,
        MARGIN_UTILIZATION,
        CORRELATION_CLUSTER,
        CAPITAL_FLOOR,
        DRY_RUN_LOCK,
        MODEL_STALENESS,
    }
    assert {k.name for k in KINDS if k.auto_reset} == automatic
    assert all(k.reset_because and k.halts and k.trips_when for k in KINDS)
    strict = replace(POLICY, max_daily_loss_pct=0.01, capital_floor=75_000.0)
    assert thresholds(TENANT_DAILY_LOSS, strict) == {"max_daily_loss_pct": 0.01}
    assert thresholds(CAPITAL_FLOOR, strict) == {"capital_floor": 75_000.0}
    assert thresholds(STALE_DATA) == {"stale_after": timedelta(seconds=60)}
    assert thresholds(MASTER) == {}
    for spec in KINDS:  # every named threshold exists where the kind says it lives
        names = set(thresholds(spec.name))
        assert names == set(spec.limit_fields) | ({spec.policy_field} - {None})


def test_platform_feed_going_stale_blocks_every_decision(sqlite_env: SwitchEnv) -> None:
    obs = calm(sqlite_env)
    sqlite_env.store.sweep(replace(obs, feeds={**obs.feeds, GLOBAL_KEY: None}), POLICIES)
    key = switch_key(STALE_DATA, GLOBAL_KEY)
    assert key in sqlite_env.blocking(tenant_id="beta")
    assert key in sqlite_env.blocking(tenant_id="alpha", symbol="BANKNIFTY")
    assert "never" in sqlite_env.store.state(STALE_DATA, GLOBAL_KEY).reason


def test_retrip_refreshes_numbers_and_operator_reset_does_not_override_a_live_breach(
    sqlite_env: SwitchEnv,
) -> None:
    store, obs = sqlite_env.store, calm(sqlite_env)
    store.sweep(_tenant(obs, "alpha", realised_pnl=-31_000.0, unrealised_pnl=0.0), POLICIES)
    store.sweep(_tenant(obs, "alpha", realised_pnl=-45_000.0, unrealised_pnl=0.0), POLICIES)
    state = store.state(TENANT_DAILY_LOSS, "alpha")
    assert state.numbers["loss"] == 45_000 and len(sqlite_env.audit("kill_trip")) == 1
    store.reset(TENANT_DAILY_LOSS, "alpha", actor="ops", reason="looked")
    again = store.sweep(_tenant(obs, "alpha", realised_pnl=-45_000.0, unrealised_pnl=0.0), POLICIES)
    assert [s.switch_key for s in again.tripped] == [switch_key(TENANT_DAILY_LOSS, "alpha")]
    assert len(sqlite_env.audit("kill_trip")) == 2


def test_hand_reset_of_a_clear_switch_changes_nothing(sqlite_env: SwitchEnv) -> None:
    store = sqlite_env.store
    store.trip(SYMBOL_ANOMALY, "NIFTY", reason="circuit", actor="ops")
    store.reset(SYMBOL_ANOMALY, "NIFTY", actor="ops", reason="orderly")
    store.reset(SYMBOL_ANOMALY, "NIFTY", actor="ops", reason="again")
    assert len(sqlite_env.audit("kill_reset")) == 1


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: s.reset("no_such_kind", "x", actor="ops", reason="r"), "unknown_kind"),
        (lambda s: s.reset(SYMBOL_ANOMALY, "NOPE", actor="ops", reason="r"), "unknown_switch"),
        (lambda s: s.trip(TENANT_DAILY_LOSS, "alpha", reason="r", actor="o"), "missing_tenant"),
        (
            lambda s: s.trip(STRATEGY_DRAWDOWN, "beta/x", tenant_id="alpha", reason="r", actor="o"),
            "bad_scope",
        ),
        (lambda s: s.trip(MASTER, "NSE", reason="r", actor="o"), "bad_scope"),
        (
            lambda s: s.trip(SYMBOL_ANOMALY, "NIFTY", tenant_id="alpha", reason="r", actor="o"),
            "bad_scope",
        ),
        (lambda s: s.trip(MASTER, GLOBAL_KEY, reason=" ", actor="o"), "bad_input"),
        (
            lambda s: s.trip(CAPITAL_FLOOR, "ghost", tenant_id="ghost", reason="r", actor="o"),
            "unknown_tenant",
        ),
    ],
)
def test_bad_requests_are_refused_by_name(sqlite_env: SwitchEnv, call: Callable, code: str) -> None:
    with pytest.raises((KillSwitchError, TenantError)) as refused:
        call(sqlite_env.store)
    assert refused.value.code == code
    assert sqlite_env.audit("kill_trip") == []


def test_sweep_refuses_a_tenant_without_policy(sqlite_env: SwitchEnv) -> None:
    with pytest.raises(TenantError) as refused:
        sqlite_env.store.sweep(calm(sqlite_env), {"alpha": POLICY})
    assert refused.value.code == "missing_policy"
