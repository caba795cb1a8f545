"""Market regimes and which structures each admits (wall 1).

A regime is read from the volatility forecast and the implied-vs-forecast gap (seed 001 §8 wall 1):
- CRISIS: forecast or implied vol at crash levels;
- HIGH_VOL: forecast vol high, or the forecast well above what options imply (vol is about to be
  repriced upward: selling premium at today's implied is selling too cheap);
- LOW_VOL_RANGE: both forecast and implied vol low;
- NORMAL otherwise.
Thresholds are annualised vols, defaults set for Indian index options (NIFTY's long-run implied
vol sits around 12-16%); they are parameters, not facts, and `RegimeThresholds` carries them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LOW_VOL_RANGE, NORMAL, HIGH_VOL, CRISIS = "LOW_VOL_RANGE", "NORMAL", "HIGH_VOL", "CRISIS"
REGIMES = (LOW_VOL_RANGE, NORMAL, HIGH_VOL, CRISIS)
CREDIT, DEBIT = "credit", "debit"


@dataclass(frozen=True)
class RegimeThresholds:
    crisis_vol: float = 0.35
    high_vol: float = 0.22
    forecast_premium: float = 0.25  # forecast above implied by this fraction: HIGH_VOL
    low_vol: float = 0.12


def classify_regime(
    forecast_vol: float, implied_vol: float, thresholds: RegimeThresholds | None = None
) -> str:
    """Regime from the annualised vol forecast and the ATM implied vol of the same horizon."""
    t = thresholds or RegimeThresholds()
    for name, value in (("forecast_vol", forecast_vol), ("implied_vol", implied_vol)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive annualised vol, got {value}")
    if max(forecast_vol, implied_vol) >= t.crisis_vol:
        return CRISIS
    if forecast_vol >= t.high_vol or forecast_vol >= implied_vol * (1 + t.forecast_premium):
        return HIGH_VOL
    if forecast_vol < t.low_vol and implied_vol < t.low_vol * 1.15:
        return LOW_VOL_RANGE
    return NORMAL


_ALL = frozenset(REGIMES)
_CALM = frozenset({LOW_VOL_RANGE, NORMAL})
_NOT_CALM = frozenset({NORMAL, HIGH_VOL, CRISIS})
_NOT_CRISIS = frozenset({LOW_VOL_RANGE, NORMAL, HIGH_VOL})

# (structure kind, premium side) -> regimes in which it may be opened. Short premium is a bet on
# calm: never into HIGH_VOL or CRISIS. Long straddles/strangles/condors/flies pay for movement:
# not in a quiet range. Futures carry unbounded gap risk: not in a crisis.
ALLOWED_REGIMES: dict[tuple[str, str], frozenset[str]] = {
    ("single_leg", CREDIT): _CALM,
    ("single_leg", DEBIT): _ALL,
    ("vertical_credit", CREDIT): _CALM,
    ("vertical_debit", DEBIT): _ALL,
    ("straddle", CREDIT): _CALM,
    ("straddle", DEBIT): _NOT_CALM,
    ("strangle", CREDIT): _CALM,
    ("strangle", DEBIT): _NOT_CALM,
    ("iron_condor", CREDIT): _CALM,
    ("iron_condor", DEBIT): _NOT_CALM,
    ("iron_fly", CREDIT): _CALM,
    ("iron_fly", DEBIT): _NOT_CALM,
    ("butterfly", DEBIT): _CALM,
    ("butterfly", CREDIT): _NOT_CALM,
    ("calendar", DEBIT): _NOT_CRISIS,
    ("calendar", CREDIT): _NOT_CALM,  # short calendar: paid when the index moves away
    ("futures", CREDIT): _NOT_CRISIS,
    ("futures", DEBIT): _NOT_CRISIS,
}
