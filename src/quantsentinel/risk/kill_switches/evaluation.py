"""One sweep's verdicts: run every trigger on what the sweep observed and say which switches
must trip and which were measured and found clear.

The clear set matters as much as the trips: an automatic switch resets only when a sweep
measured its condition and found it clear. Something the sweep did not observe is in neither
list, so its switch keeps its state (a tenant missing from one sweep is not thereby cleared).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.kill_switches import market_triggers as market
from quantsentinel.risk.kill_switches import triggers as tenant_triggers
from quantsentinel.risk.kill_switches.definitions import PlatformLimits
from quantsentinel.risk.kill_switches.observations import Observations
from quantsentinel.risk.kill_switches.triggers import Reading, Trip
from quantsentinel.risk.tenancy.policy import RiskPolicy


@dataclass(frozen=True)
class Evaluation:
    """Every reading of one sweep, sorted by (kind, scope_key)."""

    readings: tuple[Reading, ...]

    @property
    def trips(self) -> list[Trip]:
        return [trip for r in self.readings if (trip := r.as_trip()) is not None]

    @property
    def clear(self) -> frozenset[tuple[str, str]]:
        """(kind, scope_key) of every switch measured and found clear."""
        return frozenset((r.kind, r.scope_key) for r in self.readings if not r.breached)

    def reading(self, kind: str, scope_key: str) -> Reading | None:
        for r in self.readings:
            if (r.kind, r.scope_key) == (kind, scope_key):
                return r
        return None


def evaluate(
    observations: Observations,
    policies: Mapping[str, RiskPolicy],
    limits: PlatformLimits | None = None,
) -> Evaluation:
    """Readings of every switch the observations cover. `policies` maps each observed tenant to
    its RiskPolicy; a tenant without one is refused (there is no default tenant policy)."""
    limits = limits or PlatformLimits()
    now = observations.now
    readings: list[Reading | None] = []
    for tenant in observations.tenants:
        policy = policies.get(tenant.tenant_id)
        if not isinstance(policy, RiskPolicy):
            raise TenantError(
                "missing_policy",
                f"tenant {tenant.tenant_id!r} was observed but has no RiskPolicy",
                tenant_id=tenant.tenant_id,
            )
        readings += [
            tenant_triggers.read_tenant_daily_loss(tenant, policy),
            tenant_triggers.read_capital_floor(tenant, policy),
            tenant_triggers.read_margin_utilization(tenant, policy),
            tenant_triggers.read_dry_run_lock(tenant, now, limits),
        ]
        if tenant.book is not None:
            readings.append(
                tenant_triggers.read_correlation_cluster(
                    tenant.tenant_id, tenant.book, policy, limits
                )
            )
        for strategy, pnl in tenant.strategy_pnl.items():
            readings.append(
                tenant_triggers.read_strategy_drawdown(
                    tenant.tenant_id, strategy, pnl, tenant.capital, policy
                )
            )
    readings += [
        market.read_stale_data(feed, last, now, limits) for feed, last in observations.feeds.items()
    ]
    readings += [market.read_model_staleness(m, now, limits) for m in observations.models]
    readings += [market.read_symbol_anomaly(s, now, limits) for s in observations.symbols]
    readings += [market.read_broker_outage(b, now, limits) for b in observations.brokers]
    readings += [market.read_exchange_halt(e, limits) for e in observations.exchanges]
    measured = sorted((r for r in readings if r is not None), key=lambda r: (r.kind, r.scope_key))
    return Evaluation(tuple(measured))
