"""Shared market and tenant fixtures for the castle tests: one simulated NIFTY/BANKNIFTY snapshot,
tenants with explicit policies, outlooks from a lognormal at a chosen vol and drift."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from functools import cache

import numpy as np
import pandas as pd

from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.castle.types import (
    Candidate,
    MarketContext,
    Outlook,
    Position,
    TenantContext,
)
from quantsentinel.risk.structures import ChainView, build
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.store import Tenant

DAY = date(2025, 3, 4)


@cache
def views() -> dict[str, ChainView]:
    sim = MarketSimulator()
    ts = sim.snapshot_times(DAY)[20]
    return {u: ChainView(sim.chain_snapshot(ts, u)) for u in ("NIFTY", "BANKNIFTY")}


def chain(underlying: str = "NIFTY") -> ChainView:
    return views()[underlying]


def expiry(underlying: str = "NIFTY") -> date:
    return chain(underlying).expiries()[1 if underlying == "NIFTY" else 0]


def tenant(capital: float = 2_000_000.0, **policy) -> Tenant:
    return Tenant(
        tenant_id="acme",
        name="Acme",
        capital=capital,
        brokerage=BrokeragePlan(),
        policy=RiskPolicy(**policy),
        trading_mode="paper",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def outlook(underlying: str = "NIFTY", vol_ratio: float = 1.0, drift: float = 0.0) -> Outlook:
    """Lognormal terminal prices at the near expiry: vol = ATM iv x vol_ratio, mean F(1 + drift)."""
    view, exp = chain(underlying), expiry(underlying)
    forward, years = view.forward(exp), view.time_to_expiry(exp)
    vol = view.iv(exp, view.atm_strike(exp), "CE") * vol_ratio
    z = np.linspace(-6, 6, 1201)
    w = np.exp(-0.5 * z * z)
    prices = forward * (1 + drift) * np.exp(-0.5 * vol**2 * years + vol * np.sqrt(years) * z)
    return Outlook(prices, w / w.sum(), source=f"lognormal x{vol_ratio} drift {drift}")


def candidate(kind: str, underlying: str = "NIFTY", *, look=None, **params) -> Candidate:
    structure = build(kind, chain(underlying), expiry=expiry(underlying), **params)
    return Candidate(
        tenant_id="acme",
        strategy="test",
        structure=structure,
        decided_at=chain(underlying).ts.to_pydatetime(),
        outlook=look if look is not None else outlook(underlying),
    )


def market(underlying: str = "NIFTY", regime: str = "NORMAL", news=(), covariance=None):
    return MarketContext(
        chain=chain(underlying), regime=regime, news=tuple(news), covariance=covariance
    )


def covariance(corr: float = 0.8) -> pd.DataFrame:
    vols = np.array([0.01, 0.012])
    c = np.array([[1.0, corr], [corr, 1.0]])
    return pd.DataFrame(
        np.outer(vols, vols) * c, index=["NIFTY", "BANKNIFTY"], columns=["NIFTY", "BANKNIFTY"]
    )


def position(
    underlying: str, delta_notional: float, margin: float = 50_000.0, n: int = 0
) -> Position:
    return Position(f"p{n}", underlying, "test", margin, 10_000.0, delta_notional)


def context(t: Tenant | None = None, positions=()) -> TenantContext:
    from quantsentinel.risk.castle.types import Book

    return TenantContext(t or tenant(), Book(tuple(positions)))


def with_legs(c: Candidate, **changes) -> Candidate:
    """The candidate with its first leg changed (for bad-input tests)."""
    legs = list(c.structure.legs)
    legs[0] = replace(legs[0], **changes)
    return replace(c, structure=replace(c.structure, legs=tuple(legs)))
