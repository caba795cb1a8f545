"""Tenants, their policies and the kill switches as a Dagster resource (the project database)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

import dagster as dg


class RiskResource(dg.ConfigurableResource):
    """The tenancy and risk tables in the project database (migrated on first use)."""

    database_url: str

    def engine(self) -> Engine:
        from quantsentinel.db import engine_for, migrate

        if self.database_url not in _MIGRATED:
            migrate(self.database_url)
            _MIGRATED.add(self.database_url)
        return engine_for(self.database_url)

    def tenants(self):
        """Every tenant with its policy and brokerage plan."""
        from quantsentinel.risk.tenancy.store import TenantStore

        return TenantStore(self.engine()).list()

    def tenant_store(self):
        from quantsentinel.risk.tenancy.store import TenantStore

        return TenantStore(self.engine())

    def kill_switches(self):
        from quantsentinel.risk.kill_switches import KillSwitchStore

        return KillSwitchStore(self.engine())

    def gatekeeper(self):
        from quantsentinel.risk.gatekeeper import RiskGatekeeper

        return RiskGatekeeper(self.engine())


_MIGRATED: set[str] = set()
