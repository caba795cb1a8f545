"""Time the layer-1 signals: `compute_signals` for one NIFTY snapshot, and the cross-section.

Run: .venv/bin/python benchmarks/bench_signals.py [--repeat N] [--seed S]

Inputs are what a decide run holds for one snapshot (simulated, seeded):
- NIFTY: 26 sessions of 1-minute bars (~9,750 rows), the day's 75 chain snapshots through
  `iv_surface` (~18k rows), `chain_analytics` and `chain_densities(snapshots="all")` (trailing
  density history), a year of vol forecasts (3 horizons a day), two months of news;
- the 11-stock universe: daily closes derived once from 26 sessions of their bars.
Timed (p50/p99 over decision times spread across the afternoon, each repeated):
1. `compute_signals` on those frames (the shared market work of one snapshot, done once for
   every tenant);
2. `cross_sectional_signal` on the 11 names alone;
3. the cold import of `quantsentinel.ml.signals` in a fresh interpreter.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.analytics import chain_analytics
from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig
from quantsentinel.market.surface import iv_surface
from quantsentinel.ml.density.chain import chain_densities
from quantsentinel.ml.signals import (
    STOCK_UNIVERSE,
    SignalInputs,
    compute_signals,
    cross_sectional_signal,
    daily_closes_from_bars,
)

DAY = date(2025, 3, 4)


def _pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def build(seed: int) -> tuple[SignalInputs, list[pd.Timestamp], dict[str, float]]:
    sim = MarketSimulator(SimulatorConfig(seed=seed))
    prep: dict[str, float] = {}
    t = time.perf_counter()
    days = calendar.trading_days(DAY - timedelta(days=38), DAY)
    bars = pd.concat([sim.bars(d, u) for d in days for u in ("NIFTY", *STOCK_UNIVERSE)])
    bars = bars.reset_index(drop=True)
    chain = sim.chain_snapshots(DAY, "NIFTY")
    prep["simulate"] = time.perf_counter() - t
    t = time.perf_counter()
    surface = iv_surface(chain)
    analytics = chain_analytics(chain, surface)
    density = chain_densities(chain, rate=0.065, crash_move=-0.05, snapshots="all").summary
    prep["surface+analytics+densities (75 snapshots)"] = time.perf_counter() - t
    t = time.perf_counter()
    closes = daily_closes_from_bars(bars)
    prep["daily closes from bars"] = time.perf_counter() - t
    year = calendar.trading_days(DAY - timedelta(days=365), DAY - timedelta(days=1))
    rng = np.random.default_rng(seed)
    forecasts = pd.DataFrame(
        {
            "underlying": "NIFTY",
            "date": np.repeat(pd.to_datetime(year), 3),
            "horizon": np.tile([1, 5, 22], len(year)),
            "variance": rng.uniform(0.7e-4, 1.5e-4, 3 * len(year)),
            "source": "champion",
            "fallback_reason": None,
        }
    )
    news_days = [DAY - timedelta(days=i) for i in range(-10, 50)]
    news = pd.concat([sim.news(d) for d in news_days], ignore_index=True)
    inputs = SignalInputs(
        "NIFTY", forecasts, surface, density, analytics,
        bars[bars["underlying"] == "NIFTY"].reset_index(drop=True), closes, news,
    )  # fmt: skip
    times = [t + pd.Timedelta(seconds=20) for t in sim.snapshot_times(DAY)[30:]]
    return inputs, times, prep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    inputs, times, prep = build(args.seed)
    print(f"inputs: bars {len(inputs.bars):,} rows, iv_surface {len(inputs.iv_surface):,}, "
          f"densities {len(inputs.implied_distribution):,}, closes {len(inputs.daily_closes):,}, "
          f"forecasts {len(inputs.vol_forecasts):,}, news {len(inputs.news):,}")  # fmt: skip
    for name, seconds in prep.items():
        print(f"  prep {name}: {seconds * 1e3:.0f} ms")

    compute_signals(inputs, times[0])  # warm caches of the calendar, imports
    full: list[float] = []
    cross: list[float] = []
    per_signal: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for at in times:
            t = time.perf_counter()
            out = compute_signals(inputs, at)
            full.append(time.perf_counter() - t)
            t = time.perf_counter()
            cross_sectional_signal(inputs.daily_closes, at)
            cross.append(time.perf_counter() - t)
    for name, signal in out.items():
        per_signal.setdefault(name, []).append(signal.score)
    n = len(full)
    print(f"\ncompute_signals, one NIFTY snapshot ({n} calls): "
          f"p50 {_pct(full, 50):.2f} ms  p99 {_pct(full, 99):.2f} ms  "
          f"mean {statistics.fmean(full) * 1e3:.2f} ms")  # fmt: skip
    print(f"cross_sectional_signal, 11 names ({n} calls): "
          f"p50 {_pct(cross, 50):.2f} ms  p99 {_pct(cross, 99):.2f} ms")  # fmt: skip
    print("\nlast decision's signals:")
    for name, s in out.items():
        print(f"  {name:22s} {s.axis:10s} score {s.score:+.3f} conf {s.confidence:.2f} "
              f"fallback {s.fallback}")  # fmt: skip
    code = "import time; t=time.perf_counter(); import quantsentinel.ml.signals; " \
           "print(time.perf_counter()-t)"  # fmt: skip
    cold = [float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(3)]
    print(f"\ncold import of quantsentinel.ml.signals: min {min(cold) * 1e3:.0f} ms "
          f"over 3 fresh interpreters")  # fmt: skip


if __name__ == "__main__":
    main()
