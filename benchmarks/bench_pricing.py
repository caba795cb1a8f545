"""Time our vectorized IV solve and Greeks on a 4,000-option NIFTY chain against vollib.

Run: .venv/bin/python benchmarks/bench_pricing.py [--repeat N]

The comparison library is vollib (the maintained successor of py_vollib: Jäckel's LetsBeRational
for IV, analytical Black Greeks), called once per option in a Python loop, because that is how it
is used. py_vollib_vectorized would be the fairer rival, but it does not compile against the numba
in this stack. QuantLib's impliedVolatility (Brent, one instrument at a time) is timed as well.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy.special import ndtr

from quantsentinel.market.iv import implied_volatility
from quantsentinel.market.pricing import black76_greeks, black76_price

SPOT, RATE, YIELD, STEP, N_OPTIONS = 24_000.0, 0.065, 0.012, 50.0, 4_000
EXPIRY_DAYS = (2, 7, 14, 21, 28, 56, 91, 182)


def build_chain() -> dict[str, np.ndarray]:
    """Both sides of every strike; each expiry lists strikes over a width growing with sqrt(T)."""
    T_e = np.array(EXPIRY_DAYS) / 365.0
    weights = np.sqrt(T_e) / np.sqrt(T_e).sum()
    n_strikes = np.floor(weights * N_OPTIONS / 2).astype(int)
    n_strikes[-1] += N_OPTIONS // 2 - n_strikes.sum()
    atm = np.round(SPOT / STEP) * STEP
    rows = []
    for T, n in zip(T_e, n_strikes, strict=True):
        strikes = atm + STEP * (np.arange(n) - n // 2)
        F = SPOT * np.exp((RATE - YIELD) * T)
        # Smile: ATM level with a term structure, put skew and curvature in standardized moneyness.
        k = np.clip(np.log(strikes / F) / np.sqrt(T), -3.0, 3.0)
        sigma = 0.13 + 0.02 * np.sqrt(T) - 0.035 * k + 0.012 * k * k
        for call in (True, False):
            rows.append((np.full(n, F), strikes, np.full(n, T), sigma, np.full(n, call)))
    F, K, T, sigma, call = (np.concatenate(col) for col in zip(*rows, strict=True))
    price = black76_price(F, K, T, sigma, call, RATE)
    return {"F": F, "K": K, "T": T, "sigma": sigma, "call": call, "price": price}


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time in ms over `repeat` runs (least disturbed by the OS), and the last result."""
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of our code (loops: 3)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from vollib.black import black as vl_price
    from vollib.black.greeks import analytical as vl
    from vollib.black.implied_volatility import implied_volatility as vl_iv

    chain = build_chain()
    F, K, T, call, price = (chain[k] for k in ("F", "K", "T", "call", "price"))
    flags = np.where(call, "c", "p")
    rows = list(zip(price, F, K, T, flags, strict=True))

    def ours_iv():
        return implied_volatility(price, F, K, T, call, RATE)

    def ours_greeks(sigma=chain["sigma"]):
        return black76_greeks(F, K, T, sigma, call, RATE)

    def ours_both():
        res = ours_iv()
        return res, ours_greeks(res.iv)

    def vl_solve(p, f, k, t, flag):
        try:
            return vl_iv(p, f, k, RATE, t, flag)
        except Exception:  # vollib raises on prices it cannot invert; count those as unsolved
            return np.nan

    def vl_greeks_row(f, k, t, flag, s):
        greeks = (vl.delta, vl.gamma, vl.vega, vl.theta, vl.rho)
        return (vl_price(flag, f, k, t, RATE, s), *(g(flag, f, k, t, RATE, s) for g in greeks))

    def theirs_iv():
        return np.array([vl_solve(*row) for row in rows])

    def theirs_greeks():
        sigmas = chain["sigma"]
        return [
            vl_greeks_row(f, k, t, fl, s) for (_, f, k, t, fl), s in zip(rows, sigmas, strict=True)
        ]

    def theirs_both():
        return [vl_greeks_row(f, k, t, fl, vl_solve(p, f, k, t, fl)) for p, f, k, t, fl in rows]

    loops = 3
    timings = [
        ("(a) IV solve", best_of(ours_iv, args.repeat), best_of(theirs_iv, loops)),
        ("(b) price + 5 Greeks", best_of(ours_greeks, args.repeat), best_of(theirs_greeks, loops)),
        ("(c) IV + Greeks", best_of(ours_both, args.repeat), best_of(theirs_both, loops)),
    ]
    ql_ms, ql_iv = best_of(lambda: quantlib_iv(chain), 1)

    res, vl_ivs = timings[0][1][1], timings[0][2][1]
    pinned = res.ok() & (rounding_vol_noise(chain) < 1e-9)
    solved = f"ours {res.ok().sum()}, vollib {np.isfinite(vl_ivs).sum()}, "
    solved += f"QuantLib {np.isfinite(ql_iv).sum()}; our iterations {res.iterations}"
    print(f"NIFTY chain: {price.size} options, expiries {EXPIRY_DAYS} days, strikes on {STEP:.0f}")
    print(f"{(price < 0.05).sum()} options priced under one 0.05 tick; solved: {solved}")
    print()
    print(f"{'work (4,000 options)':<24}{'ours ms':>10}{'vollib loop ms':>16}{'ratio':>9}")
    for name, (ours_ms, _), (theirs_ms, _) in timings:
        print(f"{name:<24}{ours_ms:>10.2f}{theirs_ms:>16.1f}{theirs_ms / ours_ms:>8.0f}x")
    print(f"{'(a) IV, QuantLib loop':<24}{'':>10}{ql_ms:>16.1f}{ql_ms / timings[0][1][0]:>8.0f}x")
    print()
    print(f"max |IV difference|, {pinned.sum()} rows whose price pins the vol to 1e-9 / all rows:")
    for name, other in (("vollib", vl_ivs), ("QuantLib", ql_iv), ("true vol", chain["sigma"])):
        diff = np.abs(res.iv - other)
        print(f"  ours - {name:<9}{np.nanmax(diff[pinned]):>10.2e} / {np.nanmax(diff):.2e}")


def rounding_vol_noise(chain: dict[str, np.ndarray]) -> np.ndarray:
    """How far the vol moves when the price moves by its own float rounding (a few ulps of
    the terms Black-76 subtracts): deep ITM/OTM rows under a tick cannot pin it to 1e-9."""
    F, K, T, sigma, call = (chain[k] for k in ("F", "K", "T", "sigma", "call"))
    s = sigma * np.sqrt(T)
    d1 = np.log(F / K) / s + 0.5 * s
    terms = np.where(call, F * ndtr(d1) + K * ndtr(d1 - s), K * ndtr(s - d1) + F * ndtr(-d1))
    vega = black76_greeks(F, K, T, sigma, call, RATE).vega
    return 8.0 * np.finfo(float).eps * np.exp(-RATE * T) * terms / vega


def quantlib_iv(chain: dict[str, np.ndarray]) -> np.ndarray:
    """QuantLib's implied vol per option (Black-76 as BSM with yield = rate, spot = forward)."""
    import QuantLib as ql

    today = ql.Date(6, ql.January, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    curve = ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc))
    vol = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), 0.2, dc))
    spot = ql.SimpleQuote(SPOT)
    process = ql.BlackScholesMertonProcess(ql.QuoteHandle(spot), curve, curve, vol)
    out = np.full(chain["price"].size, np.nan)
    for i, (p, f, k, t, c) in enumerate(
        zip(*(chain[key] for key in ("price", "F", "K", "T", "call")), strict=True)
    ):
        spot.setValue(float(f))
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if c else ql.Option.Put, float(k))
        option = ql.VanillaOption(payoff, ql.EuropeanExercise(today + round(t * 365)))
        # QuantLib raises on prices outside its vol bracket; those rows stay unsolved.
        with contextlib.suppress(RuntimeError):
            out[i] = option.impliedVolatility(float(p), process, 1e-12, 1000, 1e-4, 4.0)
    return out


if __name__ == "__main__":
    main()
