"""Calendar-spread arbitrage between the expiries of one snapshot, judged on the quotes.

Why: each expiry's density is checked for vertical and butterfly arbitrage on its own
(`implied_density`, "non_convex_chain"), but two individually clean chains can still contradict
each other. With proportional carry (index dividends as a yield, deterministic rates), the
undiscounted call per unit forward at fixed forward-moneyness x = K / F_T,

    c_T(x) = C(x F_T, T) / (D_T F_T) = E[(S_T / F_T - x)^+],

is non-decreasing in T for every x, since S_T / F_T is a martingale and (· - x)^+ is convex
(Jensen). Equivalently the total implied variance w(k, T) = σ²(k, T) T is non-decreasing in T
at fixed k = ln x (Gatheral 2006, "The Volatility Surface", ch. 2; Gatheral & Jacquier 2014,
"Arbitrage-free SVI volatility surfaces", Lemma 2.1). A later expiry whose normalised calls are
cheaper is a free calendar spread, or far more likely a stale or mis-keyed chain, and a density
from either side of the contradiction is not the market's.

Prices rather than total variance are compared because the tolerance is then exact: a quote
known to within its half-spread h moves c by h / (D F), no vega or inversion in between.

Method, per pair of expiries T1 < T2:
- each expiry's usable out-of-the-money quotes (positive bid, as `implied_density` uses) become
  c(x), puts through parity (c = P / (D F) + 1 - x), with tolerance h / (D F), h the half-spread
  floored at half a tick;
- the later expiry is linearly interpolated to the earlier one's moneyness points, inside the
  overlap only. c is convex in x, so the chord lies above the curve: interpolation can only
  make the later expiry look dearer, i.e. it never manufactures a violation;
- violation where c_T2(x) < c_T1(x) - (tol_T1(x) + tol_T2(x)): both quotes would have to be
  wrong by more than their half-spreads for the order to hold.
The detail quotes the worst point with both prices, the tolerance and both total variances.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantsentinel.market.iv import implied_volatility
from quantsentinel.ml.density.breeden_litzenberger import DEFAULT_TICK


@dataclass(frozen=True)
class NormalisedCalls:
    """One expiry's usable quotes as c(x) = C(xF)/(D F), with tolerance, sorted by x."""

    expiry: pd.Timestamp
    T: float
    x: np.ndarray
    c: np.ndarray
    tol: np.ndarray


def normalised_calls(
    expiry: pd.Timestamp,
    strikes: np.ndarray,
    call_price: np.ndarray,
    put_price: np.ndarray,
    otm_bid: np.ndarray,
    otm_ask: np.ndarray,
    *,
    forward: float,
    T: float,
    rate: float,
) -> NormalisedCalls:
    """c(x) and its tolerance from one expiry's quotes (out-of-the-money leg, as B-L uses).

    Arrays are aligned per strike; `otm_bid`/`otm_ask` are the quotes of the out-of-the-money
    leg (put below the forward, call at or above it). Strikes without a positive bid, or
    without a price, are dropped: their "price" is tick noise.
    """
    K = np.asarray(strikes, dtype=float)
    is_call = forward <= K
    otm = np.where(is_call, call_price, put_price)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(otm) & (otm > 0) & np.isfinite(otm_bid) & (otm_bid > 0)
        usable &= np.isfinite(otm_ask) & (otm_ask >= otm_bid)
    D = float(np.exp(-rate * T))
    scale = D * forward
    x = K[usable] / forward
    c = otm[usable] / scale + np.where(is_call[usable], 0.0, 1.0 - x)
    half = np.maximum(0.5 * (otm_ask[usable] - otm_bid[usable]), 0.5 * DEFAULT_TICK)
    order = np.argsort(x)
    return NormalisedCalls(pd.Timestamp(expiry), float(T), x[order], c[order], half[order] / scale)


def _total_variance(x: float, c: float, T: float) -> float:
    """σ²T of an undiscounted unit-forward call c at moneyness x (out-of-the-money side)."""
    call = x >= 1.0
    price = c if call else c - (1.0 - x)
    iv = implied_volatility(np.array([price]), 1.0, np.array([x]), T, call, 0.0).iv
    return float(np.asarray(iv).ravel()[0] ** 2 * T)


def pair_violation(early: NormalisedCalls, late: NormalisedCalls) -> str | None:
    """None if `late` (larger T) is nowhere cheaper than `early` beyond tolerance, else why."""
    if late.x.size < 2 or early.x.size == 0:
        return None
    inside = (early.x >= late.x[0]) & (early.x <= late.x[-1])
    if not inside.any():
        return None
    x = early.x[inside]
    c_late = np.interp(x, late.x, late.c)
    tol = early.tol[inside] + np.interp(x, late.x, late.tol)
    shortfall = early.c[inside] - c_late
    bad = shortfall > tol
    if not bad.any():
        return None
    i = int(np.argmax(np.where(bad, shortfall - tol, -np.inf)))
    c1, c2 = float(early.c[inside][i]), float(c_late[i])
    w1 = _total_variance(float(x[i]), c1, early.T)
    w2 = _total_variance(float(x[i]), c2, late.T)
    return (
        f"{late.expiry.date()} (T={late.T:.4f}) is cheaper than {early.expiry.date()} "
        f"(T={early.T:.4f}) at {int(bad.sum())} strike(s); worst at K/F={x[i]:.4f}: "
        f"C/(DF) {c2:.5f} < {c1:.5f} by {shortfall[i]:.5f} > half-spread tol {tol[i]:.5f} "
        f"(total variance {w2:.5f} < {w1:.5f})"
    )


def calendar_conflicts(slices: list[NormalisedCalls]) -> dict[pd.Timestamp, str]:
    """Expiries not to publish, with why, from every pair of `slices` (one snapshot).

    A violation is a property of a pair, and the quotes alone cannot say which side is stale.
    So: an expiry that contradicts more expiries than any other is dropped (it is the outlier
    the others agree against); when the worst offenders are tied - always the case for a single
    bad pair - all of them are dropped, since publishing one of two contradicting densities
    would be a coin toss. Repeat until no contradiction remains, so an expiry whose only
    contradictions were with a dropped outlier keeps its density.
    """
    ordered = sorted(slices, key=lambda s: s.T)
    edges: dict[tuple[int, int], str] = {}
    for i, j in itertools.combinations(range(len(ordered)), 2):
        if ordered[j].T > ordered[i].T:
            why = pair_violation(ordered[i], ordered[j])
            if why is not None:
                edges[(i, j)] = why
    dropped: dict[pd.Timestamp, str] = {}
    while edges:
        degree = np.zeros(len(ordered), dtype=int)
        for i, j in edges:
            degree[i] += 1
            degree[j] += 1
        worst = set(np.flatnonzero(degree == degree.max()).tolist())
        for node in sorted(worst):
            reasons = [why for pair, why in edges.items() if node in pair]
            dropped[ordered[node].expiry] = "; ".join(reasons)
        edges = {pair: why for pair, why in edges.items() if not worst.intersection(pair)}
    return dropped
