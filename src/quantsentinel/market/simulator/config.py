"""Knobs and calibrated constants of the market simulator.

Two kinds of numbers live here:
- `SimulatorConfig`: what a caller may want to change (seed, anchor, chain shape, frictions);
- module constants: the calibration of the model itself (regimes, underlyings, event kinds).
  They are plain data so a reader can see every number the market is built from in one place.

The levels and volatilities are chosen to look like NSE in late 2024 - 2026 (NIFTY in the low- to
mid-20,000s, India VIX mostly 10-20, single stocks near their actual price levels). They are a
plausible synthetic market, not a fit to history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Regime(StrEnum):
    """Hidden market state, the ground truth a regime classifier is scored against.

    One regime holds for a whole trading day; it switches between days by a Markov chain
    (`TRANSITIONS`). Its number is its position here (0..3), as stored in `DayState.regime_code`.
    """

    LOW_VOL_RANGE = "LOW_VOL_RANGE"
    NORMAL = "NORMAL"
    HIGH_VOL = "HIGH_VOL"
    CRISIS = "CRISIS"


REGIMES: tuple[Regime, ...] = tuple(Regime)


@dataclass(frozen=True)
class RegimeParams:
    """How the market behaves while a regime holds.

    iv_mean: level the 30-day ATM implied vol of NIFTY (India VIX / 100) mean-reverts to.
    iv_vol: daily standard deviation of log(iv30) shocks (vol of vol).
    drift: annualised physical drift of NIFTY (before the pull to its reference level).
    surprise_rate: expected market-wide surprise news per calendar day.
    surprise_scale: multiplier on the size of market-wide surprises.
    down_share: probability that a market-wide surprise is bad news.
    skew_rho, smile_eta: SSVI skew and curvature of the index smile (rho < 0: put skew).
    spread_mult: multiplier on quoted option spreads (market makers widen in stress).
    """

    iv_mean: float
    iv_vol: float
    drift: float
    surprise_rate: float
    surprise_scale: float
    down_share: float
    skew_rho: float
    smile_eta: float
    spread_mult: float


REGIME_PARAMS: dict[Regime, RegimeParams] = {
    Regime.LOW_VOL_RANGE: RegimeParams(0.115, 0.04, 0.06, 0.02, 0.7, 0.50, -0.45, 0.60, 0.8),
    Regime.NORMAL: RegimeParams(0.140, 0.05, 0.12, 0.04, 1.0, 0.50, -0.50, 0.70, 1.0),
    Regime.HIGH_VOL: RegimeParams(0.200, 0.07, -0.10, 0.10, 1.5, 0.60, -0.60, 0.85, 1.5),
    Regime.CRISIS: RegimeParams(0.300, 0.09, -0.40, 0.25, 2.5, 0.70, -0.70, 1.00, 2.5),
}

# Daily transition probabilities, rows = today's regime, columns = tomorrow's, in REGIMES order.
# Expected stays: ~33 days in the calm regimes, ~14 in the stressed ones; crises are entered
# mostly through HIGH_VOL and leave through it, as volatility clusters do.
TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.970, 0.027, 0.003, 0.000),
    (0.015, 0.970, 0.013, 0.002),
    (0.005, 0.045, 0.930, 0.020),
    (0.000, 0.010, 0.060, 0.930),
)


@dataclass(frozen=True)
class UnderlyingProfile:
    """Calibration of one underlying.

    level: reference price on 2025-01-01; the reference grows at `growth` a year and the price
        is pulled toward it (so a multi-year simulation stays near realistic levels).
    beta: sensitivity of log returns (and of implied vol) to NIFTY's.
    idio_iv: idiosyncratic implied-vol premium added to beta * NIFTY iv30 (see dynamics).
    div_yield: continuous dividend yield q for the forward F = S exp((r - q) T).
    oi_scale: open interest (contracts) of a near-expiry, near-the-money strike.
    volume_ratio: option contracts traded per contract of open interest per day.
    spread_rel: relative bid-ask spread of an at-the-money option in the NORMAL regime.
    adv_shares: average daily shares traded (0 for an index: it has no volume of its own).
    skew_scale: how much of the index put skew the underlying's smile carries.
    """

    level: float
    growth: float
    beta: float
    idio_iv: float
    div_yield: float
    oi_scale: float
    volume_ratio: float
    spread_rel: float
    adv_shares: float
    skew_scale: float


def _stock(level: float, beta: float, idio_iv: float, div_yield: float, adv: float):
    """Common defaults for a single stock: thinner options, milder skew than the index."""
    return UnderlyingProfile(level, 0.06, beta, idio_iv, div_yield, 4_000, 1.5, 0.015, adv, 0.5)


PROFILES: dict[str, UnderlyingProfile] = {
    "NIFTY": UnderlyingProfile(23_500, 0.07, 1.0, 0.0, 0.013, 120_000, 8.0, 0.004, 0.0, 1.0),
    "BANKNIFTY": UnderlyingProfile(50_500, 0.07, 1.05, 0.015, 0.008, 40_000, 5.0, 0.005, 0.0, 0.9),
    "RELIANCE": _stock(1_300, 1.0, 0.10, 0.004, 1.0e7),
    "HDFCBANK": _stock(1_750, 0.9, 0.08, 0.011, 1.2e7),
    "ICICIBANK": _stock(1_300, 1.0, 0.09, 0.008, 1.4e7),
    "INFY": _stock(1_650, 0.8, 0.12, 0.026, 7.0e6),
    "TCS": _stock(3_600, 0.7, 0.10, 0.016, 2.5e6),
    "SBIN": _stock(800, 1.2, 0.11, 0.017, 1.5e7),
    "AXISBANK": _stock(1_150, 1.1, 0.11, 0.001, 9.0e6),
    "KOTAKBANK": _stock(1_950, 0.9, 0.10, 0.001, 5.0e6),
    "LT": _stock(3_500, 1.1, 0.10, 0.008, 2.0e6),
    "ITC": _stock(440, 0.6, 0.09, 0.032, 1.5e7),
    "BHARTIARTL": _stock(1_700, 0.8, 0.10, 0.005, 6.0e6),
    "HINDUNILVR": _stock(2_400, 0.5, 0.10, 0.017, 2.0e6),
    "BAJFINANCE": _stock(850, 1.3, 0.14, 0.006, 8.0e6),
    "MARUTI": _stock(12_000, 0.8, 0.11, 0.011, 5.0e5),
    "TATAMOTORS": _stock(750, 1.3, 0.16, 0.008, 1.5e7),
    "SUNPHARMA": _stock(1_700, 0.6, 0.11, 0.008, 3.0e6),
    "M&M": _stock(3_000, 1.1, 0.12, 0.007, 3.0e6),
    "TATASTEEL": _stock(150, 1.3, 0.15, 0.024, 3.0e7),
    "HCLTECH": _stock(1_650, 0.8, 0.11, 0.032, 4.0e6),
    "WIPRO": _stock(280, 0.8, 0.12, 0.002, 1.0e7),
}

# An F&O stock without a calibrated row still simulates, as a generic mid-cap-like name.
GENERIC_STOCK = _stock(1_000, 1.0, 0.12, 0.010, 5.0e6)

# The date `UnderlyingProfile.level` refers to.
LEVEL_EPOCH = date(2025, 1, 1)


def profile(underlying: str) -> UnderlyingProfile:
    """The calibration for `underlying` (a generic stock profile when it has none of its own)."""
    return PROFILES.get(underlying, GENERIC_STOCK)


@dataclass(frozen=True)
class EventKind:
    """A scheduled news kind: how hard it moves NIFTY and how much implied vol it releases.

    move_sd: standard deviation of the move, in %. iv_crush: ATM vol the release takes out of
    the market (the uncertainty premium that priced the event), decimal.
    """

    move_sd: float
    iv_crush: float


EVENT_KINDS: dict[str, EventKind] = {
    "RBI_POLICY": EventKind(0.55, 0.010),
    "UNION_BUDGET": EventKind(1.40, 0.025),
    "CPI": EventKind(0.30, 0.003),
    "FED": EventKind(0.45, 0.006),
}


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a caller may tune. Two simulators with equal configs produce identical data.

    seed: the market's identity; every random draw derives from it (and nothing else).
    anchor: first calendar day simulated; history starts at each underlying's reference level.
    snapshot_interval_minutes: spacing of chain snapshots from 09:15 IST.
    expiries_per_chain: nearest listed expiries in an index chain.
    stock_expiries_per_chain: nearest (monthly) expiries in a stock chain.
    strikes_each_side: strikes above and below the at-the-money strike in an index chain.
    stock_strikes_each_side: the same for a stock chain.
    rate: continuously compounded risk-free rate for discounting and forwards.
    variance_risk_premium: implied vol exceeds the vol the price path realises by this fraction.
    overnight_variance_share: share of a day's diffusive variance realised between sessions.
    level_reversion: daily pull of log price toward the underlying's reference level.
    long_run_iv: NIFTY ATM vol at long maturities (term structure anchor).
    iv_reversion: daily mean reversion speed of log iv30 toward its regime level.
    leverage: correlation of price and implied-vol shocks (negative: the leverage effect).
    iv_floor: lowest level NIFTY iv30 may reach (India VIX has never traded below ~9).
    substeps_per_minute: path points per minute bar (they shape each bar's high and low).
    tick_size: quote and price grid.
    stock_surprise_rate: expected stock-specific surprises per stock per calendar day.
    """

    seed: int = 7
    anchor: date = date(2024, 1, 1)
    snapshot_interval_minutes: int = 5
    expiries_per_chain: int = 3
    stock_expiries_per_chain: int = 2
    strikes_each_side: int = 40
    stock_strikes_each_side: int = 15
    rate: float = 0.065
    variance_risk_premium: float = 0.15
    overnight_variance_share: float = 0.2
    level_reversion: float = 0.01
    long_run_iv: float = 0.15
    iv_reversion: float = 0.08
    leverage: float = -0.6
    iv_floor: float = 0.085
    substeps_per_minute: int = 5
    tick_size: float = 0.05
    stock_surprise_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError("seed must be a non-negative integer")
        if self.snapshot_interval_minutes < 1 or 375 % self.snapshot_interval_minutes:
            raise ValueError("snapshot_interval_minutes must divide the 375-minute session")
        if min(self.expiries_per_chain, self.stock_expiries_per_chain) < 1:
            raise ValueError("a chain needs at least one expiry")
        if min(self.strikes_each_side, self.stock_strikes_each_side) < 1:
            raise ValueError("a chain needs at least one strike each side")
        if self.substeps_per_minute < 1:
            raise ValueError("substeps_per_minute must be >= 1")
        if not 0.0 <= self.overnight_variance_share < 1.0:
            raise ValueError("overnight_variance_share must be in [0, 1)")
