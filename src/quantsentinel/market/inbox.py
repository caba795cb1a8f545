"""Take files dropped into an inbox folder: land good ones, reject bad ones, lose nothing.

For each settled file: hash it, skip it if that content was seen before (a file delivered twice is
ingested once), parse it into canonical rows, land the rows under their (day, underlying)
partitions, move the original bytes into the landing zone, and record the outcome in the database.
A file that cannot be parsed is moved to `landing/rejected/` with its named reason. Nothing here
raises on a bad file: every failure becomes a recorded rejection, so one bad drop never stops the
sensor from taking the next.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from quantsentinel.market import records
from quantsentinel.market.landing import LandingZone

UNEXPECTED_ERROR = "unexpected_error"
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
    max_bytes: int = 64 * 2**20,
    now: float | None = None,
) -> InboxOutcome:
    """Process every settled file in `inbox` once."""
    from quantsentinel.market.ingest import IngestError, read_snapshot_file

    outcome = InboxOutcome()
    ready, waiting = settled_files(inbox, now)
    outcome.waiting = [p.name for p in waiting]
    for path in ready:
        size = path.stat().st_size
        try:
            sha = _identity(path, max_bytes)
        except OSError as exc:  # vanished or unreadable between listing and hashing
            outcome.waiting.append(f"{path.name} ({exc.strerror})")
            continue
        if records.known_input(engine, sha):
            landing.archive_original(path, sha)
            outcome.duplicates.append(path.name)
            continue
        # The file's arrival time is when we received it: staleness is judged against it.
        received_at = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
        try:
            result = read_snapshot_file(path, received_at=received_at, max_bytes=max_bytes)
            partitions = landing.put_chain(result.frame, key=sha)
        except IngestError as exc:
            _reject(outcome, landing, engine, path, sha, size, exc.reason, exc.detail)
            continue
        except Exception as exc:  # a bug must not lose the file or stop the inbox
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            _reject(outcome, landing, engine, path, sha, size, UNEXPECTED_ERROR, detail)
            continue
        stored = landing.archive_original(path, sha)
        records.record_input(
            engine,
            sha256=sha,
            file_name=path.name,
            size_bytes=size,
            fmt=result.format,
            status="accepted",
            stored_at=str(stored),
            partitions=[f"{d.isoformat()}|{u}" for d, u in partitions],
        )
        outcome.accepted.append(
            Accepted(path.name, sha, result.format, tuple(partitions), len(result.frame))
        )
    return outcome


def _reject(
    outcome: InboxOutcome,
    landing: LandingZone,
    engine: Engine,
    path: Path,
    sha: str,
    size: int,
    reason: str,
    detail: str,
) -> None:
    stored = landing.reject_original(path, sha, reason, detail)
    records.record_input(
        engine,
        sha256=sha,
        file_name=path.name,
        size_bytes=size,
        fmt=None,
        status="rejected",
        stored_at=str(stored),
        reason=reason,
        detail=detail,
    )
    outcome.rejected.append(Rejected(path.name, sha, reason, detail))
