"""Implied volatility for Black-76 (and Black-Scholes-Merton), vectorized over whole chains.

Why hand-written: every chain snapshot needs thousands of implied vols, and no maintained library
solves them as one array operation. QuantLib inverts one instrument at a time; py_vollib is
deprecated and unmaintained, and py_vollib_vectorized does not even compile against the numba in
this stack. Those libraries serve as independent oracles in tests/oracles only.

Method (after Jäckel 2015, "Let's Be Rational", on the Black 1976 formula):
- Work in normalised units. With x = ln(F/K) and total vol s = sigma*sqrt(T), the undiscounted
  price over sqrt(F K) is b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2) for a call.
  Put-call parity turns every option into its out-of-the-money twin: subtract the intrinsic value
  first, and what remains is an OTM call with y = -|x| <= 0. Solving on the time value alone
  avoids the catastrophic cancellation an in-the-money price suffers from.
- Three regions split at the tangent of b at its inflection point s_c = sqrt(2|y|). In each, an
  objective that is close to linear in s is iterated: log(b) in the lower region (deep OTM, time
  value down to 1e-300), b itself in the middle, and log(b_max - b) near the upper bound, where
  b_max - b is computed as a sum of two positive terms rather than a difference.
- Closed-form starting guesses per region (asymptotic in the wings, the inflection tangent in the
  middle), then safeguarded Halley steps inside a bracket that each evaluation narrows. A step
  that leaves the bracket is replaced by bisection, so every row converges; the loop runs over
  iterations, never over rows, and finished rows drop out of the working set.

A row that cannot be solved never raises: it gets NaN and a named reason (`IVReason`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import erf, erfcx, log_ndtr, ndtr, ndtri

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_SQRT_PI_OVER_2 = np.sqrt(np.pi / 2.0)
_INV_SQRT_2 = 1.0 / np.sqrt(2.0)
# A Halley step this small (relative to s) leaves an error of order its cube: far below the noise
# of evaluating the price, so the row is done.
_STEP_TOL = 1e-11
_LOWER, _MIDDLE, _UPPER = 0, 1, 2


class IVReason:
    """Why a row has no implied vol; the strings land in audit logs and asset metadata verbatim."""

    # NaN/inf anywhere, F or K <= 0 (no log-moneyness), or an option type that is not CE/PE/bool.
    NON_FINITE_INPUT = "non_finite_input"
    NON_POSITIVE_TIME = "non_positive_time"
    NON_POSITIVE_PRICE = "non_positive_price"
    # At or below discounted intrinsic: no time value left, so no volatility explains the price.
    BELOW_INTRINSIC = "below_intrinsic"
    # At or above discounted F (call) or K (put), the infinite-volatility limit.
    ABOVE_UPPER_BOUND = "above_upper_bound"
    NO_CONVERGENCE = "no_convergence"


@dataclass(frozen=True)
class IVResult:
    """Arrays with the broadcast shape of the inputs (0-d for all-scalar inputs)."""

    iv: np.ndarray  # float, NaN where unsolved
    reason: np.ndarray  # object: None where solved, else an IVReason string
    iterations: int  # vectorized iterations the hardest row needed

    def ok(self) -> np.ndarray:
        """Boolean mask of solved rows."""
        return np.equal(self.reason, None)


def _as_float(values: Any) -> np.ndarray:
    """Floats, with anything unparseable (text, None) turned into NaN instead of an exception."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        arr = np.asarray(values, dtype=object)
        flat = pd.to_numeric(pd.Series(arr.ravel()), errors="coerce").to_numpy(dtype=float)
        return flat.reshape(arr.shape)


def _parse_option_type(is_call: Any) -> tuple[np.ndarray, np.ndarray]:
    """(call mask, valid mask) from bools, 0/1 or the exchange's "CE"/"PE" in any case."""
    arr = np.asarray(is_call)
    if arr.dtype == bool:
        return arr, np.ones(arr.shape, dtype=bool)
    if np.issubdtype(arr.dtype, np.integer):
        return arr != 0, np.ones(arr.shape, dtype=bool)
    # Strings and mixed object columns (pandas gives those) both go through text, where a bool
    # element reads "True"/"False"; anything else, NaN included, is an invalid row, not a put.
    text = np.char.upper(np.char.strip(arr.astype(str)))
    call = (text == "CE") | (text == "TRUE")
    return call, call | (text == "PE") | (text == "FALSE")


def _mills(z: np.ndarray) -> np.ndarray:
    """N(z) / n(z), finite and accurate for z <= 0 where N(z) itself underflows."""
    return _SQRT_PI_OVER_2 * erfcx(-z * _INV_SQRT_2)


def _log_vega_and_curvature(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(db/ds) and g = (d2b/ds2)/(db/ds); db/ds = n(d1) e^{y/2} = exp(-(h^2+t^2)/2)/sqrt(2pi)."""
    h, t = y / s, 0.5 * s
    return -0.5 * (h * h + t * t) - _LOG_SQRT_2PI, h * h / s - 0.5 * t


def _otm_call(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """b(y, s) for y <= 0 in whichever of two algebraically equal forms cancels least."""
    d1, d2 = y / s + 0.5 * s, y / s - 0.5 * s
    up, down = np.exp(0.5 * y), np.exp(-0.5 * y)
    a, b = up * ndtr(d1), down * ndtr(d2)
    # Near the money with a small s, N(d1) - N(d2) loses ~log10(1/s) digits; written with erf the
    # two terms add instead of cancelling, leaving only the small sinh(y/2).
    e1, e2 = up * erf(d1 * _INV_SQRT_2), down * erf(d2 * _INV_SQRT_2)
    sinh = 0.5 * (up - down)
    via_erf = sinh + 0.5 * (e1 - e2)
    use_erf = np.abs(sinh) + 0.5 * (np.abs(e1) + np.abs(e2)) < a + b
    return np.where(use_erf, via_erf, a - b)


def _lower(y: np.ndarray, s: np.ndarray, log_beta: np.ndarray) -> tuple[np.ndarray, ...]:
    """Objective log b - log beta and its first two derivatives, for the deep-OTM region."""
    log_vega, g = _log_vega_and_curvature(y, s)
    # b = db/ds * (Y(d1) - Y(d2)) with Y the Mills ratio: no underflow however small b is.
    gap = _mills(y / s + 0.5 * s) - _mills(y / s - 0.5 * s)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = 1.0 / gap
        f = log_vega + np.log(gap) - log_beta
    return f, lam, lam * (g - lam)


def _middle(y: np.ndarray, s: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, ...]:
    """Objective b - beta and its first two derivatives, around the inflection point."""
    log_vega, g = _log_vega_and_curvature(y, s)
    vega = np.exp(log_vega)
    return _otm_call(y, s) - beta, vega, vega * g


def _upper(y: np.ndarray, s: np.ndarray, log_gap_target: np.ndarray) -> tuple[np.ndarray, ...]:
    """Objective log(b_max - b) - log(b_max - beta) and derivatives, near the upper bound."""
    log_vega, g = _log_vega_and_curvature(y, s)
    d1, d2 = y / s + 0.5 * s, y / s - 0.5 * s
    # b_max - b = e^{y/2} N(-d1) + e^{-y/2} N(d2): a sum, accurate right up to the bound.
    log_gap = np.logaddexp(0.5 * y + log_ndtr(-d1), -0.5 * y + log_ndtr(d2))
    v = np.exp(log_vega - log_gap)
    return log_gap - log_gap_target, -v, -v * (g + v)


def _lower_guess(y: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """Invert the small-s asymptote log b ~ -h^2/2 + log(s^3/y^2) - log sqrt(2pi).

    In w = -2 log s it reads y^2 e^w / 2 + 1.5 w = A, convex and increasing, so Newton from
    the right converges monotonically; a few steps are all the asymptote's accuracy deserves.
    """
    a = -log_beta - _LOG_SQRT_2PI - 2.0 * np.log(-y)
    w = np.log(2.0 * np.maximum(a, 1.0) / (y * y)) + 1.0
    for _ in range(4):
        w -= (0.5 * y * y * np.exp(w) + 1.5 * w - a) / (0.5 * y * y * np.exp(w) + 1.5)
    return np.exp(-0.5 * w)


def _solve(
    y: np.ndarray, beta: np.ndarray, log_beta: np.ndarray, max_iterations: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Total vol s with b(y, s) = beta for OTM rows; returns (s, converged, iterations)."""
    b_max = np.exp(0.5 * y)
    # Inflection point of b in s; its tangent meets 0 at s_l and b_max at s_u (Jäckel's regions).
    s_c = np.sqrt(-2.0 * y)
    b_c = 0.5 * b_max - np.exp(-0.5 * y) * ndtr(-s_c)
    v_c = b_max * _INV_SQRT_2PI
    s_l = np.maximum(s_c - b_c / v_c, 0.0)
    s_u = s_c + (b_max - b_c) / v_c
    with np.errstate(divide="ignore", invalid="ignore"):
        b_l = np.where(s_l > 0, _otm_call(y, s_l), 0.0)
    b_u = _otm_call(y, s_u)
    region = np.where(beta < b_l, _LOWER, np.where(beta <= b_u, _MIDDLE, _UPPER))
    log_gap_target = np.log(b_max - beta)

    with np.errstate(all="ignore"):
        lower_guess = np.minimum(_lower_guess(y, log_beta), s_l)
        middle_guess = np.clip(s_c + (beta - b_c) / v_c, s_l, s_u)
        # For large s, b_max - b ~ (e^{y/2} + e^{-y/2}) N(-s/2).
        upper_guess = -2.0 * ndtri(np.exp(log_gap_target) / (b_max + 1.0 / b_max))
        s = np.select(
            [region == _LOWER, region == _MIDDLE],
            [lower_guess, middle_guess],
            np.maximum(upper_guess, s_u),
        )
    # Brackets come from the region edges with room to spare, so rounding in b_l and b_u
    # cannot exclude a root.
    lo = np.select([region == _LOWER, region == _MIDDLE], [0.0, 0.5 * s_l], s_c)
    hi = np.select([region == _LOWER, region == _MIDDLE], [s_c, 2.0 * s_u], np.inf)
    s = np.where((s > lo) & (s < hi), s, np.where(np.isinf(hi), 2.0 * lo + 1.0, 0.5 * (lo + hi)))

    converged = np.zeros(y.shape, dtype=bool)
    active = np.ones(y.shape, dtype=bool)
    iterations = 0
    while active.any() and iterations < max_iterations:
        iterations += 1
        idx = np.flatnonzero(active)
        yi, si, ri = y[idx], s[idx], region[idx]
        f, f1, f2 = np.empty_like(si), np.empty_like(si), np.empty_like(si)
        with np.errstate(all="ignore"):
            for code, fn, target in (
                (_LOWER, _lower, log_beta),
                (_MIDDLE, _middle, beta),
                (_UPPER, _upper, log_gap_target),
            ):
                m = ri == code
                if m.any():
                    f[m], f1[m], f2[m] = fn(yi[m], si[m], target[idx][m])
            # The upper objective falls as s grows; the other two rise.
            root_above = np.where(ri == _UPPER, f > 0, f < 0)
            informative = ~np.isnan(f) & (f != 0)
            lo_i = np.where(informative & root_above, si, lo[idx])
            hi_i = np.where(informative & ~root_above, si, hi[idx])
            newton = -f / f1
            denom = 1.0 + 0.5 * (f2 / f1) * newton
            # Halley unless its correction would more than double the Newton step.
            step = np.where(denom > 0.5, newton / denom, newton)
            candidate = si + step
            inside = np.isfinite(candidate) & (candidate > lo_i) & (candidate < hi_i)
            # At the root, evaluation noise can tip a tiny step just outside a bracket that has
            # closed in on it; such a step is convergence, not a reason to bisect away.
            small = np.isfinite(step) & (np.abs(step) <= _STEP_TOL * si)
            fallback = np.where(np.isinf(hi_i), 2.0 * lo_i + 1.0, 0.5 * (lo_i + hi_i))
            s_new = np.where(inside | small, candidate, fallback)
            done = (f == 0) | small | ((hi_i - lo_i) <= _STEP_TOL * s_new)
        s[idx] = np.where(f == 0, si, s_new)
        lo[idx], hi[idx] = lo_i, hi_i
        converged[idx] = done
        active[idx] = ~done
    return s, converged, iterations


def implied_volatility(
    price: Any,
    F: Any,
    K: Any,
    T: Any,
    is_call: Any,
    r: Any,
    *,
    max_iterations: int = 50,
) -> IVResult:
    """Black-76 implied vol of discounted option prices on forward F.

    Inputs broadcast like `pricing.black76_price` (same units: T in years, r continuous);
    `is_call` takes bools, 0/1 or "CE"/"PE". A bad row never raises: it gets NaN and its
    `IVReason`. Only shapes that do not broadcast raise (ValueError), as that is a caller bug.
    `max_iterations` caps the vectorized Halley loop; in practice 2-5 suffice.
    """
    parts = np.broadcast_arrays(_as_float(price), _as_float(F), _as_float(K), _as_float(T))
    call_raw, type_ok_raw = _parse_option_type(is_call)
    parts += np.broadcast_arrays(_as_float(r), call_raw, type_ok_raw)
    shape = np.broadcast_shapes(*(p.shape for p in parts))
    p, fwd, k, t, rate, call, type_ok = (np.broadcast_to(a, shape).ravel() for a in parts)

    reason = np.full(p.shape, None, dtype=object)
    bad = np.zeros(p.shape, dtype=bool)

    def flag(mask: np.ndarray, code: str) -> None:
        # Checks run in priority order; a row keeps the first reason that applies to it.
        new = mask & ~bad
        reason[new] = code
        bad[new] = True

    with np.errstate(all="ignore"):
        discount = np.exp(-rate * t)
        finite = np.isfinite(p) & np.isfinite(fwd) & np.isfinite(k) & np.isfinite(t)
        finite &= np.isfinite(rate) & np.isfinite(discount) & (discount > 0)
        flag(~(finite & (fwd > 0) & (k > 0) & type_ok), IVReason.NON_FINITE_INPUT)
        flag(t <= 0, IVReason.NON_POSITIVE_TIME)
        flag(p <= 0, IVReason.NON_POSITIVE_PRICE)
        intrinsic = np.where(call, np.maximum(fwd - k, 0.0), np.maximum(k - fwd, 0.0))
        time_value = p - discount * intrinsic
        flag(time_value <= 0, IVReason.BELOW_INTRINSIC)
        flag(p >= discount * np.where(call, fwd, k), IVReason.ABOVE_UPPER_BOUND)

        y = -np.abs(np.log(fwd / k))
        # Logs first, so a deep-OTM time value of 1e-300 survives the normalisation.
        log_beta = np.log(time_value) + rate * t - 0.5 * (np.log(fwd) + np.log(k))
        beta = np.exp(log_beta)
        # Rounding can put a price a hair under the bound yet at it in normalised units.
        flag(beta >= np.exp(0.5 * y), IVReason.ABOVE_UPPER_BOUND)

    iv = np.full(p.shape, np.nan)
    iterations = 0
    rows = np.flatnonzero(~bad)
    if rows.size:
        s, converged, iterations = _solve(y[rows], beta[rows], log_beta[rows], max_iterations)
        solved = s / np.sqrt(t[rows])
        # A normalised price that underflowed (absurd F or K) "converges" to zero vol: that is
        # not an answer, so it is reported like any other failure to converge.
        converged &= np.isfinite(solved) & (solved > 0)
        iv[rows] = np.where(converged, solved, np.nan)
        stuck = np.zeros(p.shape, dtype=bool)
        stuck[rows[~converged]] = True
        flag(stuck, IVReason.NO_CONVERGENCE)
    return IVResult(iv=iv.reshape(shape), reason=reason.reshape(shape), iterations=iterations)


def implied_volatility_bs(
    price: Any,
    S: Any,
    K: Any,
    T: Any,
    is_call: Any,
    r: Any,
    q: Any = 0.0,
    *,
    max_iterations: int = 50,
) -> IVResult:
    """Black-Scholes-Merton implied vol (spot S, continuous yield q) via F = S e^{(r-q)T}."""
    with np.errstate(all="ignore"):
        fwd = _as_float(S) * np.exp((_as_float(r) - _as_float(q)) * _as_float(T))
    return implied_volatility(price, fwd, K, T, is_call, r, max_iterations=max_iterations)
