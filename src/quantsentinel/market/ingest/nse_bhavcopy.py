"""NSE F&O bhavcopy CSV (end-of-day), in both layouts NSE has published.

UDiFF (from 8 July 2024; `BhavCopy_NSE_FO_0_0_0_YYYYMMDD_F_0000.csv`) and the legacy layout
(`foDDMMMYYYYbhav.csv`) both list every F&O contract of one trade date across many underlyings.
Only option rows are kept (UDiFF `FinInstrmTp` IDO/STO, legacy `INSTRUMENT` OPTIDX/OPTSTK);
futures rows are read only where the legacy layout needs them (below). Each underlying in the file
becomes one snapshot stamped 15:30 IST of the trade date. There is no book in an end-of-day file,
so bid, ask and iv are NaN; `last` is the last/close price where the contract traded and NaN
where it did not (a close on zero volume is the exchange's theoretical price, not a trade).

Units, so every source agrees with the schema's "contracts":
- UDiFF `TtlTradgVol`, `OpnIntrst` and `ChngInOpnIntrst` count units (shares / index
  multiplier), not lots, so each is divided by the row's `NewBrdLotQty`. A remainder means the
  file is not what we think it is, and is a `bad_value` rather than a rounded guess.
- Legacy `CONTRACTS` already counts lots; `OPEN_INT` and `CHG_IN_OI` count units but the file has
  no lot-size column. The lot size comes from `lot_sizes` when the caller supplies it; otherwise it
  is recovered from the symbol's traded futures rows, whose turnover is contracts x lot x price:
  `VAL_INLAKH * 1e5 / CONTRACTS` divided by the session's HIGH and LOW brackets the lot, and the
  candidate must divide every OPEN_INT/CHG_IN_OI of the symbol's options. Exactly one survivor or
  `missing_field`.

Spot: UDiFF carries it (`UndrlygPric`). The legacy layout does not; `spots` can supply it, else the
close of the symbol's nearest-expiry future stands in for it. That is the near-month forward, not
the spot: it overstates the index by the cost of carry (typically 0.1-0.5% for NIFTY near-month),
which is why a caller holding the index close should pass `spots`. With neither, the file is
rejected with `missing_field` naming the symbol; no number is invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from quantsentinel.market.schema import OPTION_SIDES, snapshot_id

from ._common import (
    check_received_at,
    csv_line,
    decode_utf8,
    finish,
    read_csv_text,
    session_close_utc,
    to_date,
    to_float,
    to_int,
)
from .errors import IngestError, IngestReason

SOURCE = "nse_bhavcopy"

# Enough columns to recognise each layout from its header alone (used by detect_format).
UDIFF_MARKERS = frozenset({"TradDt", "FinInstrmTp", "TckrSymb", "OptnTp"})
LEGACY_MARKERS = frozenset({"INSTRUMENT", "SYMBOL", "EXPIRY_DT", "OPTION_TYP"})

UDIFF_REQUIRED = (
    "TradDt", "FinInstrmTp", "TckrSymb", "XpryDt", "StrkPric", "OptnTp", "ClsPric", "LastPric",
    "UndrlygPric", "OpnIntrst", "ChngInOpnIntrst", "TtlTradgVol", "NewBrdLotQty",
)  # fmt: skip
LEGACY_REQUIRED = (
    "INSTRUMENT", "SYMBOL", "EXPIRY_DT", "STRIKE_PR", "OPTION_TYP", "HIGH", "LOW", "CLOSE",
    "CONTRACTS", "VAL_INLAKH", "OPEN_INT", "CHG_IN_OI", "TIMESTAMP",
)  # fmt: skip
UDIFF_OPTIONS = ("IDO", "STO")
LEGACY_OPTIONS = ("OPTIDX", "OPTSTK")
LEGACY_FUTURES = ("FUTIDX", "FUTSTK")
UDIFF_DATE = "%Y-%m-%d"
LEGACY_DATE = "%d-%b-%Y"  # "26-DEC-2024"; strptime's %b ignores case


def layout_of(columns: set[str]) -> str | None:
    """Which bhavcopy layout a header belongs to: "udiff", "legacy" or None."""
    if columns >= UDIFF_MARKERS:
        return "udiff"
    if columns >= LEGACY_MARKERS:
        return "legacy"
    return None


def _require_columns(df: pd.DataFrame, required: tuple[str, ...], layout: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise IngestError(
            IngestReason.WRONG_COLUMNS,
            f"{layout} bhavcopy is missing columns: {', '.join(missing)}",
        )


def _located(df: pd.DataFrame):
    """A locator for rows of a filtered frame: its original index is the file's data-row number."""
    index = df.index.to_numpy()
    return lambda row: csv_line(int(index[row]))


def _single_trade_date(dates: pd.Series, column: str) -> pd.Timestamp:
    distinct = dates.unique()
    if len(distinct) != 1:
        shown = ", ".join(str(pd.Timestamp(d).date()) for d in distinct)
        raise IngestError(IngestReason.BAD_VALUE, f"{column}: more than one trade date ({shown})")
    return pd.Timestamp(distinct[0])


def _option_types(series: pd.Series, column: str, where) -> pd.Series:
    bad = ~series.isin(OPTION_SIDES)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise IngestError(
            IngestReason.BAD_VALUE,
            f"column {column!r}, {where(row)}: {series.iloc[row]!r} is not CE or PE",
        )
    return series


def _in_lots(units: pd.Series, lots: pd.Series | int, column: str, where) -> pd.Series:
    remainder = units % lots != 0
    if remainder.any():
        row = int(np.flatnonzero(remainder.to_numpy())[0])
        lot = lots.iloc[row] if isinstance(lots, pd.Series) else lots
        raise IngestError(
            IngestReason.BAD_VALUE,
            f"column {column!r}, {where(row)}: {units.iloc[row]} units is not a whole number "
            f"of lots of {lot}",
        )
    return units // lots


def _traded_last(price: pd.Series, volume: pd.Series) -> pd.Series:
    return price.where((volume > 0) & (price > 0))


def _parse_udiff(df: pd.DataFrame, spots: Mapping[str, float]) -> pd.DataFrame:
    _require_columns(df, UDIFF_REQUIRED, "UDiFF")
    opts = df[df["FinInstrmTp"].isin(UDIFF_OPTIONS)]
    if opts.empty:
        raise IngestError(IngestReason.EMPTY_CHAIN, f"no {'/'.join(UDIFF_OPTIONS)} rows")
    where = _located(opts)
    trade = _single_trade_date(to_date(opts["TradDt"], "TradDt", where, UDIFF_DATE), "TradDt")
    # The actual expiry differs from the contract's nominal one when a holiday moves it.
    expiry_text = opts["XpryDt"]
    if "FininstrmActlXpryDt" in opts.columns:
        actual = opts["FininstrmActlXpryDt"]
        expiry_text = actual.where(actual != "", expiry_text)
    lots = to_int(opts["NewBrdLotQty"], "NewBrdLotQty", where)
    if (lots <= 0).any():
        row = int(np.flatnonzero((lots <= 0).to_numpy())[0])
        raise IngestError(IngestReason.BAD_VALUE, f"NewBrdLotQty, {where(row)}: not positive")
    # LastPric is the last trade; ClsPric (a closing-session average) only where it is blank.
    last = to_float(opts["LastPric"], "LastPric", where, nullable=True).fillna(
        to_float(opts["ClsPric"], "ClsPric", where, nullable=True)
    )
    volume = _in_lots(to_int(opts["TtlTradgVol"], "TtlTradgVol", where), lots, "TtlTradgVol", where)
    out = pd.DataFrame(
        {
            "underlying": opts["TckrSymb"],
            "expiry": to_date(expiry_text, "XpryDt", where, UDIFF_DATE),
            "strike": to_float(opts["StrkPric"], "StrkPric", where, nullable=False),
            "option_type": _option_types(opts["OptnTp"], "OptnTp", where),
            "last": _traded_last(last, volume),
            "volume": volume,
            "oi": _in_lots(to_int(opts["OpnIntrst"], "OpnIntrst", where), lots, "OpnIntrst", where),
            "oi_change": _in_lots(
                to_int(opts["ChngInOpnIntrst"], "ChngInOpnIntrst", where),
                lots,
                "ChngInOpnIntrst",
                where,
            ),
            "spot_hint": to_float(opts["UndrlygPric"], "UndrlygPric", where, nullable=True),
        }
    )
    spot = {}
    for symbol, group in out.groupby("underlying", sort=False):
        if symbol in spots:
            spot[symbol] = float(spots[symbol])
            continue
        distinct = group["spot_hint"].dropna().unique()
        if len(distinct) != 1:
            reason = IngestReason.MISSING_FIELD if len(distinct) == 0 else IngestReason.BAD_VALUE
            raise IngestError(
                reason, f"UndrlygPric for {symbol}: expected one value, found {sorted(distinct)}"
            )
        spot[symbol] = float(distinct[0])
    out["spot"] = out["underlying"].map(spot)
    out["trade_date"] = trade
    return out


def _legacy_lot(symbol: str, futures: pd.DataFrame, counts: pd.Series) -> int:
    """The one lot size consistent with the futures turnover and with every OI count."""
    nonzero = counts[counts != 0].abs().unique()
    candidates: set[int] = set()
    for fut in futures.itertuples():
        if fut.CONTRACTS <= 0 or fut.VAL_INLAKH <= 0 or fut.LOW <= 0 or fut.HIGH <= 0:
            continue
        # Turnover is at the traded prices, so the average price lies within [LOW, HIGH];
        # VAL_INLAKH is rounded to 0.01 lakh (1,000 rupees), hence the slack.
        units_per_contract = fut.VAL_INLAKH * 1e5 / fut.CONTRACTS
        slack = 1e3 / fut.CONTRACTS
        low = (units_per_contract - slack) / fut.HIGH
        high = (units_per_contract + slack) / fut.LOW
        candidates.update(range(max(1, math.ceil(low)), math.floor(high) + 1))
    if len(nonzero) == 0 and candidates:
        return min(candidates)  # every count is zero: any lot converts them identically
    fits = sorted(c for c in candidates if all(int(v) % c == 0 for v in nonzero))
    if len(fits) != 1:
        raise IngestError(
            IngestReason.MISSING_FIELD,
            f"lot size for {symbol}: the legacy bhavcopy counts OPEN_INT/CHG_IN_OI in units and "
            f"has no lot column; its futures rows give {fits or 'no'} consistent candidate(s). "
            "Pass lot_sizes={symbol: lot}.",
        )
    return fits[0]


def _legacy_spot(symbol: str, futures: pd.DataFrame, trade: pd.Timestamp) -> float:
    live = futures[(futures["expiry"] >= trade) & (futures["CLOSE"] > 0)]
    if live.empty:
        raise IngestError(
            IngestReason.MISSING_FIELD,
            f"spot for {symbol}: the legacy bhavcopy has no underlying price and no traded "
            f"{'/'.join(LEGACY_FUTURES)} row to take the near-month future from. Pass spots=.",
        )
    return float(live.sort_values("expiry", kind="stable")["CLOSE"].iloc[0])


def _parse_legacy(
    df: pd.DataFrame, spots: Mapping[str, float], lot_sizes: Mapping[str, int]
) -> pd.DataFrame:
    _require_columns(df, LEGACY_REQUIRED, "legacy")
    if not df["INSTRUMENT"].isin(LEGACY_OPTIONS).any():
        raise IngestError(IngestReason.EMPTY_CHAIN, f"no {'/'.join(LEGACY_OPTIONS)} rows")
    used = df[df["INSTRUMENT"].isin(LEGACY_OPTIONS + LEGACY_FUTURES)]
    where = _located(used)
    trade = _single_trade_date(
        to_date(used["TIMESTAMP"], "TIMESTAMP", where, LEGACY_DATE), "TIMESTAMP"
    )
    frame = pd.DataFrame(
        {
            "kind": used["INSTRUMENT"],
            "underlying": used["SYMBOL"],
            "expiry": to_date(used["EXPIRY_DT"], "EXPIRY_DT", where, LEGACY_DATE),
            "strike": to_float(used["STRIKE_PR"], "STRIKE_PR", where, nullable=False),
            "option_type": used["OPTION_TYP"],
        }
    )
    for col in ("HIGH", "LOW", "CLOSE", "VAL_INLAKH"):
        frame[col] = to_float(used[col], col, where, nullable=False)
    for col in ("CONTRACTS", "OPEN_INT", "CHG_IN_OI"):
        frame[col] = to_int(used[col], col, where)
    is_option = frame["kind"].isin(LEGACY_OPTIONS)
    _option_types(frame.loc[is_option, "option_type"], "OPTION_TYP", _located(frame[is_option]))

    parts = []
    for symbol, group in frame.groupby("underlying", sort=False):
        opts = group[group["kind"].isin(LEGACY_OPTIONS)]
        if opts.empty:
            continue  # a symbol with futures only (no options listed) is not a chain
        futures = group[group["kind"].isin(LEGACY_FUTURES)]
        counts = pd.concat([opts["OPEN_INT"], opts["CHG_IN_OI"]])
        lot = lot_sizes.get(symbol) or _legacy_lot(symbol, futures, counts)
        where_opts = _located(opts)
        spot = spots.get(symbol)
        if spot is None:
            spot = _legacy_spot(symbol, futures, trade)
        parts.append(
            pd.DataFrame(
                {
                    "underlying": opts["underlying"],
                    "expiry": opts["expiry"],
                    "strike": opts["strike"],
                    "option_type": opts["option_type"],
                    "last": _traded_last(opts["CLOSE"], opts["CONTRACTS"]),
                    "volume": opts["CONTRACTS"],
                    "oi": _in_lots(opts["OPEN_INT"], lot, "OPEN_INT", where_opts),
                    "oi_change": _in_lots(opts["CHG_IN_OI"], lot, "CHG_IN_OI", where_opts),
                    "spot": float(spot),
                }
            )
        )
    out = pd.concat(parts)
    out["trade_date"] = trade
    return out


def parse_nse_bhavcopy(
    data: bytes | str,
    *,
    received_at: pd.Timestamp | None = None,
    underlying: str | None = None,
    spots: Mapping[str, float] | None = None,
    lot_sizes: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Parse an F&O bhavcopy (UDiFF or legacy) into CHAIN_COLUMNS, one snapshot per underlying.

    `underlying` keeps one symbol (rows of other symbols are not even type-checked, so a bad row
    for an unrelated stock does not block NIFTY). `spots` and `lot_sizes` (symbol -> value) supply
    what the legacy layout lacks; see the module docstring. `received_at` defaults to `ts`, since
    an end-of-day file is by nature read after the close and staleness does not apply to it.
    """
    received = check_received_at(received_at)
    df = read_csv_text(decode_utf8(data))
    layout = layout_of(set(df.columns))
    if layout is None:
        raise IngestError(
            IngestReason.WRONG_COLUMNS,
            f"header matches neither bhavcopy layout (UDiFF needs {sorted(UDIFF_MARKERS)}, "
            f"legacy needs {sorted(LEGACY_MARKERS)}); got {list(df.columns)}",
        )
    symbol_column = "TckrSymb" if layout == "udiff" else "SYMBOL"
    if underlying is not None:
        df = df[df[symbol_column] == underlying.upper()]
    try:
        if layout == "udiff":
            out = _parse_udiff(df, spots or {})
        else:
            out = _parse_legacy(df, spots or {}, lot_sizes or {})
    except IngestError as exc:
        if exc.reason != IngestReason.EMPTY_CHAIN or underlying is None:
            raise
        raise IngestError(exc.reason, f"{exc.detail} for underlying {underlying.upper()}") from None
    ts = session_close_utc(out["trade_date"].iloc[0])
    out["ts"] = ts
    out["received_at"] = received if received is not None else ts
    out["bid"] = np.nan
    out["ask"] = np.nan
    out["iv"] = np.nan
    out["snapshot_id"] = out["underlying"].map(lambda s: snapshot_id(s, ts))
    out["source"] = SOURCE
    return finish(out, f"{layout} bhavcopy")
