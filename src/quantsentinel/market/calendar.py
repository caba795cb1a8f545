"""NSE trading calendar: holidays, session bounds and time to expiry.

Facts live in effective-dated tables (`NSE_HOLIDAYS`, `SESSION_RULES`), each row carrying the
source it was taken from, so a revised circular is a new row rather than an edited constant.

Scope and known gaps:
- holidays are listed for the years `holiday_coverage()` reports; outside them only the weekend
  rule applies, so callers that care (backfills, partitions) should check coverage first;
- special weekend sessions (e.g. the Saturday 2024-01-20 session, budget-day sessions) and the
  evening Muhurat session on Diwali are not modelled: a weekend is always closed and a listed
  holiday is closed all day.

Time to expiry is ACT/365 from a tz-aware instant to 15:30 Asia/Kolkata on the expiry date,
computed on int64 nanoseconds so a whole option chain is one NumPy expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

import numpy as np
import pandas as pd

from quantsentinel.market.schema import MARKET_TZ

_DAY_NS = 86_400 * 10**9
_YEAR_NS = 365 * _DAY_NS
_NAT = np.iinfo(np.int64).min  # pandas' int64 sentinel for NaT
# 1970-01-01 was a Thursday; days-since-epoch + 3 modulo 7 gives Monday=0 weekdays.
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class Holiday:
    """One weekday on which the equity and equity-derivatives segments do not trade."""

    day: date
    name: str
    source: str


_SRC_2024 = "NSE trading holidays for calendar year 2024, equity & F&O segments (Dec 2023 list)"
_SRC_2025 = "NSE trading holidays for calendar year 2025, equity & F&O segments (Dec 2024 list)"
_SRC_2026 = "NSE trading holidays for calendar year 2026, equity & F&O segments (Dec 2025 list)"


def _h(y: int, m: int, d: int, name: str, source: str) -> Holiday:
    return Holiday(date(y, m, d), name, source)


NSE_HOLIDAYS: tuple[Holiday, ...] = (
    _h(
        2024,
        1,
        22,
        "Special holiday (Ram Mandir consecration)",
        "NSE special-holiday circular, Jan 2024, after Maharashtra declared a public holiday "
        "(declared at short notice; verify)",
    ),
    _h(2024, 1, 26, "Republic Day", _SRC_2024),
    _h(2024, 3, 8, "Mahashivratri", _SRC_2024),
    _h(2024, 3, 25, "Holi", _SRC_2024),
    _h(2024, 3, 29, "Good Friday", _SRC_2024),
    _h(2024, 4, 11, "Id-Ul-Fitr (Ramadan Eid)", _SRC_2024),
    _h(2024, 4, 17, "Shri Ram Navami", _SRC_2024),
    _h(2024, 5, 1, "Maharashtra Day", _SRC_2024),
    _h(
        2024,
        5,
        20,
        "Parliamentary elections (Mumbai)",
        "NSE circular declaring a trading holiday for Lok Sabha polling in Mumbai, 2024",
    ),
    _h(2024, 6, 17, "Bakri Id", _SRC_2024),
    _h(2024, 7, 17, "Moharram", _SRC_2024),
    _h(2024, 8, 15, "Independence Day", _SRC_2024),
    _h(2024, 10, 2, "Mahatma Gandhi Jayanti", _SRC_2024),
    _h(2024, 11, 1, "Diwali Laxmi Pujan (Muhurat session not modelled)", _SRC_2024),
    _h(2024, 11, 15, "Gurunanak Jayanti", _SRC_2024),
    _h(
        2024,
        11,
        20,
        "Maharashtra assembly elections",
        "NSE circular dated 2024-11-08 notifying a trading holiday for assembly polls",
    ),
    _h(2024, 12, 25, "Christmas", _SRC_2024),
    _h(2025, 2, 26, "Mahashivratri", _SRC_2025),
    _h(2025, 3, 14, "Holi", _SRC_2025),
    _h(2025, 3, 31, "Id-Ul-Fitr (Ramadan Eid)", _SRC_2025),
    _h(2025, 4, 10, "Shri Mahavir Jayanti", _SRC_2025),
    _h(2025, 4, 14, "Dr. Baba Saheb Ambedkar Jayanti", _SRC_2025),
    _h(2025, 4, 18, "Good Friday", _SRC_2025),
    _h(2025, 5, 1, "Maharashtra Day", _SRC_2025),
    _h(2025, 8, 15, "Independence Day", _SRC_2025),
    _h(2025, 8, 27, "Ganesh Chaturthi", _SRC_2025),
    _h(2025, 10, 2, "Mahatma Gandhi Jayanti / Dussehra", _SRC_2025),
    _h(2025, 10, 21, "Diwali Laxmi Pujan (Muhurat session not modelled)", _SRC_2025),
    _h(2025, 10, 22, "Diwali Balipratipada", _SRC_2025),
    _h(2025, 11, 5, "Prakash Gurpurb Sri Guru Nanak Dev", _SRC_2025),
    _h(2025, 12, 25, "Christmas", _SRC_2025),
    _h(
        2026,
        1,
        15,
        "Municipal corporation elections (Maharashtra)",
        "NSE circular, Jan 2026, notifying a trading holiday for BMC polls (verify)",
    ),
    _h(2026, 1, 26, "Republic Day", _SRC_2026),
    _h(2026, 3, 3, "Holi", _SRC_2026),
    _h(2026, 3, 26, "Shri Ram Navami", _SRC_2026),
    _h(2026, 3, 31, "Shri Mahavir Jayanti", _SRC_2026),
    _h(2026, 4, 3, "Good Friday", _SRC_2026),
    _h(2026, 4, 14, "Dr. Baba Saheb Ambedkar Jayanti", _SRC_2026),
    _h(2026, 5, 1, "Maharashtra Day", _SRC_2026),
    _h(2026, 5, 28, "Bakri Id", _SRC_2026),
    _h(2026, 6, 26, "Muharram", _SRC_2026),
    _h(2026, 9, 14, "Ganesh Chaturthi", _SRC_2026),
    _h(2026, 10, 2, "Mahatma Gandhi Jayanti", _SRC_2026),
    _h(2026, 10, 20, "Dussehra", _SRC_2026),
    _h(2026, 11, 10, "Diwali Balipratipada", _SRC_2026),
    _h(2026, 11, 24, "Prakash Gurpurb Sri Guru Nanak Dev", _SRC_2026),
    _h(2026, 12, 25, "Christmas", _SRC_2026),
)

_HOLIDAYS = frozenset(h.day for h in NSE_HOLIDAYS)
_HOLIDAY_DAYS = np.array(sorted(_HOLIDAYS), dtype="datetime64[D]").astype(np.int64)


@dataclass(frozen=True)
class SessionRule:
    """Market-time session bounds in force for trade dates in [effective_from, effective_until]."""

    pre_open: time
    pre_open_end: time
    open: time
    close: time
    effective_from: date
    effective_until: date | None
    source: str


SESSION_RULES: tuple[SessionRule, ...] = (
    SessionRule(
        time(9, 0),
        time(9, 8),
        time(9, 15),
        time(15, 30),
        date(2010, 10, 18),
        None,
        "DOMAIN.md session 09:15-15:30 IST, pre-open 09:00-09:08 (NSE market timings); "
        "start date = introduction of the pre-open call auction, as recalled (verify)",
    ),
)


@dataclass(frozen=True)
class Session:
    """One trading day's bounds, tz-aware in Asia/Kolkata."""

    pre_open: pd.Timestamp
    open: pd.Timestamp
    close: pd.Timestamp


def _as_date(d: date) -> date:
    # A datetime/Timestamp is also a `date`, but hashes differently; reduce it to its calendar day.
    return d.date() if isinstance(d, datetime) else d


def holiday_coverage() -> tuple[int, int]:
    """(first_year, last_year) for which `NSE_HOLIDAYS` lists the exchange's holidays."""
    years = [h.day.year for h in NSE_HOLIDAYS]
    return min(years), max(years)


def is_trading_day(d: date) -> bool:
    """True on a weekday that is not a listed exchange holiday."""
    d = _as_date(d)
    return d.weekday() < 5 and d not in _HOLIDAYS


def trading_days(start: date, end: date) -> list[date]:
    """Trading days in [start, end], inclusive, ascending."""
    start, end = _as_date(start), _as_date(end)
    n = (end - start).days + 1
    days = (start + timedelta(days=i) for i in range(max(n, 0)))
    return [d for d in days if is_trading_day(d)]


def previous_trading_day(d: date) -> date:
    """The last trading day strictly before `d`."""
    d = _as_date(d) - timedelta(days=1)
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def next_trading_day(d: date) -> date:
    """The first trading day strictly after `d`."""
    d = _as_date(d) + timedelta(days=1)
    while not is_trading_day(d):
        d += timedelta(days=1)
    return d


def _session_rule(d: date) -> SessionRule:
    for rule in SESSION_RULES:
        if rule.effective_from <= d and (rule.effective_until is None or d <= rule.effective_until):
            return rule
    raise ValueError(
        f"no session timings for {d}: SESSION_RULES start {SESSION_RULES[0].effective_from}"
    )


def _at(d: date, t: time) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(d, t)).tz_localize(MARKET_TZ)


def session(d: date) -> Session:
    """Pre-open, open and close of trading day `d`; ValueError on a weekend or holiday."""
    d = _as_date(d)
    if not is_trading_day(d):
        raise ValueError(f"{d} is not an NSE trading day")
    rule = _session_rule(d)
    return Session(_at(d, rule.pre_open), _at(d, rule.open), _at(d, rule.close))


def in_session(ts: pd.Timestamp | datetime) -> bool:
    """True if `ts` falls in continuous trading, open <= ts <= close (pre-open excluded).

    The close instant is included so a snapshot stamped exactly 15:30:00 (the exchange's closing
    print) counts as in session. `ts` may be in any timezone but must be tz-aware.
    """
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"in_session needs a tz-aware timestamp, got naive {stamp}")
    local = stamp.tz_convert(MARKET_TZ)
    day = local.date()
    if not is_trading_day(day):
        return False
    rule = _session_rule(day)
    return rule.open <= local.time() <= rule.close


def _utc_ns(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch nanoseconds and a NaT mask; rejects naive input (its clock would be a guess)."""
    arr = ts.array if isinstance(ts, pd.Series) else ts
    if not isinstance(arr, pd.DatetimeIndex | pd.arrays.DatetimeArray):
        arr = pd.DatetimeIndex(arr)
    if arr.tz is None:
        raise ValueError("timestamps must be tz-aware (naive values have no market time)")
    ns = arr.as_unit("ns").asi8
    return ns, ns == _NAT


# Asia/Kolkata has kept UTC+05:30 without DST since 1945-10-15 (tz database). From then on a fixed
# offset is exact and far cheaper than a zoneinfo conversion per row; older instants take the slow,
# general path.
_FIXED_OFFSET_FROM_NS = pd.Timestamp("1945-10-15", tz="UTC").value
_IST_OFFSET_NS = int(pd.Timestamp("2000-01-01", tz=MARKET_TZ).utcoffset().total_seconds()) * 10**9


def _local_ns(utc: np.ndarray, nat: np.ndarray) -> np.ndarray:
    """Market wall-clock nanoseconds (as if UTC) for UTC instants."""
    valid = utc[~nat]
    if valid.size == 0 or valid.min() >= _FIXED_OFFSET_FROM_NS:
        return utc + _IST_OFFSET_NS
    local = pd.DatetimeIndex(np.where(nat, 0, utc).astype("datetime64[ns]"), tz="UTC")
    return local.tz_convert(MARKET_TZ).tz_localize(None).as_unit("ns").asi8


@cache
def _rule_bounds(rule: SessionRule) -> tuple[int, int]:
    """A rule's [from, until] as days since the epoch, for comparing against day arrays."""
    lo = int(np.datetime64(rule.effective_from, "D").astype(np.int64))
    hi = np.iinfo(np.int64).max
    if rule.effective_until is not None:
        hi = int(np.datetime64(rule.effective_until, "D").astype(np.int64))
    return lo, hi


def _uncovered(days: np.ndarray, nat: np.ndarray) -> None:
    covered = nat.copy()
    for rule in SESSION_RULES:
        lo, hi = _rule_bounds(rule)
        covered |= (days >= lo) & (days <= hi)
    if not covered.all():
        bad = np.datetime64(int(days[~covered][0]), "D")
        raise ValueError(f"no session timings for {bad}: SESSION_RULES do not cover it")


def _is_holiday(days: np.ndarray) -> np.ndarray:
    pos = np.minimum(np.searchsorted(_HOLIDAY_DAYS, days), len(_HOLIDAY_DAYS) - 1)
    return _HOLIDAY_DAYS[pos] == days


def in_session_mask(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Vectorized `in_session`: a boolean array, False for NaT."""
    utc, nat = _utc_ns(ts)
    local = _local_ns(utc, nat)
    days = local // _DAY_NS
    _uncovered(days, nat)
    tod = local - days * _DAY_NS
    trading = ((days + _EPOCH_WEEKDAY) % 7 < 5) & ~_is_holiday(days) & ~nat
    out = np.zeros(len(local), dtype=bool)
    for rule in SESSION_RULES:
        lo, hi = _rule_bounds(rule)
        in_rule = (days >= lo) & (days <= hi)
        out |= in_rule & (tod >= _time_ns(rule.open)) & (tod <= _time_ns(rule.close))
    return out & trading


def _time_ns(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 10**9 + t.microsecond * 1000


def expiry_close(expiry: date) -> pd.Timestamp:
    """The instant a contract expiring on `expiry` stops trading: the session close, IST."""
    expiry = _as_date(expiry)
    return _at(expiry, _session_rule(expiry).close)


def _expiry_close_ns(
    expiry: pd.Series | pd.DatetimeIndex | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds of each expiry's close, and a NaT mask."""
    if isinstance(expiry, pd.Series | pd.DatetimeIndex) and getattr(expiry.dtype, "tz", None):
        raise ValueError("expiry must be naive calendar dates (the exchange's date), not tz-aware")
    raw = np.asarray(expiry)
    days_d = raw.astype("datetime64[D]")
    nat = np.isnat(days_d)
    days = np.where(nat, 0, days_d.astype(np.int64))
    _uncovered(days, nat)
    local = np.zeros(days.shape, dtype=np.int64)
    for rule in SESSION_RULES:
        lo, hi = _rule_bounds(rule)
        in_rule = (days >= lo) & (days <= hi)
        local = np.where(in_rule, days * _DAY_NS + _time_ns(rule.close), local)
    if local[~nat].size and local[~nat].min() < _FIXED_OFFSET_FROM_NS:
        closes = [expiry_close(np.datetime64(int(d), "D").item()).value for d in days]
        return np.where(nat, 0, np.array(closes, dtype=np.int64)), nat
    return local - _IST_OFFSET_NS, nat


def year_fraction(
    ts: pd.Timestamp | pd.Series | pd.DatetimeIndex | np.ndarray,
    expiry: date | pd.Series | pd.DatetimeIndex | np.ndarray,
) -> float | np.ndarray:
    """ACT/365 years from `ts` to `expiry_close(expiry)`, floored at 0.

    `ts`: a tz-aware Timestamp, or a Series/DatetimeIndex/array of tz-aware instants.
    `expiry`: a date, or a Series/array of naive-midnight datetime64 (or `date` objects).
    Both scalar -> float; otherwise an ndarray broadcast over the inputs, NaN where either is NaT.
    """
    scalar_ts = isinstance(ts, datetime)
    if scalar_ts:
        stamp = pd.Timestamp(ts)
        if stamp.tzinfo is None:
            raise ValueError(f"year_fraction needs a tz-aware ts, got naive {stamp}")
        ts_ns, ts_nat = np.int64(stamp.as_unit("ns").value), np.False_
    else:
        ts_ns, ts_nat = _utc_ns(ts)
        ts_ns = np.where(ts_nat, 0, ts_ns)  # keep NaT's sentinel out of the subtraction
    scalar_exp = isinstance(expiry, date)
    if scalar_exp:
        exp_ns, exp_nat = np.int64(expiry_close(expiry).value), np.False_
    else:
        exp_ns, exp_nat = _expiry_close_ns(expiry)
    years = np.maximum(exp_ns - ts_ns, 0) / _YEAR_NS
    if scalar_ts and scalar_exp:
        return float(years)
    return np.where(ts_nat | exp_nat, np.nan, years)
