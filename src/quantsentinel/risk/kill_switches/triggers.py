"""Trigger logic: pure functions from one observation to a `Trip` (the switch must be tripped,
with the reason and the numbers that prove it) or None (clear).

Each public trigger has a `read_*` twin that returns a `Reading` either way (breached or clear,
with its numbers), or None when the observation cannot be judged (a broker never probed, a book
with too little history). The sweep uses readings: a clear reading is what allows an automatic
switch to reset, and the numbers of a clear reading go into the reset's audit row.

Boundaries follow the seed's wording: "beyond", "more than", "above" and "below" are strict
(exactly at the limit is clear), "reaching" a circuit band or a market-wide level is not (exactly
at the band trips), and the dry-run lock holds while the tenant is younger than 14 days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from quantsentinel.risk.kill_switches import definitions as d
from quantsentinel.risk.kill_switches.measures import (
    effective_correlation,
    max_drawdown,
    sample_covariance,
)
from quantsentinel.risk.kill_switches.observations import BookState, TenantState
from quantsentinel.risk.tenancy.policy import RiskPolicy


@dataclass(frozen=True)
class Trip:
    """A switch that must be tripped: which, for whom, why, and the numbers behind it."""

    kind: str
    scope_key: str
    tenant_id: str | None
    reason: str
    numbers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """One switch measured at a sweep: breached or clear, with its numbers either way."""

    kind: str
    scope_key: str
    tenant_id: str | None
    breached: bool
    reason: str
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def as_trip(self) -> Trip | None:
        if not self.breached:
            return None
        return Trip(self.kind, self.scope_key, self.tenant_id, self.reason, dict(self.numbers))


def trip_or_none(reading: Reading | None) -> Trip | None:
    return reading.as_trip() if reading is not None else None


def _rupees(value: float) -> str:
    return f"₹{value:,.0f}"


# --- per tenant (the switches global to tenants: market_triggers) ---------------------------------


def read_strategy_drawdown(
    tenant_id: str, strategy: str, pnl: Sequence[float], capital: float, policy: RiskPolicy
) -> Reading:
    dd = max_drawdown(np.asarray(pnl, dtype=float))
    limit = capital * policy.strategy_drawdown_pct
    breached = dd.max_drawdown > limit
    verb = "beyond" if breached else "within"
    return Reading(
        d.STRATEGY_DRAWDOWN,
        d.strategy_key(tenant_id, strategy),
        tenant_id,
        breached,
        f"strategy {strategy} drawdown {_rupees(dd.max_drawdown)} {verb} the limit "
        f"{_rupees(limit)} ({policy.strategy_drawdown_pct:.2%} of {_rupees(capital)})",
        {
            "max_drawdown": dd.max_drawdown,
            "limit": limit,
            "strategy_drawdown_pct": policy.strategy_drawdown_pct,
            "capital": capital,
            "peak_pnl": dd.peak_pnl,
            "trough_pnl": dd.trough_pnl,
            "peak_period": dd.peak,
            "trough_period": dd.trough,
            "current_drawdown": dd.current,
            "periods": len(pnl),
        },
    )


def strategy_drawdown(
    tenant_id: str, strategy: str, pnl: Sequence[float], capital: float, policy: RiskPolicy
) -> Trip | None:
    """Switch 1: the strategy's peak-to-trough drawdown of cumulative P&L is beyond capital x
    policy.strategy_drawdown_pct."""
    return trip_or_none(read_strategy_drawdown(tenant_id, strategy, pnl, capital, policy))


def read_tenant_daily_loss(tenant: TenantState, policy: RiskPolicy) -> Reading:
    pnl = tenant.realised_pnl + tenant.unrealised_pnl
    loss = max(0.0, -pnl)
    limit = tenant.capital * policy.max_daily_loss_pct
    breached = loss > limit
    return Reading(
        d.TENANT_DAILY_LOSS,
        tenant.tenant_id,
        tenant.tenant_id,
        breached,
        f"daily loss {_rupees(loss)} {'beyond' if breached else 'within'} the limit "
        f"{_rupees(limit)} ({policy.max_daily_loss_pct:.2%} of {_rupees(tenant.capital)})",
        {
            "loss": loss,
            "limit": limit,
            "realised_pnl": tenant.realised_pnl,
            "unrealised_pnl": tenant.unrealised_pnl,
            "capital": tenant.capital,
            "max_daily_loss_pct": policy.max_daily_loss_pct,
        },
    )


def tenant_daily_loss(tenant: TenantState, policy: RiskPolicy) -> Trip | None:
    """Switch 2: today's realised + unrealised loss is beyond capital x max_daily_loss_pct."""
    return trip_or_none(read_tenant_daily_loss(tenant, policy))


def read_capital_floor(tenant: TenantState, policy: RiskPolicy) -> Reading:
    available = tenant.equity
    breached = available < policy.capital_floor
    return Reading(
        d.CAPITAL_FLOOR,
        tenant.tenant_id,
        tenant.tenant_id,
        breached,
        f"available capital {_rupees(available)} {'below' if breached else 'at or above'} the "
        f"floor {_rupees(policy.capital_floor)}",
        {"available_capital": available, "capital_floor": policy.capital_floor},
    )


def capital_floor(tenant: TenantState, policy: RiskPolicy) -> Trip | None:
    """Switch 6: available capital is below policy.capital_floor."""
    return trip_or_none(read_capital_floor(tenant, policy))


def read_margin_utilization(tenant: TenantState, policy: RiskPolicy) -> Reading:
    available = tenant.equity
    if available > 0:
        utilization = tenant.margin_used / available
    else:  # nothing backs the margin: any margin in use is unbounded utilization
        utilization = math.inf if tenant.margin_used > 0 else 0.0
    breached = utilization > policy.max_margin_utilization
    return Reading(
        d.MARGIN_UTILIZATION,
        tenant.tenant_id,
        tenant.tenant_id,
        breached,
        f"margin utilization {utilization:.2%} {'above' if breached else 'within'} the limit "
        f"{policy.max_margin_utilization:.2%}",
        {
            "utilization": utilization,
            "margin_used": tenant.margin_used,
            "available_capital": available,
            "max_margin_utilization": policy.max_margin_utilization,
        },
    )


def margin_utilization(tenant: TenantState, policy: RiskPolicy) -> Trip | None:
    """Switch 9: margin used / available capital is above policy.max_margin_utilization."""
    return trip_or_none(read_margin_utilization(tenant, policy))


def read_correlation_cluster(
    tenant_id: str, book: BookState, policy: RiskPolicy, limits: d.PlatformLimits
) -> Reading | None:
    exposures = np.asarray(book.exposures, dtype=float)
    active = exposures != 0.0
    days = int(book.returns.shape[0])
    numbers: dict[str, Any] = {
        "positions": int(active.sum()),
        "days": min(days, limits.correlation_lookback_days),
        "max_cluster_correlation": policy.max_cluster_correlation,
    }
    rho = None
    if active.sum() >= 2:
        if days < limits.correlation_min_days:
            return None  # too little history to judge; the switch keeps its state
        covariance = sample_covariance(book.returns[:, active], limits.correlation_lookback_days)
        rho = effective_correlation(covariance, exposures[active])
    numbers["effective_correlation"] = rho
    breached = rho is not None and rho > policy.max_cluster_correlation
    shown = "undefined (fewer than two positions with risk)" if rho is None else f"{rho:.3f}"
    return Reading(
        d.CORRELATION_CLUSTER,
        tenant_id,
        tenant_id,
        breached,
        f"book effective correlation {shown} {'above' if breached else 'within'} the limit "
        f"{policy.max_cluster_correlation:.2f}",
        numbers,
    )


def correlation_cluster(
    tenant_id: str, book: BookState, policy: RiskPolicy, limits: d.PlatformLimits
) -> Trip | None:
    """Switch 10: the book's effective correlation (measures.effective_correlation) over the last
    correlation_lookback_days of returns is above policy.max_cluster_correlation."""
    return trip_or_none(read_correlation_cluster(tenant_id, book, policy, limits))


def read_dry_run_lock(tenant: TenantState, now: datetime, limits: d.PlatformLimits) -> Reading:
    age = now - tenant.created_at
    lock = timedelta(days=limits.dry_run_days)
    locked = age < lock
    released_at = tenant.created_at + lock
    return Reading(
        d.DRY_RUN_LOCK,
        tenant.tenant_id,
        tenant.tenant_id,
        locked,
        f"tenant created {age.total_seconds() / 86400:.2f} days ago; paper-only until "
        f"{released_at.isoformat()}" + ("" if locked else " (released)"),
        {
            "created_at": tenant.created_at,
            "age_days": age.total_seconds() / 86400,
            "dry_run_days": limits.dry_run_days,
            "released_at": released_at,
        },
    )


def dry_run_lock(tenant: TenantState, now: datetime, limits: d.PlatformLimits) -> Trip | None:
    """Switch 11 (informational: the database enforces it): the tenant is younger than
    dry_run_days."""
    return trip_or_none(read_dry_run_lock(tenant, now, limits))
