"""Take files dropped into an inbox folder: land good ones, reject bad ones, lose nothing.

For each settled file: claim it (an atomic rename, so two takers never both process it), hash
it, skip it if that content was seen before (a file delivered twice is ingested once), parse it
into canonical rows, land the rows of known partitions, move the original bytes into the landing
zone, and record the outcome in the database. A file that cannot be used is moved to
`landing/rejected/` with its named reason. Nothing here raises on a bad file: every failure is a
recorded rejection, so one bad drop never stops the sensor from taking the next.

The database record is the ledger: the sensor launches runs from records, not from this call's
return value, so a tick that dies after landing a file still gets its run on the next tick.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from quantsentinel.market import records
from quantsentinel.market.landing import LandingZone
from quantsentinel.market.schema import MARKET_TZ

PartitionFilter = Callable[[date, str], bool]
# End-of-day files are historical by nature: when they arrived says nothing about staleness.
END_OF_DAY_FORMATS = frozenset({"nse_bhavcopy"})

UNEXPECTED_ERROR = "unexpected_error"
# Rows whose (market day, underlying) is not a partition we keep: a weekend or holiday stamp,
# a date before the partitions start, or a symbol outside the universe.
NO_PARTITION = "no_partition"
# A file still being copied in changes size/mtime; wait until it has been quiet this long.
SETTLE_SECONDS = 1.0
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class Accepted:
    file_name: str
    sha256: str
    fmt: str
    partitions: tuple[tuple[date, str], ...]
    rows: int
    ignored: str = ""


@dataclass(frozen=True)
class Rejected:
    file_name: str
    sha256: str
    reason: str
    detail: str


@dataclass
class InboxOutcome:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def settled_files(inbox: Path, now: float | None = None) -> tuple[list[Path], list[Path]]:
    """(files ready to take, files still being written), oldest first."""
    now = time.time() if now is None else now
    ready, waiting = [], []
    if not inbox.exists():
        return ready, waiting
    for path in sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
        if not path.is_file() or path.name.startswith(".") or path.suffix in IGNORED_SUFFIXES:
            continue
        (ready if now - path.stat().st_mtime >= SETTLE_SECONDS else waiting).append(path)
    return ready, waiting


def _identity(path: Path, max_bytes: int) -> str:
    """Content hash; for a file over the size limit, a cheap stand-in so it is never read."""
    from quantsentinel.market.ingest import file_sha256

    stat = path.stat()
    if stat.st_size > max_bytes:
        token = f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        return "oversize-" + hashlib.sha256(token).hexdigest()[:48]
    return file_sha256(path)


def take_inbox(
    inbox: Path,
    landing: LandingZone,
    engine: Engine,
    *,
    accepts: PartitionFilter = lambda day, underlying: True,
    max_bytes: int = 64 * 2**20,
    max_files: int = 200,
    judge_staleness: bool = True,
    now: float | None = None,
) -> InboxOutcome:
    """Process up to `max_files` settled files in `inbox` (the rest wait for the next call).

    `judge_staleness=False` is for backfills: a file's arrival time is then not its
    `received_at`, so an old snapshot is not quarantined as stale for being old.
    """
    outcome = InboxOutcome()
    ready, waiting = settled_files(inbox, now)
    outcome.waiting = [p.name for p in waiting] + [p.name for p in ready[max_files:]]
    for path in ready[:max_files]:
        claimed = landing.claim(path)
        if claimed is None:  # another taker got it between listing and claiming
            continue
        try:
            _take_one(
                claimed, path.name, landing, engine, accepts, max_bytes, judge_staleness, outcome
            )
        except Exception as exc:  # the last line of defence: keep the file, name the failure
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            sha = "failed-" + hashlib.sha256(f"{path.name}|{time.time_ns()}".encode()).hexdigest()
            if claimed.exists():
                _reject(outcome, landing, engine, claimed, path.name, sha, UNEXPECTED_ERROR, detail)
    return outcome


def _take_one(
    path: Path,
    name: str,
    landing: LandingZone,
    engine: Engine,
    accepts: PartitionFilter,
    max_bytes: int,
    judge_staleness: bool,
    outcome: InboxOutcome,
) -> None:
    from quantsentinel.market.ingest import IngestError, detect_format, read_snapshot_file

    sha = _identity(path, max_bytes)
    seen = records.input_status(engine, sha)
    if seen is not None:
        if seen == "accepted":
            landing.archive_original(path, sha, name)
        else:
            landing.reject_original(path, sha, name, "duplicate", "same bytes as a rejected input")
        outcome.duplicates.append(name)
        return
    arrival = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    try:
        # The size limit is checked before anything is read, sniffing included (the read
        # below raises file_too_large for an oversized file without opening it).
        fmt = detect_format(path) if path.stat().st_size <= max_bytes else None
        live = judge_staleness and fmt not in END_OF_DAY_FORMATS
        received_at = arrival if live else None
        result = read_snapshot_file(path, received_at=received_at, max_bytes=max_bytes)
    except IngestError as exc:
        _reject(outcome, landing, engine, path, name, sha, exc.reason, exc.detail, arrival)
        return
    frame = result.frame
    day = frame["ts"].dt.tz_convert(MARKET_TZ).dt.date
    groups = sorted(set(zip(day, frame["underlying"], strict=True)))
    kept = [(d, u) for d, u in groups if accepts(d, u)]
    dropped = [f"{d}|{u}" for d, u in groups if (d, u) not in kept]
    if not kept:
        detail = f"{name}: no rows fall in a known partition (trading day x universe): " + (
            ", ".join(dropped[:20])
            + (f" and {len(dropped) - 20} more" if len(dropped) > 20 else "")
        )
        _reject(outcome, landing, engine, path, name, sha, NO_PARTITION, detail, arrival)
        return
    keep_rows = pd.Series(list(zip(day, frame["underlying"], strict=True))).isin(kept).to_numpy()
    partitions = landing.put_chain(frame[keep_rows], key=sha)
    stored = landing.archive_original(path, sha, name)
    ignored = f"ignored rows outside known partitions: {', '.join(dropped)}" if dropped else ""
    records.record_input(
        engine,
        sha256=sha,
        file_name=name,
        size_bytes=result.size_bytes,
        fmt=result.format,
        status="accepted",
        stored_at=str(stored),
        received_at=arrival.floor("us").to_pydatetime(),
        detail=ignored or None,
        partitions=[f"{d.isoformat()}|{u}" for d, u in partitions],
    )
    outcome.accepted.append(
        Accepted(name, sha, result.format, tuple(partitions), int(keep_rows.sum()), ignored)
    )


def _reject(
    outcome: InboxOutcome,
    landing: LandingZone,
    engine: Engine,
    path: Path,
    name: str,
    sha: str,
    reason: str,
    detail: str,
    arrival: pd.Timestamp | None = None,
) -> None:
    size = path.stat().st_size
    stored = landing.reject_original(path, sha, name, reason, detail)
    records.record_input(
        engine,
        sha256=sha,
        file_name=name,
        size_bytes=size,
        fmt=None,
        status="rejected",
        stored_at=str(stored),
        received_at=(arrival or pd.Timestamp.now(tz="UTC")).floor("us").to_pydatetime(),
        reason=reason,
        detail=detail,
    )
    outcome.rejected.append(Rejected(name, sha, reason, detail))
