"""Helpers shared by the adapters: strict decoding, typed column coercion, the final conform.

Every coercion names the column and the row (as a 1-based file line for CSV) of the first bad
cell, because "bad_value" without a location sends someone grepping a 10,000-row file.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pandas as pd

from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform

from .errors import IngestError, IngestReason

# Text formats may start with a UTF-8 byte-order mark (Excel exports do); it is not data.
_BOM = "\ufeff"

# Maps a 0-based frame row to a human location, e.g. "line 7" for CSV or "records.data[3].CE".
Locator = Callable[[int], str]


def csv_line(row: int) -> str:
    """Row i of a frame read from a CSV with one header line sits on file line i + 2."""
    return f"line {row + 2}"


def decode_utf8(data: bytes | str) -> str:
    """Decode strictly as UTF-8; NOT_UTF8 names the byte offset of the first bad byte."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise IngestError(
                IngestReason.NOT_UTF8,
                f"invalid UTF-8 byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
            ) from None
    text = text.removeprefix(_BOM)
    if not text.strip():
        raise IngestError(IngestReason.EMPTY_FILE, "no content (empty or whitespace only)")
    return text


def read_csv_text(text: str) -> pd.DataFrame:
    """All cells as strings (blank = ""), so this module, not pandas, decides what is missing.

    pandas' default NA sniffing would turn a literal "NA" or "null" into NaN without telling anyone.
    """
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise IngestError(IngestReason.EMPTY_FILE, "no CSV header") from None
    except pd.errors.ParserError as exc:
        raise IngestError(IngestReason.MALFORMED_CSV, str(exc).strip()) from None
    df.columns = [str(c).strip() for c in df.columns]
    # NSE files end every line with a comma, which pandas reads as an unnamed empty column.
    trailing = [
        c for c in df.columns if c.startswith("Unnamed:") and (df[c].str.strip() == "").all()
    ]
    df = df.drop(columns=trailing)
    return df.apply(lambda s: s.str.strip())


def _blank(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.isna() | (series.astype("string").str.strip() == "")
    return series.isna()


def _fail(reason: str, column: str, series: pd.Series, mask: pd.Series, where: Locator, what: str):
    row = int(np.flatnonzero(mask.to_numpy())[0])
    value = series.iloc[row]
    count = int(mask.sum())
    raise IngestError(
        reason, f"column {column!r}, {where(row)}: {what} (value {value!r}; {count} such cell(s))"
    )


def to_float(series: pd.Series, column: str, where: Locator, *, nullable: bool) -> pd.Series:
    """Numbers as float64; blank is NaN only where the column allows it."""
    blank = _blank(series)
    values = pd.to_numeric(series.where(~blank), errors="coerce").astype("float64")
    bad = values.isna() & ~blank
    if bad.any():
        _fail(IngestReason.BAD_VALUE, column, series, bad, where, "not a number")
    if not nullable and blank.any():
        _fail(IngestReason.MISSING_FIELD, column, series, blank, where, "required value is blank")
    infinite = np.isinf(values)
    if infinite.any():
        _fail(IngestReason.BAD_VALUE, column, series, infinite, where, "not a finite number")
    return values


def to_int(series: pd.Series, column: str, where: Locator) -> pd.Series:
    """Counts as int64; a fractional count is a bad value, not something to round quietly."""
    values = to_float(series, column, where, nullable=False)
    fractional = values != np.round(values)
    if fractional.any():
        _fail(IngestReason.BAD_VALUE, column, series, fractional, where, "not a whole number")
    return values.astype("int64")


def to_date(series: pd.Series, column: str, where: Locator, fmt: str | None) -> pd.Series:
    """Exchange dates as naive midnight datetime64[ns] (the canonical `expiry` shape)."""
    blank = _blank(series)
    if blank.any():
        _fail(IngestReason.MISSING_FIELD, column, series, blank, where, "required date is blank")
    parsed = pd.to_datetime(series, format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    bad = parsed.isna()
    if bad.any():
        expected = f"expected {fmt}" if fmt else "not a date"
        _fail(IngestReason.BAD_TIMESTAMP, column, series, bad, where, expected)
    return parsed.dt.normalize().astype("datetime64[ns]")


def ist_to_utc(value: str, fmt: str, field: str) -> pd.Timestamp:
    """An exchange wall-clock time (Asia/Kolkata) as a UTC timestamp."""
    try:
        local = pd.to_datetime(value, format=fmt)
    except (ValueError, TypeError):
        raise IngestError(
            IngestReason.BAD_TIMESTAMP, f"{field} {value!r} does not match {fmt!r} (IST)"
        ) from None
    return local.tz_localize(MARKET_TZ).tz_convert("UTC")


def session_close_utc(trade_date: pd.Timestamp) -> pd.Timestamp:
    """15:30 IST of a trade date: the time an end-of-day file describes."""
    local = pd.Timestamp(trade_date).normalize() + pd.Timedelta(hours=15, minutes=30)
    return local.tz_localize(MARKET_TZ).tz_convert("UTC")


def check_received_at(received_at: pd.Timestamp | None) -> pd.Timestamp | None:
    """The caller's receipt time as UTC; a naive time is a programming error, not a file error."""
    if received_at is None:
        return None
    ts = pd.Timestamp(received_at)
    if ts.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return ts.tz_convert("UTC")


def finish(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """Order deterministically and cast to CHAIN_COLUMNS; an empty chain is an error, not a frame.

    Duplicates are kept on purpose: they are a validation finding, and dropping them here would
    hide a broken feed.
    """
    if df.empty:
        raise IngestError(IngestReason.EMPTY_CHAIN, f"{what}: no option rows")
    df = df.sort_values(
        ["underlying", "expiry", "strike", "option_type"], kind="stable"
    ).reset_index(drop=True)
    return conform(df, CHAIN_COLUMNS)
