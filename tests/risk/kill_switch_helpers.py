"""The kill-switch tests' shared world: a migrated database with tenants alpha and beta
(`SwitchEnv`), a calm market in which no switch trips (`calm`), and one breach per switch (`CASES`).
Used by the SQLite suites (tests/risk/test_kill_switches*.py) and the Postgres one (tests/pg/
test_kill_switches_pg.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.kill_switches import (
    BROKER_OUTAGE,
    CAPITAL_FLOOR,
    CORRELATION_CLUSTER,
    EXCHANGE_HALT,
    GLOBAL_KEY,
    MARGIN_UTILIZATION,
    MODEL_STALENESS,
    STALE_DATA,
    STRATEGY_DRAWDOWN,
    SYMBOL_ANOMALY,
    TENANT_DAILY_LOSS,
    BookState,
    BrokerState,
    ExchangeState,
    KillSwitchStore,
    ModelState,
    Observations,
    PlatformLimits,
    SymbolState,
    TenantState,
    switch_key,
)
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
