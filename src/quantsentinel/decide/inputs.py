"""What a decide run reads for one snapshot, from the stored asset partitions.

The assets write Parquet partitions (`<data>/<asset>/<date>/<underlying>.parquet`); a decide run
reads them directly instead of through Dagster's IO manager, because it needs one snapshot's rows
out of today's partition plus a trailing window of earlier days, and the same loader serves the
Dagster asset, the CLI replay and the benchmarks.

Two kinds of input, loaded differently:
- today's frames (the snapshot's chain, the day's surface, analytics and densities, today's bars)
  change with every snapshot and are read fresh each run;
- the trailing history (daily closes of both indices and the 11-name universe over
  `HISTORY_SESSIONS` sessions, earlier days' densities and vol forecasts, the news window) is the
  same for every snapshot of a day. It is built once per (day, underlying) and kept on disk under
  `<data>/_decide_cache/`, so the 75th decision of a day reads one file per frame instead of ~900
  partitions; a new day's closes extend the previous day's cache by one session.

A day whose bars were never stored is taken from `bars_fallback` when given (the simulator feed in
the embedded default, whose past is defined by its seed), else it is a gap the signals see as
missing data (they answer neutral and say why). No frame here carries a row from after the
snapshot: every signal filters `ts < at` itself as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.contracts import INDICES
from quantsentinel.ml.signals import STOCK_UNIVERSE, SignalInputs, daily_closes_from_bars
from quantsentinel.risk.errors import RiskInputError

HISTORY_SESSIONS = 60  # covariance wall: 60 days of returns; cross-section needs 21
# The project's RV, and so its vol forecasts, measure the session only; implied vol prices the
# night too. The overnight share of daily variance is measured as 1 - sum RV / sum r^2 over the
# history: session RV from the stored realized_vol partitions, r the close-to-close returns of the
# history's closes. With fewer than MIN_SHARE_SESSIONS matched days this prior answers (the
# simulator measures 0.23 for NIFTY and 0.18 for BANKNIFTY over the first half of 2025).
DEFAULT_OVERNIGHT_SHARE = 0.2
MIN_SHARE_SESSIONS = 20
DENSITY_SESSIONS = 20  # trailing densities the implied-distribution z-score reads
FORECAST_SESSIONS = 5  # a long weekend plus a holiday: the volatility signal's own limit
NEWS_BACK_DAYS, NEWS_AHEAD_DAYS = 5, 3
CACHE_DIR = "_decide_cache"
CACHE_VERSION = 2

BarsFallback = Callable[[date, str], pd.DataFrame]


class SnapshotMissing(RiskInputError):
    def __init__(self, snapshot_id: str, partition: str) -> None:
        super().__init__(
            "snapshot_missing",
            f"snapshot {snapshot_id!r} is not among the validated snapshots of {partition} "
            "(it failed validation, or its partition was never materialized)",
            snapshot_id=snapshot_id,
            partition=partition,
        )


@dataclass(frozen=True)
class SnapshotInputs:
    """One snapshot and the market data strictly before its decision time `at`."""

    snapshot_id: str
    underlying: str
    day: date
    ts: pd.Timestamp
    at: pd.Timestamp
    chain: pd.DataFrame
    signals: SignalInputs
    closes: pd.DataFrame  # underlying, date, ts, close of completed sessions (all names)
    news: pd.DataFrame
    sources: dict[str, str] = field(default_factory=dict)  # frame -> where it came from


def partition_path(data_dir: Path, asset: str, day: date, underlying: str | None) -> Path:
    base = Path(data_dir) / asset / day.isoformat()
    return base / f"{underlying}.parquet" if underlying else base.with_suffix(".parquet")


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def _concat(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    kept = [f for f in frames if f is not None and len(f)]
    return pd.concat(kept, ignore_index=True) if kept else None


def sessions_before(day: date, n: int) -> list[date]:
    """The `n` trading days before `day` (exclusive), ascending."""
    start = day - timedelta(days=int(n * 7 / 5) + 30)
    return calendar.trading_days(start, day - timedelta(days=1))[-n:]


def decision_time(ts: pd.Timestamp) -> pd.Timestamp:
    """A snapshot is decided the second after it was taken: everything stamped at or before the
    snapshot is known, nothing after it (signals keep rows with ts < at)."""
    return pd.Timestamp(ts).tz_convert("UTC") + pd.Timedelta(seconds=1)


def load_snapshot(
    data_dir: Path | str,
    snapshot_id: str,
    day: date,
    underlying: str,
    *,
    bars_fallback: BarsFallback | None = None,
    universe: tuple[str, ...] = STOCK_UNIVERSE,
) -> SnapshotInputs:
    """Everything the decide core reads for `snapshot_id` of partition (day, underlying)."""
    data_dir = Path(data_dir)
    chain = load_chain(data_dir, snapshot_id, day, underlying)
    ts = pd.Timestamp(chain["ts"].iloc[0])
    at = decision_time(ts)
    history = day_history(data_dir, day, underlying, bars_fallback=bars_fallback, universe=universe)

    def today(asset: str) -> pd.DataFrame | None:
        frame = _read(partition_path(data_dir, asset, day, underlying))
        if frame is None or "ts" not in frame:
            return frame
        return frame[frame["ts"] < at].reset_index(drop=True)

    densities = _concat([history.densities, today("implied_distribution")])
    todays_bars = today("underlying_bars")
    if todays_bars is not None and "ts" in todays_bars:
        # A bar is stamped with its start and known at its end: the minute in progress is out.
        todays_bars = todays_bars[todays_bars["ts"] + pd.Timedelta(minutes=1) <= at]
    bars = _concat([history.bars, todays_bars])
    signals = SignalInputs(
        underlying,
        vol_forecasts=history.forecasts,
        iv_surface=today("iv_surface"),
        implied_distribution=densities,
        chain_analytics=today("chain_analytics"),
        bars=bars,
        daily_closes=history.closes,
        news=history.news,
        universe=universe,
        overnight_share=history.overnight_share,
    )
    return SnapshotInputs(
        snapshot_id, underlying, day, ts, at, chain, signals, history.closes,
        history.news if history.news is not None else pd.DataFrame(), history.sources,
    )  # fmt: skip


def load_chain(data_dir: Path | str, snapshot_id: str, day: date, underlying: str) -> pd.DataFrame:
    """The validated rows of one snapshot; SnapshotMissing when it is not among them."""
    partition = f"{day}|{underlying}"
    chains = _read(partition_path(Path(data_dir), "chain_snapshots", day, underlying))
    if chains is None or "snapshot_id" not in chains:
        raise SnapshotMissing(snapshot_id, partition)
    chain = chains[chains["snapshot_id"] == snapshot_id].reset_index(drop=True)
    if chain.empty:
        raise SnapshotMissing(snapshot_id, partition)
    return chain


# --- the day's history (cached) -------------------------------------------------------------------


@dataclass
class DayHistory:
    closes: pd.DataFrame
    bars: pd.DataFrame | None
    densities: pd.DataFrame | None
    forecasts: pd.DataFrame | None
    news: pd.DataFrame | None
    sources: dict[str, str]
    overnight_share: float = DEFAULT_OVERNIGHT_SHARE


_MEMO: dict[tuple, DayHistory] = {}


def day_history(
    data_dir: Path,
    day: date,
    underlying: str,
    *,
    bars_fallback: BarsFallback | None = None,
    universe: tuple[str, ...] = STOCK_UNIVERSE,
) -> DayHistory:
    """The trailing history of (day, underlying): from this process's memo, else the disk cache,
    else built from the partitions (and written to the cache)."""
    names = tuple(dict.fromkeys((*INDICES, underlying, *universe)))
    key = (str(data_dir), day, underlying, names)
    if key in _MEMO:
        return _MEMO[key]
    folder = Path(data_dir) / CACHE_DIR / day.isoformat() / underlying
    manifest = folder / "manifest.json"
    signature = _signature(data_dir, day, underlying)
    found = _read_cache(folder, manifest, signature, names)
    if found is None:
        found = _build_history(data_dir, day, underlying, names, bars_fallback)
        _write_cache(folder, manifest, signature, names, found)
    if len(_MEMO) > 64:
        _MEMO.clear()
    _MEMO[key] = found
    return found


def _signature(data_dir: Path, day: date, underlying: str) -> dict[str, list]:
    """Files whose change must rebuild the cache: the recent partitions a correction is likely
    to touch (densities, forecasts, the news window) and the realized_vol partitions. Older bars
    are taken as final; a corrected old bar file needs the cache folder removed
    (`_decide_cache/`), which only costs a rebuild."""
    paths = [partition_path(data_dir, "vol_forecasts", d, underlying)
             for d in sessions_before(day, FORECAST_SESSIONS)]  # fmt: skip
    paths += [partition_path(data_dir, "implied_distribution", d, underlying)
              for d in sessions_before(day, 3)]  # fmt: skip
    paths += [partition_path(data_dir, "news_events", day + timedelta(days=k), None)
              for k in range(-NEWS_BACK_DAYS, NEWS_AHEAD_DAYS + 1)]  # fmt: skip
    # The overnight share reads every session's realized_vol: a backfill must re-measure it.
    paths += [partition_path(data_dir, "realized_vol", d, underlying)
              for d in sessions_before(day, HISTORY_SESSIONS)]  # fmt: skip
    out = {}
    for path in paths:
        stat = path.stat() if path.exists() else None
        out[str(path.relative_to(data_dir))] = [stat.st_mtime_ns, stat.st_size] if stat else []
    return out


FRAMES = ("closes", "bars", "densities", "forecasts", "news")


def _read_cache(folder: Path, manifest: Path, signature: dict, names: tuple) -> DayHistory | None:
    if not manifest.exists():
        return None
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION or meta.get("signature") != signature:
        return None
    if tuple(meta.get("names", ())) != names:
        return None
    frames = {}
    for name in FRAMES:
        path = folder / f"{name}.parquet"
        frames[name] = pd.read_parquet(path) if path.exists() else None
    if frames["closes"] is None:
        return None
    sources = {**meta.get("sources", {}), "history": "decide cache"}
    share = float(meta.get("overnight_share", DEFAULT_OVERNIGHT_SHARE))
    return DayHistory(**frames, sources=sources, overnight_share=share)


def _write_cache(
    folder: Path, manifest: Path, signature: dict, names: tuple, history: DayHistory
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        frame = getattr(history, name)
        path = folder / f"{name}.parquet"
        if frame is not None:
            tmp = path.with_suffix(".tmp")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)
        elif path.exists():
            path.unlink()
    meta = {"version": CACHE_VERSION, "signature": signature, "names": list(names),
            "sources": history.sources, "overnight_share": history.overnight_share}  # fmt: skip
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(manifest)  # written last: a cache without its manifest is never read


def _build_history(
    data_dir: Path,
    day: date,
    underlying: str,
    names: tuple[str, ...],
    bars_fallback: BarsFallback | None,
) -> DayHistory:
    sessions = sessions_before(day, HISTORY_SESSIONS)
    closes, closes_source = _closes(data_dir, day, sessions, names, bars_fallback)
    # The underlying's own recent bars feed the weekly/daily trend; 6 sessions cover a week.
    recent = sessions[-6:]
    bars = _concat([_bars(data_dir, d, underlying, bars_fallback)[0] for d in recent])
    densities = _concat(
        [
            _read(partition_path(data_dir, "implied_distribution", d, underlying))
            for d in sessions[-DENSITY_SESSIONS:]
        ]
    )
    if densities is not None and "grid_strike" in densities:
        densities = densities.drop(columns=["grid_strike", "grid_density"])
    forecasts = _concat(
        [
            _read(partition_path(data_dir, "vol_forecasts", d, underlying))
            for d in sessions[-FORECAST_SESSIONS:]
        ]
    )
    news = _concat(
        [
            _read(partition_path(data_dir, "news_events", day + timedelta(days=k), None))
            for k in range(-NEWS_BACK_DAYS, NEWS_AHEAD_DAYS + 1)
        ]
    )
    share, share_source = overnight_share(data_dir, sessions, underlying, closes)
    sources = {
        "overnight_share": share_source,
        "closes": closes_source,
        "densities": f"{0 if densities is None else densities['snapshot_id'].nunique()} snapshots",
        "forecasts": "stored" if forecasts is not None else "none stored",
        "news": "stored" if news is not None else "none stored",
    }
    return DayHistory(closes, bars, densities, forecasts, news, sources, share)


def overnight_share(
    data_dir: Path, sessions: list[date], underlying: str, closes: pd.DataFrame
) -> tuple[float, str]:
    """(share of daily variance the night carries, where it came from). A realized_vol
    partition is computed from its own day's bars, so its overnight return is empty: the
    close-to-close return comes from the history's closes instead."""
    rv = _concat([_read(partition_path(data_dir, "realized_vol", d, underlying)) for d in sessions])
    own = closes[closes["underlying"] == underlying] if len(closes) else closes
    if rv is not None and "realized_variance" in rv and len(own) > 1:
        variance = pd.Series(
            rv["realized_variance"].to_numpy(float),
            index=[pd.Timestamp(d).date() for d in rv["date"]],
        )
        ordered = own.assign(day=[pd.Timestamp(d).date() for d in own["date"]]).sort_values("day")
        squared = np.log(ordered["close"].to_numpy(float)).copy()
        returns = pd.Series(np.diff(squared) ** 2, index=ordered["day"].to_numpy()[1:])
        both = pd.concat([variance, returns], axis=1, join="inner").dropna()
        if len(both) >= MIN_SHARE_SESSIONS and both[1].sum() > 0:
            share = min(max(1.0 - float(both[0].sum()) / float(both[1].sum()), 0.0), 0.6)
            return share, f"measured over {len(both)} sessions"
    return DEFAULT_OVERNIGHT_SHARE, "prior (fewer than 20 sessions of realized_vol stored)"


def _bars(
    data_dir: Path, d: date, name: str, fallback: BarsFallback | None
) -> tuple[pd.DataFrame | None, str]:
    frame = _read(partition_path(data_dir, "underlying_bars", d, name))
    if frame is not None:
        return frame, "stored"
    if fallback is not None:
        return fallback(d, name), "feed"
    return None, "missing"


def _closes(
    data_dir: Path,
    day: date,
    sessions: list[date],
    names: tuple[str, ...],
    fallback: BarsFallback | None,
) -> tuple[pd.DataFrame, str]:
    """Closes of `sessions` for `names`: the previous day's cached closes extended by one session
    when that cache exists, else every session read once."""
    previous = sessions[-1] if sessions else None
    base = None
    if previous is not None:
        base = _cached_closes(data_dir, previous, names)
    todo = [previous] if base is not None else sessions
    counts = {"stored": 0, "feed": 0, "missing": 0}
    rows = []
    for d in todo:
        for name in names:
            bars, how = _bars(data_dir, d, name, fallback)
            counts[how] += 1
            if bars is not None and len(bars):
                rows.append(daily_closes_from_bars(bars))
    fresh = _concat(rows)
    closes = _concat([base, fresh])
    if closes is None:
        closes = pd.DataFrame({"underlying": pd.Series(dtype=str), "date": pd.Series(dtype=object),
                               "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                               "close": pd.Series(dtype=float)})  # fmt: skip
    else:
        closes = closes.drop_duplicates(["underlying", "date"], keep="last")
        first = pd.Timestamp(sessions[0]).date() if sessions else day
        closes = closes[pd.to_datetime(closes["date"]).dt.date >= first]
        closes = closes.sort_values(["ts", "underlying"]).reset_index(drop=True)
    how = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return closes, (f"extended {previous}'s cache: " if base is not None else "") + how


def _cached_closes(data_dir: Path, day: date, names: tuple[str, ...]) -> pd.DataFrame | None:
    """Any cached closes of `day` covering `names` (the cache of any underlying of that day)."""
    folder = Path(data_dir) / CACHE_DIR / day.isoformat()
    if not folder.exists():
        return None
    for manifest in sorted(folder.glob("*/manifest.json")):
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("version") == CACHE_VERSION and set(names) <= set(meta.get("names", ())):
            path = manifest.parent / "closes.parquet"
            if path.exists():
                frame = pd.read_parquet(path)
                return frame[frame["underlying"].isin(names)]
    return None


def return_covariance(
    closes: pd.DataFrame, sessions: int = HISTORY_SESSIONS
) -> pd.DataFrame | None:
    """Daily log-return covariance over the last `sessions` sessions, names with a full series."""
    if closes is None or closes.empty:
        return None
    wide = closes.pivot_table(index="date", columns="underlying", values="close").sort_index()
    wide = wide.tail(sessions + 1).dropna(axis=1)
    if wide.shape[0] < 10 or wide.shape[1] == 0:
        return None
    returns = np.log(wide).diff().dropna()
    return returns.cov()
