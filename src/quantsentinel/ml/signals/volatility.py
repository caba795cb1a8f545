"""Volatility signal: the forecast move against the move the options price (axis "volatility").

Inputs are the `vol_forecasts` asset (average daily variance over the next 1/5/22 trading days,
made after the close of `date`) and the `iv_surface` asset (measured OTM implied vols).

Horizon matching. An option expiring in h trading days prices a total variance iv_atm² · T
(T in ACT/365 years, as the surface computes it). The forecast's total variance over the same
window is v(h) · h, with v(h) the average daily variance interpolated linearly in h between the
published horizons (flat beyond them). Comparing totals over one window avoids mixing the
trading-day and calendar-day annualisations. So

    log_ratio = ½ · ln( v(h) · h / ((1 - overnight_share) · iv_atm² · T) )
    score     = tanh(log_ratio / LOG_RATIO_SCALE)

positive when the forecast move exceeds the priced one (options cheap: favour long premium).
`overnight_share` exists because the project's RV, and so its forecasts, measure the session
only (ml/vol/realized.py): the caller may state what share of close-to-close variance happens
overnight; the default 0 compares them as published.

Confidence = source factor x expiry factor x horizon factor:
- a champion forecast counts 1, the baseline (22-day mean RV, `fallback_reason` set) 0.5;
- within the last trading days an option's price is dominated by gamma and pinning, not by the
  variance over its life, so confidence ramps up linearly over the first 3 days to expiry;
- past the longest published horizon the forecast is extrapolated flat: confidence shrinks by
  longest / h.
The expiry used is the nearest with at least `min_days_to_expiry` trading days left and a
measured ATM vol (the weekly that expires this afternoon says little about volatility).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.market.surface import atm_iv
from quantsentinel.ml.signals.clock import close_of, trading_days_to_expiry
from quantsentinel.ml.signals.types import (
    Signal,
    SignalInputError,
    before,
    check_at,
    clip01,
    neutral,
    require_columns,
    squash,
)

NAME = "volatility"
FORECAST_COLUMNS = ("underlying", "date", "horizon", "variance", "source", "fallback_reason")
SURFACE_COLUMNS = (
    "snapshot_id", "underlying", "ts", "expiry", "T", "forward", "k", "iv", "iv_side", "delta",
)  # fmt: skip
LOG_RATIO_SCALE = 0.25  # a forecast 28% above the priced move scores tanh(1) = 0.76
BASELINE_CONFIDENCE = 0.5
EXPIRY_RAMP_DAYS = 3.0
MAX_FORECAST_AGE = pd.Timedelta(days=5)  # a long weekend plus a holiday
MAX_SNAPSHOT_AGE = pd.Timedelta(days=1)


def forecast_variance_at(table: pd.DataFrame, h: float) -> float:
    """Average daily variance over h trading days, linear in h between published horizons."""
    horizons = table["horizon"].to_numpy(float)
    variance = table["variance"].to_numpy(float)
    order = np.argsort(horizons)
    return float(np.interp(h, horizons[order], variance[order]))


def latest_forecast(forecasts: pd.DataFrame, underlying: str, at: pd.Timestamp) -> pd.DataFrame:
    """The newest forecast table (one row per horizon) whose close had passed before `at`."""
    require_columns(forecasts, FORECAST_COLUMNS, "vol_forecasts")
    own = forecasts[forecasts["underlying"].astype(str) == underlying]
    if own.empty:
        return own
    try:
        dates = pd.to_datetime(own["date"])
    except (TypeError, ValueError) as exc:
        raise SignalInputError(f"vol_forecasts.date is not a date column: {exc}") from exc
    if getattr(dates.dt, "tz", None) is not None:
        raise SignalInputError("vol_forecasts.date must be naive calendar dates, not tz-aware")
    days = dates.dt.date
    # A forecast of an earlier day was made after that day's close, so it is known; one of
    # today only once today's close has passed; a later one never.
    today = at.tz_convert(MARKET_TZ).date()
    known = ((days < today) | ((days == today) & (close_of(today) < at))).to_numpy(bool)
    if not known.any():
        return own.iloc[0:0]
    latest = days[known].max()
    table = own[known & (days == latest).to_numpy()]
    table = table[np.isfinite(table["variance"].to_numpy(float))]
    return table.assign(date=latest)


def volatility_signal(
    vol_forecasts: pd.DataFrame | None,
    iv_surface: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    underlying: str,
    min_days_to_expiry: float = 1.0,
    overnight_share: float = 0.0,
    max_forecast_age: pd.Timedelta = MAX_FORECAST_AGE,
    max_snapshot_age: pd.Timedelta = MAX_SNAPSHOT_AGE,
) -> Signal:
    """Forecast vs implied volatility for `underlying` at `at` (module docstring)."""
    at = check_at(at)
    if not 0.0 <= overnight_share < 1.0:
        raise SignalInputError(f"overnight_share must be in [0, 1), got {overnight_share!r}")
    if vol_forecasts is None:
        return neutral(NAME, "volatility", "no_vol_forecast")
    if iv_surface is None:
        return neutral(NAME, "volatility", "no_iv_surface")
    table = latest_forecast(vol_forecasts, underlying, at)
    require_columns(iv_surface, SURFACE_COLUMNS, "iv_surface")
    surface = before(iv_surface, at, "iv_surface")
    surface = surface[surface["underlying"].astype(str) == underlying]
    if table.empty:
        return neutral(NAME, "volatility", "no_vol_forecast")
    forecast_day = table["date"].iloc[0]
    if at - close_of(forecast_day) > max_forecast_age:
        return neutral(NAME, "volatility", "stale_vol_forecast", forecast_date=str(forecast_day))
    if surface.empty:
        return neutral(NAME, "volatility", "no_iv_surface")
    last_ts = surface["ts"].max()
    if at - last_ts > max_snapshot_age:
        return neutral(NAME, "volatility", "stale_iv_surface", snapshot_ts=last_ts.isoformat())
    snapshot = surface[surface["ts"] == last_ts]
    atm = atm_iv(snapshot).sort_values("expiry")
    for row in atm.itertuples(index=False):
        h = trading_days_to_expiry(at, pd.Timestamp(row.expiry).date())
        if h >= min_days_to_expiry and math.isfinite(row.atm_iv) and row.atm_iv > 0 and row.T > 0:
            break
    else:
        return neutral(
            NAME, "volatility", "no_atm_iv", snapshot_id=str(snapshot["snapshot_id"].iloc[0])
        )

    T = float(row.T)
    implied_total = (1.0 - overnight_share) * float(row.atm_iv) ** 2 * T
    daily_var = forecast_variance_at(table, max(h, 1.0))
    if not (daily_var > 0):
        return neutral(NAME, "volatility", "no_vol_forecast", detail="non-positive variance")
    log_ratio = 0.5 * math.log(daily_var * h / implied_total)
    source = str(table["source"].iloc[0])
    reason = table["fallback_reason"].iloc[0]
    baseline = source != "champion" or (isinstance(reason, str) and reason != "")
    longest = float(table["horizon"].max())
    confidence = (
        (BASELINE_CONFIDENCE if baseline else 1.0)
        * clip01(h / EXPIRY_RAMP_DAYS)
        * min(1.0, longest / h)
    )
    numbers = {
        "expiry": str(pd.Timestamp(row.expiry).date()),
        "trading_days_to_expiry": h,
        "T_years": T,
        "atm_iv": float(row.atm_iv),
        "forecast_vol_matched": math.sqrt(daily_var * h / ((1.0 - overnight_share) * T)),
        "forecast_daily_variance": daily_var,
        "log_ratio": log_ratio,
        "forecast_date": str(forecast_day),
        "forecast_source": source,
        "snapshot_id": str(row.snapshot_id),
    }
    fallback = f"vol_forecast_baseline:{reason or source}" if baseline else None
    return Signal(
        NAME, "volatility", squash(log_ratio, LOG_RATIO_SCALE), confidence, numbers, fallback
    )
