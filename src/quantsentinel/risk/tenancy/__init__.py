"""Tenants, their risk policies and brokerage plans, and the tenant-scoped database layer."""
