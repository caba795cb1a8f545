"""Layer 4: how many units of a structure a tenant takes (seed 001 §4 layer 4).

Lots are vol-targeted: one unit's one-day P&L sigma comes from the position's delta and gamma
under the volatility forecast (for a Gaussian index move dS with sd s = S sigma_day,
Var(delta dS + gamma dS^2 / 2) = delta^2 s^2 + gamma^2 s^4 / 2), and the tenant's daily risk
budget (`target_daily_vol_pct` of capital) divided by it gives the vol-targeted units. Three caps
then apply, each named when it binds: the per-position loss budget (max loss per unit against
`max_position_loss_pct` of capital; an unbounded structure is never sized), the largest leg
against `max_leg_lots`, and the news multiplier (proceed 1.0 / reduce 0.75 / 0.5 / blackout 0).

The CVaR scaler is opt-in (seed 000: "keeps the change fully opt-in"): without a tail model it
returns 1 and says so; with one, it scales the units so the unit's CVaR stays within target
(target / CVaR, clipped to [floor, 1]) and vetoes the trade (0 units) when the CVaR exceeds the
veto level. Lot sizes by date are already in the legs (ChainView.leg uses the exchange's lot
size for the trade date and expiry); sizing works in whole units of the structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.policy import RiskPolicy

TailModel = Callable[[Any], float]  # structure -> CVaR (rupees, >= 0) of one unit, e.g. at 95%


@dataclass(frozen=True)
class SizingPolicy:
    target_daily_vol_pct: float = 0.005  # one position's 1-day P&L sigma, of capital
    max_position_loss_pct: float = 0.02
    max_leg_lots: int = 50

    def __post_init__(self) -> None:
        for name in ("target_daily_vol_pct", "max_position_loss_pct"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1):
                raise RiskInputError("bad_policy", f"{name} must be in (0, 1], got {value!r}")
        if not (isinstance(self.max_leg_lots, int) and self.max_leg_lots >= 1):
            raise RiskInputError(
                "bad_policy", f"max_leg_lots must be >= 1, got {self.max_leg_lots}"
            )

    @classmethod
    def from_policy(cls, policy: RiskPolicy) -> SizingPolicy:
        return cls(
            target_daily_vol_pct=policy.target_daily_vol_pct,
            max_position_loss_pct=policy.max_position_loss_pct,
            max_leg_lots=policy.max_leg_lots,
        )


@dataclass(frozen=True)
class CVaRScaler:
    """Scale = clip(target / CVaR, floor, 1); veto (0) above `veto`. All in rupees per unit."""

    tail_model: TailModel | None = None
    target: float = 0.0
    floor: float = 0.25
    veto: float = math.inf

    def scale(self, structure: Any) -> tuple[float, str]:
        if self.tail_model is None:
            return 1.0, "no tail model: CVaR scaling off"
        cvar = float(self.tail_model(structure))
        if not (math.isfinite(cvar) and cvar >= 0):
            return 0.0, f"tail model returned CVaR {cvar!r}: vetoed"
        if cvar > self.veto:
            return 0.0, f"CVaR {cvar:,.0f} above veto {self.veto:,.0f}"
        if cvar <= self.target or cvar == 0:
            return 1.0, f"CVaR {cvar:,.0f} within target {self.target:,.0f}"
        scale = max(self.floor, self.target / cvar)
        return scale, f"CVaR {cvar:,.0f} above target {self.target:,.0f}: x{scale:.2f}"


@dataclass(frozen=True)
class Sizing:
    units: int
    binding: str  # vol_target | loss_budget | leg_lots | news | cvar | unbounded | no_risk
    numbers: dict[str, Any] = field(default_factory=dict)


def unit_pnl_sigma(delta: float, gamma: float, spot: float, daily_vol: float) -> float:
    """One-day P&L sigma (rupees) of a position with these Greeks under a Gaussian index move."""
    s = spot * daily_vol
    return math.sqrt((delta * s) ** 2 + 0.5 * (gamma * s * s) ** 2)


def size_units(
    *,
    unit_delta: float,
    unit_gamma: float,
    unit_max_loss: float,
    unit_max_leg_lots: int,
    spot: float,
    forecast_vol: float,
    capital: float,
    policy: SizingPolicy,
    news_multiplier: float = 1.0,
    cvar: tuple[float, str] = (1.0, "no tail model: CVaR scaling off"),
) -> Sizing:
    """Units of one structure for one tenant. `forecast_vol` is annualised (252 sessions).

    Every input is for ONE unit of the structure (see Structure.scaled)."""
    values = {
        "unit_delta": unit_delta, "unit_gamma": unit_gamma, "spot": spot,
        "forecast_vol": forecast_vol, "capital": capital, "news_multiplier": news_multiplier,
    }  # fmt: skip
    for name, value in values.items():
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise RiskInputError("bad_input", f"sizing input {name} must be finite, got {value!r}")
    if spot <= 0 or forecast_vol <= 0 or capital <= 0:
        raise RiskInputError("bad_input", "spot, forecast_vol and capital must be > 0", **values)
    if not 0 <= news_multiplier <= 1:
        raise RiskInputError("bad_input", f"news_multiplier {news_multiplier} not in [0, 1]")
    daily = forecast_vol / math.sqrt(252.0)
    sigma = unit_pnl_sigma(unit_delta, unit_gamma, spot, daily)
    numbers: dict[str, Any] = {"unit_sigma": round(sigma, 2), "daily_vol": round(daily, 6)}
    if not math.isfinite(unit_max_loss):
        return Sizing(0, "unbounded", {**numbers, "reason": "unbounded max loss is never sized"})
    budget = policy.target_daily_vol_pct * capital
    candidates = {
        "vol_target": math.floor(budget / sigma) if sigma > 0 else math.inf,
        "loss_budget": math.floor(policy.max_position_loss_pct * capital / unit_max_loss)
        if unit_max_loss > 0
        else math.inf,
        "leg_lots": policy.max_leg_lots // max(unit_max_leg_lots, 1),
    }
    binding = min(candidates, key=lambda k: candidates[k])
    units = candidates[binding]
    if math.isinf(units):
        return Sizing(0, "no_risk", {**numbers, "reason": "no measurable risk to size against"})
    numbers.update({f"{k}_units": v for k, v in candidates.items() if math.isfinite(v)})
    scaled = units
    if news_multiplier < 1:
        scaled = math.floor(units * news_multiplier)
        binding = "news" if scaled < units else binding
    scale, why = cvar
    numbers["cvar"] = why
    if scale < 1:
        after = math.floor(scaled * scale)
        binding = "cvar" if after < scaled else binding
        scaled = after
    return Sizing(int(max(scaled, 0)), binding, numbers)


def size_structure(
    structure: Any,
    chain: Any,
    *,
    forecast_vol: float,
    capital: float,
    policy: SizingPolicy,
    news_multiplier: float = 1.0,
    cvar_scaler: CVaRScaler | None = None,
) -> tuple[Sizing, Any | None]:
    """Size one structure on one snapshot: (the sizing, the structure scaled to it, or None when
    it sizes to zero). The structure's Greeks and max loss are measured on ONE unit of it."""
    from quantsentinel.risk.structures import analyse

    unit = structure.scaled(1)
    analysis = analyse(unit, chain)
    scaler = cvar_scaler or CVaRScaler()
    sizing = size_units(
        unit_delta=float(analysis.greeks.delta),
        unit_gamma=float(analysis.greeks.gamma),
        unit_max_loss=float(analysis.max_loss),
        unit_max_leg_lots=max(leg.lots for leg in unit.all_legs),
        spot=float(chain.spot),
        forecast_vol=forecast_vol,
        capital=capital,
        policy=policy,
        news_multiplier=news_multiplier,
        cvar=scaler.scale(unit),
    )
    return sizing, (unit.scaled(sizing.units) if sizing.units >= 1 else None)
