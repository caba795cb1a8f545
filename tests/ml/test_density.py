"""Breeden-Litzenberger densities recovered from chains priced by models with known densities.

Chains are quoted the way NSE quotes them: 50-point strikes, a 0.05 tick, spreads that widen in
the wings, zero bids where the option is worth less than a tick, and the mid is what goes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import norm

from quantsentinel.market.pricing import black76_price
from quantsentinel.ml.density import DensityError, ImpliedDensity, implied_density

F, T, RATE, SIGMA, TICK = 24_000.0, 30 / 365, 0.065, 0.15, 0.05
STRIKES = np.arange(20_000.0, 28_001.0, 50.0)
Pdf = Callable[[np.ndarray], np.ndarray]


def lognormal_pdf(x: np.ndarray, fwd: float, sigma: float) -> np.ndarray:
    """Density of S_T when ln S_T ~ N(ln fwd - σ²T/2, σ²T)."""
    v = sigma * math.sqrt(T)
    return norm.pdf((np.log(x / fwd) + 0.5 * v * v) / v) / (x * v)


def merton_chain(
    lam: float = 3.0, mu_j: float = -0.04, delta_j: float = 0.05, sigma: float = 0.12
) -> tuple[np.ndarray, np.ndarray, Pdf]:
    """Merton (1976) jump-diffusion on the forward: prices and density as Poisson mixtures.

    Given n jumps, ln S_T is normal with total variance σ²T + nδ², i.e. Black-76 with
    σ_n² = σ² + nδ²/T on the forward F_n = F exp(-λκT + nμ_J + nδ²/2), κ = e^{μ_J + δ²/2} - 1;
    weighting by P(N = n) = e^{-λT}(λT)^n/n! gives both the price and the density exactly.
    """
    kappa = math.exp(mu_j + 0.5 * delta_j**2) - 1.0
    parts = []
    for n in range(40):
        weight = math.exp(-lam * T) * (lam * T) ** n / math.factorial(n)
        sigma_n = math.sqrt(sigma**2 + n * delta_j**2 / T)
        fwd_n = F * math.exp(-lam * kappa * T + n * mu_j + 0.5 * n * delta_j**2)
        parts.append((weight, fwd_n, sigma_n))
    calls = sum(w * black76_price(f, STRIKES, T, s, True, RATE) for w, f, s in parts)
    puts = sum(w * black76_price(f, STRIKES, T, s, False, RATE) for w, f, s in parts)

    def pdf(x: np.ndarray) -> np.ndarray:
        return sum(w * lognormal_pdf(x, f, s) for w, f, s in parts)

    return calls, puts, pdf


def lognormal_chain() -> tuple[np.ndarray, np.ndarray, Pdf]:
    calls = black76_price(F, STRIKES, T, SIGMA, True, RATE)
    puts = black76_price(F, STRIKES, T, SIGMA, False, RATE)
    return calls, puts, lambda x: lognormal_pdf(x, F, SIGMA)


def quote(price: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Tick-rounded bid/ask around a noisy fair value; spreads widen quadratically in |k|."""
    spread = np.maximum(TICK, 0.004 * price + 0.1 * (np.abs(np.log(STRIKES / F)) / 0.05) ** 2)
    fair = price + rng.uniform(-0.3, 0.3, price.size) * spread
    bid = np.maximum(np.floor((fair - spread / 2) / TICK) * TICK, 0.0)
    ask = np.ceil((fair + spread / 2) / TICK) * TICK
    return bid, ask, 0.5 * (bid + ask)


def recover(calls: np.ndarray, puts: np.ndarray, seed: int) -> ImpliedDensity:
    rng = np.random.default_rng(seed)
    call_bid, call_ask, call_mid = quote(calls, rng)
    put_bid, put_ask, put_mid = quote(puts, rng)
    otm_call = STRIKES >= F
    return implied_density(
        STRIKES,
        call_mid,
        put_mid,
        forward=F,
        T=T,
        rate=RATE,
        bid=np.where(otm_call, call_bid, put_bid),
        ask=np.where(otm_call, call_ask, put_ask),
    )


def errors(est: ImpliedDensity, pdf: Pdf) -> dict[str, float]:
    """L1 against the true (unnormalised) density, and truncated-moment errors vs the truth."""
    true = pdf(est.strikes)
    truth = ImpliedDensity(est.strikes, true / np.trapezoid(true, est.strikes), F, T, 1.0)
    m, mt = est.moments(), truth.moments()
    return {
        "l1": float(np.trapezoid(np.abs(est.density - true), est.strikes)),
        "mean": abs(m["mean"] - mt["mean"]),
        "variance": abs(m["variance"] / mt["variance"] - 1.0),
        "skewness": abs(m["skewness"] - mt["skewness"]),
        "kurtosis": abs(m["kurtosis"] - mt["kurtosis"]),
        "true_skewness": mt["skewness"],
    }


# Bounds per case: (L1, |Δmean| in points, relative variance error, |Δskew|, |Δkurtosis|).
# Observed over seeds 0-4: lognormal L1 ≈ 0.002, Δmean < 0.1, var < 0.05%, Δskew/Δkurt < 1e-3;
# Merton L1 ≈ 0.016 (mostly its fat left tail beyond 20,000), Δmean ≈ 2.7, var < 0.6%,
# Δskew < 0.02, Δkurt < 0.035. The bounds leave about 2x headroom.
BOUNDS = {
    "lognormal": (0.006, 1.0, 0.005, 0.01, 0.02),
    "merton": (0.03, 6.0, 0.012, 0.04, 0.07),
}
CHAINS = {"lognormal": lognormal_chain, "merton": merton_chain}


@pytest.mark.parametrize("case", ["lognormal", "merton"])
@pytest.mark.parametrize("seed", range(3))
def test_density_accuracy(case: str, seed: int) -> None:
    calls, puts, pdf = CHAINS[case]()
    est = recover(calls, puts, seed)
    err = errors(est, pdf)
    l1, mean, var, skew, kurt = BOUNDS[case]
    assert err["l1"] < l1
    assert err["mean"] < mean
    assert err["variance"] < var
    assert err["skewness"] < skew
    assert err["kurtosis"] < kurt
    assert np.all(est.density >= 0)
    assert np.trapezoid(est.density, est.strikes) == pytest.approx(1.0, abs=1e-9)
    # Only the tails outside the quoted strikes (and fit error) are missing before rescaling.
    assert 0.99 < est.mass_before_normalisation < 1.002


def test_merton_skew_is_recovered_as_negative() -> None:
    calls, puts, pdf = merton_chain()
    err = errors(recover(calls, puts, 0), pdf)
    assert err["true_skewness"] < -0.3  # the case really is skewed, so the test has teeth


@pytest.mark.parametrize("case", ["lognormal", "merton"])
@pytest.mark.parametrize("move", [-0.03, -0.05, -0.08])
def test_crash_probability_matches_true_cdf(case: str, move: float) -> None:
    calls, puts, pdf = CHAINS[case]()
    est = recover(calls, puts, 1)
    lo, hi = est.strikes[0], est.strikes[-1]
    x = np.linspace(lo, F * (1 + move), 20_001)
    inside = np.linspace(lo, hi, 20_001)
    # The published density is conditional on S_T inside the quoted strikes, so that is the
    # like-for-like truth; the unconditional CDF also counts the tail below the lowest strike.
    conditional = float(np.trapezoid(pdf(x), x) / np.trapezoid(pdf(inside), inside))
    assert est.crash_probability(move) == pytest.approx(conditional, abs=0.002)
    below = np.linspace(1.0, lo, 200_001)
    unconditional = float(np.trapezoid(pdf(below), below) + np.trapezoid(pdf(x), x))
    missing = 1.0 - est.mass_before_normalisation
    assert abs(est.crash_probability(move) - unconditional) < missing + 0.002


def test_implied_move_is_straddle_over_forward() -> None:
    calls, puts, _ = lognormal_chain()
    est = recover(calls, puts, 2)
    atm = black76_price(F, F, T, SIGMA, True, RATE) + black76_price(F, F, T, SIGMA, False, RATE)
    assert est.implied_move() == pytest.approx(atm * math.exp(RATE * T) / F, rel=0.01)


def test_cdf_quantile_roundtrip_and_limits() -> None:
    calls, puts, _ = lognormal_chain()
    est = recover(calls, puts, 0)
    assert est.cdf(0.0) == 0.0
    assert est.cdf(1e9) == 1.0
    assert est.cdf(est.quantile(0.3)) == pytest.approx(0.3, abs=1e-9)
    assert np.all(np.diff(est.cdf(est.strikes)) >= 0)


def _assert_reason(reason: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(DensityError) as info:
        implied_density(*args, **kwargs)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_too_few_strikes() -> None:
    calls, puts, _ = lognormal_chain()
    keep = np.flatnonzero(np.abs(STRIKES - F) <= 100)[:4]  # 23,900 .. 24,050
    _assert_reason(
        "too_few_strikes", STRIKES[keep], calls[keep], puts[keep], forward=F, T=T, rate=RATE
    )


def test_too_few_strikes_after_dropping_zero_bids() -> None:
    calls, puts, _ = lognormal_chain()
    otm = np.where(STRIKES >= F, calls, puts)
    bid = np.where(np.abs(STRIKES - F) < 100, otm - 0.05, 0.0)  # only 3-4 strikes have a bid
    _assert_reason(
        "too_few_strikes", STRIKES, calls, puts, forward=F, T=T, rate=RATE, bid=bid, ask=otm + 0.05
    )


def test_non_convex_chain() -> None:
    calls, puts, _ = lognormal_chain()
    calls = calls.copy()
    i = int(np.searchsorted(STRIKES, 24_200.0))
    calls[i] += 5.0  # the 24,150/24,200/24,250 butterfly is worth ~1: now ~ -4
    _assert_reason("non_convex_chain", STRIKES, calls, puts, forward=F, T=T, rate=RATE)


def test_vertical_violation_is_non_convex() -> None:
    calls, puts, _ = lognormal_chain()
    calls = calls.copy()
    i = int(np.searchsorted(STRIKES, 25_000.0))
    calls[i + 1] = calls[i] + 2.0  # a higher strike worth more than a lower one
    _assert_reason("non_convex_chain", STRIKES, calls, puts, forward=F, T=T, rate=RATE)


def test_negative_density_from_an_arbitrageable_smile() -> None:
    # A narrow dip in the smile: within wide (±1) quotes the chain passes the input check, but the
    # smile that fits it has w'' so negative that the implied density goes below zero.
    strikes = np.arange(22_000.0, 26_001.0, 50.0)
    k = np.log(strikes / F)
    sigma = 0.15 - 0.02 * np.exp(-0.5 * ((k - 0.02) / 0.008) ** 2)
    calls = black76_price(F, strikes, T, sigma, True, RATE)
    puts = black76_price(F, strikes, T, sigma, False, RATE)
    otm = np.where(strikes >= F, calls, puts)
    bid, ask = np.maximum(otm - 1.0, TICK), otm + 1.0
    _assert_reason(
        "negative_density", strikes, calls, puts, forward=F, T=T, rate=RATE, bid=bid, ask=ask
    )


@pytest.mark.parametrize("forward", [float("nan"), 0.0, -1.0, None])
def test_no_forward(forward: float) -> None:
    calls, puts, _ = lognormal_chain()
    _assert_reason("no_forward", STRIKES, calls, puts, forward=forward, T=T, rate=RATE)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s, c, p: (s[:-1], c, p),  # misaligned rows
        lambda s, c, p: (np.where(s == 24_000.0, np.nan, s), c, p),  # NaN strike
        lambda s, c, p: (np.where(s == 24_000.0, 23_950.0, s), c, p),  # duplicate strike
        lambda s, c, p: (s, np.where(s == 25_000.0, -3.0, c), p),  # negative premium
        lambda s, c, p: (s, ["abc"] * len(s), p),  # not numbers
        lambda s, c, p: (s.reshape(-1, 1), c, p),  # not 1-D
    ],
)
def test_bad_input(mutate: Callable[..., tuple[object, object, object]]) -> None:
    calls, puts, _ = lognormal_chain()
    s, c, p = mutate(STRIKES.copy(), calls, puts)
    _assert_reason("bad_input", s, c, p, forward=F, T=T, rate=RATE)


@pytest.mark.parametrize("T_bad", [0.0, -0.1, float("nan")])
def test_bad_expiry(T_bad: float) -> None:
    calls, puts, _ = lognormal_chain()
    _assert_reason("bad_input", STRIKES, calls, puts, forward=F, T=T_bad, rate=RATE)


def test_crossed_or_half_given_quotes_are_bad_input() -> None:
    calls, puts, _ = lognormal_chain()
    otm = np.where(STRIKES >= F, calls, puts)
    _assert_reason("bad_input", STRIKES, calls, puts, forward=F, T=T, rate=RATE, bid=otm)
    _assert_reason(
        "bad_input", STRIKES, calls, puts, forward=F, T=T, rate=RATE, bid=otm + 1, ask=otm - 1
    )


def test_missing_legs_are_skipped_not_fatal() -> None:
    calls, puts, pdf = lognormal_chain()
    calls = np.where(STRIKES == 25_000.0, np.nan, calls)
    est = implied_density(STRIKES, calls, puts, forward=F, T=T, rate=RATE)
    assert np.all(np.isfinite(est.density))
    assert errors(est, pdf)["l1"] < 0.01
