"""Partitions: NSE trading days, and trading days x underlying.

Dates are real trading days: a weekday schedule in Asia/Kolkata minus the exchange holidays from
`market.calendar`, so the UI never offers a Saturday or Diwali to backfill. `end_offset=1` makes
today's partition exist while the session is live (intraday snapshots land in it).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import dagster as dg
from quantsentinel.market import calendar
from quantsentinel.market.contracts import UNDERLYINGS
from quantsentinel.market.schema import MARKET_TZ

PARTITIONS_START = date(2024, 1, 1)

# Every market-data asset is a DataFrame stored by the Parquet IO manager.
PARQUET = {"io_manager_key": "parquet_io_manager", "kinds": {"pandas", "parquet"}}


def _holiday_exclusions() -> list[datetime]:
    first_year, last_year = calendar.holiday_coverage()
    day, end = date(first_year, 1, 1), date(last_year, 12, 31)
    out = []
    while day <= end:
        if day.weekday() < 5 and not calendar.is_trading_day(day):
            out.append(datetime.combine(day, time(0, 0), tzinfo=MARKET_TZ))
        day += timedelta(days=1)
    return out


trading_days = dg.TimeWindowPartitionsDefinition(
    start=PARTITIONS_START.isoformat(),
    fmt="%Y-%m-%d",
    cron_schedule="0 0 * * 1-5",
    timezone="Asia/Kolkata",
    end_offset=1,
    exclusions=_holiday_exclusions(),
)

underlyings = dg.StaticPartitionsDefinition(list(UNDERLYINGS))

trading_day_by_underlying = dg.MultiPartitionsDefinition(
    {"date": trading_days, "underlying": underlyings}
)


# Runs that write one (day, underlying) partition carry this tag; the run coordinator allows one
# such run per value at a time (dagster.yaml), so two writers never race on a partition's files.
PARTITION_TAG = "qs/partition"


def partition_exists(day: date, underlying: str) -> bool:
    """Is (day, underlying) a partition we keep: a trading day in range, a known symbol?"""
    return underlying in UNDERLYINGS and trading_days.has_partition_key(day.isoformat())


def partition_parts(context: dg.AssetExecutionContext) -> tuple[date, str]:
    """(trading day, underlying) of a run on the date x underlying partitions."""
    key = context.partition_key
    dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
    if dims is None:
        dims = trading_day_by_underlying.get_partition_key_from_str(key).keys_by_dimension
    return date.fromisoformat(dims["date"]), dims["underlying"]


def multi_key(day: date, underlying: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "underlying": underlying})
