"""NSE option-chain JSON (the `option-chain-indices` / `option-chain-equities` response).

Shape read here::

    {"records": {"timestamp": "20-Dec-2024 14:30:00",          # IST wall clock
                 "underlyingValue": 23587.5,
                 "expiryDates": [...], "strikePrices": [...],
                 "data": [{"strikePrice": 24000, "expiryDate": "26-Dec-2024",
                           "CE": {...quote...}, "PE": {...quote...}}, ...]},
     "filtered": {...}}                                         # nearest expiry only; ignored

`records` is used because it carries every listed expiry; `filtered` is a subset of it. A strike
may list only one side. Per side: `bidprice`/`askPrice` of 0 mean "no quote" and
`impliedVolatility` of 0 means "not computed" (NSE prints 0 rather than null), so both become
NaN; a `lastPrice` of 0 means "not traded today" and becomes NaN too. `impliedVolatility` is in
percent and is stored as a decimal. `openInterest`, `changeinOpenInterest` and
`totalTradedVolume` are already in contracts.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from quantsentinel.market.schema import OPTION_SIDES, snapshot_id

from ._common import check_received_at, decode_utf8, finish, ist_to_utc, to_date
from .errors import IngestError, IngestReason

SOURCE = "nse_option_chain"
TIMESTAMP_FORMAT = "%d-%b-%Y %H:%M:%S"
EXPIRY_FORMAT = "%d-%b-%Y"


def load_json(text: str) -> Any:
    """json.loads with the failure split into truncated (cut off) and invalid (malformed)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # A document that ends before its structure closes fails at (or reports a string that
        # runs to) the end of input; anything earlier is a syntax error in a complete document.
        at_end = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        reason = IngestReason.TRUNCATED_JSON if at_end else IngestReason.INVALID_JSON
        raise IngestError(
            reason, f"{exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        ) from None


def _require(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise IngestError(IngestReason.BAD_VALUE, f"{where} is {type(obj).__name__}, not an object")
    if key not in obj or obj[key] is None:
        raise IngestError(IngestReason.MISSING_FIELD, f"{where}.{key} is missing")
    return obj[key]


def _number(value: Any, where: str) -> float:
    # bool is an int subclass; `true` as a price is corruption, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise IngestError(IngestReason.BAD_VALUE, f"{where} = {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise IngestError(IngestReason.BAD_VALUE, f"{where} = {value!r} is not a number") from None
    if not math.isfinite(number):
        raise IngestError(IngestReason.BAD_VALUE, f"{where} = {value!r} is not finite")
    return number


def _count(side: dict, key: str, where: str) -> int:
    number = _number(_require(side, key, where), f"{where}.{key}")
    if number != round(number):
        raise IngestError(
            IngestReason.BAD_VALUE, f"{where}.{key} = {number!r} is not a whole number"
        )
    return int(number)


def _quote(side: dict, key: str, where: str, *, scale: float = 1.0) -> float:
    """An optional price-like field where NSE's 0 (or absence) means "none"."""
    value = side.get(key)
    if value is None:
        return math.nan
    number = _number(value, f"{where}.{key}")
    return math.nan if number == 0 else number * scale


def _side_row(entry: dict, side: dict, option_type: str, where: str) -> dict[str, Any]:
    strike = entry.get("strikePrice", side.get("strikePrice"))
    expiry = entry.get("expiryDate", side.get("expiryDate"))
    if strike is None:
        raise IngestError(IngestReason.MISSING_FIELD, f"{where}.strikePrice is missing")
    if expiry is None:
        raise IngestError(IngestReason.MISSING_FIELD, f"{where}.expiryDate is missing")
    return {
        "where": where,
        "underlying": side.get("underlying"),
        "side_spot": side.get("underlyingValue"),
        "expiry": expiry,
        "strike": _number(strike, f"{where}.strikePrice"),
        "option_type": option_type,
        "bid": _quote(side, "bidprice", where),
        "ask": _quote(side, "askPrice", where),
        "last": _quote(side, "lastPrice", where),
        "volume": _count(side, "totalTradedVolume", where),
        "oi": _count(side, "openInterest", where),
        "oi_change": _count(side, "changeinOpenInterest", where),
        "iv": _quote(side, "impliedVolatility", where, scale=0.01),
    }


def _single(values: pd.Series, field: str) -> Any:
    present = values.dropna().unique()
    if len(present) == 0:
        raise IngestError(IngestReason.MISSING_FIELD, f"no side carries {field}")
    if len(present) > 1:
        raise IngestError(
            IngestReason.BAD_VALUE, f"sides disagree on {field}: {sorted(map(str, present))}"
        )
    return present[0]


def parse_nse_option_chain(
    data: bytes | str, *, received_at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Parse one option-chain response into CHAIN_COLUMNS (one snapshot).

    `received_at` defaults to the snapshot's own `ts`: a replayed file carries no receipt time,
    and "received when published" keeps archived files from all reading as stale. A live inbox
    passes the real arrival time.
    """
    received = check_received_at(received_at)
    doc = load_json(decode_utf8(data))
    records = _require(doc, "records", "$")
    entries = _require(records, "data", "records")
    if not isinstance(entries, list):
        raise IngestError(IngestReason.BAD_VALUE, "records.data is not a list")
    raw_ts = _require(records, "timestamp", "records")
    ts = ist_to_utc(str(raw_ts), TIMESTAMP_FORMAT, "records.timestamp")

    rows = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise IngestError(IngestReason.BAD_VALUE, f"records.data[{i}] is not an object")
        for option_type in OPTION_SIDES:
            side = entry.get(option_type)
            if side is None:
                continue  # NSE omits a side that has no contract listed at this strike
            where = f"records.data[{i}].{option_type}"
            if not isinstance(side, dict):
                raise IngestError(IngestReason.BAD_VALUE, f"{where} is not an object")
            rows.append(_side_row(entry, side, option_type, where))
    if not rows:
        raise IngestError(IngestReason.EMPTY_CHAIN, "records.data has no CE/PE quotes")

    df = pd.DataFrame(rows)
    underlying = str(_single(df["underlying"], "underlying"))
    spot_value = records.get("underlyingValue")
    if spot_value is None:
        spot_value = _single(df["side_spot"], "underlyingValue")
    spot = _number(spot_value, "records.underlyingValue")
    df["expiry"] = to_date(
        df["expiry"].astype(str), "expiryDate", lambda r: df["where"].iloc[r], EXPIRY_FORMAT
    )
    df["underlying"] = underlying
    df["spot"] = spot
    df["ts"] = ts
    df["received_at"] = received if received is not None else ts
    df["snapshot_id"] = snapshot_id(underlying, ts)
    df["source"] = SOURCE
    return finish(df, f"{underlying} option chain")
