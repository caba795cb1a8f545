"""Trailing daily history of one underlying, for the assets that forecast from it.

A day-partitioned asset sees its own day; a forecaster needs a year behind it. The history is
rebuilt from 1-minute bars over the whole span in one pass of `realized_measures`, so every day's
overnight return (which needs the previous day's close) is filled and the measures are exactly
those the realized_vol asset computes.

Bars come from the stored `underlying_bars` partitions; a day that was never materialized is
taken from the feed when the feed is the simulator (the embedded default, whose past is fully
defined by its seed), and is otherwise a gap. Gaps stay in the frame as rows of NaN on their
trading day, never dropped: consumers refuse them by name (`nan_gaps`) instead of silently
splicing non-adjacent days together.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from quantsentinel.market import calendar


def trailing_trading_days(day: date, n: int) -> list[date]:
    """The `n` trading days ending at `day` (inclusive), ascending."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    # 7/5 calendar days per trading day plus a margin for holiday clusters.
    start = day - timedelta(days=int(n * 7 / 5) + 30)
    days = calendar.trading_days(start, day + timedelta(days=1))
    return days[-n:]


def bars_partition_path(base_dir: str | Path, day: date, underlying: str) -> Path:
    """Where the Parquet IO manager keeps one underlying_bars partition."""
    return Path(base_dir) / "underlying_bars" / day.isoformat() / f"{underlying}.parquet"


def daily_history(
    base_dir: str | Path,
    feed,
    underlying: str,
    day: date,
    n_days: int,
    *,
    sampling_minutes: int = 5,
) -> pd.DataFrame:
    """Realized measures and close-to-close `daily_return` for the `n_days` trading days
    ending at `day`, indexed by day. Attrs: `from_storage`, `from_feed`, `missing` day counts."""
    from quantsentinel.ml.vol.realized import realized_measures

    days = trailing_trading_days(day, n_days)
    frames, stored, simulated, missing = [], 0, 0, []
    for d in days:
        path = bars_partition_path(base_dir, d, underlying)
        if path.exists():
            frames.append(pd.read_parquet(path))
            stored += 1
        elif feed is not None and feed.simulated:
            frames.append(feed.bars(d, underlying))
            simulated += 1
        else:
            missing.append(d)
    index = pd.Index(days, name="date")
    frames = [f for f in frames if len(f)]
    if frames:
        measures = realized_measures(
            pd.concat(frames, ignore_index=True), sampling_minutes=sampling_minutes
        )
        measures["date"] = pd.to_datetime(measures["date"]).dt.date
        history = measures.set_index("date").reindex(index)
    else:
        history = pd.DataFrame(index=index)
    if "session_return" in history:
        history["daily_return"] = history["overnight_return"] + history["session_return"]
    history.attrs.update(from_storage=stored, from_feed=simulated, missing=len(missing))
    return history
