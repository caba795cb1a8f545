"""NSE option contract terms: underlyings, lot sizes, strike steps and the listed expiry set.

Every term is a row in an effective-dated table with the circular it came from. Three kinds of
"effective" occur in exchange circulars, and a lot-size row names which one it keys on (`basis`):
- "listing": contracts listed on or after the date get the value; older ones keep theirs;
- "expiry":  contracts expiring on or after the date get the value, whenever they were listed;
- "trade":   every contract trades with the value from that trade date (e.g. a halving, a bonus).
When several rows match one contract, the row with the latest `effective_from` wins: each revision
supersedes the ones published before it.

Expiry-day rules key on the *nominal* expiry date ("contracts expiring after 2025-08-28 expire on
Tuesday"), so a contract that the exchange re-aligned shows its final date throughout its life. A
nominal day that is a holiday rolls back to the previous trading day.

Listed set (a modelling choice, close to NSE's contract cycle): on trade date `on`, an underlying
lists the next N contracts of each serial cycle it has (NIFTY: 4 weekly slots and 3 monthlies;
BANKNIFTY: 4 weekly slots while weeklies existed and 3 monthlies; stocks: 3 monthlies) plus, for
NIFTY, the quarterly (Mar/Jun/Sep/Dec) expiries within 365 days. A weekly slot is one per week: in
the week of a monthly expiry the monthly fills it (NSE lists no separate weekly that week).
Long-dated half-yearly contracts and BANKNIFTY quarterlies are not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from quantsentinel.market.calendar import is_trading_day, next_trading_day, previous_trading_day

INDICES = ("NIFTY", "BANKNIFTY")
STOCKS = (
    "RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "INFY", "HINDUNILVR",
    "SBIN", "BHARTIARTL", "ITC", "LT", "AXISBANK",
)  # fmt: skip
UNDERLYINGS = INDICES + STOCKS

WEEKLY, MONTHLY, QUARTERLY = "weekly", "monthly", "quarterly"
MON, TUE, WED, THU = 0, 1, 2, 3
_QUARTER_MONTHS = (3, 6, 9, 12)
_TABLE_START = date(2023, 1, 1)  # rule tables are kept from here; earlier lookups raise
_NOTE_START = " (in force before 2023-01-01 too; the table starts there)"

_SRC_TUESDAY = (
    "NSE circulars Jun 2025 (SEBI-approved expiry-day change): Tuesday expiry for all contracts "
    "expiring after 2025-08-28, existing contracts re-aligned at EOD 2025-08-28"
)


@dataclass(frozen=True)
class ExpiryDayRule:
    """Weekday of a cycle's nominal expiry, for nominal expiry dates in [from, until]."""

    underlyings: tuple[str, ...]
    cycle: str
    weekday: int
    effective_from: date
    effective_until: date | None
    source: str


EXPIRY_DAY_RULES: tuple[ExpiryDayRule, ...] = (
    ExpiryDayRule(("NIFTY",), WEEKLY, THU, _TABLE_START, date(2025, 8, 28),
                  "DOMAIN.md: NIFTY weekly on Thursday" + _NOTE_START),
    ExpiryDayRule(("NIFTY",), WEEKLY, TUE, date(2025, 8, 29), None, _SRC_TUESDAY),
    ExpiryDayRule(("NIFTY",), MONTHLY, THU, _TABLE_START, date(2025, 8, 28),
                  "NSE: NIFTY monthly on the last Thursday" + _NOTE_START),
    ExpiryDayRule(("NIFTY",), MONTHLY, TUE, date(2025, 8, 29), None, _SRC_TUESDAY),
    ExpiryDayRule(("NIFTY",), QUARTERLY, THU, _TABLE_START, date(2025, 8, 28),
                  "NSE: NIFTY quarterly on the last Thursday of Mar/Jun/Sep/Dec" + _NOTE_START),
    ExpiryDayRule(("NIFTY",), QUARTERLY, TUE, date(2025, 8, 29), None, _SRC_TUESDAY),
    ExpiryDayRule(("BANKNIFTY",), WEEKLY, THU, _TABLE_START, date(2023, 9, 3),
                  "NSE: BANKNIFTY weekly on Thursday" + _NOTE_START),
    ExpiryDayRule(("BANKNIFTY",), WEEKLY, WED, date(2023, 9, 4), date(2024, 11, 13),
                  "NSE circular Jul 2023: weekly on Wednesday from 2023-09-04; weeklies "
                  "discontinued after 2024-11-13 (SEBI Oct 2024 circular: one weekly index per "
                  "exchange, DOMAIN.md)"),
    ExpiryDayRule(("BANKNIFTY",), MONTHLY, THU, _TABLE_START, date(2024, 2, 29),
                  "NSE: BANKNIFTY monthly on the last Thursday" + _NOTE_START),
    ExpiryDayRule(("BANKNIFTY",), MONTHLY, WED, date(2024, 3, 1), date(2024, 12, 31),
                  "NSE circular Dec 2023: monthly/quarterly on the last Wednesday from "
                  "2024-03-01 (not in DOMAIN.md)"),
    ExpiryDayRule(("BANKNIFTY",), MONTHLY, THU, date(2025, 1, 1), date(2025, 8, 28),
                  "NSE circular Nov 2024: monthly back to the last Thursday from 2025-01-01; "
                  "DOMAIN.md: last Thursday"),
    ExpiryDayRule(("BANKNIFTY",), MONTHLY, TUE, date(2025, 8, 29), None, _SRC_TUESDAY),
    ExpiryDayRule(STOCKS, MONTHLY, THU, _TABLE_START, date(2025, 8, 28),
                  "NSE: stock derivatives expire on the last Thursday" + _NOTE_START),
    ExpiryDayRule(STOCKS, MONTHLY, TUE, date(2025, 8, 29), None, _SRC_TUESDAY),
)  # fmt: skip


@dataclass(frozen=True)
class ListingRule:
    """How many contracts of a cycle are listed on a trade date in [from, until].

    Exactly one of `serial` (the next N expiries of the cycle) or `horizon_days` (every expiry of
    the cycle within that many calendar days) is set.
    """

    underlyings: tuple[str, ...]
    cycle: str
    serial: int | None
    horizon_days: int | None
    effective_from: date
    effective_until: date | None
    source: str


_SRC_LISTING = "project listing model: simplification of NSE's F&O contract cycle (see module doc)"
LISTING_RULES: tuple[ListingRule, ...] = (
    ListingRule(("NIFTY",), WEEKLY, 4, None, _TABLE_START, None, _SRC_LISTING),
    ListingRule(("NIFTY",), MONTHLY, 3, None, _TABLE_START, None, _SRC_LISTING),
    ListingRule(("NIFTY",), QUARTERLY, None, 365, _TABLE_START, None, _SRC_LISTING),
    ListingRule(("BANKNIFTY",), WEEKLY, 4, None, _TABLE_START, None, _SRC_LISTING),
    ListingRule(("BANKNIFTY",), MONTHLY, 3, None, _TABLE_START, None, _SRC_LISTING),
    ListingRule(STOCKS, MONTHLY, 3, None, _TABLE_START, None, _SRC_LISTING),
)


@dataclass(frozen=True)
class LotSizeRow:
    """Units per contract; `basis` says which date `effective_from`/`until` are compared with."""

    underlying: str
    lot: int
    basis: str  # "listing" | "expiry" | "trade"
    effective_from: date
    effective_until: date | None
    source: str


_SRC_NOV24 = (
    "NSE circular 2024-10-18 (SEBI min contract value Rs 15 lakh): new contracts from 2024-11-20; "
    "existing weekly/monthly keep the old lot to expiry (DOMAIN.md). Existing quarterlies moved at "
    "EOD 2024-12-24/26: not modelled"
)
_SRC_OCT25 = (
    "NSE circular 2025-10-03: contracts expiring from January 2026 (DOMAIN.md). Existing "
    "quarterly/half-yearly contracts kept the old lot until EOD 2025-12-30: not modelled"
)
_SRC_STOCK = "NSE F&O market-lot file, value as recalled for 2024-2025 (verify); later periodic "
_SRC_STOCK += "revisions not modelled"
_SRC_HALVED = "NSE lot revision effective 2024-04-26, stock lot halved (as recalled; verify)"


def _lot(u: str, lot: int, basis: str, start: date, source: str) -> LotSizeRow:
    return LotSizeRow(u, lot, basis, start, None, source)


LOT_SIZES: tuple[LotSizeRow, ...] = (
    _lot("NIFTY", 50, "trade", date(2021, 4, 30), "NSE circular Mar 2021: 75 -> 50 from Apr 30"),
    _lot("NIFTY", 25, "trade", date(2024, 4, 26),
         "NSE circular Apr 2024: 50 -> 25 for all contracts trading from 2024-04-26 (not in "
         "DOMAIN.md)"),
    _lot("NIFTY", 75, "listing", date(2024, 11, 20), _SRC_NOV24),
    _lot("NIFTY", 65, "expiry", date(2026, 1, 1), _SRC_OCT25),
    _lot("BANKNIFTY", 15, "expiry", date(2023, 7, 1),
         "NSE circular Apr 2023: 25 -> 15 from July 2023 expiries (as recalled; verify)"),
    _lot("BANKNIFTY", 30, "listing", date(2024, 11, 20), _SRC_NOV24),
    _lot("BANKNIFTY", 35, "expiry", date(2025, 7, 1),
         "NSE circular 2025-03-28: 30 -> 35 from the July 2025 expiry (DOMAIN.md)"),
    _lot("BANKNIFTY", 30, "expiry", date(2026, 1, 1), _SRC_OCT25),
    _lot("RELIANCE", 250, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("RELIANCE", 500, "trade", date(2024, 10, 28),
         "1:1 bonus, F&O lots doubled on the ex-date 2024-10-28 (as recalled; verify)"),
    _lot("TCS", 175, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("HDFCBANK", 550, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("HDFCBANK", 1100, "trade", date(2025, 8, 26),
         "1:1 bonus, F&O lots doubled on the ex-date 2025-08-26 (as recalled; verify)"),
    _lot("ICICIBANK", 700, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("INFY", 400, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("HINDUNILVR", 300, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("SBIN", 1500, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("SBIN", 750, "trade", date(2024, 4, 26), _SRC_HALVED),
    _lot("BHARTIARTL", 950, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("BHARTIARTL", 475, "trade", date(2024, 4, 26), _SRC_HALVED),
    _lot("ITC", 1600, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("LT", 300, "trade", date(2024, 1, 1), _SRC_STOCK),
    _lot("LT", 150, "trade", date(2024, 4, 26), _SRC_HALVED),
    _lot("AXISBANK", 625, "trade", date(2024, 1, 1), _SRC_STOCK),
)  # fmt: skip


@dataclass(frozen=True)
class StrikeStepRule:
    """An index's strike interval; beyond `far_moneyness` (|K/S - 1|) strikes step by `far_step`."""

    underlyings: tuple[str, ...]
    step: float
    far_step: float | None
    far_moneyness: float | None
    effective_from: date
    effective_until: date | None
    source: str


STRIKE_STEPS: tuple[StrikeStepRule, ...] = (
    StrikeStepRule(("NIFTY",), 50.0, 100.0, 0.08, _TABLE_START, None,
                   "DOMAIN.md: 50, 100 for far strikes; 'far' = beyond +/-8% of spot is this "
                   "project's choice"),
    StrikeStepRule(("BANKNIFTY",), 100.0, None, None, _TABLE_START, None, "DOMAIN.md: 100"),
)  # fmt: skip


@dataclass(frozen=True)
class StrikeBands:
    """Stock strike interval by price: `bands` are (max_price inclusive, step), ascending."""

    bands: tuple[tuple[float, float], ...]
    effective_from: date
    effective_until: date | None
    source: str


STOCK_STRIKE_BANDS: tuple[StrikeBands, ...] = (
    StrikeBands(
        ((250.0, 2.5), (500.0, 5.0), (1000.0, 10.0), (2500.0, 20.0), (5000.0, 50.0),
         (math.inf, 100.0)),
        _TABLE_START, None,
        "project approximation of NSE's price-based strike-interval scheme; NSE fixes each "
        "stock's interval itself, so verify per stock before relying on it",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class SettlementRule:
    underlyings: tuple[str, ...]
    settlement: str
    effective_from: date
    effective_until: date | None
    source: str


SETTLEMENT: tuple[SettlementRule, ...] = (
    SettlementRule(INDICES, "European, cash-settled", _TABLE_START, None,
                   "DOMAIN.md: European, cash-settled on the index"),
    SettlementRule(STOCKS, "European, physically settled", _TABLE_START, None,
                   "SEBI 2018 circular: physical settlement of stock derivatives, phased in by "
                   "2019 (as recalled)"),
)  # fmt: skip


@dataclass(frozen=True)
class ContractSpec:
    """Terms of a contract newly listed on `on` for the nearest expiry."""

    underlying: str
    on: date
    kind: str  # "index" | "stock"
    lot_size: int
    strike_step: float | None  # None for a stock when no spot was given
    expiries: tuple[date, ...]
    settlement: str


def _check(underlying: str) -> str:
    if underlying not in UNDERLYINGS:
        raise ValueError(f"unknown underlying {underlying!r}; known: {', '.join(UNDERLYINGS)}")
    return underlying


def _covers(row: Any, d: date) -> bool:
    """Whether effective-dated `row` (any table's) is in force at `d`."""
    return row.effective_from <= d and (row.effective_until is None or d <= row.effective_until)


def _rule(table: tuple[Any, ...], underlying: str, on: date, what: str) -> Any:
    for row in table:
        if underlying in row.underlyings and _covers(row, on):
            return row
    raise ValueError(f"no {what} rule for {underlying} on {on}")


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _roll_back(d: date) -> date:
    return d if is_trading_day(d) else previous_trading_day(d)


@cache
def _month_nominal(underlying: str, cycle: str, year: int, month: int) -> date | None:
    """The nominal monthly/quarterly expiry of a month; the most recent rule decides."""
    found = [
        (r.effective_from, d)
        for r in EXPIRY_DAY_RULES
        if underlying in r.underlyings and r.cycle == cycle
        for d in [_last_weekday(year, month, r.weekday)]
        if _covers(r, d)
    ]
    return max(found)[1] if found else None


@cache
def _year_schedule(underlying: str, year: int) -> tuple[tuple[date, frozenset[str]], ...]:
    """(actual expiry, cycles) for every nominal expiry in `year`, ascending by actual date."""
    cycles: dict[date, set[str]] = {}
    for month in range(1, 13):
        m = _month_nominal(underlying, MONTHLY, year, month)
        if m is not None:
            cycles.setdefault(m, set()).add(MONTHLY)
        q = _month_nominal(underlying, QUARTERLY, year, month) if month in _QUARTER_MONTHS else None
        if q is not None:
            cycles.setdefault(q, set()).add(QUARTERLY)
    weekly = [r for r in EXPIRY_DAY_RULES if underlying in r.underlyings and r.cycle == WEEKLY]
    d = date(year, 1, 1)
    while d.year == year:
        if any(r.weekday == d.weekday() and _covers(r, d) for r in weekly):
            # The week's monthly expiry (if any) takes the weekly slot.
            monday = d - timedelta(days=d.weekday())
            week_monthly = [
                m
                for m in (_month_nominal(underlying, MONTHLY, x.year, x.month) for x in (d, monday))
                if m is not None and monday <= m < monday + timedelta(days=7)
            ]
            cycles.setdefault(week_monthly[0] if week_monthly else d, set()).add(WEEKLY)
        d += timedelta(days=1)
    actual: dict[date, set[str]] = {}
    for nominal, cyc in cycles.items():
        actual.setdefault(_roll_back(nominal), set()).update(cyc)
    return tuple(sorted((a, frozenset(c)) for a, c in actual.items()))


def _schedule(underlying: str, start: date, end: date) -> list[tuple[date, frozenset[str]]]:
    # Neighbouring years are included because a rollback can move an expiry across New Year.
    rows = [r for y in range(start.year - 1, end.year + 2) for r in _year_schedule(underlying, y)]
    return sorted(r for r in rows if start <= r[0] <= end)


def expiries(underlying: str, on: date, count: int | None = None) -> list[date]:
    """Expiries listed and alive (expiry >= on) on trade date `on`, nearest first.

    `count` keeps only the first `count`. ValueError for an unknown underlying, a date before the
    listing tables, or count < 1.
    """
    _check(underlying)
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rules = [r for r in LISTING_RULES if underlying in r.underlyings and _covers(r, on)]
    if not rules:
        raise ValueError(f"no listing rules for {underlying} on {on}")
    schedule = _schedule(underlying, on, on + timedelta(days=400))
    chosen: set[date] = set()
    for rule in rules:
        dates = [a for a, cyc in schedule if rule.cycle in cyc]
        if rule.serial is not None:
            chosen.update(dates[: rule.serial])
        if rule.horizon_days is not None:
            chosen.update(a for a in dates if a <= on + timedelta(days=rule.horizon_days))
    if not chosen:
        raise ValueError(f"no {underlying} expiries listed on {on}")
    out = sorted(chosen)
    return out if count is None else out[:count]


def _cycles_of(underlying: str, expiry: date) -> frozenset[str]:
    for a, cyc in _schedule(underlying, expiry, expiry):
        if a == expiry:
            return cyc
    raise ValueError(f"{expiry} is not a scheduled {underlying} expiry")


def expiry_kind(underlying: str, expiry: date) -> str:
    """'weekly' | 'monthly' | 'quarterly' - the longest cycle the expiry belongs to."""
    cycles = _cycles_of(_check(underlying), expiry)
    return next(k for k in (QUARTERLY, MONTHLY, WEEKLY) if k in cycles)


def listing_date(underlying: str, expiry: date) -> date:
    """First trading day on which `expiries(underlying, day)` includes `expiry`.

    ValueError if `expiry` is not on this module's schedule or was listed before the rule tables.
    """
    cycles = _cycles_of(_check(underlying), expiry)
    history = _schedule(underlying, expiry - timedelta(days=400), expiry)
    candidates = []
    for rule in LISTING_RULES:
        if underlying not in rule.underlyings or rule.cycle not in cycles:
            continue
        if rule.serial is not None:
            before = [a for a, cyc in history if rule.cycle in cyc and a < expiry]
            if len(before) < rule.serial:
                # The cycle's history starts inside the window, so the listing is unknowable.
                raise ValueError(
                    f"listing date of {underlying} {expiry} precedes the expiry-rule tables"
                )
            # Listed once the expiry `serial` places ahead has gone.
            day = next_trading_day(before[-rule.serial])
        else:
            first = expiry - timedelta(days=rule.horizon_days)  # type: ignore[operator]
            day = first if is_trading_day(first) else next_trading_day(first)
        if _covers(rule, day):
            candidates.append(day)
    if not candidates:
        raise ValueError(f"listing date of {underlying} {expiry} precedes the listing tables")
    return min(candidates)


def lot_size(underlying: str, on: date, expiry: date | None = None) -> int:
    """Units per contract for a contract trading on `on`.

    With `expiry`, the contract's listing date is `listing_date(underlying, expiry)` (capped at
    `on`); an expiry off this module's schedule (e.g. a long-dated contract) is treated as listed
    on `on`. With `expiry=None` the answer is for a contract newly listed on `on` whose expiry is
    the nearest listed expiry, `expiries(underlying, on)[0]`.
    """
    _check(underlying)
    if expiry is None:
        exp, listed = expiries(underlying, on, count=1)[0], on
    else:
        if expiry < on:
            raise ValueError(f"{underlying} contract expiring {expiry} is not alive on {on}")
        exp = expiry
        try:
            listed = min(on, listing_date(underlying, expiry))
        except ValueError:
            listed = on
    basis_date = {"listing": listed, "expiry": exp, "trade": on}
    rows = [r for r in LOT_SIZES if r.underlying == underlying and _covers(r, basis_date[r.basis])]
    if not rows:
        raise ValueError(f"no lot size for {underlying} on {on} (expiry {exp}, listed {listed})")
    return max(rows, key=lambda r: r.effective_from).lot


def strike_step_for_price(underlying: str, on: date, spot: float) -> float:
    """Strike interval at underlying price `spot`: stock price bands; indices ignore the price."""
    _check(underlying)
    if not (math.isfinite(spot) and spot > 0):
        raise ValueError(f"spot must be a positive finite price, got {spot} for {underlying}")
    if underlying in INDICES:
        return strike_step(underlying, on)
    for table in STOCK_STRIKE_BANDS:
        if _covers(table, on):
            return next(step for top, step in table.bands if spot <= top)
    raise ValueError(f"no strike price bands for {underlying} on {on}")


def strike_step(
    underlying: str, on: date, moneyness: float | None = None, *, spot: float | None = None
) -> float:
    """Strike interval of `underlying` on `on`.

    `moneyness` is strike / spot (1.0 = at the money); for NIFTY a strike with
    |moneyness - 1| > 0.08 steps by 100 instead of 50. Stocks ignore moneyness and need `spot`
    (their step depends on price): without it this raises ValueError.
    """
    _check(underlying)
    if moneyness is not None and not (math.isfinite(moneyness) and moneyness > 0):
        raise ValueError(f"moneyness is strike/spot and must be > 0, got {moneyness}")
    if underlying in STOCKS:
        if spot is None:
            raise ValueError(
                f"strike step of stock {underlying} depends on its price: pass spot= "
                "or call strike_step_for_price"
            )
        return strike_step_for_price(underlying, on, spot)
    rule = _rule(STRIKE_STEPS, underlying, on, "strike step")
    far = rule.far_moneyness is not None and moneyness is not None
    if far and abs(moneyness - 1.0) > rule.far_moneyness:
        return rule.far_step
    return rule.step


def contract_spec(underlying: str, on: date, spot: float | None = None) -> ContractSpec:
    """Lot size, strike step, listed expiries and settlement, bundled for one trade date."""
    _check(underlying)
    is_stock = underlying in STOCKS
    step = None if is_stock and spot is None else strike_step(underlying, on, spot=spot)
    return ContractSpec(
        underlying=underlying,
        on=on,
        kind="stock" if is_stock else "index",
        lot_size=lot_size(underlying, on),
        strike_step=step,
        expiries=tuple(expiries(underlying, on)),
        settlement=_rule(SETTLEMENT, underlying, on, "settlement").settlement,
    )
