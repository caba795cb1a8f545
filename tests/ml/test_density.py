"""Breeden-Litzenberger densities recovered from chains priced by models with known densities.

Chains are quoted the way NSE quotes them: 50-point strikes, a 0.05 tick, spreads that widen in
the wings, zero bids where the option is worth less than a tick, and the mid is what goes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from quantsentinel.market.pricing import black76_price
from quantsentinel.ml.density import DensityError, implied_density
from quantsentinel.ml.density.synthetic import DEFAULT_SIGMA as SIGMA
from quantsentinel.ml.density.synthetic import DEFAULT_SPEC, NSE_TICK, lognormal_chain, merton_chain
from quantsentinel.ml.density.synthetic import density_errors as errors
from quantsentinel.ml.density.synthetic import recover_density as recover

F, T, RATE, TICK, STRIKES = (
    DEFAULT_SPEC.forward,
    DEFAULT_SPEC.T,
    DEFAULT_SPEC.rate,
    NSE_TICK,
    DEFAULT_SPEC.strikes,
)


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
