"""Price paths the trend-reading signals share: complete 1-minute bars, daily closes, and the
trend statistic every horizon is scored with."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.ml.signals.types import SignalInputError, before, require_columns, utc_times

BAR = pd.Timedelta(minutes=1)
BAR_NEEDED = ("underlying", "ts", "close")
CLOSE_COLUMNS = ("underlying", "ts", "close")


def complete_bars(bars: pd.DataFrame, at: pd.Timestamp, underlying: str) -> pd.DataFrame:
    """`underlying`'s 1-minute bars that had closed before `at`. A bar's `ts` is its start and its
    close is known one minute later, so a bar starting at 10:00 is usable from 10:01 on: keeping
    rows with ts < at would leak the price of the minute in progress."""
    require_columns(bars, BAR_NEEDED, "bars")
    times = utc_times(bars, "ts", "bars")
    keep = ((times + BAR) <= at).to_numpy() & (
        bars["underlying"].astype(str) == underlying
    ).to_numpy()
    out = bars.loc[keep]
    return out if times[keep].is_monotonic_increasing else out.sort_values("ts", kind="stable")


def daily_closes_from_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """One row per (underlying, IST trading date): the last bar's close, stamped with the instant
    it was known (that bar's start plus one minute). Columns: underlying, date, ts, close."""
    require_columns(bars, BAR_NEEDED, "bars")
    times = utc_times(bars, "ts", "bars")
    frame = pd.DataFrame(
        {
            "underlying": bars["underlying"].astype(str).to_numpy(),
            "date": times.dt.tz_convert(MARKET_TZ).dt.date.to_numpy(),
            "ts": (times + BAR).to_numpy(),
            "close": bars["close"].to_numpy(float),
        }
    )
    frame = frame[np.isfinite(frame["close"]) & (frame["close"] > 0)]
    last = frame.sort_values("ts", kind="stable").groupby(["underlying", "date"], sort=True).tail(1)
    return last.sort_values(["underlying", "ts"]).reset_index(drop=True)


def closes_before_day(
    closes: pd.DataFrame, at: pd.Timestamp, what: str = "daily_closes"
) -> pd.DataFrame:
    """Closes known before `at` of sessions that ended before `at`'s own IST day. A close row of
    today (a caller building closes from bars up to `at`) is a partial session, not a day."""
    require_columns(closes, CLOSE_COLUMNS, what)
    known = before(closes, at, what)
    today = at.tz_convert(MARKET_TZ).date()
    days = known["ts"].dt.tz_convert(MARKET_TZ).dt.date
    return known[(days < today).to_numpy()]


def close_series(closes: pd.DataFrame, underlying: str) -> np.ndarray:
    values = closes.loc[closes["underlying"].astype(str) == underlying, "close"].to_numpy(float)
    if np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise SignalInputError(f"daily closes of {underlying} must be finite and positive")
    return values


def trend_z(prices: np.ndarray, step_sd: float | None = None) -> float:
    """Drift of a price path in units of its own noise: the summed log return over the path
    divided by (per-step sd x sqrt(steps)). A random walk gives N(0, 1); a steady trend gives a
    large |z|. `step_sd` may come from a longer window than the path (5 daily returns estimate
    their own sd badly). A noiseless path that moved is an infinite z of its sign."""
    p = np.asarray(prices, float)
    r = np.diff(np.log(p))
    if r.size == 0:
        return float("nan")
    total = float(r.sum())
    sd = float(np.std(r, ddof=1)) if step_sd is None and r.size > 1 else (step_sd or 0.0)
    if not (sd > 0):
        return 0.0 if total == 0.0 else math.copysign(math.inf, total)
    return total / (sd * math.sqrt(r.size))
