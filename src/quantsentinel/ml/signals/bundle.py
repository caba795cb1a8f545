"""Every layer-1 signal for one underlying at one decision time, from one bundle of market data.

The bundle holds market data only (no tenant): a decide run computes it once per snapshot and
every tenant's decision reads the same dict, so the cost of this layer does not grow with the
number of tenants. Work two signals share (daily closes from bars) is done once here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from quantsentinel.ml.signals.cross_section import (
    STOCK_UNIVERSE,
    cross_sectional_for,
    cross_sectional_signal,
)
from quantsentinel.ml.signals.direction import DirectionModel, direction_signal
from quantsentinel.ml.signals.distribution import implied_distribution_signal
from quantsentinel.ml.signals.flow import flow_signals
from quantsentinel.ml.signals.news import news_signal
from quantsentinel.ml.signals.prices import complete_bars, daily_closes_from_bars
from quantsentinel.ml.signals.timeframes import multi_timeframe_signal
from quantsentinel.ml.signals.types import Signal, SignalInputError, check_at
from quantsentinel.ml.signals.volatility import volatility_signal

SIGNAL_NAMES = (
    "volatility", "implied_distribution", "oi_flow", "gex", "multi_timeframe", "cross_sectional",
    "news", "direction",
)  # fmt: skip


@dataclass(frozen=True)
class SignalInputs:
    """The market frames the assets produce, for one underlying; None where absent.

    vol_forecasts: `vol_forecasts` rows; iv_surface, implied_distribution, chain_analytics: the
    surface assets' rows (trailing history for the density z-scores); bars: 1-minute BAR_COLUMNS
    of the underlying (today at least); daily_closes: (underlying, ts, close) rows of completed
    sessions for the universe and the underlying, ts = when the close was known (derived from
    `bars` when not given, then for the underlying alone); news: NEWS_COLUMNS rows;
    direction_model: the promoted direction model's P(up) callable, if any.
    """

    underlying: str
    vol_forecasts: pd.DataFrame | None = None
    iv_surface: pd.DataFrame | None = None
    implied_distribution: pd.DataFrame | None = None
    chain_analytics: pd.DataFrame | None = None
    bars: pd.DataFrame | None = None
    daily_closes: pd.DataFrame | None = None
    news: pd.DataFrame | None = None
    direction_model: DirectionModel | None = None
    universe: tuple[str, ...] = field(default=STOCK_UNIVERSE)
    overnight_share: float = 0.0  # of daily variance, missing from session-only vol forecasts

    def __post_init__(self) -> None:
        if not isinstance(self.underlying, str) or not self.underlying:
            raise SignalInputError(
                f"underlying must be a non-empty symbol, got {self.underlying!r}"
            )


def compute_signals(inputs: SignalInputs, at: pd.Timestamp) -> dict[str, Signal]:
    """All layer-1 signals of `inputs.underlying` at `at`, keyed by SIGNAL_NAMES."""
    at = check_at(at)
    u = inputs.underlying
    closes = inputs.daily_closes
    if closes is None and inputs.bars is not None:
        # Only bars already closed before `at` feed the daily series (no partial future bar).
        closes = daily_closes_from_bars(complete_bars(inputs.bars, at, u))
    oi_flow, gex = flow_signals(inputs.chain_analytics, at, underlying=u)
    section = cross_sectional_signal(inputs.daily_closes, at, universe=inputs.universe)
    return {
        "volatility": volatility_signal(
            inputs.vol_forecasts,
            inputs.iv_surface,
            at,
            underlying=u,
            overnight_share=inputs.overnight_share,
        ),
        "implied_distribution": implied_distribution_signal(
            inputs.implied_distribution, at, underlying=u
        ),
        "oi_flow": oi_flow,
        "gex": gex,
        "multi_timeframe": multi_timeframe_signal(
            inputs.chain_analytics, inputs.bars, closes, at, underlying=u
        ),
        "cross_sectional": cross_sectional_for(section, u),
        "news": news_signal(inputs.news, at, underlying=u),
        "direction": direction_signal(closes, at, underlying=u, model=inputs.direction_model),
    }
