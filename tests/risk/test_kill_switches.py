"""The twelve kill switches: trigger logic (pure, boundaries, invariants) and the store on a
migrated SQLite database (trip through a real sweep, state, audit rows, `blocking`, reset).

The `check_*` scenarios take a `SwitchEnv` and hold for any backend: tests/pg/
test_kill_switches_pg.py runs the same ones against the real Postgres server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.kill_switches import (
    BROKER_OUTAGE,
    CAPITAL_FLOOR,
    CORRELATION_CLUSTER,
    DRY_RUN_LOCK,
    EXCHANGE_HALT,
    GLOBAL_KEY,
    KINDS,
    MARGIN_UTILIZATION,
    MASTER,
    MODEL_STALENESS,
    STALE_DATA,
    STRATEGY_DRAWDOWN,
    SYMBOL_ANOMALY,
    TENANT_DAILY_LOSS,
    BookState,
    BrokerState,
    ExchangeState,
    KillSwitchError,
    KillSwitchStore,
    ModelState,
    Observations,
    PlatformLimits,
    SymbolState,
    TenantState,
    broker_outage,
    capital_floor,
    correlation_cluster,
    dry_run_lock,
    effective_correlation,
    evaluate,
    exchange_halt,
    margin_utilization,
    max_drawdown,
    model_staleness,
    stale_data,
    strategy_drawdown,
    switch_key,
    symbol_anomaly,
    tenant_daily_loss,
    thresholds,
)
from quantsentinel.risk.kill_switches.triggers import read_correlation_cluster
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.schema import risk_audit, tenants

CAPITAL = 1_000_000.0
POLICY = RiskPolicy()
LIMITS = PlatformLimits()
TENANTS = ("alpha", "beta")


# --- environment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchEnv:
    """A migrated database with tenants alpha and beta, and the store over it."""

    url: str

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    @property
    def store(self) -> KillSwitchStore:
        return KillSwitchStore(self.engine)

    def add_tenant(self, tenant_id: str, policy: RiskPolicy = POLICY) -> datetime:
        """Insert a tenants row directly (created_at set by the database); its created_at."""
        with self.engine.begin() as conn:
            conn.execute(
                tenants.insert().values(
                    tenant_id=tenant_id,
                    name=f"Tenant {tenant_id}",
                    capital=CAPITAL,
                    brokerage=BrokeragePlan().to_json(),
                    policy=policy.to_json(),
                )
            )
        return self.created_at(tenant_id)

    def created_at(self, tenant_id: str) -> datetime:
        with self.engine.connect() as conn:
            query = sa.select(tenants.c.created_at).where(tenants.c.tenant_id == tenant_id)
            value = conn.execute(query).scalar_one()
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def audit(self, event: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Audit rows of one event (all tenants and global rows: an operator's read)."""
        query = sa.select(risk_audit).where(risk_audit.c.event == event)
        if kind is not None:
            query = query.where(risk_audit.c.wall == kind)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(risk_audit.c.audit_id))]

    def blocking(self, **scope: Any) -> set[str]:
        with self.engine.connect() as conn:
            return {s.switch_key for s in self.store.blocking(conn, **scope)}


def make_env(url: str) -> SwitchEnv:
    migrate(url)
    env = SwitchEnv(url)
    for tenant_id in TENANTS:
        env.add_tenant(tenant_id)
    return env


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[SwitchEnv]:
    env = make_env(f"sqlite:///{tmp_path / 'qs.db'}")
    yield env
    engine_for.cache_clear()


# --- a calm market, and one breach per switch -----------------------------------------------------


def _returns(correlation: float, days: int = 80, seed: int = 7) -> np.ndarray:
    """Daily returns of two instruments with the given correlation (1% daily vol each)."""
    rng = np.random.default_rng(seed)
    common, own = rng.standard_normal((2, days, 1))
    second = correlation * common + np.sqrt(1 - correlation**2) * own
    return 0.01 * np.hstack([common, second])


def _probes(now: datetime, results: list[bool]) -> list[tuple[datetime, bool]]:
    """Probes every 20 s ending at `now`, oldest first."""
    n = len(results)
    return [(now - timedelta(seconds=20 * (n - 1 - i)), ok) for i, ok in enumerate(results)]


def calm(env: SwitchEnv, now: datetime | None = None) -> Observations:
    """Everything healthy; `now` defaults to past every tenant's dry-run period."""
    created = {t: env.created_at(t) for t in TENANTS}
    now = now or max(created.values()) + timedelta(days=15)
    return Observations(
        now=now,
        tenants=[
            TenantState(
                tenant_id=t,
                capital=CAPITAL,
                created_at=created[t],
                realised_pnl=4_000.0,
                unrealised_pnl=-1_500.0,
                margin_used=300_000.0,
                strategy_pnl={"iron_condor": [2_000.0, -3_000.0, 1_500.0, -1_000.0]},
                book=BookState([400_000.0, 250_000.0], _returns(0.1)),
            )
            for t in TENANTS
        ],
        feeds={GLOBAL_KEY: now - timedelta(seconds=1), "NIFTY": now, "BANKNIFTY": now},
        models=[
            ModelState("direction_ensemble", timedelta(days=1), now - timedelta(hours=20)),
            ModelState("vol_forecaster", timedelta(days=7), now - timedelta(days=3)),
        ],
        symbols=[
            SymbolState(
                "NIFTY",
                24_050.0,
                23_900.0,
                atm_iv=[(now - timedelta(minutes=m), 0.13 + 0.001 * m) for m in range(0, 20, 5)],
            ),
            SymbolState("BANKNIFTY", 51_200.0, 51_000.0, atm_iv=[(now, 0.15)]),
            SymbolState("RELIANCE", 2_950.0, 2_900.0, circuit_band=0.10),
        ],
        brokers=[
            BrokerState("upstox", _probes(now, [True] * 12)),
            BrokerState("groww", _probes(now, [True] * 12)),
        ],
        exchanges=[
            ExchangeState("NSE", 24_050.0, 23_900.0),
            ExchangeState("BSE", 79_000.0, 78_800.0, index="SENSEX"),
        ],
    )


POLICIES = {t: POLICY for t in TENANTS}


def _tenant(obs: Observations, tenant_id: str, **changes: Any) -> Observations:
    return replace(
        obs,
        tenants=[replace(t, **changes) if t.tenant_id == tenant_id else t for t in obs.tenants],
    )


def _item(obs: Observations, field: str, name: str, **changes: Any) -> Observations:
    key = {"symbols": "symbol", "brokers": "broker", "exchanges": "exchange", "models": "name"}
    items = getattr(obs, field)
    updated = [replace(x, **changes) if getattr(x, key[field]) == name else x for x in items]
    return replace(obs, **{field: updated})


@dataclass(frozen=True)
class Case:
    """One switch: a breach of the calm world, decisions it covers, decisions it must not."""

    kind: str
    scope_key: str
    tenant_id: str | None
    breach: Callable[[Observations], Observations]
    covered: tuple[dict[str, Any], ...]
    unrelated: tuple[dict[str, Any], ...]
    check_numbers: Callable[[dict[str, Any]], bool]

    @property
    def key(self) -> str:
        return switch_key(self.kind, self.scope_key)

    def __str__(self) -> str:
        return self.kind


CASES = (
    Case(
        STRATEGY_DRAWDOWN,
        "alpha/iron_condor",
        "alpha",
        lambda o: _tenant(o, "alpha", strategy_pnl={"iron_condor": [10_000.0, -70_000.0]}),
        ({"tenant_id": "alpha", "strategy": "iron_condor"},),
        (
            {"tenant_id": "alpha", "strategy": "straddle"},
            {"tenant_id": "alpha"},
            {"tenant_id": "beta", "strategy": "iron_condor"},
        ),
        lambda n: n["max_drawdown"] == 70_000 and n["limit"] == CAPITAL * 0.05,
    ),
    Case(
        TENANT_DAILY_LOSS,
        "alpha",
        "alpha",
        lambda o: _tenant(o, "alpha", realised_pnl=-20_000.0, unrealised_pnl=-15_000.0),
        ({"tenant_id": "alpha"}, {"tenant_id": "alpha", "symbol": "NIFTY", "strategy": "x"}),
        ({"tenant_id": "beta"}, {"tenant_id": "beta", "symbol": "NIFTY"}),
        lambda n: n["loss"] == 35_000 and n["limit"] == CAPITAL * POLICY.max_daily_loss_pct,
    ),
    Case(
        SYMBOL_ANOMALY,
        "NIFTY",
        None,
        lambda o: _item(
            o,
            "symbols",
            "NIFTY",
            atm_iv=[(o.now - timedelta(minutes=10), 0.13), (o.now, 0.21)],
        ),
        ({"tenant_id": "alpha", "symbol": "NIFTY"}, {"tenant_id": "beta", "symbol": "NIFTY"}),
        ({"tenant_id": "alpha", "symbol": "BANKNIFTY"}, {"tenant_id": "alpha"}),
        lambda n: abs(n["iv_range"] - 0.08) < 1e-12,
    ),
    Case(
        BROKER_OUTAGE,
        "upstox",
        None,
        lambda o: _item(o, "brokers", "upstox", probes=_probes(o.now, [True] * 9 + [False] * 3)),
        ({"tenant_id": "alpha", "broker": "upstox"}, {"tenant_id": "beta", "broker": "upstox"}),
        ({"tenant_id": "alpha", "broker": "groww"}, {"tenant_id": "alpha"}),
        lambda n: n["consecutive_failures"] == 3,
    ),
    Case(
        EXCHANGE_HALT,
        "NSE",
        None,
        lambda o: _item(o, "exchanges", "NSE", index_level=23_900.0 * 0.89),
        ({"tenant_id": "alpha"}, {"tenant_id": "beta", "exchange": "NSE", "symbol": "NIFTY"}),
        ({"tenant_id": "alpha", "exchange": "BSE"},),
        lambda n: n["level_reached"] == 0.10,
    ),
    Case(
        CAPITAL_FLOOR,
        "alpha",
        "alpha",
        lambda o: _tenant(o, "alpha", available_capital=40_000.0, margin_used=0.0),
        ({"tenant_id": "alpha"},),
        ({"tenant_id": "beta"},),
        lambda n: n["available_capital"] == 40_000 and n["capital_floor"] == POLICY.capital_floor,
    ),
    Case(
        STALE_DATA,
        "NIFTY",
        None,
        lambda o: replace(o, feeds={**o.feeds, "NIFTY": o.now - timedelta(seconds=75)}),
        ({"tenant_id": "alpha", "symbol": "NIFTY"}, {"tenant_id": "beta", "symbol": "NIFTY"}),
        ({"tenant_id": "alpha", "symbol": "BANKNIFTY"}, {"tenant_id": "alpha"}),
        lambda n: n["age_s"] == 75,
    ),
    Case(
        MODEL_STALENESS,
        "direction_ensemble",
        None,
        lambda o: _item(
            o, "models", "direction_ensemble", last_trained=o.now - timedelta(hours=49)
        ),
        (
            {"tenant_id": "alpha", "models": ["direction_ensemble"]},
            {"tenant_id": "beta", "models": ["vol_forecaster", "direction_ensemble"]},
        ),
        ({"tenant_id": "alpha", "models": ["vol_forecaster"]}, {"tenant_id": "alpha"}),
        lambda n: n["age_h"] == 49 and n["allowed_h"] == 48,
    ),
    Case(
        MARGIN_UTILIZATION,
        "alpha",
        "alpha",
        lambda o: _tenant(o, "alpha", margin_used=900_000.0, available_capital=1_000_000.0),
        ({"tenant_id": "alpha"},),
        ({"tenant_id": "beta"},),
        lambda n: n["utilization"] == 0.9,
    ),
    Case(
        CORRELATION_CLUSTER,
        "alpha",
        "alpha",
        lambda o: _tenant(o, "alpha", book=BookState([400_000.0, 250_000.0], _returns(0.95))),
        ({"tenant_id": "alpha"},),
        ({"tenant_id": "beta"},),
        lambda n: n["effective_correlation"] > 0.9 and n["positions"] == 2,
    ),
)


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


# --- pure triggers: boundaries --------------------------------------------------------------------

NOW = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=30)


def _state(**changes: Any) -> TenantState:
    return TenantState(**{"tenant_id": "t", "capital": CAPITAL, "created_at": CREATED, **changes})


def test_strategy_drawdown_boundary() -> None:
    limit = CAPITAL * POLICY.strategy_drawdown_pct
    assert strategy_drawdown("t", "s", [20_000.0, -limit], CAPITAL, POLICY) is None
    over = strategy_drawdown("t", "s", [20_000.0, -limit - 0.01], CAPITAL, POLICY)
    assert over is not None and over.scope_key == "t/s" and over.tenant_id == "t"
    # A gain after the trough does not undo the peak-to-trough drawdown.
    assert strategy_drawdown("t", "s", [-limit - 1, 2 * limit], CAPITAL, POLICY) is not None


def test_tenant_daily_loss_boundary() -> None:
    limit = CAPITAL * POLICY.max_daily_loss_pct
    at = _state(realised_pnl=-limit / 2, unrealised_pnl=-limit / 2)
    assert tenant_daily_loss(at, POLICY) is None
    over = _state(realised_pnl=-limit / 2, unrealised_pnl=-limit / 2 - 0.01)
    assert tenant_daily_loss(over, POLICY).numbers["loss"] > limit
    # An unrealised gain offsets a realised loss: the limit is on the day's total.
    assert tenant_daily_loss(_state(realised_pnl=-2 * limit, unrealised_pnl=limit), POLICY) is None


def test_capital_floor_boundary() -> None:
    floor = POLICY.capital_floor
    assert capital_floor(_state(available_capital=floor), POLICY) is None
    assert capital_floor(_state(available_capital=floor - 0.01), POLICY) is not None
    # Without a broker figure, available capital is capital plus the day's P&L.
    assert capital_floor(_state(realised_pnl=floor - CAPITAL - 1), POLICY) is not None


def test_margin_utilization_boundary() -> None:
    cap = POLICY.max_margin_utilization
    assert margin_utilization(_state(margin_used=cap * CAPITAL), POLICY) is None
    assert margin_utilization(_state(margin_used=cap * CAPITAL + 0.01), POLICY) is not None
    broke = _state(available_capital=0.0, margin_used=1.0)
    assert margin_utilization(broke, POLICY).numbers["utilization"] == float("inf")


def test_correlation_cluster_boundary() -> None:
    # The measure itself is checked by the invariants below; here the comparison: a book whose
    # effective correlation equals the limit is clear, one ulp under the limit trips.
    book = BookState([300_000.0, 200_000.0], _returns(0.8))
    reading = read_correlation_cluster("t", book, POLICY, LIMITS)
    rho = reading.numbers["effective_correlation"]
    assert 0.7 < rho < 0.9 and reading.breached
    at = replace(POLICY, max_cluster_correlation=rho)
    assert correlation_cluster("t", book, at, LIMITS) is None
    below = replace(POLICY, max_cluster_correlation=float(np.nextafter(rho, 0.0)))
    assert correlation_cluster("t", book, below, LIMITS) is not None


def test_correlation_cluster_hedges_one_position_and_short_history() -> None:
    correlated = _returns(0.95)
    hedged = BookState([300_000.0, -300_000.0], correlated)
    reading = correlation_cluster("t", hedged, POLICY, LIMITS)
    assert reading is None  # long one, short the other: offsetting, not a cluster
    single = BookState([300_000.0, 0.0], correlated)
    assert correlation_cluster("t", single, POLICY, LIMITS) is None
    policies = {"t": POLICY}
    short = Observations(NOW, tenants=[_state(book=BookState([1.0, 1.0], correlated[:10]))])
    assert (CORRELATION_CLUSTER, "t") not in evaluate(short, policies).clear  # not judged
    empty = Observations(NOW, tenants=[_state(book=BookState([], np.empty((0, 0))))])
    assert (CORRELATION_CLUSTER, "t") in evaluate(empty, policies).clear


def test_dry_run_lock_boundary() -> None:
    tenant = _state()
    at_release = CREATED + timedelta(days=LIMITS.dry_run_days)
    assert dry_run_lock(tenant, at_release, LIMITS) is None
    assert dry_run_lock(tenant, at_release - timedelta(microseconds=1), LIMITS) is not None


def test_symbol_anomaly_boundaries() -> None:
    limits = replace(LIMITS, iv_move=0.0625)
    window = limits.iv_window

    def iv(points: list[tuple[timedelta, float]]) -> SymbolState:
        return SymbolState("NIFTY", 100.0, 100.0, atm_iv=[(NOW - ago, v) for ago, v in points])

    assert symbol_anomaly(iv([(window, 0.25), (timedelta(0), 0.3125)]), NOW, limits) is None
    spike = iv([(window, 0.25), (timedelta(0), float(np.nextafter(0.3125, 1.0)))])
    assert symbol_anomaly(spike, NOW, limits) is not None
    old = iv([(window + timedelta(seconds=1), 0.10), (timedelta(0), 0.3125)])
    assert symbol_anomaly(old, NOW, limits) is None  # the old point is outside the window
    band = SymbolState("RELIANCE", 1100.0, 1000.0, circuit_band=0.10)
    assert symbol_anomaly(band, NOW, LIMITS) is not None  # reaching the band trips
    assert symbol_anomaly(replace(band, spot=1099.99), NOW, LIMITS) is None
    assert symbol_anomaly(replace(band, spot=900.0), NOW, LIMITS) is not None  # either way
    flagged = SymbolState("NIFTY", 100.0, 100.0, circuit_event=True)
    assert "circuit event" in symbol_anomaly(flagged, NOW, LIMITS).reason


def test_broker_outage_boundaries() -> None:
    def broker(results: list[bool]) -> BrokerState:
        return BrokerState("upstox", _probes(NOW, results))

    assert broker_outage(broker([True] * 10 + [False] * 2), NOW, LIMITS) is None
    assert broker_outage(broker([True] * 10 + [False] * 3), NOW, LIMITS) is not None
    half = [False, True] * 5  # 50% over 10 probes in the window, last one healthy
    assert broker_outage(broker(half), NOW, LIMITS) is None
    worse = [False, False, True] * 3 + [True]  # 6 of 10 failed, never 3 in a row
    assert broker_outage(broker(worse), NOW, LIMITS).numbers["error_rate"] == 0.6
    few = [False, False, True, False, True]  # 60% but fewer than broker_min_probes
    assert broker_outage(broker(few), NOW, LIMITS) is None
    assert broker_outage(BrokerState("groww", []), NOW, LIMITS) is None  # never probed


def test_exchange_halt_levels() -> None:
    def nse(level: float, **changes: Any) -> ExchangeState:
        return ExchangeState("NSE", level, 20_000.0, **changes)

    assert exchange_halt(nse(18_000.01), LIMITS) is None
    for level, expected in ((18_000.0, 0.10), (17_000.0, 0.15), (24_000.0, 0.20)):
        trip = exchange_halt(nse(level), LIMITS)
        assert trip is not None and trip.numbers["level_reached"] == expected
    assert "halted" in exchange_halt(nse(20_000.0, halted=True), LIMITS).reason


def test_stale_data_and_model_staleness_boundaries() -> None:
    after = LIMITS.stale_after
    assert stale_data("NIFTY", NOW - after, NOW, LIMITS) is None
    assert stale_data("NIFTY", NOW - after - timedelta(milliseconds=1), NOW, LIMITS) is not None
    assert stale_data("NIFTY", None, NOW, LIMITS) is not None
    day = timedelta(days=1)
    assert model_staleness(ModelState("m", day, NOW - 2 * day), NOW, LIMITS) is None
    stale = ModelState("m", day, NOW - 2 * day - timedelta(seconds=1))
    assert model_staleness(stale, NOW, LIMITS) is not None
    assert model_staleness(ModelState("m", day, None), NOW, LIMITS) is not None


@pytest.mark.parametrize(
    "build",
    [
        lambda: Observations(datetime(2025, 1, 1)),
        lambda: _state(capital=float("nan")),
        lambda: _state(capital=-1.0),
        lambda: Observations(NOW, tenants=[_state(), _state()]),
        lambda: BookState([1.0, 2.0], np.zeros((5, 3))),
        lambda: ModelState("m", timedelta(0), NOW),
        lambda: SymbolState("X", 0.0, 100.0),
        lambda: PlatformLimits(market_wide_levels=(0.2, 0.1)),
    ],
)
def test_bad_observations_are_refused(build: Callable[[], Any]) -> None:
    with pytest.raises(KillSwitchError):
        build()


# --- invariants -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40))
def test_max_drawdown_is_the_largest_earlier_peak_minus_later_point(pnl: list[float]) -> None:
    cumulative = np.concatenate(([0.0], np.cumsum(pnl)))
    brute = max(cumulative[i] - cumulative[j] for j in range(len(cumulative)) for i in range(j + 1))
    dd = max_drawdown(pnl)
    assert dd.max_drawdown == pytest.approx(brute, abs=1e-6)
    assert dd.peak <= dd.trough and dd.max_drawdown >= 0 and dd.current <= dd.max_drawdown


def _random_book(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, n + 2))
    covariance = factors @ factors.T / (n + 2) * rng.uniform(0.5, 2.0)
    exposures = rng.normal(0, 1e5, n)
    return covariance, exposures


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8))
def test_effective_correlation_is_the_risk_weighted_average_pair_correlation(
    seed: int, n: int
) -> None:
    covariance, exposures = _random_book(seed, n)
    sigma = np.sqrt(np.diag(covariance))
    corr = covariance / np.outer(sigma, sigma)
    risk = np.abs(exposures) * sigma
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    weight = sum(risk[i] * risk[j] for i, j in pairs)
    pnl_corr = sum(
        risk[i] * risk[j] * np.sign(exposures[i]) * np.sign(exposures[j]) * corr[i, j]
        for i, j in pairs
    )
    rho = effective_correlation(covariance, exposures)
    assert rho == pytest.approx(pnl_corr / weight, abs=1e-9)
    assert -1.0 <= rho <= 1.0
    assert effective_correlation(covariance, 3.5 * exposures) == pytest.approx(rho, abs=1e-9)
    flip = np.ones(n)
    flip[0] = -1.0  # short instrument 0 and flip its returns: the same P&L streams
    flipped = effective_correlation(covariance * np.outer(flip, flip), exposures * flip)
    assert flipped == pytest.approx(rho, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(-0.2, 0.99), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_effective_correlation_of_a_constant_correlation_long_book_is_that_correlation(
    rho: float, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.005, 0.04, n)
    corr = np.full((n, n), rho)
    np.fill_diagonal(corr, 1.0)
    exposures = rng.uniform(1e4, 1e6, n)
    assert effective_correlation(corr * np.outer(sigma, sigma), exposures) == pytest.approx(
        rho, abs=1e-9
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-5e4, 5e4, allow_nan=False), min_size=1, max_size=30))
def test_evaluate_trips_exactly_the_breached_readings(pnl: list[float]) -> None:
    tenant = _state(strategy_pnl={"s": pnl}, realised_pnl=sum(pnl))
    evaluation = evaluate(Observations(NOW, tenants=[tenant]), {"t": POLICY})
    tripped = {(t.kind, t.scope_key) for t in evaluation.trips}
    assert tripped.isdisjoint(evaluation.clear)
    assert tripped | evaluation.clear == {(r.kind, r.scope_key) for r in evaluation.readings}
    expect = max_drawdown(pnl).max_drawdown > CAPITAL * POLICY.strategy_drawdown_pct
    assert ((STRATEGY_DRAWDOWN, "t/s") in tripped) == expect
