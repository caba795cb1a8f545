"""From a file on disk to a canonical chain: size guard, format sniffing, hashing, dispatch.

The order of checks is the point: the size is read from the inode before a byte of content, so
a runaway download cannot exhaust memory; the format is sniffed from the first few KB; the bytes
are then read once, and the same bytes are hashed and parsed, so the recorded sha256 is exactly
what was parsed even if the file is replaced meanwhile.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import IngestError, IngestReason
from .generic import parse_generic
from .nse_bhavcopy import layout_of, parse_nse_bhavcopy
from .nse_option_chain import parse_nse_option_chain

NSE_OPTION_CHAIN = "nse_option_chain"
NSE_BHAVCOPY = "nse_bhavcopy"
GENERIC_CSV = "generic_csv"
GENERIC_PARQUET = "generic_parquet"
FORMATS = (NSE_OPTION_CHAIN, NSE_BHAVCOPY, GENERIC_CSV, GENERIC_PARQUET)

DEFAULT_MAX_BYTES = 64 * 2**20
SNIFF_BYTES = 8192
_PARQUET_MAGIC = b"PAR1"
# A plausible CSV header cell: a name, not markup or prose ("<!DOCTYPE html>" fails this).
_HEADER_CELL = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .()%/-]*$")


@dataclass(frozen=True)
class IngestResult:
    """One parsed file: the canonical frame plus what the raw-input record needs."""

    frame: pd.DataFrame
    format: str
    source_path: Path
    sha256: str
    size_bytes: int


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed in `chunk`-byte reads so size never matters."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    """Name the format from the first SNIFF_BYTES of the file (never the whole file).

    Any JSON object is taken as an NSE option chain, since that is the only JSON format we accept:
    a truncated or malformed one then fails with the precise JSON reason rather than
    "unknown format". Any text whose first line looks like a CSV header is a bhavcopy if it carries
    a bhavcopy layout's marker columns, otherwise generic CSV (whose parser names wrong columns).
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise IngestError(IngestReason.EMPTY_FILE, f"{path}: no content", path)
    if head.startswith(_PARQUET_MAGIC):
        return GENERIC_PARQUET
    # Lenient here only: the head may end inside a multi-byte character, and a real encoding
    # error is reported with its offset by the strict decode that parsing does.
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()
    if text.startswith("{"):
        return NSE_OPTION_CHAIN
    first_line = text.splitlines()[0] if text else ""
    header = [cell.strip() for cell in next(csv.reader([first_line]), [])]
    if layout_of(set(header)) is not None:
        return NSE_BHAVCOPY
    if len(header) >= 2 and all(_HEADER_CELL.match(cell) for cell in header):
        return GENERIC_CSV
    raise IngestError(
        IngestReason.UNKNOWN_FORMAT,
        f"{path}: not JSON, Parquet or a CSV header (starts {head[:40]!r})",
        path,
    )


def _parse(
    data: bytes, fmt: str, received_at: pd.Timestamp | None, underlying: str | None
) -> pd.DataFrame:
    if fmt == NSE_BHAVCOPY:
        return parse_nse_bhavcopy(data, received_at=received_at, underlying=underlying)
    if fmt == NSE_OPTION_CHAIN:
        frame = parse_nse_option_chain(data, received_at=received_at)
    else:
        kind = "csv" if fmt == GENERIC_CSV else "parquet"
        frame = parse_generic(data, fmt=kind, received_at=received_at)
    if underlying is not None:
        frame = frame[frame["underlying"] == underlying.upper()].reset_index(drop=True)
        if frame.empty:
            raise IngestError(IngestReason.EMPTY_CHAIN, f"no rows for underlying {underlying}")
    return frame


def read_snapshot_file(
    path: Path,
    *,
    received_at: pd.Timestamp | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    underlying: str | None = None,
) -> IngestResult:
    """Read, hash and parse one snapshot file; every parse-level failure is an IngestError.

    `received_at` (timezone-aware) is when the file arrived; without it each format's default
    applies (the snapshot's own ts; see the parsers). `underlying` keeps one symbol. An
    OSError (missing file, permissions) propagates as is: it is not a property of the content.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(
            IngestReason.FILE_TOO_LARGE,
            f"{path}: {size:,} bytes exceeds the {max_bytes:,}-byte limit",
            path,
        )
    if size == 0:
        raise IngestError(IngestReason.EMPTY_FILE, f"{path}: 0 bytes", path)
    fmt = detect_format(path)
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew between stat() and open()
        raise IngestError(
            IngestReason.FILE_TOO_LARGE, f"{path}: more than {max_bytes:,} bytes", path
        )
    try:
        frame = _parse(data, fmt, received_at, underlying)
    except IngestError as exc:
        raise exc.with_path(path) from None
    return IngestResult(
        frame=frame,
        format=fmt,
        source_path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )
