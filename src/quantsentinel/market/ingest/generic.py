"""The documented generic snapshot format: the canonical chain columns as CSV or Parquet.

One row per (snapshot, expiry, strike, option_type); a file may hold several snapshots. Column
names are exactly the canonical ones (case-sensitive); any other column is rejected, so a typo
cannot silently drop a field. Full table with examples: docs/ingest-formats.md.

Columns (type as written in CSV; "opt" = the column may be left out):

- snapshot_id   string, opt; when given must equal snapshot_id(underlying, ts)
- underlying    string, required; NIFTY, BANKNIFTY or an F&O stock symbol
- ts            ISO 8601 time with offset, required; exchange time of the snapshot
- received_at   ISO 8601 time with offset, opt/blank -> the `received_at` argument, else ts
- spot          float, required; index points (rupees for stocks)
- expiry        date YYYY-MM-DD, required; the exchange's expiry date
- strike        float, required; same unit as spot
- option_type   "CE" or "PE", required
- bid, ask      float, blank = no quote
- last          float, blank = not traded
- volume        integer, required; contracts (lots) traded in the session so far
- oi            integer, required; open interest in contracts (lots)
- oi_change     integer, required; change in open interest since the previous close, contracts
- iv            float, blank = none; decimal (0.145 means 14.5%)
- source        string, opt/blank -> "generic"

Timestamps must carry an offset (`Z` or `+05:30`): a naive time is ambiguous between IST and UTC
by five and a half hours, which is exactly the error this project refuses to guess about. In
Parquet, `ts`/`received_at` must be timezone-aware timestamps (or such strings), and `expiry` a
date, a naive timestamp or a YYYY-MM-DD string. The Parquet schema is read from the footer and
checked before any data page is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantsentinel.market.schema import CHAIN_COLUMNS, OPTION_SIDES, snapshot_id

from ._common import (
    Locator,
    check_received_at,
    csv_line,
    decode_utf8,
    finish,
    read_csv_text,
    to_date,
    to_float,
    to_int,
)
from .errors import IngestError, IngestReason

SOURCE = "generic"
OPTIONAL_COLUMNS = frozenset({"snapshot_id", "received_at", "source"})
ALL_COLUMNS = tuple(c.name for c in CHAIN_COLUMNS)
REQUIRED_COLUMNS = tuple(c for c in ALL_COLUMNS if c not in OPTIONAL_COLUMNS)
_FLOATS = {c.name: c.nullable for c in CHAIN_COLUMNS if c.dtype == "float64"}
_INTS = tuple(c.name for c in CHAIN_COLUMNS if c.dtype == "int64")
# An explicit UTC designator or numeric offset at the end of an ISO 8601 time.
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def check_columns(names: list[str]) -> None:
    """WRONG_COLUMNS listing both what is missing and what is not ours."""
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unexpected = [c for c in names if c not in ALL_COLUMNS]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if missing or unexpected or duplicated:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected: {', '.join(unexpected)}")
        if duplicated:
            parts.append(f"duplicated: {', '.join(duplicated)}")
        raise IngestError(IngestReason.WRONG_COLUMNS, "; ".join(parts))


def _strings(series: pd.Series, column: str, where: Locator, *, nullable: bool) -> pd.Series:
    text = series.astype("string").str.strip()
    blank = text.isna() | (text == "")
    if blank.any() and not nullable:
        row = int(blank.to_numpy().nonzero()[0][0])
        raise IngestError(
            IngestReason.MISSING_FIELD, f"column {column!r}, {where(row)}: required value is blank"
        )
    return text.mask(blank)


def _utc(series: pd.Series, column: str, where: Locator, *, nullable: bool) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert("UTC")
        missing = values.isna()
    elif pd.api.types.is_datetime64_dtype(series):
        raise IngestError(
            IngestReason.BAD_TIMESTAMP, f"column {column!r} holds naive timestamps; store UTC"
        )
    else:
        text = _strings(series, column, where, nullable=nullable)
        missing = text.isna()
        naive = ~missing & ~text.fillna("").str.contains(_OFFSET)
        values = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        bad = naive | (values.isna() & ~missing)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise IngestError(
                IngestReason.BAD_TIMESTAMP,
                f"column {column!r}, {where(row)}: {text.iloc[row]!r} is not an ISO 8601 time "
                "with an offset (e.g. 2024-12-20T09:00:00Z)",
            )
    if missing.any() and not nullable:
        row = int(missing.to_numpy().nonzero()[0][0])
        raise IngestError(IngestReason.MISSING_FIELD, f"column {column!r}, {where(row)}: blank")
    return values


def _expiry(series: pd.Series, where: Locator) -> pd.Series:
    first = series.dropna().iloc[0] if series.notna().any() else None
    fmt = "%Y-%m-%d" if isinstance(first, str) else None
    return to_date(series, "expiry", where, fmt)


def coerce(df: pd.DataFrame, where: Locator, received_at: pd.Timestamp | None) -> pd.DataFrame:
    """Typed canonical columns from a frame whose columns passed `check_columns`."""
    if df.empty:
        raise IngestError(IngestReason.EMPTY_CHAIN, "header only, no rows")
    out = pd.DataFrame(index=df.index)
    out["underlying"] = _strings(df["underlying"], "underlying", where, nullable=False)
    out["ts"] = _utc(df["ts"], "ts", where, nullable=False)
    out["expiry"] = _expiry(df["expiry"], where)
    option_type = _strings(df["option_type"], "option_type", where, nullable=False)
    bad_side = ~option_type.isin(OPTION_SIDES)
    if bad_side.any():
        row = int(bad_side.to_numpy().nonzero()[0][0])
        raise IngestError(
            IngestReason.BAD_VALUE,
            f"column 'option_type', {where(row)}: {option_type.iloc[row]!r} is not CE or PE",
        )
    out["option_type"] = option_type
    for column, nullable in _FLOATS.items():
        out[column] = to_float(df[column], column, where, nullable=nullable)
    for column in _INTS:
        out[column] = to_int(df[column], column, where)

    # Optional columns: a present cell wins, a blank one falls back to the derived value.
    fallback = out["ts"] if received_at is None else pd.Series(received_at, index=df.index)
    if "received_at" in df.columns:
        given = _utc(df["received_at"], "received_at", where, nullable=True)
        out["received_at"] = given.fillna(fallback)
    else:
        out["received_at"] = fallback
    derived_id = pd.Series(
        [snapshot_id(u, t) for u, t in zip(out["underlying"], out["ts"], strict=True)],
        index=df.index,
    )
    if "snapshot_id" in df.columns:
        given_id = _strings(df["snapshot_id"], "snapshot_id", where, nullable=True)
        # The id is the idempotency key downstream (run_key); one that disagrees with its own
        # underlying/ts would let the same snapshot be processed twice under two names.
        wrong = given_id.notna() & (given_id != derived_id)
        if wrong.any():
            row = int(wrong.to_numpy().nonzero()[0][0])
            raise IngestError(
                IngestReason.BAD_VALUE,
                f"column 'snapshot_id', {where(row)}: {given_id.iloc[row]!r} != "
                f"{derived_id.iloc[row]!r} derived from underlying and ts",
            )
        out["snapshot_id"] = given_id.fillna(derived_id)
    else:
        out["snapshot_id"] = derived_id
    if "source" in df.columns:
        out["source"] = _strings(df["source"], "source", where, nullable=True).fillna(SOURCE)
    else:
        out["source"] = SOURCE
    return out


def _parquet(source: Path | bytes) -> tuple[pd.DataFrame, Locator]:
    handle = pa.BufferReader(source) if isinstance(source, bytes) else source
    try:
        # The footer alone: a wrong file is rejected without decoding a single data page.
        schema = pq.read_schema(handle)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(IngestReason.INVALID_PARQUET, f"unreadable footer: {exc}") from None
    check_columns(list(schema.names))
    if isinstance(source, bytes):
        handle = pa.BufferReader(source)
    try:
        table = pq.read_table(handle)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(IngestReason.INVALID_PARQUET, f"unreadable data: {exc}") from None
    return table.to_pandas(), lambda row: f"row {row + 1}"


def parse_generic(
    path_or_bytes: Path | str | bytes,
    *,
    fmt: Literal["csv", "parquet"],
    received_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Parse a generic CSV or Parquet snapshot file into CHAIN_COLUMNS.

    `path_or_bytes` is a filesystem path (Path or str) or the file's bytes. `received_at` fills
    rows whose own `received_at` is absent; with neither, a row is taken as received at its `ts`.
    """
    received = check_received_at(received_at)
    if fmt == "csv":
        raw = path_or_bytes
        if not isinstance(raw, bytes):
            raw = Path(raw).read_bytes()
        df = read_csv_text(decode_utf8(raw))
        check_columns(list(df.columns))
        where: Locator = csv_line
    elif fmt == "parquet":
        source = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes)
        df, where = _parquet(source)
    else:
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    return finish(coerce(df.reset_index(drop=True), where, received), f"generic {fmt}")
