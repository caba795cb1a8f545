"""A tenant's risk policy and brokerage plan: plain values, validated on construction, stored as
JSON in the tenants table. Every threshold the castle and the kill switches use is here, so a
tenant's "why was this blocked" always points at a number it can see and change."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from quantsentinel.risk.errors import TenantError


@dataclass(frozen=True)
class BrokeragePlan:
    """Brokerage per executed order (one order per leg per side).

    flat:    `flat_per_order` rupees per order (₹20 is common);
    percent: `percent` of the order's turnover, capped at `cap_per_order` rupees when a cap is set.
    """

    kind: str = "flat"
    flat_per_order: float = 20.0
    percent: float = 0.0
    cap_per_order: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "percent"):
            raise TenantError("bad_plan", f"brokerage kind {self.kind!r} is not flat or percent")
        for name in ("flat_per_order", "percent"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise TenantError("bad_plan", f"brokerage {name} must be >= 0, got {value!r}")
        if self.percent >= 0.05:
            raise TenantError("bad_plan", f"brokerage percent {self.percent} is a fraction; >= 5%?")
        if self.cap_per_order is not None and not self.cap_per_order >= 0:
            raise TenantError("bad_plan", f"brokerage cap must be >= 0, got {self.cap_per_order}")

    def per_order(self, turnover: float) -> float:
        """Brokerage in rupees for one executed order of `turnover` rupees."""
        if self.kind == "flat":
            return self.flat_per_order
        charge = self.percent * turnover
        return charge if self.cap_per_order is None else min(charge, self.cap_per_order)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BrokeragePlan:
        return _from_json(cls, data, "brokerage plan")

    @classmethod
    def parse(cls, text: str) -> BrokeragePlan:
        """CLI form: `flat:20` or `percent:0.0003:20` (fraction, optional cap in rupees)."""
        parts = text.split(":")
        try:
            if parts[0] == "flat" and len(parts) == 2:
                return cls(kind="flat", flat_per_order=float(parts[1]))
            if parts[0] == "percent" and len(parts) in (2, 3):
                cap = float(parts[2]) if len(parts) == 3 else None
                return cls(kind="percent", percent=float(parts[1]), cap_per_order=cap)
        except ValueError as exc:
            raise TenantError("bad_plan", f"brokerage plan {text!r}: {exc}") from exc
        raise TenantError(
            "bad_plan", f"brokerage plan {text!r}: use flat:RUPEES or percent:FRACTION[:CAP]"
        )


@dataclass(frozen=True)
class RiskPolicy:
    """Per-tenant limits. Fractions are of the tenant's capital unless named otherwise."""

    # wall: tenant risk policy
    max_position_loss_pct: float = 0.02  # worst case of one position (hedged composite), of capital
    max_open_positions: int = 10
    max_underlying_share: float = 0.50  # margin in one sector (the underlying's) after the trade
    max_leg_lots: int = 50  # single-leg exposure
    # wall: margin
    margin_buffer: float = 0.30  # margin required x (1 + buffer) must fit in free capital
    # wall: portfolio correlation
    max_correlation: float = 0.70
    # wall: cost / opportunity (the OpportunityScorer)
    max_cost_ratio: float = 0.40
    min_win_probability: float = 0.45
    # wall: tail hedge: a hedged composite's loss at the stress move is at most this, of capital
    tail_loss_pct: float = 0.03
    # sizing (layer 4): one position's one-day P&L sigma, of capital
    target_daily_vol_pct: float = 0.005
    # kill switches
    max_daily_loss_pct: float = 0.03
    capital_floor: float = 50_000.0
    max_margin_utilization: float = 0.80
    max_cluster_correlation: float = 0.70
    strategy_drawdown_pct: float = 0.05

    _FRACTIONS = (
        "max_position_loss_pct",
        "max_underlying_share",
        "max_correlation",
        "max_cost_ratio",
        "min_win_probability",
        "tail_loss_pct",
        "target_daily_vol_pct",
        "max_daily_loss_pct",
        "max_margin_utilization",
        "max_cluster_correlation",
        "strategy_drawdown_pct",
    )

    def __post_init__(self) -> None:
        for name in self._FRACTIONS:
            value = getattr(self, name)
            if not (_number(value) and 0.0 < value <= 1.0):
                raise TenantError("bad_policy", f"policy {name} must be in (0, 1], got {value!r}")
        if not (_number(self.margin_buffer) and 0.0 <= self.margin_buffer <= 5.0):
            raise TenantError(
                "bad_policy", f"margin_buffer must be in [0, 5], got {self.margin_buffer!r}"
            )
        for name in ("max_open_positions", "max_leg_lots"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise TenantError(
                    "bad_policy", f"policy {name} must be an integer >= 1, got {value!r}"
                )
        if not (_number(self.capital_floor) and self.capital_floor >= 0):
            raise TenantError(
                "bad_policy", f"capital_floor must be >= 0, got {self.capital_floor!r}"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskPolicy:
        return _from_json(cls, data, "risk policy")

    def updated(self, changes: dict[str, str | float | int]) -> RiskPolicy:
        """A copy with `changes` applied; CLI strings are converted to the field's type."""
        known = {f.name: f for f in fields(self)}
        converted: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise TenantError(
                    "bad_policy",
                    f"unknown policy field {name!r}; known: {', '.join(sorted(known))}",
                )
            kind = int if isinstance(getattr(self, name), int) else float
            try:
                converted[name] = kind(value)
            except (TypeError, ValueError) as exc:
                raise TenantError("bad_policy", f"policy {name}={value!r}: {exc}") from exc
        return replace(self, **converted)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _from_json(cls, data: dict[str, Any], what: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TenantError("bad_policy", f"{what}: unknown field(s) {', '.join(unknown)}")
    return cls(**data)
