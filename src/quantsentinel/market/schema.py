"""Canonical table shapes shared by the simulator, the ingest adapters, validation and assets.

Every source (simulator, NSE option-chain JSON, bhavcopy CSV, generic files) is turned into these
shapes before anything else reads it, so downstream code is written once.

Conventions:
- timestamps are timezone-aware UTC (`datetime64[ns, UTC]`); market time is derived with
  `tz_convert(MARKET_TZ)` where a session or calendar question is asked;
- `expiry` is a calendar date stored as naive midnight `datetime64[ns]` (the exchange's date);
- option side is the exchange's spelling: "CE" (call) or "PE" (put);
- volatilities are decimals (0.15, not 15.0); prices are in index points / rupees per unit;
- `volume` and `oi` count contracts (lots), as the exchange reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd

MARKET_TZ = ZoneInfo("Asia/Kolkata")

CALL = "CE"
PUT = "PE"
OPTION_SIDES = (CALL, PUT)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    nullable: bool
    doc: str


# One row per (snapshot_id, expiry, strike, option_type).
CHAIN_COLUMNS: tuple[Column, ...] = (
    Column("snapshot_id", "string", False, "stable id: '<UNDERLYING>-<ts as YYYYmmddTHHMMSSZ>'"),
    Column("underlying", "string", False, "NIFTY, BANKNIFTY or an F&O stock symbol"),
    Column("ts", "datetime64[ns, UTC]", False, "exchange time of the snapshot"),
    Column("received_at", "datetime64[ns, UTC]", False, "when we received it (staleness)"),
    Column("spot", "float64", False, "underlying value at ts"),
    Column("expiry", "datetime64[ns]", False, "expiry date (naive midnight, exchange date)"),
    Column("strike", "float64", False, "strike price"),
    Column("option_type", "string", False, "CE or PE"),
    Column("bid", "float64", True, "best bid; NaN when there is none"),
    Column("ask", "float64", True, "best ask; NaN when there is none"),
    Column("last", "float64", True, "last traded price; NaN when not traded"),
    Column("volume", "int64", False, "contracts traded in the session so far"),
    Column("oi", "int64", False, "open interest, contracts"),
    Column("oi_change", "int64", False, "change in open interest since the previous close"),
    Column("iv", "float64", True, "source-reported implied vol (decimal); NaN when absent"),
    Column("source", "string", False, "simulator | nse_option_chain | nse_bhavcopy | generic"),
)

# One row per (underlying, ts): 1-minute bars; ts is the bar's start.
BAR_COLUMNS: tuple[Column, ...] = (
    Column("underlying", "string", False, "symbol, or INDIAVIX for the volatility index"),
    Column("ts", "datetime64[ns, UTC]", False, "bar start"),
    Column("open", "float64", False, ""),
    Column("high", "float64", False, ""),
    Column("low", "float64", False, ""),
    Column("close", "float64", False, ""),
    Column("volume", "int64", False, "shares/units traded in the bar (0 for an index)"),
)

# One row per event. `true_*` columns are the simulator's ground truth (NaN for real feeds).
NEWS_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "string", False, "stable id"),
    Column("ts", "datetime64[ns, UTC]", False, "publication / scheduled release time"),
    Column("kind", "string", False, "RBI_POLICY | UNION_BUDGET | CPI | FED | SURPRISE"),
    Column("scheduled", "bool", False, "known in advance (calendar) vs surprise"),
    Column("scope", "string", False, "MARKET or a single stock symbol"),
    Column("headline", "string", False, ""),
    Column("true_impact_pct", "float64", True, "signed move of the scoped underlying it caused, %"),
    Column("true_iv_change", "float64", True, "change in ATM implied vol it caused (decimal)"),
)


def empty_frame(columns: tuple[Column, ...]) -> pd.DataFrame:
    """An empty DataFrame with the exact dtypes of `columns`."""
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in columns})


def conform(df: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """Select and cast `df` to `columns` (order and dtypes). Raises KeyError naming missing ones.

    Adapters call this last, so every frame that leaves an adapter has the canonical shape.
    """
    missing = [c.name for c in columns if c.name not in df.columns]
    if missing:
        raise KeyError(f"missing columns: {', '.join(missing)}")
    columns_out = {}
    for c in columns:
        s = df[c.name]
        if str(s.dtype) == c.dtype:
            pass  # already canonical: the common case, and the cheap one
        elif c.dtype == "datetime64[ns, UTC]":
            s = pd.to_datetime(s, utc=True).astype("datetime64[ns, UTC]")
        elif c.dtype == "datetime64[ns]":
            s = pd.to_datetime(s)
            if s.dt.tz is not None:
                s = s.dt.tz_localize(None)
            s = s.dt.normalize().astype("datetime64[ns]")
        else:
            s = s.astype(c.dtype)
        columns_out[c.name] = s.reset_index(drop=True)
    return pd.DataFrame(columns_out)


def snapshot_id(underlying: str, ts: pd.Timestamp) -> str:
    """The stable id of one chain snapshot: underlying plus its UTC second."""
    return f"{underlying}-{pd.Timestamp(ts).tz_convert('UTC').strftime('%Y%m%dT%H%M%SZ')}"
