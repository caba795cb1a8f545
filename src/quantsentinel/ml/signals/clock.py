"""Market-time arithmetic the signals share: when a daily figure becomes known, and how many
trading days remain to an expiry. Kept apart so every signal counts time the same way."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.schema import MARKET_TZ


def close_of(day: date) -> pd.Timestamp:
    """When a figure computed "after the close" of `day` exists (UTC): the session close on a
    trading day, the end of the calendar day otherwise (nothing traded to compute from)."""
    if calendar.is_trading_day(day):
        return calendar.session(day).close.tz_convert("UTC")
    end = pd.Timestamp(day + timedelta(days=1)).tz_localize(MARKET_TZ)
    return end.tz_convert("UTC")


def session_fraction_left(at: pd.Timestamp) -> float:
    """Share of `at`'s own session still to trade (0 outside a session or after its close)."""
    day = at.tz_convert(MARKET_TZ).date()
    if not calendar.is_trading_day(day):
        return 0.0
    sess = calendar.session(day)
    if at < sess.open:
        return 1.0
    if at >= sess.close:
        return 0.0
    return float((sess.close - at) / (sess.close - sess.open))


def trading_days_to_expiry(at: pd.Timestamp, expiry: date) -> float:
    """Trading sessions from `at` to the expiry's close: what is left of today's session plus
    every later session up to and including the expiry day. This is the horizon, in the vol
    forecast's unit (trading days), over which the option's implied variance is spent."""
    today = at.tz_convert(MARKET_TZ).date()
    if expiry < today:
        return 0.0
    later = calendar.trading_days(today + timedelta(days=1), expiry) if expiry > today else []
    return session_fraction_left(at) + len(later)
