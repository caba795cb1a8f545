"""The shared half of a decision: everything about one snapshot that no tenant changes.

Layer 1 (signals), layer 2 (one combination per axis), the regime, the volatility forecast, the
outlook the castle scores against, the news size response, and the unit structure of every arm
(built and analysed once, scaled per tenant) are computed here ONCE per snapshot. The tenant half
(`decide.tenants`) only draws an arm, sizes it and asks the castle. That split is what makes a
batch's cost grow sub-linearly in tenants (benchmarks/bench_decide.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.decide.arms import allowed_arms, build_arm, choose_expiry
from quantsentinel.decide.inputs import SnapshotInputs, return_covariance
from quantsentinel.ml.combination import Combination, SignalReading
from quantsentinel.ml.signals import Signal, compute_signals
from quantsentinel.risk.castle.regime import classify_regime
from quantsentinel.risk.castle.types import MarketContext, NewsItem, Outlook
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import CALL
from quantsentinel.risk.structures import ChainView, analyse

DRIFT_PER_VIEW = 0.25  # a full-conviction direction view moves the outlook's mean by 0.25 sigma
OUTLOOK_NODES = 61  # Gauss-Hermite nodes: exact for the payoff's piecewise-linear shape to ~1e-3
TRADING_DAYS = 252.0


@dataclass(frozen=True)
class UnitArm:
    """One unit of an arm on this snapshot: its structure and analysis, or why it has none."""

    arm: str
    structure: Any = None
    analysis: Any = None
    error: str | None = None


@dataclass
class MarketView:
    inputs: SnapshotInputs
    chain: ChainView
    signals: dict[str, Signal]
    combinations: dict[str, Combination]
    readings: dict[str, list[SignalReading]]
    regime: str
    forecast_vol: float  # annualised, 252 sessions: what sizing targets against
    implied_vol: float
    expiry: date
    outlook: Outlook
    news_multiplier: float
    news_action: str
    context: MarketContext
    fallbacks: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    _units: dict[str, UnitArm] = field(default_factory=dict)

    @property
    def direction(self) -> float:
        combo = self.combinations.get("direction")
        return float(combo.score) if combo is not None else 0.0

    @cached_property
    def allowed(self) -> tuple[str, ...]:
        """Arms the regime and the views admit and that could be built on this chain."""
        return tuple(
            a for a in allowed_arms(self.regime, self.direction) if self.unit(a).error is None
        )

    def unit(self, arm: str) -> UnitArm:
        """One unit of `arm`, built and analysed on first use, shared by every tenant."""
        if arm not in self._units:
            try:
                structure = build_arm(arm, self.chain, self.expiry, self.direction)
                self._units[arm] = UnitArm(arm, structure, analyse(structure, self.chain))
            except RiskInputError as exc:
                self._units[arm] = UnitArm(arm, error=f"{exc.code}: {exc}")
        return self._units[arm]

    def market_record(self) -> dict[str, Any]:
        """The shared facts a batch row keeps: what every tenant's decision rested on."""
        return {
            "snapshot_id": self.inputs.snapshot_id,
            "spot": round(self.chain.spot, 2),
            "at": self.inputs.at.isoformat(),
            "regime": self.regime,
            "forecast_vol": round(self.forecast_vol, 5),
            "implied_vol": round(self.implied_vol, 5),
            "expiry": self.expiry.isoformat(),
            "news": {"action": self.news_action, "multiplier": self.news_multiplier},
            "signals": {
                name: {
                    "axis": s.axis,
                    "score": round(s.score, 4),
                    "confidence": round(s.confidence, 4),
                    "fallback": s.fallback,
                }
                for name, s in self.signals.items()
            },
            "combinations": {
                axis: {
                    "score": round(c.score, 4),
                    "probability": round(c.probability, 4),
                    "disagreement": round(c.disagreement, 4),
                    "weights": {k: round(v, 4) for k, v in c.weights.items()},
                    "excluded": dict(c.excluded),
                }
                for axis, c in self.combinations.items()
            },
            "allowed_arms": list(self.allowed),
            "unavailable_arms": {a: u.error for a, u in self._units.items() if u.error},
            "fallbacks": dict(self.fallbacks),
            "sources": dict(self.inputs.sources),
        }


def readings_by_axis(signals: Mapping[str, Signal]) -> dict[str, list[SignalReading]]:
    out: dict[str, list[SignalReading]] = {}
    for signal in signals.values():
        out.setdefault(signal.axis, []).append(SignalReading.from_signal(signal))
    return out


def build_view(
    inputs: SnapshotInputs,
    combiner_for: Callable[[str, tuple[str, ...]], Any],
    chain: ChainView | None = None,
) -> MarketView:
    """Layers 1-2 and the shared market context of one snapshot. `combiner_for(axis, names)`
    answers the combiner of an axis's signals (anything with `combine(readings, at)`); `chain`:
    the snapshot's ChainView when the caller already built it (indexing one costs ~30 ms)."""
    chain = chain if chain is not None else ChainView(inputs.chain)
    signals = compute_signals(inputs.signals, inputs.at)
    readings = readings_by_axis(signals)
    combinations = {
        axis: combiner_for(axis, tuple(r.name for r in found)).combine(found, inputs.at)
        for axis, found in readings.items()
    }
    fallbacks = {f"signal:{n}": s.fallback for n, s in signals.items() if s.fallback}
    expiry = choose_expiry(chain)
    implied = chain.iv(expiry, chain.atm_strike(expiry), CALL)
    if not (math.isfinite(implied) and implied > 0):
        raise RiskInputError("bad_market", f"{inputs.snapshot_id}: no usable ATM implied vol")
    forecast = forecast_to_expiry(inputs, signals["volatility"], chain, expiry)
    models: tuple[str, ...] = ()
    if forecast is not None:
        forecast_vol, regime_forecast, source = forecast
        models = ("vol_forecaster",) if source == "champion" else ()
    else:
        # No usable forecast: the implied vol stands in (the regime reads NORMAL-ish by
        # construction) and the decision says so; sizing then targets the market's own move.
        forecast_vol = regime_forecast = float(implied)
        fallbacks["forecast"] = f"implied_vol_as_forecast ({signals['volatility'].fallback})"
    regime = classify_regime(regime_forecast, float(implied))
    news = signals["news"].detail
    multiplier = float(getattr(news, "multiplier", 1.0))
    action = str(getattr(news, "action", "proceed"))
    direction = float(combinations["direction"].score) if "direction" in combinations else 0.0
    outlook = lognormal_outlook(chain, expiry, regime_forecast, direction)
    context = MarketContext(
        chain=chain,
        regime=regime,
        news=news_items(inputs.news, inputs.at),
        covariance=return_covariance(inputs.closes),
    )
    return MarketView(
        inputs, chain, signals, combinations, readings, regime, forecast_vol, float(implied),
        expiry, outlook, multiplier, action, context, fallbacks, models,
    )  # fmt: skip


def forecast_to_expiry(
    inputs: SnapshotInputs, vol_signal: Signal, chain: ChainView, expiry: date
) -> tuple[float, float, str] | None:
    """(one-day forecast vol annualised on 252 sessions, for sizing; the forecast's total
    variance to `expiry` annualised on the option's own ACT/365 clock, comparable to its implied
    vol, for the regime and the outlook; the forecast's source), or None when the volatility
    signal found no usable forecast (missing or stale: it says which in its fallback). Both
    include the overnight share of variance the session-only forecasts leave out."""
    from quantsentinel.ml.signals.clock import trading_days_to_expiry
    from quantsentinel.ml.signals.volatility import forecast_variance_at, latest_forecast

    if "forecast_daily_variance" not in vol_signal.numbers:
        return None
    table = latest_forecast(inputs.signals.vol_forecasts, inputs.underlying, inputs.at)
    if table.empty:
        return None
    h = max(trading_days_to_expiry(inputs.at, expiry), 1.0)
    # Session-only forecasts plus the night's share: the variance options actually price.
    night = 1.0 - inputs.signals.overnight_share
    to_expiry = forecast_variance_at(table, h) * h / night
    one_day = forecast_variance_at(table, 1.0) / night
    t = max(chain.time_to_expiry(expiry), 1.0 / 365.0)
    if not (to_expiry > 0 and one_day > 0):
        return None
    source = str(vol_signal.numbers.get("forecast_source", "unknown"))
    return math.sqrt(one_day * TRADING_DAYS), math.sqrt(to_expiry / t), source


def lognormal_outlook(chain: ChainView, expiry: date, vol: float, direction: float) -> Outlook:
    """The index at `expiry` under the forecast vol, its mean moved by the direction view.

    Gauss-Hermite nodes of a standard normal carry the distribution: 61 points integrate the
    structures' piecewise-linear payoffs as well as thousands of Monte Carlo draws, and always
    to the same number.
    """
    t = max(chain.time_to_expiry(expiry), 1.0 / 365.0)
    sigma = vol * math.sqrt(t)
    nodes, weights = np.polynomial.hermite_e.hermegauss(OUTLOOK_NODES)
    weights = weights / weights.sum()
    drift = DRIFT_PER_VIEW * float(np.clip(direction, -1.0, 1.0)) * sigma
    forward = chain.forward(expiry)
    prices = forward * np.exp(drift - 0.5 * sigma**2 + sigma * nodes)
    return Outlook(prices, weights, source=f"lognormal vol {vol:.3f}, view {direction:+.2f}")


def news_items(news: pd.DataFrame | None, at: pd.Timestamp) -> tuple[NewsItem, ...]:
    """News the castle's news wall may read: published by `at`, or scheduled (known ahead)."""
    if news is None or news.empty:
        return ()
    rows = news[(news["ts"] < at) | news["scheduled"].astype(bool)]
    return tuple(
        NewsItem(str(r.event_id), pd.Timestamp(r.ts), str(r.kind), bool(r.scheduled), str(r.scope))
        for r in rows.itertuples(index=False)
    )


__all__ = ["MarketView", "UnitArm", "build_view", "lognormal_outlook"]
