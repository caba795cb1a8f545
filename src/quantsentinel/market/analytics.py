"""Positioning analytics of an option chain: PCR, max pain, OI walls and flow, dealer GEX.

`chain_analytics` returns one row per snapshot_id. Two scopes, chosen per statistic:

- totals across all listed expiries: OI, volume, PCR, exchange OI change, GEX and its flip level.
  Dealer hedging responds to the gamma of the whole book, and PCR is a market-wide gauge;
- the nearest live expiry (smallest expiry with T > 0): max pain, call/put walls and the top OI
  build-up strikes. These are strike-level pinning and support/resistance readings that only
  mean something for contracts settling together, and the nearest expiry carries most of the OI.

Units: OI and volume in contracts (lots, as the exchange reports them); rupee figures multiply by
`contracts.lot_size(underlying, trade date, expiry)` units per lot; strikes and spot in index
points.

GEX convention (a convention, not an observation: exchange data does not say who is short):
dealers are assumed long the calls and short the puts that the public holds the other side of,
the usual reading that customers write calls and buy puts. So call gamma counts positive and
put gamma negative:

    GEX = sum_i s_i * Gamma_i * OI_i * lot_i * S^2 * 0.01,   s_i = +1 (CE), -1 (PE),

rupees of underlying the dealers must trade per 1% move in spot (Gamma * 0.01 S is the change in
delta, in units, per 1% move; times S gives rupees). Positive GEX means dealers sell rallies and
buy dips (dampening); negative means they chase moves. Gamma is with respect to spot at the
surface's measured IV: Gamma_S = Gamma_F * (F/S)^2 from Black-76 with F = S * (F0/S0), i.e. the
forward moves one-for-one in percent with spot (carry held fixed). `gex_flip_level` re-evaluates
GEX on a spot grid within +-5% (sticky-strike IVs) and returns the zero crossing nearest to spot,
linearly interpolated between grid points; NaN when GEX keeps one sign over the grid.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import pandas as pd

from quantsentinel.market.calendar import year_fraction
from quantsentinel.market.contracts import lot_size
from quantsentinel.market.pricing import norm_pdf
from quantsentinel.market.schema import CALL, MARKET_TZ, PUT
from quantsentinel.market.surface import DEFAULT_RATE, iv_surface, option_price

TOP_BUILDUP = 3
FLIP_RANGE = 0.05
FLIP_POINTS = 201
OUTPUT_COLUMNS = (
    "snapshot_id", "underlying", "ts", "spot", "nearest_expiry", "total_call_oi", "total_put_oi",
    "pcr_oi", "total_call_volume", "total_put_volume", "pcr_volume", "call_oi_change",
    "put_oi_change", "net_oi_change", "top_call_buildup", "top_put_buildup", "call_wall",
    "put_wall", "max_pain", "max_pain_payout", "gex", "gex_call", "gex_put", "gex_coverage",
    "gex_flip_level",
)  # fmt: skip


def max_pain(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> tuple[float, float]:
    """(max pain strike, payout there) for one expiry.

    Payout to option holders if the expiry settles at X, in index points times contracts:
        P(X) = sum_i C_i max(X - K_i, 0) + sum_i P_i max(K_i - X, 0),
    with C_i, P_i the call and put OI at strike K_i. Max pain = argmin of P over the listed
    strikes (P is convex and piecewise linear with kinks only at strikes, so the minimum over
    all X is attained at a strike). Ties resolve to the lowest strike.
    """
    K = np.asarray(strikes, float)
    c = np.nan_to_num(np.asarray(call_oi, float))
    p = np.nan_to_num(np.asarray(put_oi, float))
    if K.size == 0:
        return float("nan"), float("nan")
    settle = K[:, None]
    payout = (c * np.maximum(settle - K, 0.0) + p * np.maximum(K - settle, 0.0)).sum(axis=1)
    best = int(np.argmin(payout))
    return float(K[best]), float(payout[best])


def gex_at(
    levels: np.ndarray | float,
    spot0: float,
    forward0: np.ndarray,
    strike: np.ndarray,
    T: np.ndarray,
    sigma: np.ndarray,
    weight: np.ndarray,
    rate: float,
) -> np.ndarray:
    """Dealer GEX (rupees per 1% move) at each spot level in `levels` (module docstring).

    `weight` is s_i * OI_i * lot_i per option (signed units of underlying). With Black-76
    Gamma_F = D phi(d1) / (F sigma sqrt(T)) and Gamma_S = Gamma_F (F/S)^2, the S^2 of the GEX
    definition cancels:  Gamma_S * S^2 * 0.01 = 0.01 * D * F * phi(d1) / (sigma sqrt(T)).
    Gamma alone is evaluated (not `pricing.black76_greeks`, which computes all six Greeks)
    because the flip search runs it on an (options x levels) grid, ~10x cheaper this way.
    The forward moves in proportion to spot.
    """
    forward0, strike, T, sigma, weight = (
        np.atleast_1d(a)
        for a in np.broadcast_arrays(*map(np.asarray, (forward0, strike, T, sigma, weight)))
    )
    S = np.atleast_1d(np.asarray(levels, float))[None, :]
    F = forward0[:, None] * (S / spot0)
    vol_sqrt_t = (sigma * np.sqrt(T))[:, None]
    d1 = (np.log(F / strike[:, None]) + 0.5 * vol_sqrt_t * vol_sqrt_t) / vol_sqrt_t
    scale = (weight * np.exp(-rate * T))[:, None] / vol_sqrt_t
    return 0.01 * (scale * F * norm_pdf(d1)).sum(axis=0)


def _flip_level(grid: np.ndarray, profile: np.ndarray, spot: float) -> float:
    """Zero crossing of `profile` over `grid` nearest to `spot`, linearly interpolated."""
    if not np.any(profile):  # no usable option: zero everywhere is no information
        return float("nan")
    sgn = np.sign(profile)
    idx = np.flatnonzero((sgn[:-1] * sgn[1:] < 0) | (sgn[:-1] == 0))
    if idx.size == 0:
        return float("nan")
    x0, x1, y0, y1 = grid[idx], grid[idx + 1], profile[idx], profile[idx + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.where(y0 == 0, x0, x0 - y0 * (x1 - x0) / (y1 - y0))
    return float(roots[np.argmin(np.abs(roots - spot))])


def _legs_with_vol(chain: pd.DataFrame, surface: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Chain legs with T, forward and the IV used for gamma (surface OTM IV, then the leg's own
    IV, then the source-reported IV: the OTM IV keeps call and put gamma at one strike on one
    smile)."""
    legs = chain.copy()
    # Upper-case the few distinct spellings rather than every row (str(v) as astype(str) does).
    side_codes, sides = pd.factorize(legs["option_type"], use_na_sentinel=False)
    legs["option_type"] = np.array([str(v).upper() for v in sides], dtype=object)[side_codes]
    keys = ["snapshot_id", "expiry", "strike"]
    cols = [*keys, "T", "forward", "iv", "iv_call", "iv_put"]
    surf = surface[cols].drop_duplicates(keys).rename(columns={"iv": "iv_otm"})
    legs = legs.merge(surf, on=keys, how="left")
    own = np.where(legs["option_type"] == CALL, legs["iv_call"], legs["iv_put"])
    vol = legs["iv_otm"].to_numpy(float)
    vol = np.where(np.isfinite(vol), vol, own)
    legs["sigma"] = np.where(np.isfinite(vol), vol, legs["iv"].to_numpy(float))
    missing_t = legs["T"].isna()
    if missing_t.any():
        legs.loc[missing_t, "T"] = np.asarray(
            year_fraction(legs.loc[missing_t, "ts"], legs.loc[missing_t, "expiry"]), float
        )
    carry = legs["spot"] * np.exp(rate * legs["T"])
    legs["forward"] = legs["forward"].fillna(carry)
    return legs


def _lot(underlying: str, trade_date: date, expiry: pd.Timestamp) -> float:
    """Lot size, or NaN where the contract table has no answer (an expired row, a symbol not in
    the table): those legs then drop out of GEX and show up in `gex_coverage` instead of
    failing the whole snapshot."""
    try:
        return float(lot_size(underlying, trade_date, expiry.date()))
    except ValueError:
        return float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, NaN where den is not positive (no OI or volume on that side)."""
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _floats(column: pd.Series) -> np.ndarray:
    return column.to_numpy(float, na_value=np.nan)


def _near_table(legs: pd.DataFrame, codes: np.ndarray, near: np.ndarray) -> pd.DataFrame:
    """Nearest-expiry OI and OI change per (snapshot code, call, strike), sorted by those keys:
    one groupby for all snapshots. Only CE and PE rows enter, and rows without a strike drop out,
    as they did from the per-side groupby on strike."""
    side, strike = legs["option_type"].to_numpy(object), _floats(legs["strike"])
    keep = near & ((side == CALL) | (side == PUT)) & ~np.isnan(strike)
    frame = pd.DataFrame(
        {"code": codes[keep], "call": side[keep] == CALL, "strike": strike[keep]}
        | {c: _floats(legs[c])[keep] for c in ("oi", "oi_change")}
    )
    return frame.groupby(["code", "call", "strike"], as_index=False).sum()


def _ranked(table: pd.DataFrame, column: str, limit: int) -> tuple[np.ndarray, ...]:
    """(code, call, strike) of the rows with positive `column`, largest first within each
    (snapshot, side) and the lowest strike on ties, keeping the first `limit` of each group."""
    pos = table[column].to_numpy(float) > 0
    code, call, strike, value = (
        table[c].to_numpy()[pos] for c in ("code", "call", "strike", column)
    )
    order = np.lexsort((strike, -value, call, code))
    code, call, strike = code[order], call[order], strike[order]
    start = np.ones(len(code), bool)
    start[1:] = (code[1:] != code[:-1]) | (call[1:] != call[:-1])
    rank = np.arange(len(code)) - np.flatnonzero(start)[np.cumsum(start) - 1]
    return code[rank < limit], call[rank < limit], strike[rank < limit]


def _max_pain_all(table: pd.DataFrame, n: int) -> np.ndarray:
    """(max pain, payout) rows of each snapshot's nearest expiry, NaN without strikes. The loop
    over snapshots touches only numpy slices of the one grouped table."""
    code, call = table["code"].to_numpy(), table["call"].to_numpy()
    strike, oi = table["strike"].to_numpy(float), table["oi"].to_numpy(float)
    bounds = np.searchsorted(code, np.arange(n + 1))
    out = np.full((2, n), np.nan)
    for s in np.flatnonzero(np.diff(bounds)):
        k, c, q = (a[bounds[s] : bounds[s + 1]] for a in (strike, call, oi))
        strikes = np.unique(k)  # union of the call and put strikes; a missing side counts 0
        book = np.zeros((2, strikes.size))
        book[c.astype(int), np.searchsorted(strikes, k)] = q
        out[:, s] = max_pain(strikes, book[1], book[0])
    return out


def _gex_all(
    legs: pd.DataFrame, codes: np.ndarray, spot: np.ndarray, units: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """(gex_call, gex_put, flip level) rows per snapshot, and the usable-leg mask. Usable legs
    are stably ordered by snapshot once, so each snapshot keeps its row order (its sums add in
    the same order) and every `gex_at` call works on contiguous slices, not a pandas group."""
    sigma, T = _floats(legs["sigma"]), _floats(legs["T"])
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(sigma) & (sigma > 0) & (T > 0) & (units > 0)
    idx = np.flatnonzero(usable)
    idx = idx[np.argsort(codes[idx], kind="stable")]
    bounds = np.searchsorted(codes[idx], np.arange(spot.size + 1))
    fwd, strike = _floats(legs["forward"])[idx], _floats(legs["strike"])[idx]
    T, sigma, call = T[idx], sigma[idx], (legs["option_type"] == CALL).to_numpy()[idx]
    weight = np.where(call, 1.0, -1.0) * units[idx]
    steps = np.linspace(1.0 - FLIP_RANGE, 1.0 + FLIP_RANGE, FLIP_POINTS)
    out = np.empty((3, spot.size))
    for s in range(spot.size):
        rows = slice(bounds[s], bounds[s + 1])
        args = (spot[s], fwd[rows], strike[rows], T[rows], sigma[rows])
        w, c = weight[rows], call[rows]
        out[0, s] = gex_at(spot[s], *args, np.where(c, w, 0.0), rate)[0]
        out[1, s] = gex_at(spot[s], *args, np.where(c, 0.0, w), rate)[0]
        grid = spot[s] * steps
        out[2, s] = _flip_level(grid, gex_at(grid, *args, w, rate), spot[s])
    return out, usable


def chain_analytics(
    chain: pd.DataFrame, surface: pd.DataFrame | None = None, *, rate: float = DEFAULT_RATE
) -> pd.DataFrame:
    """One row per snapshot_id of positioning analytics (scopes and units: module docstring).

    Args:
        chain: CHAIN_COLUMNS rows, one or many snapshots.
        surface: `surface.iv_surface(chain)`; computed here when not given. Supplies T, the
            parity forward and the IVs that gamma is evaluated at.
        rate: continuously compounded rate (decimal), used only when the surface is computed
            here or a leg lacks a forward.

    Returns columns: snapshot_id, underlying, ts, spot, nearest_expiry, total_call_oi,
    total_put_oi, pcr_oi (put OI / call OI), total_call_volume, total_put_volume, pcr_volume,
    call_oi_change, put_oi_change, net_oi_change (put - call; the exchange's change since the
    previous close), top_call_buildup / top_put_buildup (up to 3 strikes with the largest
    positive OI change, nearest expiry), call_wall / put_wall (largest-OI strike per side,
    nearest expiry), max_pain (strike), max_pain_payout (rupees), gex, gex_call, gex_put (rupees
    per 1% move), gex_coverage (share of OI with a usable IV and T > 0), gex_flip_level (index
    points, NaN when no sign change within +-5%).

    All snapshots are computed together (sums by snapshot code, one groupby for the strike
    tables); only max pain and GEX loop over snapshots, on numpy slices of pre-grouped arrays.
    """
    if chain.empty:
        return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
    if surface is None:
        surface = iv_surface(chain, rate=rate)
    legs = _legs_with_vol(chain, surface, rate)
    # Codes number snapshots by first appearance; a missing id drops out, as in a groupby.
    codes, _ = pd.factorize(legs["snapshot_id"])
    if (codes < 0).any():
        legs, codes = legs[codes >= 0], codes[codes >= 0]
    if codes.size == 0:
        return pd.DataFrame(columns=list(OUTPUT_COLUMNS))  # no row had a snapshot id
    n = int(codes.max()) + 1
    first = np.unique(codes, return_index=True)[1]  # a snapshot's first row gives its header
    ts, spot = legs["ts"].array[first], _floats(legs["spot"])[first]
    underlying = legs["underlying"].to_numpy(object)[first]
    trade_date = pd.DatetimeIndex(ts).tz_convert(MARKET_TZ).date

    # Lots depend on (underlying, trade date, expiry) only: a day of snapshots shares a handful.
    lot_of = cache(_lot)
    exp_codes, exp_values = pd.factorize(legs["expiry"], use_na_sentinel=False)
    pairs, inverse = np.unique(codes * len(exp_values) + exp_codes, return_inverse=True)
    snap, exp = np.divmod(pairs, len(exp_values))
    keys = zip(underlying[snap], trade_date[snap], exp_values[exp], strict=True)
    row_lot = np.array([lot_of(*key) for key in keys], float)[inverse.ravel()]
    oi = _floats(legs["oi"])
    units = oi * row_lot

    def total(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # NaN skipped as pandas sums skip it; float even for an empty mask (bincount gives ints)
        return np.bincount(codes[mask], np.nan_to_num(values[mask]), minlength=n).astype(float)

    is_call = (legs["option_type"] == CALL).to_numpy()
    volume, change = _floats(legs["volume"]), _floats(legs["oi_change"])
    call_oi, put_oi = total(oi, is_call), total(oi, ~is_call)
    call_change, put_change = total(change, is_call), total(change, ~is_call)

    # Nearest live expiry per snapshot on int64 nanoseconds (NaT is the int64 minimum).
    expiry_ns = legs["expiry"].to_numpy("datetime64[ns]").view(np.int64)
    nat, none = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    live = (_floats(legs["T"]) > 0) & (expiry_ns != nat)
    nearest = np.full(n, none)
    np.minimum.at(nearest, codes[live], expiry_ns[live])
    has_near = nearest != none
    near = has_near[codes] & (expiry_ns == nearest[codes])
    table = _near_table(legs, codes, near)
    near_lot = np.full(n, np.nan)  # NaN payout without a live expiry
    near_lot[codes[near]] = row_lot[near]  # one lot per (snapshot, expiry)
    nearest = np.where(has_near, nearest, nat).view("datetime64[ns]")

    walls = np.full((2, n), np.nan)  # row 1 calls, row 0 puts, as in `call` below
    code, call, strike = _ranked(table, "oi", 1)
    walls[call.astype(int), code] = strike
    buildup: list[list[list[float]]] = [[[] for _ in range(n)] for _ in range(2)]
    for s, c, k in zip(*_ranked(table, "oi_change", TOP_BUILDUP), strict=True):
        buildup[int(c)][s].append(float(k))
    pain = _max_pain_all(table, n)
    gex, usable = _gex_all(legs, codes, spot, units, rate)
    total_call_volume, total_put_volume = total(volume, is_call), total(volume, ~is_call)
    columns = {
        "snapshot_id": legs["snapshot_id"].to_numpy(object)[first],
        "underlying": underlying,
        "ts": ts,
        "spot": spot,
        "nearest_expiry": nearest,
        "total_call_oi": call_oi,
        "total_put_oi": put_oi,
        "pcr_oi": _ratio(put_oi, call_oi),
        "total_call_volume": total_call_volume,
        "total_put_volume": total_put_volume,
        "pcr_volume": _ratio(total_put_volume, total_call_volume),
        "call_oi_change": call_change,
        "put_oi_change": put_change,
        "net_oi_change": put_change - call_change,
        "top_call_buildup": buildup[1],
        "top_put_buildup": buildup[0],
        "call_wall": walls[1],
        "put_wall": walls[0],
        "max_pain": pain[0],
        "max_pain_payout": pain[1] * near_lot,
        "gex": gex[0] + gex[1],
        "gex_call": gex[0],
        "gex_put": gex[1],
        "gex_coverage": _ratio(total(oi, usable), call_oi + put_oi),
        "gex_flip_level": gex[2],
    }
    return (
        pd.DataFrame(columns, columns=list(OUTPUT_COLUMNS))
        .sort_values(["ts", "snapshot_id"])
        .reset_index(drop=True)
    )


def oi_flow(prev_chain: pd.DataFrame, chain: pd.DataFrame) -> pd.DataFrame:
    """Per-contract OI change between two consecutive snapshots of one underlying.

    This is intraday flow between our own snapshots, separate from the exchange's `oi_change`
    (since the previous close). Contracts are matched on (underlying, expiry, strike,
    option_type); a contract present in only one snapshot gets NaN flow and `status` "new" or
    "gone": a strike missing from a snapshot may be a truncated feed window rather than zero
    OI, and inventing a zero would show up as a fake build-up.

    Columns: underlying, expiry, strike, option_type, prev_snapshot_id, snapshot_id, oi_prev,
    oi, oi_flow (contracts), price_prev, price, price_change (mid, else last), status, and
    reading: the usual premium-and-OI classification long_buildup (OI up, price up),
    short_buildup (OI up, price down), short_covering (OI down, price up), long_unwinding
    (OI down, price down), else none.
    """
    for name, frame in (("prev_chain", prev_chain), ("chain", chain)):
        if frame["snapshot_id"].nunique() != 1:
            raise ValueError(f"{name} must hold exactly one snapshot")
    if pd.Timestamp(prev_chain["ts"].iloc[0]) >= pd.Timestamp(chain["ts"].iloc[0]):
        raise ValueError("prev_chain must be strictly earlier than chain")
    keys = ["underlying", "expiry", "strike", "option_type"]

    def side(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[*keys, "snapshot_id", "oi"]].copy()
        out["option_type"] = out["option_type"].astype(str).str.upper()
        out["price"] = option_price(frame["bid"], frame["ask"], frame["last"])[0]
        return out.drop_duplicates(keys, keep="last")

    merged = side(prev_chain).merge(side(chain), on=keys, how="outer", suffixes=("_prev", ""))
    merged["prev_snapshot_id"] = prev_chain["snapshot_id"].iloc[0]
    merged["snapshot_id"] = chain["snapshot_id"].iloc[0]
    merged["oi_flow"] = merged["oi"] - merged["oi_prev"]
    merged["price_change"] = merged["price"] - merged["price_prev"]
    merged["status"] = np.select(
        [merged["oi_prev"].isna(), merged["oi"].isna()], ["new", "gone"], default="both"
    )
    flow, move = merged["oi_flow"].to_numpy(float), merged["price_change"].to_numpy(float)
    merged["reading"] = np.select(
        [
            (flow > 0) & (move > 0),
            (flow > 0) & (move < 0),
            (flow < 0) & (move > 0),
            (flow < 0) & (move < 0),
        ],
        ["long_buildup", "short_buildup", "short_covering", "long_unwinding"],
        default="none",
    )
    columns = [
        *keys, "prev_snapshot_id", "snapshot_id", "oi_prev", "oi", "oi_flow", "price_prev",
        "price", "price_change", "status", "reading",
    ]  # fmt: skip
    return merged[columns].sort_values(keys).reset_index(drop=True)
