"""The seven walls. Each is a small class with a `name` and `check(assessment) -> Block | None`.

Order (see `default_walls`): cheapest and most likely to block first — regime and news read one
label and a short event list; policy and margin need the structure analysis; correlation needs
the book and a 60-day covariance; cost needs the round-trip cost lines and the expected outcome;
the tail-hedge wall reads the hedge search every later wall already evaluated against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from quantsentinel.market import calendar as mcal
from quantsentinel.market.sectors import MARKET_WIDE, peers, sector
from quantsentinel.risk.castle.assessment import Assessment
from quantsentinel.risk.castle.regime import ALLOWED_REGIMES, CREDIT, CRISIS, DEBIT, HIGH_VOL
from quantsentinel.risk.castle.types import Block
from quantsentinel.risk.scoring import OpportunityScorer, ScoreThresholds


class Wall(Protocol):
    name: str

    def check(self, a: Assessment) -> Block | None: ...


def premium_side(legs) -> str:
    """credit when opening the legs at mid receives premium, else debit."""
    received = sum(-leg.sign * leg.price * leg.quantity for leg in legs)
    return CREDIT if received > 0 else DEBIT


@dataclass
class RegimeWall:
    allowed: dict[tuple[str, str], frozenset[str]] = field(
        default_factory=lambda: dict(ALLOWED_REGIMES)
    )
    name: str = "regime"

    def check(self, a: Assessment) -> Block | None:
        regime = a.market.regime
        side = premium_side(a.base.legs)
        allowed = self.allowed.get((a.base.kind, side))
        if allowed is None:
            return Block(self.name, f"no regime rule for {side} {a.base.kind}", {"regime": regime})
        if regime not in allowed:
            return Block(
                self.name,
                f"{side} {a.base.kind} is not opened in {regime}",
                {"regime": regime, "allowed": sorted(allowed)},
            )
        return None


@dataclass(frozen=True)
class NewsRule:
    impact: float  # 0..1: how far the event can move prices
    before: timedelta  # blocked from this long before a scheduled release
    after: timedelta  # until this long after it reaches a session (next open if released outside)


NEWS_RULES: dict[str, NewsRule] = {
    "UNION_BUDGET": NewsRule(1.0, timedelta(minutes=60), timedelta(minutes=120)),
    "RBI_POLICY": NewsRule(0.9, timedelta(minutes=30), timedelta(minutes=30)),
    "FED": NewsRule(0.6, timedelta(0), timedelta(minutes=15)),
    "CPI": NewsRule(0.5, timedelta(0), timedelta(minutes=15)),
    "SURPRISE": NewsRule(0.7, timedelta(0), timedelta(minutes=30)),
}
# Impact an event needs to block, by regime: a nervous market reacts to smaller news.
NEWS_THRESHOLD = {"LOW_VOL_RANGE": 0.55, "NORMAL": 0.55, HIGH_VOL: 0.45, CRISIS: 0.3}


@dataclass
class NewsWall:
    rules: dict[str, NewsRule] = field(default_factory=lambda: dict(NEWS_RULES))
    thresholds: dict[str, float] = field(default_factory=lambda: dict(NEWS_THRESHOLD))
    name: str = "news"

    def check(self, a: Assessment) -> Block | None:
        now = pd.Timestamp(a.candidate.decided_at)
        underlying = a.base.underlying
        threshold = self.thresholds.get(a.market.regime, 0.55)
        for event in a.market.news:
            # A surprise is known only once published; a scheduled release is on the calendar.
            if not event.scheduled and event.ts >= now:
                continue
            rule = self.rules.get(event.kind, self.rules["SURPRISE"])
            if rule.impact < threshold or not _in_scope(event.scope, underlying):
                continue
            start, end = event.ts - rule.before, _reaches_market(event.ts) + rule.after
            if start <= now <= end:
                return Block(
                    self.name,
                    f"{event.kind} ({event.scope}) blocks new {underlying} positions "
                    f"until {end.tz_convert(mcal.MARKET_TZ):%d %b %H:%M} IST",
                    {
                        "event_id": event.event_id,
                        "impact": rule.impact,
                        "threshold": threshold,
                        "window_start": start.isoformat(),
                        "window_end": end.isoformat(),
                    },
                )
        return None


def _in_scope(scope: str, underlying: str) -> bool:
    if scope == MARKET_WIDE:
        return True
    # A stock's news blocks the stock and its sector peers (an index tracking that sector
    # included), not the broad index: one name rarely moves NIFTY past its own noise.
    try:
        return underlying in peers(scope)
    except ValueError:
        return scope == underlying


def _sector(underlying: str) -> str:
    """The sector, or the underlying itself when it is outside the sector table (a book may hold
    a name the table does not know; it is then its own concentration group)."""
    try:
        return sector(underlying)
    except ValueError:
        return underlying


def _reaches_market(ts: pd.Timestamp) -> pd.Timestamp:
    """When the market can first trade on an event: at once in session, else the next open."""
    if mcal.in_session(ts):
        return ts
    day = ts.tz_convert(mcal.MARKET_TZ).date()
    if mcal.is_trading_day(day) and ts < mcal.session(day).open:
        return mcal.session(day).open
    return mcal.session(mcal.next_trading_day(day)).open


@dataclass
class PolicyWall:
    """The tenant's static limits. Unbounded losses are the tail-hedge wall's business: here a
    bounded worst case is compared to the limit."""

    name: str = "policy"

    def check(self, a: Assessment) -> Block | None:
        p, capital = a.policy, a.capital
        open_now = len(a.tenant.book.positions)
        if open_now + 1 > p.max_open_positions:
            return Block(
                self.name,
                f"{open_now} open positions; the policy allows {p.max_open_positions}",
                {"open_positions": open_now, "max_open_positions": p.max_open_positions},
            )
        biggest = max(leg.lots for leg in a.structure.all_legs)
        if biggest > p.max_leg_lots:
            return Block(
                self.name,
                f"a leg of {biggest} lots exceeds max_leg_lots={p.max_leg_lots}",
                {"leg_lots": biggest, "max_leg_lots": p.max_leg_lots},
            )
        max_loss = float(a.analysis.max_loss)
        limit = p.max_position_loss_pct * capital
        if math.isfinite(max_loss) and max_loss > limit:
            return Block(
                self.name,
                f"max loss {max_loss:,.0f} exceeds {p.max_position_loss_pct:.1%} of capital "
                f"({limit:,.0f})",
                {"max_loss": max_loss, "limit": limit, "capital": capital},
            )
        group = _sector(a.base.underlying)
        in_group = sum(
            pos.margin for pos in a.tenant.book.positions if _sector(pos.underlying) == group
        )
        after = in_group + a.margin_required
        cap = p.max_underlying_share * capital
        if after > cap:
            return Block(
                self.name,
                f"margin in {group} would reach {after:,.0f}, above "
                f"{p.max_underlying_share:.0%} of capital ({cap:,.0f})",
                {"sector": group, "sector_margin_after": after, "limit": cap},
            )
        return None


@dataclass
class MarginWall:
    """Required margin with the tenant's buffer (default 30%) must fit in the free capital."""

    name: str = "margin"

    def check(self, a: Assessment) -> Block | None:
        required = a.margin_required
        buffered = required * (1.0 + a.policy.margin_buffer)
        free = a.capital - a.tenant.book.margin_used
        if buffered > free:
            return Block(
                self.name,
                f"margin {required:,.0f} x (1 + {a.policy.margin_buffer:.0%} buffer) = "
                f"{buffered:,.0f} exceeds free capital {free:,.0f}",
                {"margin": required, "with_buffer": buffered, "free_capital": free},
            )
        return None


@dataclass
class CorrelationWall:
    """Correlation of the new position's P&L with the book's, from delta exposures and the
    60-day covariance of daily returns (a linear, delta-only view: it sees direction stacking,
    not vega or gamma concentration).

    A position whose daily one-sigma delta P&L is below `material_fraction` of capital passes:
    a near delta-neutral structure (an iron condor) has a correlation sign but no size, and
    blocking it would refuse exactly the trades that do not stack direction."""

    material_fraction: float = 0.0002  # daily 1-sigma delta P&L, of capital (₹400 on ₹20L)
    name: str = "correlation"

    def check(self, a: Assessment) -> Block | None:
        book = a.tenant.book.exposure_by_underlying()
        if not book:
            return None
        underlying = a.base.underlying
        new = float(a.analysis.greeks.delta) * a.market.chain.spot
        names = sorted(set(book) | {underlying})
        position, matrix = a.market.covariance_lookup
        missing = [n for n in names if n not in position]
        if missing:
            return Block(
                self.name,
                f"no 60-day return history for {', '.join(missing)}: correlation unknown",
                {"missing": missing},
            )
        rows = [position[n] for n in names]
        sigma = matrix[np.ix_(rows, rows)]
        w_new = np.array([new if n == underlying else 0.0 for n in names])
        w_book = np.array([book.get(n, 0.0) for n in names])
        var_new, var_book = w_new @ sigma @ w_new, w_book @ sigma @ w_book
        if var_new <= 0 or var_book <= 0:
            return None  # a delta-flat position or book: no linear co-movement to stack
        if math.sqrt(var_new) < self.material_fraction * a.capital:
            return None
        corr = float(w_new @ sigma @ w_book / math.sqrt(var_new * var_book))
        if not math.isfinite(corr) or corr > a.policy.max_correlation:
            return Block(
                self.name,
                f"correlation with the book {corr:.2f} > {a.policy.max_correlation:.2f}",
                {"correlation": corr, "limit": a.policy.max_correlation, "delta_notional": new},
            )
        return None


@dataclass
class CostWall:
    """Net EV after every cost line and slippage (the OpportunityScorer, per-tenant thresholds)."""

    name: str = "cost"

    def check(self, a: Assessment) -> Block | None:
        edge, win = a.outcome
        unit = a.unit_lots
        score = OpportunityScorer(ScoreThresholds.from_policy(a.policy)).score(
            edge_per_lot=edge,
            cost_per_lot=float(a.costs.fees) / unit,
            slippage_per_lot=float(a.costs.slippage) / unit,
            win_probability=win,
        )
        if not score.passed:
            return Block(self.name, score.reason, {"check": score.failed_check, **score.numbers})
        return None


@dataclass
class TailHedgeWall:
    """Naked short premium (and the listed kinds) must carry the cheapest hedge that holds the
    stress loss within the tenant's tail limit; the composite is what every wall evaluated."""

    name: str = "tail_hedge"

    def check(self, a: Assessment) -> Block | None:
        if not a.hedge_required:
            return None
        choice, error = a.hedge
        if choice is None:
            numbers = dict(getattr(error, "details", {}) or {})
            return Block(self.name, f"no tail hedge meets the protection level: {error}", numbers)
        return None


def default_walls() -> list[Wall]:
    """The seven walls in evaluation order. An eighth wall is one class and one line here."""
    return [
        RegimeWall(),
        NewsWall(),
        PolicyWall(),
        MarginWall(),
        CorrelationWall(),
        CostWall(),
        TailHedgeWall(),
    ]
