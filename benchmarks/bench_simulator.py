"""Simulator throughput: option-chain snapshots per second, per underlying kind.

    .venv/bin/python benchmarks/bench_simulator.py

Times a full trading day of 5-minute snapshots (75) for NIFTY, BANKNIFTY and one stock on a
fresh simulator (first day includes the one-off daily-path build) and on a warm one.
"""

from __future__ import annotations

import time
from datetime import date

from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig

DAYS = [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]


def main() -> None:
    print(
        f"{'underlying':<11} {'snapshots':>9} {'rows':>8} {'seconds':>8} "
        f"{'snap/s':>8} {'rows/s':>10}"
    )
    started = time.perf_counter()
    sim = MarketSimulator(SimulatorConfig(seed=11))
    sim.chain_snapshot(sim.snapshot_times(DAYS[0])[0], "NIFTY")
    print(f"(cold start incl. daily path: {time.perf_counter() - started:.2f} s)")
    for underlying in ("NIFTY", "BANKNIFTY", "RELIANCE"):
        t0 = time.perf_counter()
        snapshots = rows = 0
        for day in DAYS:
            frame = sim.chain_snapshots(day, underlying)
            snapshots += frame["snapshot_id"].nunique()
            rows += len(frame)
        seconds = time.perf_counter() - t0
        print(
            f"{underlying:<11} {snapshots:>9} {rows:>8} {seconds:>8.2f} "
            f"{snapshots / seconds:>8.1f} {rows / seconds:>10,.0f}"
        )
    t0 = time.perf_counter()
    for day in DAYS:
        sim.bars(day, "NIFTY")
    print(f"bars: {3 * 375 / (time.perf_counter() - t0):,.0f} one-minute bars/s")


if __name__ == "__main__":
    main()
