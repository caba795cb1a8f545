"""Time the Breeden-Litzenberger density on a 200-strike expiry and report its accuracy.

Run: .venv/bin/python benchmarks/bench_density.py [--repeat N]

Chains come from the test suite's models (Black-76 lognormal, and a Merton jump-diffusion whose
density is a Poisson mixture of lognormals), quoted with tick-rounded bid/ask noise; the L1 error
of the recovered density against the true one is printed. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from quantsentinel.market.pricing import black76_price
from quantsentinel.ml.density import implied_density

# The chain builders live with the tests, so benchmark and tests measure the same thing.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ml.test_density import (
    RATE,
    T,
    errors,
    lognormal_chain,
    merton_chain,
    recover,
)

F = 24_000.0


def time_200_strikes(repeat: int) -> float:
    strikes = F + 50.0 * (np.arange(200) - 100)  # 19,000 .. 28,950
    calls = black76_price(F, strikes, T, 0.15, True, RATE)
    puts = black76_price(F, strikes, T, 0.15, False, RATE)
    # Round to the tick so the chain looks like a quote sheet, then keep only strikes with a bid.
    calls, puts = np.round(calls / 0.05) * 0.05, np.round(puts / 0.05) * 0.05
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        implied_density(strikes, calls, puts, forward=F, T=T, rate=RATE)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"B-L density, 200 strikes, 400-point grid: {1e3 * time_200_strikes(args.repeat):.2f} ms")
    for name, chain in (("lognormal", lognormal_chain), ("merton", merton_chain)):
        calls, puts, pdf = chain()
        for seed in range(3):
            est = recover(calls, puts, seed)
            err = errors(est, pdf)
            print(
                f"{name:9s} seed {seed}: L1 {err['l1']:.4f}"
                f"  mass {est.mass_before_normalisation:.4f}"
                f"  |dmean| {err['mean']:.2f}  rel dvar {err['variance']:.4f}"
                f"  |dskew| {err['skewness']:.4f}  |dkurt| {err['kurtosis']:.4f}"
            )


if __name__ == "__main__":
    main()
