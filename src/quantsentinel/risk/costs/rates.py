"""Statutory and exchange charges on NSE equity derivatives, as effective-dated rows.

Every charge a retail F&O order pays besides brokerage and slippage is a `RateRow`: which charge,
on which instrument ("option" | "future"), the rate as a fraction of its base, the inclusive
period it was in force, and the circular / broker page it came from. A `RateSchedule` holds the
rows and answers "what was the rate on this trade date"; a date before the schedule covers a
charge raises `RateCoverageError` rather than quietly borrowing another period's rate, because a
wrong-period rate is a silently wrong cost gate.

Bases (which rupee amount each rate multiplies) are fixed by the charge, not by the row:
- `stt`          sell side only: option premium sold / futures price x quantity sold;
- `stt_exercise` options bought and exercised in the money: intrinsic (settlement) value;
- `exchange_txn` NSE transaction charge, both sides: option premium / futures turnover;
- `ipft`         NSE Investor Protection Fund Trust levy, both sides, same base as exchange_txn;
- `sebi_fee`     SEBI turnover fee (₹10 per crore), both sides, same base;
- `stamp_duty`   buy side only, same base;
- `gst`          18% of the charges in `RateSchedule.gst_base` (brokerage + exchange_txn +
                 sebi_fee + ipft by default).

GST and IPFT: Zerodha's IPFT page says IPFT is "levied separately but included under exchange
transaction charges in the contract note" and bills 18% GST on it; Dhan's pricing page lists GST
on "brokerage + transaction charges + SEBI turnover + IPFT"; the r/UpdateINDIA statutory-charges
worked example (2025-05-28) applies GST to exchange + SEBI + IPFT. Upstox's help page says GST
does not apply to IPFT. The default follows the majority (GST on IPFT); a schedule built with
`gst_base=(BROKERAGE, EXCHANGE_TXN, SEBI_FEE)` reproduces the Upstox treatment. The difference is
18% of ₹0.50 per lakh of option premium: immaterial to any gate, but kept explicit.

Coverage starts 2023-04-01: the Finance Act 2023 STT rise, NSE's roll-back of its 6% transaction
charge surcharge and the IPFT recalibration all took effect that day, so earlier trade dates
would need a different row for almost every charge. Rows whose rate was already in force before
then say so in their source.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from quantsentinel.risk.errors import RiskInputError

OPTION, FUTURE = "option", "future"
INSTRUMENTS = (OPTION, FUTURE)

STT = "stt"
STT_EXERCISE = "stt_exercise"
EXCHANGE_TXN = "exchange_txn"
IPFT = "ipft"
SEBI_FEE = "sebi_fee"
STAMP_DUTY = "stamp_duty"
GST = "gst"
BROKERAGE = "brokerage"  # from the tenant's BrokeragePlan, not from a rate row
SLIPPAGE = "slippage"  # from the SlippageModel: not a fee

RATE_CHARGES = (STT, STT_EXERCISE, EXCHANGE_TXN, IPFT, SEBI_FEE, STAMP_DUTY, GST)
# Every charge an instrument must have a rate for (a future is never exercised).
REQUIRED: Mapping[str, tuple[str, ...]] = {
    OPTION: RATE_CHARGES,
    FUTURE: (STT, EXCHANGE_TXN, IPFT, SEBI_FEE, STAMP_DUTY, GST),
}
DEFAULT_GST_BASE = (BROKERAGE, EXCHANGE_TXN, SEBI_FEE, IPFT)


class RateCoverageError(RiskInputError):
    """No rate row covers the asked (charge, instrument, date): the date is outside the table."""


@dataclass(frozen=True, slots=True)
class RateRow:
    """One charge's rate (a fraction of its base) for [effective_from, effective_to], inclusive.

    `effective_to=None` means "until further notice".
    """

    charge: str
    instrument: str
    rate: float
    effective_from: date
    effective_to: date | None
    source: str

    def covers(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


# --- the published schedule ------------------------------------------------------------------

_START = date(2023, 4, 1)
_BUDGET_2024 = date(2024, 10, 1)
_BUDGET_2026 = date(2026, 4, 1)
_UNTIL_2024 = date(2024, 9, 30)
_UNTIL_2026 = date(2026, 3, 31)
_BEFORE = " In force before 2023-04-01 too; the table starts there."

_SRC_STT_2023 = (
    "Finance Act 2023 (amendment of 2023-03-24): STT on sale of an option 0.05% -> 0.0625% of "
    "premium and on sale of a future 0.01% -> 0.0125%, from 2023-04-01; DOMAIN.md."
)
_SRC_STT_2024 = (
    "Finance (No. 2) Act 2024 (Budget speech 2024-07-23): STT on sale of an option 0.0625% -> "
    "0.1% of premium, on sale of a future 0.0125% -> 0.02% of traded price, from 2024-10-01; "
    "DOMAIN.md."
)
_SRC_STT_2026 = (
    "Finance Act 2026 (Budget 2026): STT on futures 0.02% -> 0.05%, on option premium 0.1% -> "
    "0.15%, on options exercised 0.125% -> 0.15%, from 2026-04-01; DOMAIN.md; Zerodha charges "
    "table as mirrored 2026 (0.15% on premium, 0.15% of intrinsic value on exercise)."
)
_SRC_EXERCISE = (
    "Finance (No. 2) Act 2004 Sec. 98 as amended (2016): 0.125% of the settlement (intrinsic) "
    "value of an option bought and exercised; Zerodha support 'What charges are levied if option "
    "positions get exercised'; DOMAIN.md." + _BEFORE
)
_SRC_NSE_OLD_OPT = (
    "DOMAIN.md; Zerodha charges page before 2024-10-01: 'NSE: 0.0495% (on premium)'. NSE rolled "
    "back its 6% surcharge from 2023-04-01 (NSE press release 2023-03-24); before 2024-10-01 NSE "
    "billed members on turnover slabs, so 0.0495% is the rate brokers passed on, not one number "
    "every member paid."
)
_SRC_NSE_OLD_FUT = (
    "DOMAIN.md: 0.0019% of turnover. Zerodha's charges page of the same period printed 0.00188%; "
    "the 0.00002% difference is ₹0.20 per ₹10 lakh traded."
)
_SRC_NSE_OCT24 = (
    "NSE circular of 2024-09-27 under SEBI circular 2024-07-01 (uniform, flat MII charges): "
    "equity options ₹35.03 per lakh of premium, equity futures ₹1.73 per lakh of traded value, "
    "each side, from 2024-10-01; DOMAIN.md."
)
_SRC_IPFT = (
    "NSE press release 2023-03-24: contribution to NSE IPFT recalibrated to ₹10 per crore (cash, "
    "equity futures) and ₹50 per crore of premium (equity options) from 2023-04-01; Zerodha "
    "support 'What are IPFT charges?' (₹50/crore options, ₹10/crore futures, + 18% GST); DOMAIN.md."
)
_SRC_SEBI = (
    "SEBI turnover fee ₹10 per crore of turnover (premium turnover for options), both sides; "
    "Zerodha / Upstox charges pages; DOMAIN.md." + _BEFORE
)
_SRC_STAMP = (
    "Indian Stamp Act 1899 as amended by the Finance Act 2019, uniform rates from 2020-07-01: "
    "options 0.003% of premium, futures 0.002%, on the buyer only; DOMAIN.md." + _BEFORE
)
_SRC_GST = (
    "CGST/SGST (or IGST) 18% on the broker's and exchange's services: brokerage, exchange "
    "transaction charge, SEBI fee and IPFT (Zerodha IPFT page: '+ 18% GST'; Dhan pricing page: "
    "'18% on brokerage + transaction charges + SEBI Turnover + IPFT'); DOMAIN.md." + _BEFORE
)


def _row(charge: str, instrument: str, rate: float, start: date, end: date | None, src: str):
    return RateRow(charge, instrument, rate, start, end, src)


DEFAULT_ROWS: tuple[RateRow, ...] = (
    _row(STT, OPTION, 0.000625, _START, _UNTIL_2024, _SRC_STT_2023),
    _row(STT, OPTION, 0.001, _BUDGET_2024, _UNTIL_2026, _SRC_STT_2024),
    _row(STT, OPTION, 0.0015, _BUDGET_2026, None, _SRC_STT_2026),
    _row(STT, FUTURE, 0.000125, _START, _UNTIL_2024, _SRC_STT_2023),
    _row(STT, FUTURE, 0.0002, _BUDGET_2024, _UNTIL_2026, _SRC_STT_2024),
    _row(STT, FUTURE, 0.0005, _BUDGET_2026, None, _SRC_STT_2026),
    _row(STT_EXERCISE, OPTION, 0.00125, _START, _UNTIL_2026, _SRC_EXERCISE),
    _row(STT_EXERCISE, OPTION, 0.0015, _BUDGET_2026, None, _SRC_STT_2026),
    _row(EXCHANGE_TXN, OPTION, 0.000495, _START, _UNTIL_2024, _SRC_NSE_OLD_OPT),
    _row(EXCHANGE_TXN, OPTION, 0.0003503, _BUDGET_2024, None, _SRC_NSE_OCT24),
    _row(EXCHANGE_TXN, FUTURE, 0.000019, _START, _UNTIL_2024, _SRC_NSE_OLD_FUT),
    _row(EXCHANGE_TXN, FUTURE, 0.0000173, _BUDGET_2024, None, _SRC_NSE_OCT24),
    _row(IPFT, OPTION, 0.000005, _START, None, _SRC_IPFT),
    _row(IPFT, FUTURE, 0.000001, _START, None, _SRC_IPFT),
    _row(SEBI_FEE, OPTION, 0.000001, _START, None, _SRC_SEBI),
    _row(SEBI_FEE, FUTURE, 0.000001, _START, None, _SRC_SEBI),
    _row(STAMP_DUTY, OPTION, 0.00003, _START, None, _SRC_STAMP),
    _row(STAMP_DUTY, FUTURE, 0.00002, _START, None, _SRC_STAMP),
    _row(GST, OPTION, 0.18, _START, None, _SRC_GST),
    _row(GST, FUTURE, 0.18, _START, None, _SRC_GST),
)


# --- the schedule ----------------------------------------------------------------------------


class RatesOn:
    """Every rate row in force on one date, keyed by (charge, instrument). Built once per date."""

    __slots__ = ("_rows", "gst_base", "on")

    def __init__(self, on: date, rows: dict[tuple[str, str], RateRow], gst_base: tuple[str, ...]):
        self.on = on
        self._rows = rows
        self.gst_base = gst_base

    def row(self, charge: str, instrument: str) -> RateRow:
        try:
            return self._rows[(charge, instrument)]
        except KeyError:
            raise RateCoverageError(
                "rate_not_covered",
                f"no {charge} rate for {instrument}s on {self.on}",
                charge=charge,
                instrument=instrument,
                on=self.on.isoformat(),
            ) from None

    def rate(self, charge: str, instrument: str) -> float:
        return self.row(charge, instrument).rate


class RateSchedule:
    """Effective-dated charge rows; look rates up by trade date.

    Rows are checked on construction: known charge and instrument, a finite rate in [0, 1), a
    source, and no two rows of one (charge, instrument) in force on the same day. A schedule may
    leave gaps; asking for a date in a gap, or before a charge's first row, raises
    `RateCoverageError` (code `rate_not_covered`).
    """

    def __init__(
        self,
        rows: Iterable[RateRow] = DEFAULT_ROWS,
        *,
        gst_base: Iterable[str] = DEFAULT_GST_BASE,
        name: str = "NSE equity derivatives (DOMAIN.md)",
    ) -> None:
        self.rows: tuple[RateRow, ...] = tuple(rows)
        self.gst_base: tuple[str, ...] = tuple(gst_base)
        self.name = name
        self._by_key: dict[tuple[str, str], tuple[RateRow, ...]] = {}
        self._on_cache: dict[date, RatesOn] = {}
        self._check()

    def _check(self) -> None:
        unknown = [c for c in self.gst_base if c not in (BROKERAGE, EXCHANGE_TXN, SEBI_FEE, IPFT)]
        if unknown:
            raise RiskInputError(
                "bad_rate_table", f"gst_base may hold brokerage and exchange/SEBI/IPFT levies, "
                f"not {unknown}", gst_base=list(self.gst_base)
            )  # fmt: skip
        for row in self.rows:
            _check_row(row)
            self._by_key.setdefault((row.charge, row.instrument), ())
            self._by_key[(row.charge, row.instrument)] += (row,)
        for key, rows in self._by_key.items():
            ordered = sorted(rows, key=lambda r: r.effective_from)
            for before, after in pairwise(ordered):
                if before.effective_to is None or before.effective_to >= after.effective_from:
                    raise RiskInputError(
                        "bad_rate_table",
                        f"{key[0]} rows for {key[1]}s overlap: {before.effective_from}.."
                        f"{before.effective_to} and {after.effective_from}..",
                        charge=key[0],
                        instrument=key[1],
                    )
            self._by_key[key] = tuple(ordered)

    def coverage_start(self, instrument: str | None = None) -> date:
        """First date on which every required charge (of `instrument`, or of both) has a row."""
        instruments = INSTRUMENTS if instrument is None else (_instrument(instrument),)
        starts = []
        for inst in instruments:
            for charge in REQUIRED[inst]:
                rows = self._by_key.get((charge, inst))
                if not rows:
                    raise RateCoverageError(
                        "rate_not_covered", f"the schedule has no {charge} rows for {inst}s"
                    )
                starts.append(rows[0].effective_from)
        return max(starts)

    def row(self, charge: str, instrument: str, on: date) -> RateRow:
        """The row of `charge` for `instrument` in force on `on` (RateCoverageError if none)."""
        on = _as_date(on)
        for row in self._by_key.get((charge, _instrument(instrument)), ()):
            if row.covers(on):
                return row
        first = self._by_key.get((charge, instrument), ())
        where = f"the table starts {first[0].effective_from}" if first else "the table has none"
        raise RateCoverageError(
            "rate_not_covered",
            f"no {charge} rate for {instrument}s on {on} ({where}); "
            "refusing to use another period's rate",
            charge=charge,
            instrument=instrument,
            on=on.isoformat(),
        )

    def rate(self, charge: str, instrument: str, on: date) -> float:
        return self.row(charge, instrument, on).rate

    def on(self, trade_date: date) -> RatesOn:
        """All rows in force on `trade_date`; every required charge must be covered.

        Cached per date: the engine asks once per order, thousands of times per snapshot.
        """
        trade_date = _as_date(trade_date)
        cached = self._on_cache.get(trade_date)
        if cached is not None:
            return cached
        rows = {
            (charge, inst): self.row(charge, inst, trade_date)
            for inst in INSTRUMENTS
            for charge in REQUIRED[inst]
        }
        result = RatesOn(trade_date, rows, self.gst_base)
        if len(self._on_cache) > 4096:  # a long backtest walks many dates; keep memory bounded
            self._on_cache.clear()
        self._on_cache[trade_date] = result
        return result


def _check_row(row: RateRow) -> None:
    where = {"charge": row.charge, "instrument": row.instrument}
    if row.charge not in RATE_CHARGES:
        raise RiskInputError("bad_rate_table", f"unknown charge {row.charge!r}", **where)
    if row.instrument not in INSTRUMENTS:
        raise RiskInputError("bad_rate_table", f"unknown instrument {row.instrument!r}", **where)
    rate = row.rate
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise RiskInputError("bad_rate_table", f"rate must be finite, got {rate!r}", **where)
    if not 0.0 <= rate < 1.0:
        raise RiskInputError("bad_rate_table", f"rate {rate} is a fraction in [0, 1)", **where)
    if not isinstance(row.effective_from, date) or isinstance(row.effective_from, datetime):
        raise RiskInputError("bad_rate_table", "effective_from must be a date", **where)
    if row.effective_to is not None and row.effective_to < row.effective_from:
        raise RiskInputError(
            "bad_rate_table",
            f"effective_to {row.effective_to} is before effective_from {row.effective_from}",
            **where,
        )
    if not row.source or not row.source.strip():
        raise RiskInputError("bad_rate_table", "every rate row names its source", **where)


def _instrument(instrument: str) -> str:
    if instrument not in INSTRUMENTS:
        raise RiskInputError("bad_input", f"instrument {instrument!r} is not one of {INSTRUMENTS}")
    return instrument


def _as_date(on: date) -> date:
    if isinstance(on, datetime):
        return on.date()
    if not isinstance(on, date):
        raise RiskInputError("bad_input", f"a trade date must be a date, got {on!r}")
    return on
