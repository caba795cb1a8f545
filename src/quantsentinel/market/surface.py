"""Measured implied-volatility surface from an option chain (no smoothing, no fitted model).

One row per (snapshot_id, expiry, strike). For each (snapshot, expiry) slice:

1. Option price = mid (bid + ask)/2 when both sides are quoted (bid > 0, ask >= bid), else the
   last traded price, else none. Deep strikes on NSE often have one side missing; a stale last
   is still a better IV input than nothing, and `*_price_source` says which one was used.
2. Forward from put-call parity, C - P = exp(-rT) (F - K)  =>  F_K = K + exp(rT) (C - P).
   The estimate is the median of F_K over the `parity_strikes` strikes with the smallest
   |C - P| (the strikes nearest the forward, where both legs are liquid and quote errors move
   F_K least), preferring strikes where both legs are two-sided mids. Parity gives the forward
   the market is pricing, dividends and futures basis included; spot * exp(rT) would ignore the
   index's dividend yield and tilt every IV, so it is only the fallback when no strike has both
   legs priced (`forward_source` = "spot_carry").
3. T = calendar.year_fraction(ts, expiry): ACT/365 to 15:30 IST on the expiry date.
4. IV by one vectorized `iv.implied_volatility` call over every priced leg of the whole chain
   (Black-76 on F). `iv` is taken from the out-of-the-money side (puts for K < F, calls for
   K >= F): OTM options carry only time value, so their prices are the liquid, informative
   ones, while an ITM price is mostly intrinsic value plus quote noise. `iv_call` / `iv_put`
   are both kept where solvable, with the solver's reason where not.
5. k = ln(K/F) (log-moneyness), total implied variance w = iv^2 T (years * decimal^2), and
   `delta` = Black-76 delta of the OTM option at its IV: exp(-rT) N(d1) for calls,
   -exp(-rT) N(-d1) for puts (Black 1976).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantsentinel.market.calendar import year_fraction
from quantsentinel.market.iv import implied_volatility
from quantsentinel.market.pricing import black76_greeks
from quantsentinel.market.schema import CALL, PUT

DEFAULT_RATE = 0.065
# Reasons added to the solver's `IVReason` codes, in the same snake_case vocabulary.
NO_PRICE = "no_price"  # no two-sided quote and no last trade
NO_OTM_LEG = "no_otm_leg"  # the strike is listed on the ITM side only
_SLICE = ["snapshot_id", "expiry"]
_STRIKE = [*_SLICE, "strike"]


def option_price(bid: pd.Series, ask: pd.Series, last: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(price, source) per leg: two-sided mid, else last trade, else NaN with source None."""
    b, a, lt = (np.asarray(s, dtype=float) for s in (bid, ask, last))
    with np.errstate(invalid="ignore"):
        two_sided = (b > 0) & (a > 0) & (a >= b)
        has_last = lt > 0
    price = np.where(two_sided, 0.5 * (b + a), np.where(has_last, lt, np.nan))
    source = np.where(two_sided, "mid", np.where(has_last, "last", None)).astype(object)
    return price, source


def parity_forwards(legs: pd.DataFrame, rate: float, parity_strikes: int) -> pd.DataFrame:
    """Per (snapshot_id, expiry): forward and its source. `legs` has price, T, spot, strike."""
    slices = legs.groupby(_SLICE, sort=False).agg(
        underlying=("underlying", "first"), ts=("ts", "first"), spot=("spot", "first"),
        T=("T", "first"),
    )  # fmt: skip
    priced = legs[np.isfinite(legs["price"]) & (legs["T"] > 0)]
    calls = priced[priced["option_type"] == CALL].drop_duplicates(_STRIKE).set_index(_STRIKE)
    puts = priced[priced["option_type"] == PUT].drop_duplicates(_STRIKE).set_index(_STRIKE)
    pairs = calls[["price", "price_source", "T"]].join(
        puts[["price", "price_source"]], how="inner", lsuffix="_c", rsuffix="_p"
    )
    pairs = pairs.reset_index()
    pairs["gap"] = (pairs["price_c"] - pairs["price_p"]).abs()
    pairs["quoted"] = (pairs["price_source_c"] == "mid") & (pairs["price_source_p"] == "mid")
    pairs["estimate"] = pairs["strike"] + np.exp(rate * pairs["T"]) * (
        pairs["price_c"] - pairs["price_p"]
    )
    best = pairs.sort_values([*_SLICE, "quoted", "gap"], ascending=[True, True, False, True])
    best = best.groupby(_SLICE, sort=False).head(parity_strikes)
    parity = best.groupby(_SLICE, sort=False)["estimate"].agg(["median", "size"])

    out = slices.join(parity)
    carry = out["spot"] * np.exp(rate * out["T"])
    use_parity = out["median"].notna()
    out["forward"] = np.where(use_parity, out["median"], carry)
    out["forward_source"] = np.where(use_parity, "parity", "spot_carry")
    out["parity_strikes"] = out["size"].fillna(0).astype("int64")
    return out.drop(columns=["median", "size"]).reset_index()


def iv_surface(
    chain: pd.DataFrame, *, rate: float = DEFAULT_RATE, parity_strikes: int = 5
) -> pd.DataFrame:
    """Measured IVs per (snapshot_id, expiry, strike) from CHAIN_COLUMNS rows.

    Args:
        chain: one or many snapshots, any expiries; `ts` tz-aware, `expiry` naive midnight.
        rate: continuously compounded annual rate (decimal) for discounting and parity.
        parity_strikes: how many near-forward strikes vote (median) on the implied forward.

    Returns:
        Columns: snapshot_id, underlying, ts, spot, expiry, T (years), forward,
        forward_source ("parity" | "spot_carry"), parity_strikes, strike, k = ln(K/F),
        call_price, put_price, call_price_source, put_price_source ("mid" | "last" | None),
        iv_call, iv_put, iv_call_reason, iv_put_reason, iv_side ("PE" below F, "CE" at/above),
        iv (decimal, OTM side), iv_reason (None when solved), delta (OTM option, Black-76,
        discounted), total_variance = iv^2 T. Sorted by snapshot_id, expiry, strike.
    """
    legs = chain[
        ["snapshot_id", "underlying", "ts", "spot", "expiry", "strike", "option_type"]
    ].copy()
    legs["option_type"] = legs["option_type"].astype(str).str.upper()
    legs["price"], legs["price_source"] = option_price(chain["bid"], chain["ask"], chain["last"])
    legs["T"] = np.asarray(year_fraction(chain["ts"], chain["expiry"]), dtype=float)

    fwd = parity_forwards(legs, rate, parity_strikes)
    legs = legs.merge(fwd[[*_SLICE, "forward"]], on=_SLICE, how="left")

    # One solver call over every priced leg; the solver names every other failure itself.
    solvable = np.isfinite(legs["price"].to_numpy())
    vol = np.full(len(legs), np.nan)
    reason = np.full(len(legs), NO_PRICE, dtype=object)
    if solvable.any():
        sub = legs[solvable]
        res = implied_volatility(
            sub["price"].to_numpy(float),
            sub["forward"].to_numpy(float),
            sub["strike"].to_numpy(float),
            sub["T"].to_numpy(float),
            (sub["option_type"] == CALL).to_numpy(),
            rate,
        )
        vol[solvable] = np.asarray(res.iv, dtype=float)
        reason[solvable] = np.asarray(res.reason, dtype=object)
    legs["iv"], legs["reason"] = vol, reason

    side_cols = ["price", "price_source", "iv", "reason"]
    wide = None
    for side, name in ((CALL, "call"), (PUT, "put")):
        part = legs.loc[legs["option_type"] == side, [*_STRIKE, *side_cols]]
        part = part.drop_duplicates(_STRIKE, keep="last").set_index(_STRIKE)
        part.columns = [f"{name}_price", f"{name}_price_source", f"iv_{name}", f"iv_{name}_reason"]
        part[f"has_{name}"] = True
        wide = part if wide is None else wide.join(part, how="outer")
    assert wide is not None
    surf = wide.reset_index().merge(fwd, on=_SLICE, how="left")
    has_call = surf["has_call"].eq(True).to_numpy()
    has_put = surf["has_put"].eq(True).to_numpy()

    K, F, T = (surf[c].to_numpy(float) for c in ("strike", "forward", "T"))
    below = K < F
    surf["iv_side"] = np.where(below, PUT, CALL)
    surf["iv"] = np.where(below, surf["iv_put"], surf["iv_call"])
    otm_reason = np.where(below, surf["iv_put_reason"], surf["iv_call_reason"])
    # A strike listed on one side only is a different failure from an unsolved quote.
    otm_reason = np.where(np.where(below, has_put, has_call), otm_reason, NO_OTM_LEG)
    surf["iv_reason"] = np.where(np.isfinite(surf["iv"]), None, otm_reason).astype(object)
    with np.errstate(divide="ignore", invalid="ignore"):
        surf["k"] = np.log(K / F)
    sigma = surf["iv"].to_numpy(float)
    delta = black76_greeks(F, K, T, sigma, ~below, rate).delta
    surf["delta"] = np.where(np.isfinite(sigma), delta, np.nan)
    surf["total_variance"] = sigma * sigma * T

    columns = [
        "snapshot_id", "underlying", "ts", "spot", "expiry", "T", "forward", "forward_source",
        "parity_strikes", "strike", "k", "call_price", "put_price", "call_price_source",
        "put_price_source", "iv_call", "iv_put", "iv_call_reason", "iv_put_reason", "iv_side",
        "iv", "iv_reason", "delta", "total_variance",
    ]  # fmt: skip
    return surf[columns].sort_values(_STRIKE, kind="stable").reset_index(drop=True)


def _interp_at(x: np.ndarray, y: np.ndarray, x0: float) -> float:
    """Linear interpolation at x0 without extrapolation (NaN when x0 is not bracketed)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) == 0 or x0 < x.min() or x0 > x.max():
        return float("nan")
    order = np.argsort(x, kind="stable")
    return float(np.interp(x0, x[order], y[order]))


def atm_iv(surface: pd.DataFrame) -> pd.DataFrame:
    """ATM IV and 25-delta skew summary per (snapshot_id, expiry), from measured OTM IVs.

    - atm_iv: iv linearly interpolated in k = ln(K/F) at k = 0 (the forward), NaN unless
      strikes on both sides of the forward have an IV (no extrapolation);
    - iv_25d_call / iv_25d_put: iv interpolated in Black-76 delta at +0.25 on the call wing and
      -0.25 on the put wing (discounted delta, as in the surface's `delta` column);
    - rr25 = iv_25d_call - iv_25d_put (negative for the usual index put skew);
    - bf25 = (iv_25d_call + iv_25d_put)/2 - atm_iv (smile curvature).
    All in decimal vol.
    """
    rows = []
    for (snap, expiry), g in surface.groupby(_SLICE, sort=True):
        k = g["k"].to_numpy(float)
        vol = g["iv"].to_numpy(float)
        delta = g["delta"].to_numpy(float)
        calls = (g["iv_side"] == CALL).to_numpy()
        atm = _interp_at(k, vol, 0.0)
        c25 = _interp_at(delta[calls], vol[calls], 0.25)
        p25 = _interp_at(delta[~calls], vol[~calls], -0.25)
        rows.append(
            {
                "snapshot_id": snap,
                "underlying": g["underlying"].iloc[0],
                "ts": g["ts"].iloc[0],
                "expiry": expiry,
                "T": g["T"].iloc[0],
                "forward": g["forward"].iloc[0],
                "n_iv": int(np.isfinite(vol).sum()),
                "atm_iv": atm,
                "iv_25d_call": c25,
                "iv_25d_put": p25,
                "rr25": c25 - p25,
                "bf25": 0.5 * (c25 + p25) - atm,
            }
        )
    columns = [
        "snapshot_id", "underlying", "ts", "expiry", "T", "forward", "n_iv", "atm_iv",
        "iv_25d_call", "iv_25d_put", "rr25", "bf25",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def smile(
    surface: pd.DataFrame, snapshot_id: str | None = None, expiry: object | None = None
) -> pd.DataFrame:
    """The measured smile (k, iv) of one slice, ordered by strike.

    Defaults: the latest snapshot (by `ts`) and, within it, the nearest expiry with T > 0.
    Rows without a solved IV are left out. Raises KeyError for an unknown snapshot or expiry.
    """
    if surface.empty:
        return surface.iloc[:0][["snapshot_id", "expiry", "strike", "k", "iv"]]
    if snapshot_id is None:
        snapshot_id = surface.sort_values(["ts", "snapshot_id"])["snapshot_id"].iloc[-1]
    snap = surface[surface["snapshot_id"] == snapshot_id]
    if snap.empty:
        raise KeyError(f"snapshot not in surface: {snapshot_id}")
    if expiry is None:
        live = snap[snap["T"] > 0]
        expiry = (live if not live.empty else snap)["expiry"].min()
    part = snap[snap["expiry"] == pd.Timestamp(expiry)]
    if part.empty:
        raise KeyError(f"expiry {expiry} not in snapshot {snapshot_id}")
    cols = ["snapshot_id", "expiry", "strike", "k", "iv", "iv_side", "delta", "total_variance"]
    part = part[np.isfinite(part["iv"].to_numpy(float))]
    return part[cols].sort_values("strike").reset_index(drop=True)
