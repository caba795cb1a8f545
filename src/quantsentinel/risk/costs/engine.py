"""The cost engine: every rupee a multi-leg NSE F&O order pays, line by line (seed 001 §8, wall 6).

One executed order per leg per side (how Indian discount brokers bill a ₹20-per-order plan). Per
order, at price `p` (the leg's mid, or the given exit price) and quantity `q` units:

    turnover      p x q (option premium turnover; futures traded value)
    brokerage     tenant's BrokeragePlan.per_order(turnover)
    stt           sell side only: rate x turnover
    exchange_txn  both sides: NSE transaction charge x turnover
    ipft          both sides: NSE IPFT levy x turnover
    sebi_fee      both sides: ₹10/crore x turnover
    stamp_duty    buy side only: rate x turnover
    gst           18% x (the charges in the schedule's gst_base)
    slippage      SlippageModel: crossing from mid to the side, growing with size (not a fee)

Fees are computed on the mid, the price the project values a leg at (`risk.orders`); charging them
on the touch price instead would change them by fee-rate x half-spread, a fraction of a percent of
the fees themselves.

Settlement (held to expiry; index derivatives are cash-settled):
- an option that expires out of (or at) the money lapses: no order, no charge;
- a long option in the money is exercised: STT at the exercise rate on its intrinsic (settlement)
  value (Zerodha support, "What charges are levied if option positions get exercised"; DOMAIN.md).
  A short option assigned pays no STT at expiry (it paid STT when it was sold);
- every leg closed by the exchange (ITM options, long or short, and futures) is billed brokerage as
  one order plus GST on it: Zerodha staff on TradingQnA (2023-08-24, "ITM options index options -
  expiry - brokerage/STT?"): "whenever options expire at ITM, a brokerage of Rs. 20 per order
  applies to both sides"; punch.trade's help page says the same. For expiring futures this is the
  conservative reading of the same practice;
- no exchange transaction charge (settlement is not a trade on the order book), no stamp duty (none
  on cash-settled index F&O: Zerodha on TradingQnA "Stamp duty calculations", citing NSE's stamp
  duty circular) and no futures STT (STT is levied on the sale of a future, and final settlement is
  not a sale). Some brokers (ICICI Direct) also bill the SEBI fee on the notional of an exercise;
  that is not modelled;
- physically settled stock derivatives are refused (`physical_settlement`): their exercise is a
  delivery with delivery-rate STT and stamp duty, a different cost model.

Every entry point validates the legs with `validate_legs` first: a bad order raises `OrderError`
and nothing is priced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache

from quantsentinel.market import contracts
from quantsentinel.risk.costs.rates import (
    BROKERAGE,
    EXCHANGE_TXN,
    FUTURE,
    GST,
    IPFT,
    OPTION,
    SEBI_FEE,
    SLIPPAGE,
    STAMP_DUTY,
    STT,
    STT_EXERCISE,
    RateSchedule,
    RatesOn,
)
from quantsentinel.risk.costs.results import (
    ENTRY,
    EXIT,
    FLAT_BROKERAGE_SOURCE,
    SETTLEMENT,
    CostLine,
    OrderCosts,
    RoundTripCosts,
    unit_lots,
)
from quantsentinel.risk.costs.slippage import SlippageModel
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import BUY, CALL, SELL, Leg, Quote, validate_legs
from quantsentinel.risk.tenancy.policy import BrokeragePlan

_SRC_SETTLE_BROKERAGE = (
    "settlement: brokerage per exchange-settled order (Zerodha on TradingQnA 2023-08-24: ITM "
    "options at expiry are billed Rs. 20 per order; OTM lapse without an order)"
)
_SRC_NO_PLAN = "no brokerage plan given: brokerage omitted"

Legs = Sequence[Leg]


class CostEngine:
    """Prices entry, exit, settlement and round trips of multi-leg orders for one tenant plan.

    `rates` defaults to the published NSE schedule (`RateSchedule()`), `slippage` to
    `SlippageModel()`. The engine holds no per-call state, so one instance serves every tenant.
    """

    def __init__(
        self, rates: RateSchedule | None = None, slippage: SlippageModel | None = None
    ) -> None:
        self.rates = rates if rates is not None else RateSchedule()
        self.slippage = slippage if slippage is not None else SlippageModel()
        self._slippage_source = self.slippage.describe()

    # --- public ------------------------------------------------------------------------------

    def entry(self, legs: Legs, trade_date: date, plan: BrokeragePlan | None) -> OrderCosts:
        """Open the order: every leg trades at its own side, at its quote's mid."""
        legs, trade_date = _checked(legs, trade_date)
        return self._trade(legs, trade_date, plan, ENTRY, None)

    def exit(
        self,
        legs: Legs,
        trade_date: date,
        plan: BrokeragePlan | None,
        exit_prices: Sequence[float | Quote] | None = None,
    ) -> OrderCosts:
        """Close before expiry: every leg trades at the opposite side.

        `exit_prices[i]` is leg i's exit price (a number, slippage then estimated from the leg's
        own quoted spread) or a `Quote` seen at exit (its mid and spread are used). Default: the
        leg's mid.
        """
        legs, trade_date = _checked(legs, trade_date)
        return self._trade(legs, trade_date, plan, EXIT, _exit_quotes(legs, exit_prices))

    def settlement(
        self,
        legs: Legs,
        expiry_date: date,
        settle_price: float | Mapping[str, float],
        plan: BrokeragePlan | None = None,
    ) -> OrderCosts:
        """Hold to expiry and cash-settle at `settle_price` (per underlying when a mapping).

        See the module docstring for what applies. Without `plan` only statutory lines appear.
        """
        legs, expiry_date = _checked(legs, expiry_date)
        rates = self.rates.on(expiry_date)
        lines: list[CostLine] = []
        for i, leg in enumerate(legs):
            if leg.expiry != expiry_date:
                raise OrderError(
                    "bad_input",
                    f"leg {i} expires {leg.expiry}, not on the settlement date {expiry_date}",
                    leg=i,
                    expiry=leg.expiry.isoformat(),
                )
            if not _cash_settled(leg.underlying, expiry_date):
                raise OrderError(
                    "physical_settlement",
                    f"leg {i}: {leg.underlying} derivatives settle by delivery; the cost engine "
                    "prices cash settlement only (close before expiry instead)",
                    leg=i,
                    underlying=leg.underlying,
                )
            settle = _settle_price(settle_price, leg.underlying)
            if leg.is_option:
                assert leg.strike is not None  # validate_legs guarantees it
                gap = settle - leg.strike if leg.kind == CALL else leg.strike - settle
                intrinsic = max(gap, 0.0) * leg.quantity
                if intrinsic <= 0.0:
                    continue  # lapses worthless: no order, nothing billed
                if leg.side == BUY:
                    row = rates.row(STT_EXERCISE, OPTION)
                    lines.append(
                        CostLine(STT_EXERCISE, i, SETTLEMENT, intrinsic, row.rate,
                                 intrinsic * row.rate, row.source)
                    )  # fmt: skip
                instrument = OPTION
            else:
                instrument = FUTURE
            if plan is not None:
                brokerage = self._brokerage(i, plan, settle * leg.quantity, SETTLEMENT)
                lines.append(brokerage)
                if BROKERAGE in rates.gst_base:
                    row = rates.row(GST, instrument)
                    lines.append(
                        CostLine(GST, i, SETTLEMENT, brokerage.amount, row.rate,
                                 brokerage.amount * row.rate, row.source)
                    )  # fmt: skip
        return OrderCosts(tuple(lines), legs, SETTLEMENT, expiry_date, unit_lots(legs))

    def round_trip(
        self,
        legs: Legs,
        trade_date: date,
        plan: BrokeragePlan | None,
        *,
        exit: str = "close",
        exit_date: date | None = None,
        exit_prices: Sequence[float | Quote] | None = None,
        settle_price: float | Mapping[str, float] | None = None,
    ) -> RoundTripCosts:
        """Entry on `trade_date` plus the way out.

        exit="close": closing trades on `exit_date` (default `trade_date`) at `exit_prices`
        (default: each leg's mid); exit="expiry": cash settlement at the legs' common expiry at
        `settle_price`.
        """
        legs, trade_date = _checked(legs, trade_date)
        entry = self._trade(legs, trade_date, plan, ENTRY, None)
        if exit == "close":
            if settle_price is not None:
                raise RiskInputError("bad_input", "settle_price applies to exit='expiry' only")
            when = trade_date if exit_date is None else _as_date(exit_date)
            if when < trade_date:
                raise RiskInputError(
                    "bad_input", f"exit_date {when} is before the entry date {trade_date}"
                )
            quotes = _exit_quotes(legs, exit_prices)
            if when != trade_date:
                validate_legs(legs, when)
            out = self._trade(legs, when, plan, EXIT, quotes)
        elif exit == "expiry":
            expiries = {leg.expiry for leg in legs}
            if len(expiries) != 1:
                raise RiskInputError(
                    "bad_input",
                    "exit='expiry' needs every leg on one expiry; close calendar spreads instead",
                    expiries=sorted(d.isoformat() for d in expiries),
                )
            expiry = expiries.pop()
            if exit_date is not None and _as_date(exit_date) != expiry:
                raise RiskInputError(
                    "bad_input", f"exit='expiry' settles on {expiry}, not on exit_date {exit_date}"
                )
            if exit_prices is not None:
                raise RiskInputError("bad_input", "exit_prices apply to exit='close' only")
            if settle_price is None:
                raise RiskInputError("bad_input", "exit='expiry' needs settle_price")
            out = self.settlement(legs, expiry, settle_price, plan)
        else:
            raise RiskInputError("bad_input", f"exit must be 'close' or 'expiry', got {exit!r}")
        return RoundTripCosts(entry, out)

    # --- one side of every leg -----------------------------------------------------------------

    def _trade(
        self,
        legs: tuple[Leg, ...],
        on: date,
        plan: BrokeragePlan | None,
        phase: str,
        quotes: tuple[Quote | float, ...] | None,
    ) -> OrderCosts:
        rates = self.rates.on(on)
        lines: list[CostLine] = []
        for i, leg in enumerate(legs):
            side = leg.side if phase == ENTRY else (SELL if leg.side == BUY else BUY)
            given = None if quotes is None else quotes[i]
            if given is None:
                quote, price = leg.quote, leg.quote.mid
            elif isinstance(given, Quote):
                quote, price = given, given.mid
            else:
                quote, price = leg.quote, float(given)
            self._order(lines, rates, i, leg, side, price, quote, plan, phase)
        return OrderCosts(tuple(lines), legs, phase, on, unit_lots(legs))

    def _order(
        self,
        lines: list[CostLine],
        rates: RatesOn,
        i: int,
        leg: Leg,
        side: str,
        price: float,
        quote: Quote,
        plan: BrokeragePlan | None,
        phase: str,
    ) -> None:
        instrument = OPTION if leg.is_option else FUTURE
        units = leg.quantity
        turnover = price * units
        gstable: dict[str, float] = {}
        if plan is not None:
            brokerage = self._brokerage(i, plan, turnover, phase)
            lines.append(brokerage)
            gstable[BROKERAGE] = brokerage.amount
        charges = (STT, EXCHANGE_TXN, IPFT, SEBI_FEE) if side == SELL else (
            EXCHANGE_TXN, IPFT, SEBI_FEE, STAMP_DUTY
        )  # fmt: skip
        for charge in charges:
            row = rates.row(charge, instrument)
            amount = turnover * row.rate
            lines.append(CostLine(charge, i, phase, turnover, row.rate, amount, row.source))
            gstable[charge] = amount
        gst_base = math.fsum(gstable.get(c, 0.0) for c in rates.gst_base)
        row = rates.row(GST, instrument)
        lines.append(CostLine(GST, i, phase, gst_base, row.rate, gst_base * row.rate, row.source))
        cost = self.slippage.cost(quote, units, leg.lot_size, leg=i)
        lines.append(
            CostLine(SLIPPAGE, i, phase, float(units), cost / units, cost, self._slippage_source)
        )

    @staticmethod
    def _brokerage(i: int, plan: BrokeragePlan, turnover: float, phase: str) -> CostLine:
        amount = float(plan.per_order(turnover))
        if plan.kind == "flat":
            source = f"{FLAT_BROKERAGE_SOURCE} ₹{plan.flat_per_order:g} per executed order"
            base, rate = 1.0, float(plan.flat_per_order)
        else:
            cap = "" if plan.cap_per_order is None else f", capped at ₹{plan.cap_per_order:g}"
            source = f"tenant brokerage plan: {plan.percent * 100:g}% of turnover{cap} per order"
            base, rate = turnover, float(plan.percent)
        if phase == SETTLEMENT:
            source = f"{source}; {_SRC_SETTLE_BROKERAGE}"
        return CostLine(BROKERAGE, i, phase, base, rate, amount, source)


# --- input checks ------------------------------------------------------------------------------


def _as_date(on: date) -> date:
    if isinstance(on, datetime):
        return on.date()
    if not isinstance(on, date):
        raise RiskInputError("bad_input", f"expected a date, got {on!r}")
    return on


def _checked(legs: Legs, on: date) -> tuple[tuple[Leg, ...], date]:
    legs = tuple(legs)
    on = _as_date(on)
    validate_legs(legs, on)
    return legs, on


def _exit_quotes(
    legs: tuple[Leg, ...], exit_prices: Sequence[float | Quote] | None
) -> tuple[Quote | float, ...] | None:
    if exit_prices is None:
        return None
    prices = tuple(exit_prices)
    if len(prices) != len(legs):
        raise RiskInputError(
            "bad_input",
            f"exit_prices has {len(prices)} entries for {len(legs)} legs",
            exit_prices=len(prices),
            legs=len(legs),
        )
    for i, price in enumerate(prices):
        if isinstance(price, Quote):
            if not price.usable:
                raise OrderError(
                    "missing_quote",
                    f"leg {i}: exit quote is not a usable two-sided market "
                    f"(bid={price.bid}, ask={price.ask})",
                    leg=i,
                )
        elif (
            isinstance(price, bool)
            or not isinstance(price, int | float)
            or not math.isfinite(price)
            or price < 0
        ):
            raise RiskInputError(
                "bad_input", f"leg {i}: exit price must be a finite price >= 0, got {price!r}",
                leg=i,
            )  # fmt: skip
    return prices


def _settle_price(settle: float | Mapping[str, float], underlying: str) -> float:
    if isinstance(settle, Mapping):
        if underlying not in settle:
            raise RiskInputError(
                "bad_input", f"no settlement price for {underlying}", underlying=underlying
            )
        value = settle[underlying]
    else:
        value = settle
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RiskInputError("bad_input", f"settlement price of {underlying} is {value!r}")
    if value <= 0:
        raise RiskInputError("bad_input", f"settlement price of {underlying} must be > 0")
    return float(value)


@lru_cache(maxsize=256)
def _cash_settled(underlying: str, on: date) -> bool:
    # The contract facts say how each underlying settles on a date; ask them, never a list here.
    return "cash" in contracts.contract_spec(underlying, on).settlement
