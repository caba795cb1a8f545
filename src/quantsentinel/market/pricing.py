"""European option prices and Greeks, vectorized over whole chains.

Black-76 (options on a forward; how an index option is priced from the futures or the
put-call-parity forward) and Black-Scholes-Merton (spot with a continuous yield) share one kernel:
with discount factor D = exp(-rT) and forward F, the price is D * (F N(d1) - K N(d2)).

Everything broadcasts with NumPy, so a 4,000-row chain is one call. Units:
- `T` in years (ACT/365 from the snapshot to expiry close), `sigma` and `r` as decimals;
- `vega` per 1.00 of vol (divide by 100 for "per vol point"), `theta` per year of calendar time
  (divide by 365 for "per day"), `rho` per 1.00 of rate.
Inputs are not validated here (that is `market.validation`'s job); T <= 0 or sigma <= 0 give
intrinsic value and the zero-vol limits of the Greeks (gamma and vega 0), so a chain at expiry
prices without NaNs.

Hand-written because no maintained library offers vectorized Black-76 Greeks without a heavy
dependency (QuantLib prices one instrument at a time; py_vollib is unmaintained) - those two
serve as the independent oracles in tests/oracles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

ArrayLike = float | np.ndarray

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def norm_pdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def is_call_array(option_type: ArrayLike) -> np.ndarray:
    """Accept booleans or the exchange's 'CE'/'PE' spelling and return a boolean call mask."""
    arr = np.asarray(option_type)
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        return arr != 0
    # Object arrays from pandas may hold Python bools as well as strings.
    text = np.char.upper(np.char.strip(arr.astype(str)))
    return (text == "CE") | (text == "TRUE")


def forward_price(spot: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike = 0.0) -> np.ndarray:
    """F = S exp((r - q) T)."""
    return np.asarray(spot, float) * np.exp((np.asarray(r, float) - np.asarray(q, float)) * T)


def _d1_d2(F, K, T, sigma):
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_sqrt_t = sigma * np.sqrt(T)
        d1 = (np.log(F / K) + 0.5 * vol_sqrt_t * vol_sqrt_t) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t, vol_sqrt_t


def _broadcast(*arrays):
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))


def black76_price(
    F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, r: ArrayLike
) -> np.ndarray:
    """Undiscounted-forward Black-76 price, discounted at rate `r` over `T`."""
    F, K, T, sigma, r, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (F, K, T, sigma, r)), is_call_array(is_call)
    )
    discount = np.exp(-r * T)
    d1, d2, _ = _d1_d2(F, K, T, sigma)
    call_value = F * ndtr(d1) - K * ndtr(d2)
    put_value = K * ndtr(-d2) - F * ndtr(-d1)
    value = np.where(call, call_value, put_value)
    intrinsic = np.where(call, np.maximum(F - K, 0.0), np.maximum(K - F, 0.0))
    degenerate = (T <= 0) | (sigma <= 0)
    return discount * np.where(degenerate, intrinsic, value)


def black_scholes_price(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    r: ArrayLike,
    q: ArrayLike = 0.0,
) -> np.ndarray:
    """Black-Scholes-Merton price with continuous yield `q` (Black-76 on the implied forward)."""
    return black76_price(forward_price(S, T, r, q), K, T, sigma, is_call, r)


@dataclass(frozen=True)
class Greeks:
    """Arrays with the broadcast shape of the inputs."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "price": self.price,
            "delta": self.delta,
            "gamma": self.gamma,
            "vega": self.vega,
            "theta": self.theta,
            "rho": self.rho,
        }


def black_scholes_greeks(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
    r: ArrayLike,
    q: ArrayLike = 0.0,
) -> Greeks:
    """Price and Greeks with respect to spot, for a spot with continuous yield `q`."""
    S, K, T, sigma, r, q, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (S, K, T, sigma, r, q)), is_call_array(is_call)
    )
    F = S * np.exp((r - q) * T)
    live = (T > 0) & (sigma > 0)
    d1, d2, vol_sqrt_t = _d1_d2(F, K, T, sigma)
    # Zero vol or no time left: N(d) becomes a step at the forward, which gives the right limits
    # of delta, theta and rho (e.g. delta = exp(-qT) for an in-the-money call at zero vol).
    with np.errstate(invalid="ignore"):
        step = np.sign(np.log(F / K)) * np.inf
    step = np.where(np.isnan(step), 0.0, step)
    d1 = np.where(live, d1, step)
    d2 = np.where(live, d2, step)
    growth = np.exp(-q * T)
    discount = np.exp(-r * T)
    pdf = norm_pdf(d1)
    nd1, nd2 = ndtr(d1), ndtr(d2)
    n_d1, n_d2 = ndtr(-d1), ndtr(-d2)

    price = black76_price(F, K, T, sigma, call, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(live, growth * pdf / (S * vol_sqrt_t), 0.0)
        decay = np.where(live, -S * growth * pdf * sigma / (2.0 * np.sqrt(T)), 0.0)
    delta = np.where(call, growth * nd1, -growth * n_d1)
    vega = np.where(live, S * growth * pdf * np.sqrt(np.maximum(T, 0.0)), 0.0)
    theta = np.where(
        call,
        decay - r * K * discount * nd2 + q * S * growth * nd1,
        decay + r * K * discount * n_d2 - q * S * growth * n_d1,
    )
    rho = np.where(call, K * T * discount * nd2, -K * T * discount * n_d2)
    # At or past expiry the option is its payoff: delta is the exercise indicator, no decay.
    expired = T <= 0
    exercised = np.where(call, (F > K).astype(float), -(F < K).astype(float))
    return Greeks(
        price=np.asarray(price),
        delta=np.where(expired, exercised, delta),
        gamma=gamma,
        vega=vega,
        theta=np.where(expired, 0.0, theta),
        rho=np.where(expired, 0.0, rho),
    )


def black76_greeks(
    F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, r: ArrayLike
) -> Greeks:
    """Price and Greeks with respect to the forward F (rho holds F fixed: dV/dr = -T V)."""
    F, T, r = _broadcast(F, T, r)
    # A forward behaves like a spot whose yield equals the rate: S exp(-qT) = F exp(-rT).
    g = black_scholes_greeks(F, K, T, sigma, is_call, r, q=r)
    return Greeks(
        price=g.price, delta=g.delta, gamma=g.gamma, vega=g.vega, theta=g.theta, rho=-T * g.price
    )
