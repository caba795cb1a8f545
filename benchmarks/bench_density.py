"""Time the implied-density pipeline and report its accuracy on chains with known densities.

Run: .venv/bin/python benchmarks/bench_density.py [--repeat N] [--seeds N]

1. Breeden-Litzenberger on one 200-strike expiry (NSE 50-point spacing, tick-rounded bid/ask
   noise): median wall time over repeats.
2. Accuracy at 50-point spacing with realistic bid/ask noise, per model, over several quote
   seeds (mean and max): Black-76 lognormal, Merton (1976) jump-diffusion and Heston (1993),
   whose density comes from Fourier inversion. L1 = ∫|q̂ - q| against the true unconditional
   density (so the tail mass outside the quoted strikes counts as error); moments are truncated
   at the 1st/99th percentiles of each density (as `ImpliedDensity.moments`).
3. `chain_densities` on one simulated NIFTY snapshot, all expiries (median wall time).
Figures are printed, never asserted; chains come from `quantsentinel.ml.density.synthetic`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.density import chain_densities
from quantsentinel.ml.density.heston import heston_chain
from quantsentinel.ml.density.synthetic import (
    DEFAULT_SPEC,
    ChainSpec,
    ModelChain,
    density_errors,
    lognormal_chain,
    merton_chain,
    recover_density,
)

RATE = 0.065
METRICS = ("l1", "mean", "variance", "skewness", "kurtosis")
MODELS: dict[str, Callable[[ChainSpec], ModelChain]] = {
    "lognormal": lambda spec: lognormal_chain(spec),
    "merton": lambda spec: merton_chain(spec=spec),
    "heston": lambda spec: heston_chain(spec=spec),
}


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_200_strikes(repeat: int) -> tuple[float, int]:
    spec = ChainSpec.nse(n_strikes=200)  # 19,000 .. 28,950, 50 apart, 30 days
    calls, puts, _ = lognormal_chain(spec)
    n_usable = recover_density(calls, puts, 0, spec).strikes.size
    return _median_time(lambda: recover_density(calls, puts, 0, spec), repeat), n_usable


def accuracy(n_seeds: int) -> None:
    spec = DEFAULT_SPEC
    print(
        f"\naccuracy: {spec.strikes.size} strikes {spec.strikes[0]:,.0f}..{spec.strikes[-1]:,.0f}"
        f" step 50, F {spec.forward:,.0f}, T {spec.T * 365:.0f}d, tick {spec.tick},"
        f" seeds 0..{n_seeds - 1} (mean / max)"
    )
    print(
        f"{'model':9s} {'true skew':>9s} {'L1':>15s} {'|dmean| pts':>15s} {'rel dvar':>15s}"
        f" {'|dskew|':>15s} {'|dkurt|':>15s} {'mass':>7s}"
    )
    for name, build in MODELS.items():
        calls, puts, pdf = build(spec)
        errs, masses, skew = [], [], 0.0
        for seed in range(n_seeds):
            est = recover_density(calls, puts, seed, spec)
            err = density_errors(est, pdf)
            errs.append([err[m] for m in METRICS])
            masses.append(est.mass_before_normalisation)
            skew = err["true_skewness"]
        arr = np.array(errs)
        cells = " ".join(
            f"{arr[:, i].mean():7.4f}/{arr[:, i].max():7.4f}" for i in range(len(METRICS))
        )
        print(f"{name:9s} {skew:9.3f} {cells} {np.mean(masses):7.4f}")


def time_chain_densities(repeat: int) -> None:
    sim = MarketSimulator()
    day = date(2024, 3, 5)
    chain = sim.chain_snapshots(day, "NIFTY")
    snap = chain[chain["snapshot_id"] == chain["snapshot_id"].iloc[-1]]
    n_exp = snap["expiry"].nunique()
    seconds = _median_time(lambda: chain_densities(snap, rate=RATE), repeat)
    batch = chain_densities(snap, rate=RATE)
    print(
        f"\nchain_densities, one simulated NIFTY snapshot ({day}, {len(snap):,} rows, {n_exp}"
        f" expiries, {snap['strike'].nunique()} strikes): {1e3 * seconds:.1f} ms"
        f" (median of {repeat}); published {int(batch.summary['published'].sum())}/{n_exp}"
    )
    for row in batch.summary.itertuples():
        print(
            f"  {row.expiry.date()} T={row.T:.4f} F={row.forward:,.1f} mean={row.mean:,.1f}"
            f" skew={row.skewness:.3f} P(-5%)={row.crash_probability:.4f}"
            f" move={row.implied_move:.4f} reason={row.reason}"
        )
    seconds = _median_time(lambda: chain_densities(chain, rate=RATE, snapshots="all"), 3)
    print(
        f"chain_densities, the whole day ({chain['snapshot_id'].nunique()} snapshots,"
        f" {len(chain):,} rows): {seconds:.2f} s (median of 3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    seconds, n_grid = time_200_strikes(args.repeat)
    print(
        f"B-L density, 200-strike expiry (50-point spacing, bid/ask noise), {n_grid}-point grid:"
        f" {1e3 * seconds:.2f} ms (median of {args.repeat})"
    )
    accuracy(args.seeds)
    time_chain_densities(args.repeat)


if __name__ == "__main__":
    main()
