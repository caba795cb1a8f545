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
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows that open a new run of equal keys (rows already sorted)."""
    new = np.zeros(len(keys[0]), bool)
    new[:1] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    return new


def _near_table(legs: pd.DataFrame, codes: np.ndarray, near: np.ndarray) -> pd.DataFrame:
    """Nearest-expiry OI and OI change per (snapshot code, side, strike), sorted by those keys.

    One groupby for all snapshots; only CE and PE rows enter (the per-side strike tables), and
    rows without a strike drop out as a groupby on strike would drop them.
    """
    side = legs["option_type"].to_numpy(object)
    strike = legs["strike"].to_numpy(float)
    keep = near & ((side == CALL) | (side == PUT)) & ~np.isnan(strike)
    frame = pd.DataFrame(
        {
            "code": codes[keep],
            "call": side[keep] == CALL,
            "strike": strike[keep],
            "oi": legs["oi"].to_numpy()[keep],
            "oi_change": legs["oi_change"].to_numpy()[keep],
        }
    )
    return frame.groupby(["code", "call", "strike"], sort=True, as_index=False).sum()


def _ranked(table: pd.DataFrame, column: str, limit: int) -> tuple[np.ndarray, ...]:
    """(code, call, strike) of the rows with positive `column`, largest first within each
    (snapshot, side) and the lowest strike on ties, keeping the first `limit` of each group."""
    value = table[column].to_numpy(float)
    pos = value > 0
    code, call = table["code"].to_numpy()[pos], table["call"].to_numpy()[pos]
    strike, value = table["strike"].to_numpy(float)[pos], value[pos]
    order = np.lexsort((strike, -value, call, code))
    code, call, strike = code[order], call[order], strike[order]
    new = _group_starts(code, call)
    rank = np.arange(len(code)) - np.flatnonzero(new)[np.cumsum(new) - 1]
    keep = rank < limit
    return code[keep], call[keep], strike[keep]


def _max_pain_all(table: pd.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`max_pain` of every snapshot's nearest expiry; NaN where a snapshot has no strikes.

    The loop is over snapshots but touches only numpy slices of the one grouped table.
    """
    code = table["code"].to_numpy()
    call = table["call"].to_numpy()
    strike = table["strike"].to_numpy(float)
    oi = table["oi"].to_numpy(float)
    bounds = np.searchsorted(code, np.arange(n + 1))
    pain, payout = np.full(n, np.nan), np.full(n, np.nan)
    for s in range(n):
        rows = slice(bounds[s], bounds[s + 1])
        if bounds[s] == bounds[s + 1]:
            continue
        k, c = strike[rows], call[rows]
        strikes = np.unique(k)  # the union of call and put strikes, as in the per-side tables
        calls, puts = np.zeros(strikes.size), np.zeros(strikes.size)
        calls[np.searchsorted(strikes, k[c])] = oi[rows][c]
        puts[np.searchsorted(strikes, k[~c])] = oi[rows][~c]
        pain[s], payout[s] = max_pain(strikes, calls, puts)
    return pain, payout


def _gex_all(
    codes: np.ndarray,
    n: int,
    spot: np.ndarray,
    legs: pd.DataFrame,
    is_call: np.ndarray,
    units: np.ndarray,
    rate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gex_call, gex_put, flip level, usable mask) per snapshot.

    Usable legs are gathered once, ordered by snapshot (stable, so each snapshot keeps its row
    order), and each snapshot's grid evaluation then runs on contiguous numpy slices.
    """
    sigma, T = legs["sigma"].to_numpy(float), legs["T"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(sigma) & (sigma > 0) & (T > 0) & (units > 0)
    idx = np.flatnonzero(usable)
    idx = idx[np.argsort(codes[idx], kind="stable")]
    bounds = np.searchsorted(codes[idx], np.arange(n + 1))
    forward, strike = legs["forward"].to_numpy(float)[idx], legs["strike"].to_numpy(float)[idx]
    T, sigma = T[idx], sigma[idx]
    weight = np.where(is_call[idx], 1.0, -1.0) * units[idx]
    weight_call, weight_put = np.where(weight > 0, weight, 0.0), np.where(weight < 0, weight, 0.0)
    steps = np.linspace(1.0 - FLIP_RANGE, 1.0 + FLIP_RANGE, FLIP_POINTS)
    gex_call, gex_put, flip = np.empty(n), np.empty(n), np.empty(n)
    for s in range(n):
        rows = slice(bounds[s], bounds[s + 1])
        args = (spot[s], forward[rows], strike[rows], T[rows], sigma[rows])
        gex_call[s] = gex_at(spot[s], *args, weight_call[rows], rate)[0]
        gex_put[s] = gex_at(spot[s], *args, weight_put[rows], rate)[0]
        grid = spot[s] * steps
        flip[s] = _flip_level(grid, gex_at(grid, *args, weight[rows], rate), spot[s])
    return gex_call, gex_put, flip, usable


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

    Every statistic is computed for all snapshots at once (sums by integer snapshot code, one
    groupby for the nearest-expiry strike tables); only the GEX grid and max pain loop over
    snapshots, on numpy slices. A snapshot's row depends on its own legs alone.
    """
    if chain.empty:
        return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
    if surface is None:
        surface = iv_surface(chain, rate=rate)
    legs = _legs_with_vol(chain, surface, rate)
    # factorize numbers snapshots in order of first appearance; a missing id is dropped, as
    # groupby would drop it.
    codes, _ = pd.factorize(legs["snapshot_id"])
    if (codes < 0).any():
        legs, codes = legs[codes >= 0].reset_index(drop=True), codes[codes >= 0]
    n = int(codes.max()) + 1
    first = np.unique(codes, return_index=True)[1]  # each snapshot's first row gives its header
    ts = legs["ts"].array[first]
    spot = legs["spot"].to_numpy(float)[first]
    underlying = legs["underlying"].to_numpy(object)[first]
    trade_date = pd.DatetimeIndex(ts).tz_convert(MARKET_TZ).date

    # Lots depend on (underlying, trade date, expiry) only: a day of snapshots shares a handful.
    lot_of = cache(_lot)
    exp_codes, exp_values = pd.factorize(legs["expiry"], use_na_sentinel=False)
    pairs, inverse = np.unique(codes * len(exp_values) + exp_codes, return_inverse=True)
    pair_lots = np.array(
        [lot_of(underlying[p // len(exp_values)], trade_date[p // len(exp_values)],
                exp_values[p % len(exp_values)]) for p in pairs]
    )  # fmt: skip
    units = legs["oi"].to_numpy(float) * pair_lots[inverse.ravel()]

    is_call = (legs["option_type"] == CALL).to_numpy()
    # NaN counts and volumes are skipped, as pandas sums skip them.
    oi = np.nan_to_num(legs["oi"].to_numpy(float))

    def total(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], np.nan_to_num(values[mask]), minlength=n)

    call_oi, put_oi = total(oi, is_call), total(oi, ~is_call)
    volume, change = legs["volume"].to_numpy(float), legs["oi_change"].to_numpy(float)
    call_volume, put_volume = total(volume, is_call), total(volume, ~is_call)
    call_change, put_change = total(change, is_call), total(change, ~is_call)

    # Nearest live expiry per snapshot, as int64 nanoseconds (NaT is the int64 minimum).
    expiry_ns = legs["expiry"].to_numpy("datetime64[ns]").view(np.int64)
    live = (legs["T"].to_numpy(float) > 0) & (expiry_ns != np.iinfo(np.int64).min)
    nearest_ns = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(nearest_ns, codes[live], expiry_ns[live])
    has_near = nearest_ns != np.iinfo(np.int64).max
    nearest = np.where(has_near, nearest_ns, np.iinfo(np.int64).min).view("datetime64[ns]")
    table = _near_table(legs, codes, has_near[codes] & (expiry_ns == nearest_ns[codes]))

    walls = np.full((2, n), np.nan)  # row 1 calls, row 0 puts
    code, call, strike = _ranked(table, "oi", 1)
    walls[call.astype(int), code] = strike
    buildup: list[list[list[float]]] = [[[] for _ in range(n)] for _ in range(2)]
    for c, side, k in zip(*_ranked(table, "oi_change", TOP_BUILDUP), strict=True):
        buildup[int(side)][c].append(float(k))
    pain, payout = _max_pain_all(table, n)
    near_lot = np.array(
        [lot_of(underlying[s], trade_date[s], pd.Timestamp(nearest[s])) if has_near[s]
         else np.nan for s in range(n)]
    )  # fmt: skip

    gex_call, gex_put, flip, usable = _gex_all(codes, n, spot, legs, is_call, units, rate)
    usable_oi = total(oi, usable)
    columns = {
        "snapshot_id": legs["snapshot_id"].to_numpy(object)[first],
        "underlying": underlying,
        "ts": ts,
        "spot": spot,
        "nearest_expiry": nearest,
        "total_call_oi": call_oi,
        "total_put_oi": put_oi,
        "pcr_oi": _ratio(put_oi, call_oi),
        "total_call_volume": call_volume,
        "total_put_volume": put_volume,
        "pcr_volume": _ratio(put_volume, call_volume),
        "call_oi_change": call_change,
        "put_oi_change": put_change,
        "net_oi_change": put_change - call_change,
        "top_call_buildup": buildup[1],
        "top_put_buildup": buildup[0],
        "call_wall": walls[1],
        "put_wall": walls[0],
        "max_pain": pain,
        "max_pain_payout": payout * near_lot,
        "gex": gex_call + gex_put,
        "gex_call": gex_call,
        "gex_put": gex_put,
        "gex_coverage": _ratio(usable_oi, call_oi + put_oi),
        "gex_flip_level": flip,
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
