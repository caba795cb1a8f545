"""Layer-1 signals of the alpha engine (issue 6; seed 001 §4 "Layer 1: signal generation").

Each signal is a pure function of market data strictly before the decision time `at` and
answers a `Signal` (score in [-1, 1] on the "direction" or "volatility" axis, confidence in
[0, 1], the numbers behind it, and a `fallback` naming why when it answered neutral or from a
baseline). Missing data answers neutral; malformed data raises `SignalInputError`.

Modules: types (Signal, guards), clock and prices (shared time and price helpers), volatility
(forecast vs implied), distribution (implied-density asymmetry), flow (OI flow, max pain, GEX),
timeframes (multi-timeframe trend and its Consensus), cross_section (momentum deciles and mean
reversion, sector-neutral), news (graduated size response), direction (model slot with a rule
baseline), bundle (`compute_signals` over a `SignalInputs`). No dagster here.
"""

from quantsentinel.ml.signals.bundle import SIGNAL_NAMES, SignalInputs, compute_signals
from quantsentinel.ml.signals.cross_section import (
    STOCK_UNIVERSE,
    CrossSection,
    cross_sectional_for,
    cross_sectional_signal,
    sector_neutral,
)
from quantsentinel.ml.signals.direction import DirectionModel, direction_signal
from quantsentinel.ml.signals.distribution import implied_distribution_signal
from quantsentinel.ml.signals.flow import flow_signals
from quantsentinel.ml.signals.news import EventImpact, NewsResponse, news_response, news_signal
from quantsentinel.ml.signals.prices import daily_closes_from_bars
from quantsentinel.ml.signals.timeframes import (
    Consensus,
    consensus,
    horizon_scores,
    multi_timeframe_signal,
)
from quantsentinel.ml.signals.types import Signal, SignalInputError, neutral
from quantsentinel.ml.signals.volatility import volatility_signal

__all__ = [
    "SIGNAL_NAMES",
    "STOCK_UNIVERSE",
    "Consensus",
    "CrossSection",
    "DirectionModel",
    "EventImpact",
    "NewsResponse",
    "Signal",
    "SignalInputError",
    "SignalInputs",
    "compute_signals",
    "consensus",
    "cross_sectional_for",
    "cross_sectional_signal",
    "daily_closes_from_bars",
    "direction_signal",
    "flow_signals",
    "horizon_scores",
    "implied_distribution_signal",
    "multi_timeframe_signal",
    "neutral",
    "news_response",
    "news_signal",
    "sector_neutral",
    "volatility_signal",
]
