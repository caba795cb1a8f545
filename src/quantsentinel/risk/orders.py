"""Orders as legs: what is traded, which way, how many lots, and the quote it would trade at.

A `Leg` is one instrument (an option CE/PE or a future FUT) bought or sold in whole lots. Its
`quote` is the market it faces (bid/ask, and the implied vol when known); the premium it is priced
at is the mid, and the distance to the side it crosses is slippage (see `risk.costs.slippage`).
`validate_legs` is the one place bad orders are refused, each with a named `OrderError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

from quantsentinel.market import contracts
from quantsentinel.risk.errors import OrderError

CALL, PUT, FUTURE = "CE", "PE", "FUT"
KINDS = (CALL, PUT, FUTURE)
BUY, SELL = "BUY", "SELL"
SIDES = (BUY, SELL)


@dataclass(frozen=True)
class Quote:
    """Best bid and ask (per unit, rupees) and the implied vol when the source gives one."""

    bid: float
    ask: float
    iv: float | None = None

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid + self.ask)

    @property
    def half_spread(self) -> float:
        return 0.5 * (self.ask - self.bid)

    @property
    def usable(self) -> bool:
        return (
            math.isfinite(self.bid)
            and math.isfinite(self.ask)
            and self.bid >= 0.0
            and self.ask > 0.0
            and self.ask >= self.bid
        )


@dataclass(frozen=True)
class Leg:
    """One instrument in whole lots. `strike` is None for a future."""

    underlying: str
    kind: str  # CE | PE | FUT
    expiry: date
    strike: float | None
    side: str  # BUY | SELL
    lots: int
    lot_size: int
    quote: Quote

    @property
    def sign(self) -> int:
        """+1 long, -1 short."""
        return 1 if self.side == BUY else -1

    @property
    def quantity(self) -> int:
        """Units (lots x lot size), unsigned."""
        return self.lots * self.lot_size

    @property
    def price(self) -> float:
        """Per-unit price the leg is valued at: the quote's mid."""
        return self.quote.mid

    @property
    def is_option(self) -> bool:
        return self.kind in (CALL, PUT)

    @property
    def label(self) -> str:
        what = "FUT" if self.kind == FUTURE else f"{self.strike:g}{self.kind}"
        return f"{self.side} {self.lots}x {self.underlying} {self.expiry:%d%b%y} {what}"

    def scaled(self, lots: int) -> Leg:
        return replace(self, lots=lots)


def validate_legs(legs: tuple[Leg, ...] | list[Leg], trade_date: date) -> None:
    """Refuse a malformed order with a named `OrderError`; return None when every leg is sound.

    Checks, in order, per leg: known kind and side, whole positive lots, the contract is alive on
    `trade_date`, the lot size is the exchange's for that contract, the strike is on the strike
    grid, and the quote is a usable two-sided market.
    """
    if not legs:
        raise OrderError("empty_order", "an order needs at least one leg")
    for i, leg in enumerate(legs):
        where = {"leg": i, "label": _safe_label(leg)}
        if leg.kind not in KINDS:
            raise OrderError("bad_input", f"leg {i}: kind {leg.kind!r} is not one of {KINDS}")
        if leg.side not in SIDES:
            raise OrderError("bad_input", f"leg {i}: side {leg.side!r} is not BUY or SELL")
        if not isinstance(leg.lots, int) or isinstance(leg.lots, bool) or leg.lots <= 0:
            raise OrderError(
                "zero_lots",
                f"leg {i}: lots must be a positive whole number, got {leg.lots!r}",
                lots=leg.lots,
                **where,
            )
        if leg.expiry < trade_date:
            raise OrderError(
                "expired_contract",
                f"leg {i}: {leg.underlying} contract expired {leg.expiry} before {trade_date}",
                expiry=leg.expiry.isoformat(),
                trade_date=trade_date.isoformat(),
                **where,
            )
        try:
            exchange_lot = contracts.lot_size(leg.underlying, trade_date, leg.expiry)
        except ValueError as exc:
            raise OrderError("bad_input", f"leg {i}: {exc}", **where) from exc
        if leg.lot_size != exchange_lot:
            raise OrderError(
                "wrong_lot_size",
                f"leg {i}: lot size {leg.lot_size} but the exchange's for this contract on "
                f"{trade_date} is {exchange_lot}",
                lot_size=leg.lot_size,
                exchange_lot_size=exchange_lot,
                **where,
            )
        if leg.is_option:
            _check_strike(leg, i, trade_date, where)
        elif leg.strike is not None:
            raise OrderError("bad_input", f"leg {i}: a future has no strike", **where)
        if not leg.quote.usable:
            raise OrderError(
                "missing_quote",
                f"leg {i}: no usable two-sided quote (bid={leg.quote.bid}, ask={leg.quote.ask})",
                bid=leg.quote.bid,
                ask=leg.quote.ask,
                **where,
            )


def _check_strike(leg: Leg, i: int, trade_date: date, where: dict) -> None:
    strike = leg.strike
    if strike is None or not math.isfinite(strike) or strike <= 0:
        raise OrderError("bad_input", f"leg {i}: an option needs a positive strike", **where)
    # The finest grid the underlying lists on (NIFTY's far strikes step by 100, a multiple of
    # its 50); a stock's grid depends on its price, which the strike itself stands in for.
    step = contracts.strike_step(leg.underlying, trade_date, spot=strike)
    if abs(strike / step - round(strike / step)) > 1e-9:
        raise OrderError(
            "off_step_strike",
            f"leg {i}: strike {strike:g} is not on the {step:g}-point grid of {leg.underlying}",
            strike=strike,
            step=step,
            **where,
        )


def _safe_label(leg: Leg) -> str:
    try:
        return leg.label
    except (TypeError, ValueError, AttributeError):
        return repr(leg)
