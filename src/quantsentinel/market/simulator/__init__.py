"""Seeded, deterministic NSE-like market: the embedded default data source.

Produces the canonical shapes of `market.schema` (1-minute bars, an India VIX-like index, option
chain snapshots, news with ground-truth impact) from a regime-switching stochastic-volatility
model with news-driven jumps. Ground truth a model can be scored against is public:
`MarketSimulator.regime(day)` / `.regimes(start, end)` (hidden regime), `.day_state(day, u)`
(gap/session decomposition) and `.shocks(day, u)` (each news jump as applied).

Module map: config (knobs, calibration), randomness (order-independent streams and counter-based
noise), news (event calendar and surprises), dynamics (daily skeleton), intraday (minute paths
and bars), chains (surface, quotes, OI), state (ground-truth views), engine (the API and caches).
"""

from quantsentinel.market.simulator.config import (
    PROFILES,
    REGIME_PARAMS,
    TRANSITIONS,
    Regime,
    RegimeParams,
    SimulatorConfig,
    UnderlyingProfile,
)
from quantsentinel.market.simulator.engine import VIX, MarketSimulator
from quantsentinel.market.simulator.state import DayState

__all__ = [
    "PROFILES",
    "REGIME_PARAMS",
    "TRANSITIONS",
    "VIX",
    "DayState",
    "MarketSimulator",
    "Regime",
    "RegimeParams",
    "SimulatorConfig",
    "UnderlyingProfile",
]
