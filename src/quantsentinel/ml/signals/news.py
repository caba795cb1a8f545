"""News signal: a graduated size response to the events known before `at` (seed 001 §5
pipeline 12), the rule baseline until an event-impact model is promoted.

Which events are known. A surprise exists once published (its `ts`). A scheduled release is on
the public calendar long before it happens, so it is known from `ts - SCHEDULE_KNOWN_AHEAD`: a
decision the evening before an RBI meeting must see it. Ground-truth columns (`true_impact_pct`,
`true_iv_change`, the simulator's answer key) are never read.

How much an event matters here, as an expected absolute move in % of the underlying:
    effective = MAGNITUDE_PCT[kind] x relation x time_weight
- MAGNITUDE_PCT: typical |move| of the scoped underlying by event type (stock surprises move
  their stock more than market surprises move the index);
- relation (scope-aware): a MARKET event concerns every underlying (1.0); a stock's event
  concerns the stock itself (1.0) and its sector peers, an index tracking that sector included
  (PEER_FACTOR); it does not concern unrelated names or the broad index (as the castle's news
  wall reads scope, `market.sectors.peers`);
- time_weight (recency): 1 from LEAD before the event can first trade (in session: at once;
  outside: the next open, when the gap prints) until it does; afterwards it decays with the
  kind's half-life as the market absorbs it, and is 0 below MIN_WEIGHT.
The strictest event decides, through the seed's buckets:
    effective < 0.5 -> proceed (x1.0) | < 1.0 -> reduce 25% (x0.75) | < 1.5 -> reduce 50% (x0.5)
    | else -> blackout (x0.0)

A missing news feed is missing data, not a reason to stop: the response is "proceed" with
fallback "no_news_feed" (the castle's news wall still blocks by its own rules).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from quantsentinel.market import calendar as mcal
from quantsentinel.market.sectors import MARKET_WIDE, peers
from quantsentinel.ml.signals.types import (
    Signal,
    check_at,
    require_columns,
    utc_times,
)

NAME = "news"
COLUMNS = ("event_id", "ts", "kind", "scheduled", "scope")
SCHEDULE_KNOWN_AHEAD = pd.Timedelta(days=30)
LEAD = pd.Timedelta(hours=24)
MIN_WEIGHT = 0.1
PEER_FACTOR = 0.6
MAGNITUDE_PCT = {
    "UNION_BUDGET": 1.6, "RBI_POLICY": 1.1, "FED": 0.7, "CPI": 0.45,
    "SURPRISE_MARKET": 0.8, "SURPRISE_STOCK": 2.0,
}  # fmt: skip
HALF_LIFE = {
    "UNION_BUDGET": pd.Timedelta(minutes=120), "RBI_POLICY": pd.Timedelta(minutes=60),
    "FED": pd.Timedelta(minutes=30), "CPI": pd.Timedelta(minutes=30),
    "SURPRISE_MARKET": pd.Timedelta(minutes=60), "SURPRISE_STOCK": pd.Timedelta(minutes=60),
}  # fmt: skip
# (upper bound of the effective move, action, size multiplier), seed pipeline 12.
BUCKETS = (
    (0.5, "proceed", 1.0),
    (1.0, "reduce_25", 0.75),
    (1.5, "reduce_50", 0.5),
    (math.inf, "blackout", 0.0),
)


@dataclass(frozen=True)
class EventImpact:
    event_id: str
    kind: str
    scope: str
    relation: str  # "market" | "own" | "peer"
    magnitude_pct: float
    time_weight: float
    effective_pct: float
    action: str
    reaches_market: pd.Timestamp


@dataclass(frozen=True)
class NewsResponse:
    """The size response: action, multiplier on the position size, the events weighed (the
    binding one first) and a sentence saying why."""

    action: str
    multiplier: float
    events: tuple[EventImpact, ...]
    reason: str


def bucket(effective_pct: float) -> tuple[str, float]:
    """(action, multiplier) for an effective expected move in %."""
    for bound, action, multiplier in BUCKETS:
        if effective_pct < bound:
            return action, multiplier
    return BUCKETS[-1][1], BUCKETS[-1][2]


def reaches_market(ts: pd.Timestamp) -> pd.Timestamp:
    """When prices can first react: at once in session, else the next session's open."""
    if mcal.in_session(ts):
        return ts
    day = ts.tz_convert(mcal.MARKET_TZ).date()
    if mcal.is_trading_day(day) and ts < mcal.session(day).open:
        return mcal.session(day).open.tz_convert("UTC")
    return mcal.session(mcal.next_trading_day(day)).open.tz_convert("UTC")


def _relation(scope: str, underlying: str) -> str | None:
    if scope == MARKET_WIDE:
        return "market"
    if scope == underlying:
        return "own"
    try:
        return "peer" if underlying in peers(scope) and underlying != "NIFTY" else None
    except ValueError:  # a symbol outside the sector table concerns only itself
        return None


def time_weight(at: pd.Timestamp, reach: pd.Timestamp, half_life: pd.Timedelta) -> float:
    if at < reach:
        return 1.0 if reach - at <= LEAD else 0.0
    weight = 0.5 ** ((at - reach) / half_life)
    return float(weight) if weight >= MIN_WEIGHT else 0.0


def known_events(news: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Rows known before `at`: published surprises, and scheduled releases on the calendar."""
    require_columns(news, COLUMNS, "news")
    ts = utc_times(news, "ts", "news")
    scheduled = news["scheduled"].astype(bool)
    known_at = ts.where(~scheduled, ts - SCHEDULE_KNOWN_AHEAD)
    return news.loc[(known_at < at).to_numpy()]


def news_response(news: pd.DataFrame | None, at: pd.Timestamp, *, underlying: str) -> NewsResponse:
    """The graduated response for `underlying` at `at` (module docstring)."""
    at = check_at(at)
    if news is None:
        return NewsResponse("proceed", 1.0, (), "no news feed: nothing known to react to")
    impacts = []
    for row in known_events(news, at).itertuples(index=False):
        scope, kind = str(row.scope), str(row.kind)
        relation = _relation(scope, underlying)
        if relation is None:
            continue
        key = (
            kind
            if kind in MAGNITUDE_PCT
            else ("SURPRISE_MARKET" if scope == MARKET_WIDE else "SURPRISE_STOCK")
        )
        reach = reaches_market(pd.Timestamp(row.ts).tz_convert("UTC"))
        weight = time_weight(at, reach, HALF_LIFE[key])
        if weight == 0.0:
            continue
        magnitude = MAGNITUDE_PCT[key]
        effective = magnitude * (PEER_FACTOR if relation == "peer" else 1.0) * weight
        action, _ = bucket(effective)
        impacts.append(
            EventImpact(
                str(row.event_id),
                kind,
                scope,
                relation,
                magnitude,
                weight,
                effective,
                action,
                reach,
            )
        )
    impacts.sort(key=lambda e: -e.effective_pct)
    if not impacts:
        return NewsResponse("proceed", 1.0, (), "no event in reach")
    top = impacts[0]
    action, multiplier = bucket(top.effective_pct)
    when = "before" if at < top.reaches_market else "after"
    reason = (
        f"{top.kind} ({top.scope}, {top.relation}) {when} it reaches the market: expected move "
        f"{top.effective_pct:.2f}% -> {action} (x{multiplier:g})"
    )
    return NewsResponse(action, multiplier, tuple(impacts), reason)


def news_signal(news: pd.DataFrame | None, at: pd.Timestamp, *, underlying: str) -> Signal:
    """The response as a direction-neutral Signal (score 0) for sizing; `detail` is the
    NewsResponse, `numbers` carry action and multiplier."""
    response = news_response(news, at, underlying=underlying)
    numbers = {
        "action": response.action,
        "multiplier": response.multiplier,
        "reason": response.reason,
        "events": [e.event_id for e in response.events],
    }
    if news is None:
        return Signal(NAME, "direction", 0.0, 0.0, numbers, "no_news_feed", detail=response)
    return Signal(NAME, "direction", 0.0, 1.0, numbers, None, detail=response)
