"""Errors raised on bad risk inputs. Each names what is wrong (`code`) and carries the numbers
(`details`) so the caller can write them to the audit log verbatim and refuse the trade."""

from __future__ import annotations

from typing import Any


class RiskInputError(ValueError):
    """A bad input to the risk layer: never approved, always audited.

    `code` is a stable machine name (zero_lots, off_step_strike, expired_contract, missing_quote,
    unknown_tenant, negative_capital, bad_policy, bad_input, ...); `details` holds the offending
    values.
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class OrderError(RiskInputError):
    """An order or one of its legs is malformed (lots, strike, expiry, quote)."""


class TenantError(RiskInputError):
    """A tenant does not exist, or its definition (capital, policy, plan) is invalid."""


class TenantRequired(TenantError):
    """A tenant-scoped operation was asked for without a tenant: there is no "all tenants"."""

    def __init__(self, message: str = "a tenant id is required", **details: Any) -> None:
        super().__init__("tenant_required", message, **details)
