"""News the simulated market reacts to: a calendar of scheduled releases plus Poisson surprises.

Every jump in the simulated prices is one of these events, so the news table is the complete
ground truth of "what moved the market": an event's `impact_pct` is applied to its scoped
underlying as an exact multiplicative jump (MARKET-wide events hit NIFTY at that size and every
other underlying by its beta), and its `iv_change` as an exact step in that underlying's
30-day ATM implied vol (see dynamics.py; the step may be trimmed so vol stays above its floor,
and the news table reports the step actually applied).

Scheduled calendar (rules that reproduce the real cadence, not the real dates):
- RBI_POLICY: six MPC decisions a year (Feb, Apr, Jun, Aug, Oct, Dec), the first Friday on or
  after the 4th, 10:00 IST (moved to the previous trading day when that is a holiday);
- UNION_BUDGET: 1 February, 12:00 IST (the speech is read from 11:00);
- CPI: monthly on the 12th (next weekday when it falls on a weekend), 17:30 IST, after the close;
- FED: eight FOMC decisions a year at 14:00 New York time, i.e. deep in the Indian night; both
  CPI and FED therefore reach Indian prices at the next session's open.
Surprises: per calendar day a Poisson number of MARKET-wide events (rate from the regime in
force) and, per stock, stock-specific ones, stamped uniformly between 07:00 and 23:00 IST.
"""

from __future__ import annotations

import calendar as pycal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.special import ndtri

from quantsentinel.market import calendar as mcal
from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.market.simulator.config import EVENT_KINDS, REGIME_PARAMS, Regime
from quantsentinel.market.simulator.randomness import stream

NEW_YORK = ZoneInfo("America/New_York")
MARKET = "MARKET"
MAX_SURPRISES_PER_DAY = 3  # per scope; the Poisson tail beyond this is negligible

# FOMC meetings as (month, n-th Wednesday; -1 = last), close to the Fed's usual pattern.
FOMC_SCHEDULE = ((1, -1), (3, 3), (5, 1), (6, 2), (7, -1), (9, 3), (11, 1), (12, 2))
RBI_MONTHS = (2, 4, 6, 8, 10, 12)

# How implied vol responds to a move: falls raise it far more than rallies (leverage effect).
IV_PER_DOWN_MOVE = 1.2
IV_PER_UP_MOVE = 0.2
SURPRISE_IV_BUMP = 0.004  # unannounced news adds uncertainty on top of the move itself
STOCK_SURPRISE_MEDIAN_PCT = 2.0
MARKET_SURPRISE_MEDIAN_PCT = 0.6


@dataclass(frozen=True)
class NewsEvent:
    """One event as generated; impact and iv_change are the shocks the paths will apply."""

    event_id: str
    ts: pd.Timestamp  # UTC
    kind: str
    scheduled: bool
    scope: str
    headline: str
    impact_pct: float
    iv_change: float


def _ist(day: date, hh: int, mm: int) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(hh, mm)), tz=MARKET_TZ).tz_convert("UTC")


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    days = [
        date(year, month, d)
        for d in range(1, pycal.monthrange(year, month)[1] + 1)
        if date(year, month, d).weekday() == weekday
    ]
    return days[n - 1] if n > 0 else days[n]


def _rbi_day(year: int, month: int) -> date:
    d = date(year, month, 4)
    d += timedelta(days=(4 - d.weekday()) % 7)  # first Friday on or after the 4th
    return d if mcal.is_trading_day(d) else mcal.previous_trading_day(d)


def _cpi_day(year: int, month: int) -> date:
    d = date(year, month, 12)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def scheduled_slots(year: int) -> list[tuple[str, pd.Timestamp]]:
    """(kind, UTC time) of every scheduled release in `year`, by the rules above."""
    slots: list[tuple[str, pd.Timestamp]] = [("UNION_BUDGET", _ist(date(year, 2, 1), 12, 0))]
    slots += [("RBI_POLICY", _ist(_rbi_day(year, m), 10, 0)) for m in RBI_MONTHS]
    slots += [("CPI", _ist(_cpi_day(year, m), 17, 30)) for m in range(1, 13)]
    for month, n in FOMC_SCHEDULE:
        d = _nth_weekday(year, month, 2, n)
        slots.append(("FED", pd.Timestamp(datetime.combine(d, time(14)), tz=NEW_YORK)))
    return [(k, t.tz_convert("UTC")) for k, t in slots]


def iv_response(impact_pct: float, base: float) -> float:
    """Change in ATM vol implied by a move: `base` plus the asymmetric leverage response."""
    r = impact_pct / 100.0
    return base + IV_PER_DOWN_MOVE * max(-r, 0.0) + IV_PER_UP_MOVE * max(r, 0.0)


_HEADLINES: dict[str, tuple[str, str]] = {
    # (good-news wording, bad-news wording); the sign of the move picks one.
    "RBI_POLICY": (
        "RBI MPC policy: dovish tilt, liquidity support signalled",
        "RBI MPC policy: hawkish stance, rates held higher for longer",
    ),
    "UNION_BUDGET": (
        "Union Budget {year}: capex push and fiscal glide path cheer markets",
        "Union Budget {year}: higher capital gains tax disappoints markets",
    ),
    "CPI": (
        "India CPI inflation cools, below consensus",
        "India CPI inflation accelerates, above consensus",
    ),
    "FED": (
        "FOMC decision: Fed signals easier policy ahead",
        "FOMC decision: Fed pushes back on rate cuts",
    ),
}
_MARKET_SURPRISES = (
    ("Strong FII inflows lift Indian equities", "Geopolitical tensions escalate, risk-off"),
    ("Crude oil slides, relief for India", "Crude oil spikes on supply shock"),
    ("Global rally spills over to Dalal Street", "Global sell-off hits emerging markets"),
)
_STOCK_SURPRISES = (
    ("{sym} wins large order", "{sym} faces regulatory probe"),
    ("{sym} upgraded by brokerages", "{sym} downgraded after guidance cut"),
    ("{sym} announces buyback", "{sym} promoter stake sale reported"),
)


def _headline(kind: str, scope: str, impact: float, variant: float, year: int) -> str:
    bad = int(impact < 0)
    if kind != "SURPRISE":
        return _HEADLINES[kind][bad].format(year=year)
    pool = _MARKET_SURPRISES if scope == MARKET else _STOCK_SURPRISES
    return pool[int(variant * len(pool)) % len(pool)][bad].format(sym=scope)


def _scheduled_event(seed: int, kind: str, ts: pd.Timestamp) -> NewsEvent:
    local = ts.tz_convert(MARKET_TZ)
    event_id = f"sim{seed}-{kind}-{local.strftime('%Y%m%d')}"
    rng = stream(seed, "event", event_id)
    spec = EVENT_KINDS[kind]
    # Student-t(5) scaled to unit variance: most releases are non-events, a few are not.
    impact = float(spec.move_sd * rng.standard_t(5) * np.sqrt(3.0 / 5.0))
    return NewsEvent(
        event_id=event_id,
        ts=ts,
        kind=kind,
        scheduled=True,
        scope=MARKET,
        headline=_headline(kind, MARKET, impact, 0.0, local.year),
        impact_pct=impact,
        iv_change=iv_response(impact, -spec.iv_crush),
    )


def _surprise_block(seed: int, scope: str, year: int) -> np.ndarray:
    # One draw per (calendar day of the year, field): random access by day without replaying.
    return stream(seed, "news", scope, year).random((366, 1 + 3 * MAX_SURPRISES_PER_DAY))


def _poisson_count(u: float, rate: float) -> int:
    p = np.exp(-rate)
    cdf, n = p, 0
    while u > cdf and n < MAX_SURPRISES_PER_DAY:
        n += 1
        p *= rate / n
        cdf += p
    return n


def _surprises(
    seed: int,
    day: date,
    scope: str,
    rate: float,
    median: float,
    down_share: float,
    draws: np.ndarray,
) -> list[NewsEvent]:
    """A Poisson number of surprises on `day` from that day's row of uniform `draws`."""
    count = _poisson_count(float(draws[0]), rate)
    out = []
    for slot in range(count):
        u_time, u_size, u_sign = draws[1 + 3 * slot : 4 + 3 * slot]
        seconds = int(u_time * 16 * 3600)
        ts = _ist(day, 7, 0) + pd.Timedelta(seconds=seconds)
        size = median * float(np.exp(0.5 * ndtri(u_size)))
        impact = -size if u_sign < down_share else size
        base = SURPRISE_IV_BUMP if scope == MARKET else 2.5 * SURPRISE_IV_BUMP
        out.append(
            NewsEvent(
                event_id=f"sim{seed}-SURPRISE-{scope}-{day.strftime('%Y%m%d')}-{slot}",
                ts=ts,
                kind="SURPRISE",
                scheduled=False,
                scope=scope,
                headline=_headline("SURPRISE", scope, impact, u_size, day.year),
                impact_pct=impact,
                iv_change=iv_response(impact, base),
            )
        )
    return out


def generate_events(
    seed: int,
    start: date,
    end: date,
    regime_on: Callable[[date], Regime],
    stocks: Sequence[str],
    stock_surprise_rate: float,
) -> list[NewsEvent]:
    """Every event stamped on a calendar day (IST) in [start, end], sorted by time then id.

    `regime_on(day)` is the regime in force that day; it sets the rate, size and sign balance of
    market-wide surprises. Draws are keyed by (seed, scope, year) and the day of the year, so an
    event does not depend on the range asked for.
    """
    events: list[NewsEvent] = []
    for year in range(start.year, end.year + 1):
        for kind, ts in scheduled_slots(year):
            if start <= ts.tz_convert(MARKET_TZ).date() <= end:
                events.append(_scheduled_event(seed, kind, ts))
        lo, hi = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
        if lo > hi:
            continue
        blocks = {s: _surprise_block(seed, s, year) for s in (MARKET, *stocks)}
        day = lo
        while day <= hi:
            doy = day.timetuple().tm_yday - 1
            params = REGIME_PARAMS[regime_on(day)]
            events += _surprises(
                seed,
                day,
                MARKET,
                params.surprise_rate,
                MARKET_SURPRISE_MEDIAN_PCT * params.surprise_scale,
                params.down_share,
                blocks[MARKET][doy],
            )
            for sym in stocks:
                events += _surprises(
                    seed,
                    day,
                    sym,
                    stock_surprise_rate,
                    STOCK_SURPRISE_MEDIAN_PCT,
                    0.5,
                    blocks[sym][doy],
                )
            day += timedelta(days=1)
    events.sort(key=lambda e: (e.ts, e.event_id))
    return events
