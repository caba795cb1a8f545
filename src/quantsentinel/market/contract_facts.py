"""Effective-dated contract facts: expiry-day rules, listing cycles, lot sizes, strike steps and
settlement, each row with the source it came from. `market.contracts` answers questions from
these tables; change a fact here, never in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

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
