"""Positioning signals from the chain's open interest and dealer gamma (`chain_analytics` rows).

Two answers, because the chain says two different things:

`oi_flow` (axis direction), a blend of two readings, each a documented convention:
- OI change since the previous close, put minus call, as a share of total OI. The usual NSE
  reading: fresh put OI is mostly written (writers sell support they expect to hold), fresh call
  OI is written resistance, so put build-up over call build-up leans bullish. Exchange data does
  not say who initiated; this is the market's convention, not an identity.
      s_oi = tanh(((put_oi_change - call_oi_change) / total_oi) / OI_SHIFT_SCALE)
- pull toward max pain near expiry: the settlement level that pays option holders least acts
  as a magnet in the last sessions as writers defend it (pinning). It matters only near expiry,
  so its weight ramps from 0 at MAX_PAIN_DAYS trading days to expiry to 1 at expiry.
      s_mp = tanh(((max_pain - spot) / spot) / MAX_PAIN_SCALE)
  score = (W_OI s_oi + W_MP p s_mp) / (W_OI + W_MP p), p the proximity ramp.

`gex` (axis volatility): with dealers net long gamma (GEX > 0, the analytics' sign convention)
their hedging sells rallies and buys dips, damping realized moves below what options price:
favour short premium (negative score); short gamma amplifies moves: favour long premium. Near
the gamma flip level a small move switches the regime, so the score's size grows with the
distance from spot to the flip (tanh(distance / FLIP_SCALE)); no flip within the analytics'
+-5% search means the regime is firm (distance taken as 5%).

Confidence: both are conventions about other traders' positions, so they start at
BASE_CONFIDENCE; times the share of OI that had a usable IV (`gex_coverage`) for GEX.
"""

from __future__ import annotations

import math

import pandas as pd

from quantsentinel.ml.signals.clock import trading_days_to_expiry
from quantsentinel.ml.signals.types import (
    Signal,
    before,
    check_at,
    clip01,
    finite,
    neutral,
    require_columns,
    squash,
)

COLUMNS = (
    "snapshot_id", "underlying", "ts", "spot", "nearest_expiry", "total_call_oi", "total_put_oi",
    "call_oi_change", "put_oi_change", "max_pain", "gex", "gex_flip_level", "gex_coverage",
)  # fmt: skip
OI_SHIFT_SCALE = 0.02  # a net 2% of open interest changing sides is a large day
MAX_PAIN_SCALE = 0.005  # max pain 0.5% away is a strong pull
MAX_PAIN_DAYS = 3.0
W_OI, W_MP = 0.6, 0.4
FLIP_SCALE = 0.01
NO_FLIP_DISTANCE = 0.05  # the analytics search for a flip within +-5% of spot
BASE_CONFIDENCE = 0.5
MAX_SNAPSHOT_AGE = pd.Timedelta(days=1)


def flow_signals(
    chain_analytics: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
    max_snapshot_age: pd.Timedelta = MAX_SNAPSHOT_AGE,
) -> tuple[Signal, Signal]:
    """(oi_flow direction signal, gex volatility signal) from the latest analytics row."""
    at = check_at(at)
    if chain_analytics is None:
        return (
            neutral("oi_flow", "direction", "no_chain_analytics"),
            neutral("gex", "volatility", "no_chain_analytics"),
        )
    require_columns(chain_analytics, COLUMNS, "chain_analytics")
    rows = before(chain_analytics, at, "chain_analytics")
    rows = rows[rows["underlying"].astype(str) == underlying]
    if rows.empty:
        reason = "no_chain_analytics"
    elif at - rows["ts"].iloc[-1] > max_snapshot_age:
        reason = "stale_chain_analytics"
    else:
        reason = None
    if reason:
        return neutral("oi_flow", "direction", reason), neutral("gex", "volatility", reason)
    last = rows.iloc[-1]
    return _oi_flow(last, at), _gex(last)


def _oi_flow(last: pd.Series, at: pd.Timestamp) -> Signal:
    spot = finite(last["spot"])
    total_oi = finite(last["total_call_oi"]) + finite(last["total_put_oi"])
    shift = finite(last["put_oi_change"]) - finite(last["call_oi_change"])
    if not (total_oi > 0 and spot > 0 and math.isfinite(shift)):
        return neutral("oi_flow", "direction", "no_open_interest")
    s_oi = squash(shift / total_oi, OI_SHIFT_SCALE)
    expiry = last["nearest_expiry"]
    days = (
        float("nan") if pd.isna(expiry) else trading_days_to_expiry(at, pd.Timestamp(expiry).date())
    )
    proximity = clip01(1.0 - days / MAX_PAIN_DAYS) if math.isfinite(days) else 0.0
    pain = finite(last["max_pain"])
    s_mp = squash((pain - spot) / spot, MAX_PAIN_SCALE) if math.isfinite(pain) else 0.0
    if not math.isfinite(pain):
        proximity = 0.0
    score = (W_OI * s_oi + W_MP * proximity * s_mp) / (W_OI + W_MP * proximity)
    numbers = {
        "snapshot_id": str(last["snapshot_id"]),
        "oi_shift_share": shift / total_oi,
        "oi_score": s_oi,
        "max_pain": pain,
        "max_pain_gap": (pain - spot) / spot if math.isfinite(pain) else float("nan"),
        "max_pain_score": s_mp,
        "trading_days_to_expiry": days,
        "max_pain_weight": proximity,
    }
    return Signal("oi_flow", "direction", float(score), BASE_CONFIDENCE, numbers)


def _gex(last: pd.Series) -> Signal:
    spot, gex = finite(last["spot"]), finite(last["gex"])
    coverage = clip01(finite(last["gex_coverage"]))
    if not (math.isfinite(gex) and spot > 0) or gex == 0.0 or coverage == 0.0:
        return neutral("gex", "volatility", "no_gamma_exposure")
    flip = finite(last["gex_flip_level"])
    distance = abs(spot - flip) / spot if math.isfinite(flip) else NO_FLIP_DISTANCE
    strength = squash(distance, FLIP_SCALE)
    score = -math.copysign(strength, gex)
    numbers = {
        "snapshot_id": str(last["snapshot_id"]),
        "gex": gex,
        "gex_flip_level": flip,
        "flip_distance": distance,
        "gex_coverage": coverage,
    }
    return Signal("gex", "volatility", score, BASE_CONFIDENCE * coverage, numbers)
