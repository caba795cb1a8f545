"""Pricing paper fills and marks on one chain snapshot (pure: no database).

Money conventions, used by every table and report of the paper executor:
- a leg's *value* is sign x quantity x price per unit (long +, short -): what the leg is worth;
- a *premium* is signed cash at the valuation price, + = received: opening a leg pays its value
  (premium = -value at the entry mids), closing it receives its value (premium = +value at the exit
  mids, or at the settlement value per unit at expiry);
- *costs* are positive rupees: the cost engine's charges (brokerage, STT, exchange, SEBI, stamp,
  GST) plus its slippage. Slippage is the distance from the mid to the fill, so a leg's fill price
  is its mid moved against the trader by the slippage per unit (a small buy fills at the ask, a
  small sell at the bid; an order past the touch depth fills worse, as the SlippageModel says).
  Premium at the mid minus slippage is the cash the fill price moves: nothing is counted twice.

Quotes: a leg fills at the chain's quote when the chain lists the contract with a two-sided
market, else at the quote stored with the decision (`quote_source` says which, per leg).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any

from quantsentinel.decide.legs import leg_record
from quantsentinel.market import contracts
from quantsentinel.risk.costs import SLIPPAGE, CostEngine, OrderCosts
from quantsentinel.risk.errors import OrderError
from quantsentinel.risk.orders import CALL, FUTURE, Leg, Quote
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.tenancy.policy import BrokeragePlan

CHAIN, DECISION, ENTRY_QUOTE, SETTLEMENT = "chain", "decision", "entry_quote", "settlement"


@dataclass(frozen=True)
class PricedFill:
    """One side of a position priced: per-leg records (JSON-ready) and the totals.

    `premium` is signed (+ = received) at mids or settlement values; `charges` and `slippage`
    are positive rupees; `fallback` lists legs priced without a chain quote (see `price_expiry`).
    """

    legs: tuple[dict[str, Any], ...]
    premium: float
    charges: float
    slippage: float
    fallback: tuple[int, ...] = ()

    @property
    def costs(self) -> float:
        return self.charges + self.slippage


def chain_quote(chain: ChainView, leg: Leg) -> Quote | None:
    """The chain's two-sided quote of `leg`'s contract, or None when the chain does not list it
    (another underlying, an expiry or strike not in the snapshot, a one-sided market)."""
    if leg.underlying != chain.underlying:
        return None
    try:
        return chain.quote(leg.expiry, leg.strike, leg.kind)
    except OrderError:
        return None


def mark_value(legs: Sequence[Leg], chain: ChainView) -> tuple[float | None, tuple[int, ...]]:
    """(value at the chain's mids, ()) or (None, indices of the legs the chain has no quote for)."""
    quotes = [chain_quote(chain, leg) for leg in legs]
    missing = tuple(i for i, q in enumerate(quotes) if q is None)
    if missing:
        return None, missing
    return math.fsum(
        leg.sign * leg.quantity * q.mid for leg, q in zip(legs, quotes, strict=True)
    ), ()


def price_entry(
    legs: Sequence[Leg], chain: ChainView, plan: BrokeragePlan | None, engine: CostEngine
) -> tuple[tuple[Leg, ...], PricedFill]:
    """Open every leg at the side it crosses. Returns the legs re-quoted at the quotes they filled
    against (what later marks and exits start from) and the priced entry fill."""
    filled: list[Leg] = []
    sources: list[str] = []
    for leg in legs:
        quote = chain_quote(chain, leg)
        filled.append(leg if quote is None else replace(leg, quote=quote))
        sources.append(DECISION if quote is None else CHAIN)
    costs = engine.entry(filled, chain.trade_date, plan)
    per_leg = _per_leg(costs, len(filled))
    records = []
    for leg, source, (charges, slippage) in zip(filled, sources, per_leg, strict=True):
        fill = leg.price + leg.sign * slippage / leg.quantity
        records.append(_record(leg, fill, source, charges, slippage))
    premium = -math.fsum(leg.sign * leg.quantity * leg.price for leg in filled)
    return tuple(filled), _priced(records, premium, per_leg)


def price_exit(
    legs: Sequence[Leg], chain: ChainView, plan: BrokeragePlan | None, engine: CostEngine
) -> PricedFill:
    """Close every leg at the chain's quotes (a target or stop exit); every leg must be quoted."""
    quotes = [chain_quote(chain, leg) for leg in legs]
    missing = [i for i, q in enumerate(quotes) if q is None]
    if missing:
        raise OrderError(
            "missing_quote", f"no chain quote to close leg(s) {missing} at", legs=missing
        )
    costs = engine.exit(legs, chain.trade_date, plan, exit_prices=quotes)
    per_leg = _per_leg(costs, len(legs))
    records = []
    for leg, quote, (charges, slippage) in zip(legs, quotes, per_leg, strict=True):
        fill = quote.mid - leg.sign * slippage / leg.quantity
        records.append(_record(replace(leg, quote=quote), fill, CHAIN, charges, slippage))
    premium = math.fsum(
        leg.sign * leg.quantity * q.mid for leg, q in zip(legs, quotes, strict=True)
    )
    return _priced(records, premium, per_leg)


def price_expiry(
    legs: Sequence[Leg],
    chain: ChainView,
    plan: BrokeragePlan | None,
    engine: CostEngine,
    *,
    settle_at: Mapping[date, float] | None = None,
) -> PricedFill:
    """Close at (or after) the nearest expiry.

    Legs that have expired and settle in cash are settled through `CostEngine.settlement` at
    their intrinsic value against `chain.spot` (a future at the spot): the chain's spot stands in
    for the exchange's settlement price (minutes before the close, paper.marking.SETTLE_FROM)
    unless `settle_at` gives an expiry's own closing price (a position first seen after that
    expiry day: every expired leg settles at its own day's close). Every other leg (a calendar's
    far leg, a physically settled stock option) is closed at the chain's quote; when the chain
    has none, an expired leg is closed at its intrinsic value and a live one at its entry quote,
    and the leg is listed in `fallback`.
    """
    on = chain.trade_date
    settle_at = settle_at or {}
    records: list[dict[str, Any] | None] = [None] * len(legs)
    per_leg: list[tuple[float, float]] = [(0.0, 0.0)] * len(legs)
    premium = 0.0
    settle = [i for i, leg in enumerate(legs) if leg.expiry <= on and _cash_settled(leg)]
    for expiry in sorted({legs[i].expiry for i in settle}):
        group = [i for i in settle if legs[i].expiry == expiry]
        price = settle_at.get(expiry, chain.spot)
        costs = engine.settlement([legs[i] for i in group], expiry, price, plan)
        for j, (charges, slippage) in enumerate(_per_leg(costs, len(group))):
            leg = legs[group[j]]
            unit = _settlement_value(leg, price)
            premium += leg.sign * leg.quantity * unit
            per_leg[group[j]] = (charges, slippage)
            records[group[j]] = _record(leg, unit, SETTLEMENT, charges, slippage)
    trade = [i for i in range(len(legs)) if i not in settle]
    fallback: list[int] = []
    if trade:
        prices: list[Quote | float] = []
        for i in trade:
            quote = chain_quote(chain, legs[i])
            if quote is None:
                fallback.append(i)
                live = legs[i].expiry > on
                prices.append(
                    legs[i].quote
                    if live
                    else _settlement_value(legs[i], settle_at.get(legs[i].expiry, chain.spot))
                )
            else:
                prices.append(quote)
        when = min(on, *(legs[i].expiry for i in trade))
        costs = engine.exit([legs[i] for i in trade], when, plan, exit_prices=prices)
        for j, (charges, slippage) in enumerate(_per_leg(costs, len(trade))):
            leg, price = legs[trade[j]], prices[j]
            mid = price.mid if isinstance(price, Quote) else float(price)
            premium += leg.sign * leg.quantity * mid
            fill = mid - leg.sign * slippage / leg.quantity
            quoted = replace(leg, quote=price) if isinstance(price, Quote) else leg
            source = CHAIN if trade[j] not in fallback else ENTRY_QUOTE
            per_leg[trade[j]] = (charges, slippage)
            records[trade[j]] = _record(quoted, fill, source, charges, slippage)
    priced = _priced([r for r in records if r is not None], premium, per_leg)
    return replace(priced, fallback=tuple(fallback))


# --- helpers ---------------------------------------------------------------------------------


def _settlement_value(leg: Leg, spot: float) -> float:
    if leg.kind == FUTURE:
        return spot
    assert leg.strike is not None
    return max(spot - leg.strike, 0.0) if leg.kind == CALL else max(leg.strike - spot, 0.0)


@lru_cache(maxsize=256)
def _cash_settled_on(underlying: str, on: date) -> bool:
    return "cash" in contracts.contract_spec(underlying, on).settlement


def _cash_settled(leg: Leg) -> bool:
    return _cash_settled_on(leg.underlying, leg.expiry)


def _per_leg(costs: OrderCosts, n: int) -> list[tuple[float, float]]:
    """(charges, slippage) per leg of one phase's cost lines."""
    charges, slippage = [0.0] * n, [0.0] * n
    for line in costs.lines:
        if line.leg is None:
            continue
        if line.charge == SLIPPAGE:
            slippage[line.leg] += line.amount
        else:
            charges[line.leg] += line.amount
    return list(zip(charges, slippage, strict=True))


def _record(leg: Leg, fill: float, source: str, charges: float, slippage: float) -> dict[str, Any]:
    return {
        **leg_record(leg),
        "fill_price": float(fill),
        "quote_source": source,
        "charges": float(charges),
        "slippage": float(slippage),
    }


def _priced(
    records: Sequence[dict[str, Any]], premium: float, per_leg: Sequence[tuple[float, float]]
) -> PricedFill:
    return PricedFill(
        legs=tuple(records),
        premium=float(premium),
        charges=math.fsum(c for c, _ in per_leg),
        slippage=math.fsum(s for _, s in per_leg),
    )
