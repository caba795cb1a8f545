"""Static no-arbitrage rules on a chain, per snapshot and expiry, vectorized over the whole frame.

For European options with discount factor D = exp(-rT) and forward F, any arbitrage-free set of
prices satisfies, strike by strike (K1 < K2):
- calls non-increasing and puts non-decreasing in K;
- both convex in K (a butterfly costs >= 0), with unequal strike gaps weighted correctly;
- vertical spreads bounded: C(K1) - C(K2) <= D (K2 - K1), P(K2) - P(K1) <= D (K2 - K1);
- put-call parity: C - P = D (F - K).
Quotes are discrete and noisy, so every inequality gets `arbitrage_tolerance` (one tick) of slack
and parity is flagged only beyond the combined bid-ask width of the pair, plus a few ticks.

Prices are mids where both quotes exist, else the last trade. Rows that already break a tabular
rule (crossed or negative quotes, bad strike or side, duplicates) are left out here: they are
reported once, as what they are, instead of as a cascade of spurious arbitrage findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.schema import CALL, MARKET_TZ, PUT
from quantsentinel.market.validation.rules import format_value, snapshot_ids
from quantsentinel.market.validation.types import Reason, ValidationConfig, Violation

MAX_EXAMPLES = 3
PARITY_ATM_PAIRS = 5  # pairs nearest the money whose implied forwards are medianed
PARITY_MIN_PAIRS = 3  # with fewer pairs the forward would be fitted to the rows it judges


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=float, na_value=np.nan)


def _snapshot_dates(ts: pd.Series) -> np.ndarray:
    """Each row's exchange date as naive-midnight datetime64 (the `expiry` convention), NaT-safe.

    Converted once per distinct instant: a snapshot repeats one ts on hundreds of rows, and the
    time-zone conversion is the slow part.
    """
    codes, uniques = pd.factorize(ts)
    days = pd.DatetimeIndex(uniques).tz_convert(MARKET_TZ).tz_localize(None).normalize()
    out = np.full(len(ts), np.datetime64("NaT", "ns"))
    seen = codes >= 0
    out[seen] = days.to_numpy(dtype="datetime64[ns]")[codes[seen]]
    return out


@dataclass(frozen=True)
class Quotes:
    """Priced rows, sorted by (snapshot, expiry, side, strike); snapshots as integer codes.

    Integer codes keep the sorts, groupings and the parity merge off Python strings; `names`
    turns a code back into its snapshot id when a violation is written.
    """

    frame: pd.DataFrame  # sid (code), expiry, strike, call, price, spread, discount
    names: np.ndarray


def _emit(
    reason: str, quotes: Quotes, sid: np.ndarray, idx: np.ndarray, describe: Callable[[int], str]
) -> list[Violation]:
    """Group offending positions by snapshot into Violations quoting the first few."""
    out: list[Violation] = []
    if idx.size == 0:
        return out
    idx = idx[np.argsort(sid[idx], kind="stable")]
    codes, starts, counts = np.unique(sid[idx], return_index=True, return_counts=True)
    for code, start, n in zip(codes, starts, counts, strict=True):
        shown = "; ".join(describe(int(i)) for i in idx[start : start + min(n, MAX_EXAMPLES)])
        more = f"; and {n - MAX_EXAMPLES} more" if n > MAX_EXAMPLES else ""
        out.append(Violation(str(quotes.names[code]), reason, shown + more, int(n)))
    return out


def expired_violations(chain: pd.DataFrame) -> list[Violation]:
    """EXPIRED_CONTRACT: expiry before the snapshot's exchange date (expiry day itself is live)."""
    snap_date = _snapshot_dates(chain["ts"])
    expired = chain["expiry"].to_numpy(dtype="datetime64[ns]") < snap_date
    if not expired.any():
        return []
    frame = pd.DataFrame(
        {
            "sid": snapshot_ids(chain).to_numpy()[expired],
            "expiry": chain["expiry"].to_numpy()[expired],
            "day": snap_date[expired],
        }
    )
    out = []
    for sid, g in frame.groupby("sid", sort=True):
        expiries = ", ".join(format_value(pd.Timestamp(e)) for e in sorted(g["expiry"].unique()))
        day = format_value(pd.Timestamp(g["day"].iloc[0]))
        detail = f"expiry {expiries} before snapshot date {day} on {len(g)} row(s)"
        out.append(Violation(str(sid), Reason.EXPIRED_CONTRACT, detail, len(g)))
    return out


def _years(ts: pd.DatetimeIndex, expiry: np.ndarray) -> np.ndarray:
    """Years to expiry close by the exchange calendar.

    The calendar refuses dates its session table does not cover; validation must still give a
    verdict, so those fall back to ACT/365 to 15:30 IST on the expiry date (a discount factor
    barely moves with that approximation).
    """
    try:
        years = np.asarray(calendar.year_fraction(ts, expiry), dtype=float)
    except ValueError:
        close = pd.DatetimeIndex(expiry).tz_localize(MARKET_TZ) + pd.Timedelta(hours=15.5)
        years = np.maximum((close - ts).total_seconds().to_numpy(), 0.0) / (365.0 * 86400.0)
    return np.nan_to_num(years, nan=0.0)


def _discounts(ts: pd.Series, expiry: np.ndarray, rate: float) -> np.ndarray:
    """exp(-rT) per row, asking the calendar once per distinct (ts, expiry) pair."""
    t_codes, t_uniques = pd.factorize(ts)
    e_codes, e_uniques = pd.factorize(expiry)
    pair_codes, pairs = pd.factorize(t_codes.astype(np.int64) * len(e_uniques) + e_codes)
    years = _years(
        pd.DatetimeIndex(t_uniques)[pairs // len(e_uniques)],
        np.asarray(e_uniques, dtype="datetime64[ns]")[pairs % len(e_uniques)],
    )
    return np.exp(-rate * years)[pair_codes]


def priced_quotes(chain: pd.DataFrame, rate: float) -> Quotes:
    """Sane, live rows with a usable price (mid if two-sided, else last), sorted for curves."""
    bid, ask, last = _floats(chain["bid"]), _floats(chain["ask"]), _floats(chain["last"])
    strike = _floats(chain["strike"])
    side = chain["option_type"].to_numpy(dtype=object, na_value=None)
    expiry = chain["expiry"].to_numpy(dtype="datetime64[ns]")
    sid, names = pd.factorize(snapshot_ids(chain))
    call, put = side == CALL, side == PUT
    key = pd.DataFrame(
        {"sid": sid, "expiry": expiry, "strike": strike, "side": call.astype(np.int8) - put}
    )
    with np.errstate(invalid="ignore"):
        bad_quote = (bid < 0) | (ask < 0) | (bid > ask) | (last < 0)
        two_sided = np.isfinite(bid) & np.isfinite(ask) & ~bad_quote
        price = np.where(two_sided, 0.5 * (bid + ask), np.where(np.isfinite(last), last, np.nan))
        keep = (
            (call | put)
            & (strike > 0)
            & ~bad_quote
            & np.isfinite(price)
            & (expiry >= _snapshot_dates(chain["ts"]))  # False for NaT on either side
            & ~key.duplicated(keep=False).to_numpy()
        )
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((strike[rows], call[rows], expiry[rows], sid[rows]))]
    frame = pd.DataFrame(
        {
            "sid": sid[rows],
            "expiry": expiry[rows],
            "strike": strike[rows],
            "call": call[rows],
            "price": price[rows],
            "spread": np.where(two_sided, ask - bid, np.nan)[rows],
            "discount": _discounts(chain["ts"].iloc[rows], expiry[rows], rate),
        }
    )
    return Quotes(frame, np.asarray(names, dtype=object))


def curve_violations(quotes: Quotes, tol: float) -> list[Violation]:
    """Monotonicity, convexity and vertical-spread bounds along each (snapshot, expiry, side)."""
    q = quotes.frame
    if q.empty:
        return []
    sids, expiry = q["sid"].to_numpy(), q["expiry"].to_numpy()
    # Rows are sorted by (sid, expiry, call, strike), so a curve is a run of equal keys.
    same = (
        (sids[1:] == sids[:-1])
        & (expiry[1:] == expiry[:-1])
        & (q["call"].to_numpy()[1:] == q["call"].to_numpy()[:-1])
    )
    K, P = q["strike"].to_numpy(), q["price"].to_numpy()
    D, call = q["discount"].to_numpy(), q["call"].to_numpy()
    n = len(q)
    # Position i pairs with i-1 (the next lower strike) and, for convexity, with i+1.
    has_prev = np.r_[False, same]
    has_next = np.r_[same, False]
    prev = np.r_[0, np.arange(n - 1)]
    nxt = np.r_[np.arange(1, n), n - 1]
    dK, dP = K - K[prev], P - P[prev]

    def label(i: int) -> str:
        return f"expiry {format_value(pd.Timestamp(expiry[i]))} {CALL if call[i] else PUT}"

    def pair(i: int, what: str) -> str:
        j = prev[i]
        return f"{label(i)}: {what} ({P[j]:.2f} at K={K[j]:g} -> {P[i]:.2f} at K={K[i]:g})"

    out = _emit(
        Reason.CALL_NOT_MONOTONE,
        quotes,
        sids,
        np.flatnonzero(has_prev & call & (dP > tol)),
        lambda i: pair(i, f"price rises by {dP[i]:.2f} > tol {tol:g}"),
    )
    out += _emit(
        Reason.PUT_NOT_MONOTONE,
        quotes,
        sids,
        np.flatnonzero(has_prev & ~call & (dP < -tol)),
        lambda i: pair(i, f"price falls by {-dP[i]:.2f} > tol {tol:g}"),
    )
    spread_value = np.where(call, -dP, dP)
    bound = D * dK + tol
    out += _emit(
        Reason.VERTICAL_SPREAD_BOUND,
        quotes,
        sids,
        np.flatnonzero(has_prev & (spread_value > bound)),
        lambda i: pair(i, f"spread {spread_value[i]:.2f} > D*dK+tol {bound[i]:.2f}"),
    )
    inner = has_prev & has_next
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (K[nxt] - K) / (K[nxt] - K[prev])
        fly = w * P[prev] + (1.0 - w) * P[nxt] - P
    concave = inner & (fly < -tol)

    def butterfly(i: int) -> str:
        return (
            f"{label(i)}: butterfly {fly[i]:.2f} < -{tol:g} at K={K[i]:g} "
            f"(prices {P[prev[i]]:.2f}/{P[i]:.2f}/{P[nxt[i]]:.2f} at "
            f"K={K[prev[i]]:g}/{K[i]:g}/{K[nxt[i]]:g})"
        )

    out += _emit(Reason.CALL_NOT_CONVEX, quotes, sids, np.flatnonzero(concave & call), butterfly)
    out += _emit(Reason.PUT_NOT_CONVEX, quotes, sids, np.flatnonzero(concave & ~call), butterfly)
    return out


def parity_violations(quotes: Quotes, tol: float) -> list[Violation]:
    """Put-call parity against a forward estimated per expiry from the chain itself.

    The spot-to-forward carry (dividends, futures basis) is unknown, so F is the median of
    K + (C - P)/D over the pairs nearest the money, where quotes are tightest. Only two-sided
    pairs are judged, since the bid-ask width is the yardstick.
    """
    q = quotes.frame
    quoted = q[q["spread"].notna()]
    cols = ["sid", "expiry", "strike", "price", "spread", "discount"]
    m = quoted.loc[quoted["call"], cols].merge(
        quoted.loc[~quoted["call"], cols[:5]], on=["sid", "expiry", "strike"], suffixes=("_c", "_p")
    )
    if m.empty:
        return []
    keys = ["sid", "expiry"]
    m["cp"] = m["price_c"] - m["price_p"]
    m["fwd"] = m["strike"] + m["cp"] / m["discount"]
    m["moneyness"] = m["cp"].abs()
    near = (
        m.sort_values("moneyness", kind="stable").groupby(keys, sort=False).head(PARITY_ATM_PAIRS)
    )
    forward = near.groupby(keys)["fwd"].median().rename("F")
    enough = m.groupby(keys)["strike"].transform("size").to_numpy() >= PARITY_MIN_PAIRS
    m = m.join(forward, on=keys)
    theo = m["discount"].to_numpy() * (m["F"].to_numpy() - m["strike"].to_numpy())
    resid = m["cp"].to_numpy() - theo
    width = m["spread_c"].to_numpy() + m["spread_p"].to_numpy()
    bad = enough & (np.abs(resid) > width + tol)
    sids, expiry, K = m["sid"].to_numpy(), m["expiry"].to_numpy(), m["strike"].to_numpy()
    F, cp = m["F"].to_numpy(), m["cp"].to_numpy()

    def describe(i: int) -> str:
        return (
            f"expiry {format_value(pd.Timestamp(expiry[i]))} K={K[i]:g}: C-P {cp[i]:.2f} vs "
            f"D*(F-K) {theo[i]:.2f} (F~{F[i]:.2f}), off by {abs(resid[i]):.2f} > "
            f"bid-ask width {width[i]:.2f} + tol {tol:g}"
        )

    return _emit(Reason.PUT_CALL_PARITY, quotes, sids, np.flatnonzero(bad), describe)


def arbitrage_violations(chain: pd.DataFrame, config: ValidationConfig) -> list[Violation]:
    """Every static no-arbitrage rule plus EXPIRED_CONTRACT; assumes the schema checked out."""
    if chain.empty:
        return []
    quotes = priced_quotes(chain, config.rate)
    return (
        expired_violations(chain)
        + curve_violations(quotes, config.arbitrage_tolerance)
        + parity_violations(quotes, config.parity_tolerance)
    )
