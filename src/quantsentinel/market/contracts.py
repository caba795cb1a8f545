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
from quantsentinel.market.contract_facts import (
    _QUARTER_MONTHS,
    EXPIRY_DAY_RULES,
    INDICES,
    LISTING_RULES,
    LOT_SIZES,
    MONTHLY,
    QUARTERLY,
    SETTLEMENT,
    STOCK_STRIKE_BANDS,
    STOCKS,
    STRIKE_STEPS,
    UNDERLYINGS,
    WEEKLY,
)

__all__ = ["INDICES", "STOCKS", "UNDERLYINGS"]  # re-exported: callers ask contracts


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


@cache  # pure in its arguments; the risk layer asks for every leg of every candidate
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
