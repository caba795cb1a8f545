"""Risk-neutral density of one expiry from its option chain (Breeden & Litzenberger 1978).

With discount factor D = e^{-rT}, a call is C(K) = D ∫ (x - K)^+ q(x) dx, so differentiating twice
in the strike gives the density of S_T under the forward measure:

    q(K) = e^{rT} ∂²C/∂K².

The formula is exact; the work is numerical. NSE lists strikes 50 points apart and quotes on a
0.05 tick, so a raw second difference (C_{i-1} - 2 C_i + C_{i+1}) / ΔK² on the quotes is useless
in the wings: there the butterfly is worth far less than one tick, and the "density" is rounding
noise of both signs (the seed's lesson: noisy wings). What is done instead, and why:

1. Input arbitrage check. Every usable quote becomes a call price (out-of-the-money puts through
   parity, C = P + D (F - K)) and the chain must satisfy, within its own half-spreads h_i (one tick
   when no bid/ask is given):
     vertical   0 <= C_i - C_{i+1} <= D (K_{i+1} - K_i)   (± h_i + h_{i+1}),
     butterfly  a C_{i-1} + b C_{i+1} - C_i >= -(a h_{i-1} + h_i + b h_{i+1}),
   with a = (K_{i+1} - K_i) / (K_{i+1} - K_{i-1}), b = 1 - a. A chain that fails is a data
   problem (stale or crossed quotes) and is rejected with reason "non_convex_chain"; smoothing
   it would publish a density the market never implied.
2. Smooth in implied-vol space, not price space. Each out-of-the-money quote is inverted to a
   Black-76 vol and the total implied variance w(k) = σ²(k) T is fitted in log-moneyness
   k = ln(K / F) with a weighted cubic smoothing spline. The smile is nearly flat and well scaled
   across the whole chain, whereas prices span five orders of magnitude; a price-space spline
   either over-fits the wings or flattens the body. The weights are the inverse of each quote's
   uncertainty in w: a price error h maps to δσ = h / vega and δw = 2 σ T δσ, so a deep-wing
   quote (tiny vega, tick-dominated) barely pulls the fit while the liquid body pins it. With
   weights 1 / δw the spline's residual budget s = n is the χ² expectation (Reinsch's rule), so
   the smoothing level follows the data's noise instead of a tuned constant.
3. Map back and differentiate. The fitted smile prices calls with Black-76 on a uniform grid of
   `grid_points` strikes spanning the usable quotes (no extrapolation: outside the quotes the
   market says nothing), and q = e^{rT} ∂²C/∂K² is the central second difference on that fine
   grid. C is smooth there, so the truncation error O(ΔK² ∂⁴C/∂K⁴) is negligible.
4. Reject, do not hide, arbitrage in the fit. Negative values of q smaller than `_NEG_REL_TOL` of
   the peak, with total negative mass under `_NEG_MASS_TOL`, are discretisation dust and are
   clipped to zero; anything larger means the fitted smile itself admits a butterfly arbitrage and
   the expiry is rejected ("negative_density").
5. Renormalise. ∫ q dK over the grid falls short of one by the mass outside the quoted strikes
   (and by fit error); it is kept as `mass_before_normalisation` and q is rescaled to integrate to
   one, i.e. the published density is conditional on S_T inside the quoted range.

Moments are reported truncated at the 1st and 99th percentiles by default, because the wings are
where tick noise dominates (the seed's "what didn't work").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import UnivariateSpline

from quantsentinel.market.iv import implied_volatility
from quantsentinel.market.pricing import black76_price, norm_pdf

# NSE option tick; the price uncertainty assumed for a quote when no bid/ask is given.
DEFAULT_TICK = 0.05
# Fewer quotes than this cannot pin a level, a skew and a curvature with any redundancy.
MIN_STRIKES = 5
# Clip negatives only while they are this small relative to the peak and in total mass; beyond
# that the negativity is a real arbitrage in the fitted curve, not finite-difference dust.
_NEG_REL_TOL = 1e-2
_NEG_MASS_TOL = 5e-3
# Sub-grid used to integrate truncated moments; fine enough that the trapezoid error is ~1e-6.
_MOMENT_POINTS = 2001


class DensityReason:
    """Why no density was published; the strings go verbatim into asset metadata."""

    TOO_FEW_STRIKES = "too_few_strikes"
    NON_CONVEX_CHAIN = "non_convex_chain"
    NEGATIVE_DENSITY = "negative_density"
    NO_FORWARD = "no_forward"
    BAD_INPUT = "bad_input"
    # Set by `chain.chain_densities`, which sees a whole snapshot rather than one expiry:
    EXPIRED = "expired"  # T <= 0 at the snapshot: the option has settled, nothing to recover
    CALENDAR_ARBITRAGE = "calendar_arbitrage"  # inconsistent with another expiry (see chain.py)


class DensityError(ValueError):
    """A chain from which no density is published; `reason` is one of `DensityReason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class ImpliedDensity:
    """Risk-neutral density of S_T on a uniform strike grid, normalised to integrate to one.

    `density` is per unit of the underlying (index points), so ∫ density dK = 1 over `strikes`.
    `mass_before_normalisation` is ∫ e^{rT} ∂²C/∂K² dK before rescaling: one minus it is roughly
    the probability the market puts outside the quoted strikes (plus fit error), a diagnostic.
    """

    strikes: np.ndarray
    density: np.ndarray
    forward: float
    T: float
    mass_before_normalisation: float
    _cumulative: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Trapezoid CDF on the grid, computed once; frozen, hence object.__setattr__.
        steps = 0.5 * (self.density[1:] + self.density[:-1]) * np.diff(self.strikes)
        cumulative = np.concatenate(([0.0], np.cumsum(steps)))
        object.__setattr__(self, "_cumulative", cumulative / cumulative[-1])

    def cdf(self, x: Any) -> Any:
        """P(S_T <= x), linear between grid points; 0 below and 1 above the grid."""
        value = np.interp(np.asarray(x, float), self.strikes, self._cumulative, left=0.0, right=1.0)
        return float(value) if np.ndim(value) == 0 else value

    def quantile(self, p: Any) -> Any:
        """Inverse of `cdf` (linear), for p in [0, 1]."""
        value = np.interp(np.asarray(p, float), self._cumulative, self.strikes)
        return float(value) if np.ndim(value) == 0 else value

    def moments(self, lower_q: float = 0.01, upper_q: float = 0.99) -> dict[str, float]:
        """Mean, variance, skewness and (Pearson, normal = 3) kurtosis of the truncated density.

        The density is restricted to [Q(lower_q), Q(upper_q)] and renormalised there, so with
        m = E[S | Q_lo <= S <= Q_hi] and μ_j = E[(S - m)^j | ...]: skewness = μ_3 / μ_2^{3/2} and
        kurtosis = μ_4 / μ_2². Truncation keeps the tick-dominated wings out of the higher moments.
        """
        if not 0.0 <= lower_q < upper_q <= 1.0:
            raise ValueError("need 0 <= lower_q < upper_q <= 1")
        x = np.linspace(self.quantile(lower_q), self.quantile(upper_q), _MOMENT_POINTS)
        q = np.interp(x, self.strikes, self.density)
        q = q / np.trapezoid(q, x)
        mean = float(np.trapezoid(x * q, x))
        centred = x - mean
        variance = float(np.trapezoid(centred**2 * q, x))
        m3 = float(np.trapezoid(centred**3 * q, x))
        m4 = float(np.trapezoid(centred**4 * q, x))
        return {
            "mean": mean,
            "variance": variance,
            "skewness": m3 / variance**1.5,
            "kurtosis": m4 / variance**2,
        }

    def crash_probability(self, move: float = -0.05) -> float:
        """P(S_T <= F (1 + move)): the left-tail mass below a move of `move` from the forward."""
        return float(self.cdf(self.forward * (1.0 + move)))

    def implied_move(self) -> float:
        """Expected absolute move E|S_T - F| / F under the density.

        This is the density's own answer, equal to the forward value of the ATM-forward
        straddle divided by F (C(F) + P(F) = D E|S_T - F|), so it can be checked against the
        straddle quote but does not depend on a single strike.
        """
        return float(
            np.trapezoid(np.abs(self.strikes - self.forward) * self.density, self.strikes)
            / self.forward
        )


def _as_vector(name: str, values: Any, n: int | None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DensityError(DensityReason.BAD_INPUT, f"{name} is not numeric") from exc
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise DensityError(DensityReason.BAD_INPUT, f"{name} must be 1-D with one row per strike")
    return arr


def _check_no_arbitrage(strikes: np.ndarray, calls: np.ndarray, half: np.ndarray, D: float) -> None:
    """Vertical and butterfly bounds on call prices, each within the quotes' own uncertainty."""
    dk = np.diff(strikes)
    drop = calls[:-1] - calls[1:]
    pair_tol = half[:-1] + half[1:]
    if np.any(drop < -pair_tol) or np.any(drop > D * dk + pair_tol):
        i = int(np.argmax((drop < -pair_tol) | (drop > D * dk + pair_tol)))
        raise DensityError(
            DensityReason.NON_CONVEX_CHAIN,
            f"vertical spread {strikes[i]:g}/{strikes[i + 1]:g} outside [0, D ΔK]",
        )
    a = dk[1:] / (strikes[2:] - strikes[:-2])
    b = 1.0 - a
    fly = a * calls[:-2] + b * calls[2:] - calls[1:-1]
    fly_tol = a * half[:-2] + half[1:-1] + b * half[2:]
    if np.any(fly < -fly_tol):
        i = int(np.argmax(fly < -fly_tol)) + 1
        raise DensityError(
            DensityReason.NON_CONVEX_CHAIN,
            f"butterfly centred at {strikes[i]:g} is worth {fly[i - 1]:.4f} < 0",
        )


def implied_density(
    strikes: Any,
    call_prices_or_mids: Any,
    put_mids: Any,
    *,
    forward: float,
    T: float,
    rate: float,
    bid: Any = None,
    ask: Any = None,
    grid_points: int = 400,
) -> ImpliedDensity:
    """Breeden-Litzenberger density of S_T from one expiry's chain (method: module docstring).

    `strikes`, `call_prices_or_mids` and `put_mids` are aligned per strike (discounted premiums;
    NaN marks a missing leg). Only the out-of-the-money leg is used: the put below the forward,
    the call at or above it, since in-the-money premiums carry the same information plus the
    intrinsic value's noise. `forward` is the put-call-parity forward (as `market.surface`
    derives it), `T` in years, `rate` continuous. `bid`/`ask`, when given, are the quotes of that
    out-of-the-money leg at each strike: they set the arbitrage tolerance and the fit weights,
    and a zero bid marks a strike with no real market (dropped). Without them every quote is
    trusted to one tick.

    Raises `DensityError` with `reason` "bad_input", "no_forward", "too_few_strikes",
    "non_convex_chain" or "negative_density"; never returns NaNs.
    """
    K = _as_vector("strikes", strikes, None)
    n = K.shape[0]
    calls = _as_vector("call_prices_or_mids", call_prices_or_mids, n)
    puts = _as_vector("put_mids", put_mids, n)
    if (bid is None) != (ask is None):
        raise DensityError(DensityReason.BAD_INPUT, "give both bid and ask, or neither")
    if forward is None or not np.isfinite(forward) or forward <= 0:
        raise DensityError(
            DensityReason.NO_FORWARD, f"forward {forward!r} is not a positive number"
        )
    if not (np.isfinite(T) and T > 0 and np.isfinite(rate)):
        raise DensityError(DensityReason.BAD_INPUT, f"need T > 0 and a finite rate (T={T!r})")
    if grid_points < 10:
        raise DensityError(DensityReason.BAD_INPUT, "grid_points must be at least 10")
    if not np.all(np.isfinite(K) & (K > 0)) or np.unique(K).size != n:
        raise DensityError(DensityReason.BAD_INPUT, "strikes must be finite, positive and distinct")
    # NaN means "no quote"; a negative premium is not a quote at all, so the feed is broken.
    if np.any(calls < 0) or np.any(puts < 0):
        raise DensityError(DensityReason.BAD_INPUT, "negative option premium")

    order = np.argsort(K)
    K, calls, puts = K[order], calls[order], puts[order]
    is_call = forward <= K  # the at-the-forward strike counts as a call
    otm = np.where(is_call, calls, puts)
    usable = np.isfinite(otm) & (otm > 0)
    if bid is None:
        half = np.full(n, DEFAULT_TICK)
    else:
        b = _as_vector("bid", bid, n)[order]
        a = _as_vector("ask", ask, n)[order]
        if np.any((b > a) & np.isfinite(b) & np.isfinite(a)):
            raise DensityError(DensityReason.BAD_INPUT, "crossed quote (bid > ask)")
        # A zero bid is the tick-noise regime the fit cannot use (nobody pays for that option).
        usable &= np.isfinite(b) & np.isfinite(a) & (b > 0)
        # Never trust a quote to better than half a tick, whatever the spread says.
        half = np.maximum(0.5 * (a - b), 0.5 * DEFAULT_TICK)
    if int(usable.sum()) < MIN_STRIKES:
        raise DensityError(
            DensityReason.TOO_FEW_STRIKES, f"{int(usable.sum())} usable quotes < {MIN_STRIKES}"
        )
    K, otm, is_call, half = K[usable], otm[usable], is_call[usable], half[usable]

    D = float(np.exp(-rate * T))
    as_calls = np.where(is_call, otm, otm + D * (forward - K))
    _check_no_arbitrage(K, as_calls, half, D)

    iv = implied_volatility(otm, forward, K, T, is_call, rate)
    solved = iv.ok()
    if int(solved.sum()) < MIN_STRIKES:
        raise DensityError(
            DensityReason.TOO_FEW_STRIKES,
            f"{int(solved.sum())} quotes with an implied vol < {MIN_STRIKES}",
        )
    K, half, sigma = K[solved], half[solved], iv.iv[solved]

    k = np.log(K / forward)
    total_var = sigma**2 * T
    sqrt_t = np.sqrt(T)
    d1 = -k / (sigma * sqrt_t) + 0.5 * sigma * sqrt_t
    vega = D * forward * norm_pdf(d1) * sqrt_t
    # δw = 2 σ T δσ with δσ = h / vega; a floor on vega keeps the weights finite.
    w_err = 2.0 * sigma * T * half / np.maximum(vega, 1e-12)
    spline = UnivariateSpline(k, total_var, w=1.0 / w_err, k=min(3, k.size - 1), s=float(k.size))

    # One extra node at each end so the central difference covers the whole published grid.
    fine = np.linspace(K[0], K[-1], grid_points)
    step = fine[1] - fine[0]
    fine_ext = np.concatenate(([fine[0] - step], fine, [fine[-1] + step]))
    w_fit = spline(np.log(fine_ext / forward))
    if not np.all(np.isfinite(w_fit) & (w_fit > 0)):
        raise DensityError(
            DensityReason.NEGATIVE_DENSITY, "fitted total variance is not positive on the grid"
        )
    c_fit = black76_price(forward, fine_ext, T, np.sqrt(w_fit / T), True, rate)
    density = (c_fit[:-2] - 2.0 * c_fit[1:-1] + c_fit[2:]) / (step * step) / D

    peak = float(density.max())
    negative = np.minimum(density, 0.0)
    negative_mass = float(-np.trapezoid(negative, fine))
    if peak <= 0 or negative.min() < -_NEG_REL_TOL * peak or negative_mass > _NEG_MASS_TOL:
        raise DensityError(
            DensityReason.NEGATIVE_DENSITY,
            f"fitted smile implies density {negative.min():.3g} (peak {peak:.3g}, negative mass "
            f"{negative_mass:.3g}): butterfly arbitrage in the fit",
        )
    density = np.maximum(density, 0.0)
    mass = float(np.trapezoid(density, fine))
    return ImpliedDensity(
        strikes=fine,
        density=density / mass,
        forward=float(forward),
        T=float(T),
        mass_before_normalisation=mass,
    )
