"""Option chains priced by models whose risk-neutral density is known exactly, quoted like NSE.

Why: the only honest accuracy test of a density recovered from quotes is a chain whose true
density is known. Two closed-form models live here (Heston, whose density needs Fourier
inversion, is in `heston.py`):

- Black-76 lognormal: q is the lognormal density of S_T with mean F (Black 1976).
- Merton (1976) jump-diffusion: conditional on n jumps, ln S_T is normal, so both the prices and
  the density are Poisson mixtures of Black-76 prices and lognormal densities - exact, and
  negatively skewed with fat tails when the mean jump is negative (the index-crash case).

Quotes mimic the exchange (NSE index options): 50-point strikes, a 0.05 tick, spreads widening
in the wings, zero bids on options worth less than a tick, and a fair value that sits anywhere
inside the spread, so the recovery is tested against the noise it meets in production.

Tests (tests/ml/test_density*.py) and benchmarks/bench_density.py import from here, so both
measure the same chains. Pure numpy/scipy/pandas: no dagster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import CALL, CHAIN_COLUMNS, PUT, conform, snapshot_id
from quantsentinel.ml.density.breeden_litzenberger import ImpliedDensity, implied_density

Pdf = Callable[[np.ndarray], np.ndarray]
ModelChain = tuple[np.ndarray, np.ndarray, Pdf]  # (discounted calls, discounted puts, true pdf)

NSE_TICK = 0.05
NSE_STRIKE_STEP = 50.0  # NIFTY weekly/monthly strike spacing
DEFAULT_FORWARD = 24_000.0
DEFAULT_T = 30 / 365
DEFAULT_RATE = 0.065
DEFAULT_SIGMA = 0.15


def nse_strikes(
    forward: float = DEFAULT_FORWARD, *, n_strikes: int = 200, step: float = NSE_STRIKE_STEP
) -> np.ndarray:
    """`n_strikes` listed strikes `step` apart, centred on the listed strike nearest `forward`.

    The default is the benchmark's 200-strike NIFTY expiry: 50-point spacing, about ±20 % around
    the forward, i.e. the full listed chain of a monthly expiry.
    """
    if n_strikes < 1 or step <= 0:
        raise ValueError("need n_strikes >= 1 and step > 0")
    centre = step * round(forward / step)
    return centre + step * (np.arange(n_strikes) - n_strikes // 2)


@dataclass(frozen=True)
class ChainSpec:
    """Where a synthetic expiry is priced: strikes, forward, years to expiry, rate, tick."""

    strikes: np.ndarray = field(
        default_factory=lambda: np.arange(20_000.0, 28_001.0, NSE_STRIKE_STEP)
    )
    forward: float = DEFAULT_FORWARD
    T: float = DEFAULT_T
    rate: float = DEFAULT_RATE
    tick: float = NSE_TICK

    @classmethod
    def nse(
        cls,
        forward: float = DEFAULT_FORWARD,
        *,
        n_strikes: int = 200,
        step: float = NSE_STRIKE_STEP,
        T: float = DEFAULT_T,
        rate: float = DEFAULT_RATE,
    ) -> ChainSpec:
        """An expiry on the NSE strike ladder (`nse_strikes`); 200 strikes by default."""
        return cls(nse_strikes(forward, n_strikes=n_strikes, step=step), forward, T, rate)

    @property
    def discount(self) -> float:
        return math.exp(-self.rate * self.T)


# The accuracy suite's chain: 161 strikes, 20,000..28,000 at 50 points, 30 days, F = 24,000.
DEFAULT_SPEC = ChainSpec()


def lognormal_pdf(x: np.ndarray, forward: float, sigma: float, T: float) -> np.ndarray:
    """Density of S_T when ln S_T ~ N(ln F - σ²T/2, σ²T), i.e. E[S_T] = F."""
    v = sigma * math.sqrt(T)
    x = np.asarray(x, dtype=float)
    return norm.pdf((np.log(x / forward) + 0.5 * v * v) / v) / (x * v)


def lognormal_chain(spec: ChainSpec = DEFAULT_SPEC, sigma: float = DEFAULT_SIGMA) -> ModelChain:
    """Black-76 calls and puts at a flat vol, and their exact (lognormal) density."""
    calls = black76_price(spec.forward, spec.strikes, spec.T, sigma, True, spec.rate)
    puts = black76_price(spec.forward, spec.strikes, spec.T, sigma, False, spec.rate)
    return calls, puts, lambda x: lognormal_pdf(x, spec.forward, sigma, spec.T)


def merton_chain(
    lam: float = 3.0,
    mu_j: float = -0.04,
    delta_j: float = 0.05,
    sigma: float = 0.12,
    *,
    spec: ChainSpec = DEFAULT_SPEC,
    max_jumps: int = 40,
) -> ModelChain:
    """Merton (1976) jump-diffusion on the forward: prices and density as Poisson mixtures.

    Given n jumps, ln S_T is normal with total variance σ²T + nδ², i.e. Black-76 with
    σ_n² = σ² + nδ²/T on the forward F_n = F exp(-λκT + nμ_J + nδ²/2), κ = e^{μ_J + δ²/2} - 1
    (the compensator keeps E[S_T] = F); weighting by P(N = n) = e^{-λT}(λT)^n/n! gives both the
    price and the density exactly. `max_jumps` = 40 leaves a Poisson tail below 1e-30 for λT < 1.
    """
    T = spec.T
    kappa = math.exp(mu_j + 0.5 * delta_j**2) - 1.0
    parts = []
    for n in range(max_jumps):
        weight = math.exp(-lam * T) * (lam * T) ** n / math.factorial(n)
        sigma_n = math.sqrt(sigma**2 + n * delta_j**2 / T)
        fwd_n = spec.forward * math.exp(-lam * kappa * T + n * mu_j + 0.5 * n * delta_j**2)
        parts.append((weight, fwd_n, sigma_n))
    K, r = spec.strikes, spec.rate
    calls = sum(w * black76_price(f, K, T, s, True, r) for w, f, s in parts)
    puts = sum(w * black76_price(f, K, T, s, False, r) for w, f, s in parts)

    def pdf(x: np.ndarray) -> np.ndarray:
        return sum(w * lognormal_pdf(x, f, s, T) for w, f, s in parts)

    return np.asarray(calls), np.asarray(puts), pdf


def quote(
    price: np.ndarray, rng: np.random.Generator, spec: ChainSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bid, ask, mid) on the tick grid around a noisy fair value; spreads widen in the wings.

    The spread is max(tick, 0.4 % of the premium + 0.1 (|k| / 0.05)²), k = ln(K/F), roughly the
    shape of NIFTY quotes; the fair value is drawn uniformly within ±30 % of the spread around
    the model price, the bid is floored and the ask ceiled to the tick, and a bid below zero
    becomes a zero bid (no market) as on the exchange.
    """
    tick = spec.tick
    k = np.log(spec.strikes / spec.forward)
    spread = np.maximum(tick, 0.004 * price + 0.1 * (np.abs(k) / 0.05) ** 2)
    fair = price + rng.uniform(-0.3, 0.3, price.size) * spread
    bid = np.maximum(np.floor((fair - spread / 2) / tick) * tick, 0.0)
    ask = np.ceil((fair + spread / 2) / tick) * tick
    return bid, ask, 0.5 * (bid + ask)


def quoted_legs(
    calls: np.ndarray, puts: np.ndarray, seed: int, spec: ChainSpec = DEFAULT_SPEC
) -> dict[str, np.ndarray]:
    """Bid/ask/mid of both legs from one seed (call quotes drawn first, then put quotes)."""
    rng = np.random.default_rng(seed)
    call_bid, call_ask, call_mid = quote(calls, rng, spec)
    put_bid, put_ask, put_mid = quote(puts, rng, spec)
    return {
        "call_bid": call_bid,
        "call_ask": call_ask,
        "call_mid": call_mid,
        "put_bid": put_bid,
        "put_ask": put_ask,
        "put_mid": put_mid,
    }


def recover_density(
    calls: np.ndarray,
    puts: np.ndarray,
    seed: int,
    spec: ChainSpec = DEFAULT_SPEC,
    *,
    grid_points: int = 400,
) -> ImpliedDensity:
    """Quote a model chain with `seed`'s noise and run Breeden-Litzenberger on the mids.

    The out-of-the-money leg's bid/ask is passed, as `implied_density` expects.
    """
    legs = quoted_legs(calls, puts, seed, spec)
    otm_call = spec.strikes >= spec.forward
    return implied_density(
        spec.strikes,
        legs["call_mid"],
        legs["put_mid"],
        forward=spec.forward,
        T=spec.T,
        rate=spec.rate,
        bid=np.where(otm_call, legs["call_bid"], legs["put_bid"]),
        ask=np.where(otm_call, legs["call_ask"], legs["put_ask"]),
        grid_points=grid_points,
    )


def density_errors(est: ImpliedDensity, pdf: Pdf) -> dict[str, float]:
    """L1 against the true (unnormalised) density, and truncated-moment errors vs the truth.

    L1 = ∫ |q̂ - q| over the recovered grid, so mass the truth puts outside the quoted strikes
    counts as error. Moments of both are truncated at their own 1st/99th percentiles (the truth
    restricted to the same grid), the like-for-like comparison of `ImpliedDensity.moments`.
    `variance` is relative; the others are absolute (mean in index points).
    """
    true = pdf(est.strikes)
    truth = ImpliedDensity(
        est.strikes, true / np.trapezoid(true, est.strikes), est.forward, est.T, 1.0
    )
    m, mt = est.moments(), truth.moments()
    return {
        "l1": float(np.trapezoid(np.abs(est.density - true), est.strikes)),
        "mean": abs(m["mean"] - mt["mean"]),
        "variance": abs(m["variance"] / mt["variance"] - 1.0),
        "skewness": abs(m["skewness"] - mt["skewness"]),
        "kurtosis": abs(m["kurtosis"] - mt["kurtosis"]),
        "true_skewness": mt["skewness"],
    }


def chain_rows(
    spec: ChainSpec,
    calls: np.ndarray,
    puts: np.ndarray,
    seed: int,
    *,
    ts: pd.Timestamp,
    expiry: pd.Timestamp,
    underlying: str = "NIFTY",
    spot: float | None = None,
) -> pd.DataFrame:
    """One synthetic expiry as CHAIN_COLUMNS rows (CE and PE per strike), quoted with `seed`.

    Zero bids become NaN (the simulator's and the exchange's "no bid"); `last` is the mid. The
    caller keeps `spec.T` consistent with `calendar.year_fraction(ts, expiry)`.
    """
    legs = quoted_legs(calls, puts, seed, spec)
    n = spec.strikes.size
    stamp = pd.Timestamp(ts)
    frame = pd.DataFrame(
        {
            "snapshot_id": snapshot_id(underlying, stamp),
            "underlying": underlying,
            "ts": stamp,
            "received_at": stamp,
            "spot": spec.forward * spec.discount if spot is None else spot,
            "expiry": pd.Timestamp(expiry),
            "strike": np.concatenate([spec.strikes, spec.strikes]),
            "option_type": [CALL] * n + [PUT] * n,
            "bid": np.concatenate([legs["call_bid"], legs["put_bid"]]),
            "ask": np.concatenate([legs["call_ask"], legs["put_ask"]]),
            "last": np.concatenate([legs["call_mid"], legs["put_mid"]]),
            "volume": 0,
            "oi": 0,
            "oi_change": 0,
            "iv": np.nan,
            "source": "generic",
        }
    )
    frame.loc[frame["bid"] <= 0, "bid"] = np.nan
    return conform(frame, CHAIN_COLUMNS)
