"""When a marked paper position is done, and what it is exposed to now (the executor's rules).

- target / stop: the position's unrealised P&L (net of entry costs, before exit costs) at or
  beyond the levels its decision set;
- expiry: the exchange settles at the close, so an expiry-day position is only marked until the
  session's last minutes (SETTLE_FROM, IST) and settles then; a position first seen on a later
  day settles at its expiry day's close (the executor's caller passes the stored closes);
- delta: refreshed on every mark, so the castle's exposure and correlation walls judge what the
  book has become, not what it was when it was opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from typing import Any

from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.orders import Leg
from quantsentinel.risk.structures.chain import ChainView

# Expiry-day positions settle from this IST time on (the last snapshots of the session), at the
# spot then: at most minutes from the exchange's closing settlement, never the morning's price.
SETTLE_FROM = time(15, 15)


def settles(chain: ChainView, expiry: date) -> bool:
    from quantsentinel.market.schema import MARKET_TZ

    if chain.trade_date > expiry:
        return True
    return chain.trade_date == expiry and chain.ts.tz_convert(MARKET_TZ).time() >= SETTLE_FROM


def delta_notional(legs: Sequence[Leg], chain: ChainView, row: dict[str, Any]) -> float:
    """The position's delta exposure now (units x spot): the castle's correlation and exposure
    walls must see a condor that has gone deep in the money as the directional bet it became."""
    from quantsentinel.risk.structures.valuation import leg_book, marks, position_greeks

    try:
        book = leg_book(tuple(legs))
        return float(position_greeks(book, marks(book, chain)).delta) * chain.spot
    except (RiskInputError, ValueError, KeyError):
        return float(row["delta_notional"])  # a contract the chain lost: keep the last known


def exit_reason(row: Mapping[str, Any], pnl: float) -> str | None:
    if row["target"] is not None and pnl >= row["target"]:
        return "target"
    if row["stop"] is not None and pnl <= row["stop"]:
        return "stop"
    return None
