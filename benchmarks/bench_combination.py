"""Signal combination (issue 6, layer 2): the combiners scored strictly online on simulated
signals with a known truth, and the circuit breaker's detection delays.

    .venv/bin/python benchmarks/bench_combination.py [--seeds 4] [--days 250] [--per-day 6]

Prints
  (a) per scenario (one_true, correlated_weak, redundant, switching) the mean over seeds of
      coverage, hit rate (and its binomial s.e.), Brier, log-loss and P&L of sign(score) x return
      for: equal weights, Beta-Bernoulli averaging (edge weights, the default), the same with
      P(better than coin) weights, the same with a circuit breaker, and the stacking combiner;
      plus how many seeds stacking's log-loss beat averaging's;
  (b) the breaker's mean number of outcomes to trip for signals of a given hit rate;
  (c) combine / record_outcome cost per decision.
Fixed seeds; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from quantsentinel.ml.combination import (
    SCENARIOS,
    BayesianAveraging,
    BreakerConfig,
    CircuitBreaker,
    SignalReading,
    StackingCombiner,
    default_combiners,
    evaluate_combiners,
    simulate_scenario,
)

T0 = pd.Timestamp("2024-01-01 04:00", tz="UTC")


def combiners() -> dict:
    out = default_combiners()
    out["bma_probability"] = lambda names: BayesianAveraging(names, weighting="probability")
    out["bma_breaker"] = lambda names: BayesianAveraging(names, breaker=CircuitBreaker(names))
    return out


def scenario_table(seeds: int, days: int, per_day: int) -> None:
    rows = []
    for scenario in SCENARIOS:
        for seed in range(seeds):
            history, outcomes = simulate_scenario(
                scenario, n_days=days, per_day=per_day, seed=1000 + seed
            )
            table = evaluate_combiners(history, outcomes, combiners()).table().reset_index()
            table["scenario"], table["seed"] = scenario, seed
            rows.append(table)
    frame = pd.concat(rows)
    columns = ["coverage", "hit_rate", "hit_se", "brier", "log_loss", "pnl"]
    summary = frame.groupby(["scenario", "combiner"], sort=False)[columns].mean()
    print(f"(a) online scores, mean of {seeds} seeds, {days} days x {per_day} decisions")
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(summary.round(4).to_string())
    print("\n    seeds where stacking beat bayesian_averaging (log-loss, Brier, hit rate):")
    for scenario in SCENARIOS:
        part = frame[frame.scenario == scenario].pivot(index="seed", columns="combiner")
        wins = [
            int((part[m]["stacking"] < part[m]["bayesian_averaging"]).sum())
            for m in ("log_loss", "brier")
        ]
        hits = int((part["hit_rate"]["stacking"] > part["hit_rate"]["bayesian_averaging"]).sum())
        print(f"    {scenario:16s} {wins[0]}/{seeds}  {wins[1]}/{seeds}  {hits}/{seeds}")


def breaker_delays(trials: int = 400) -> None:
    print("\n(b) circuit breaker (defaults): outcomes until it trips, by true hit rate")
    rng = np.random.default_rng(5)
    config = BreakerConfig()
    for rate in (0.30, 0.40, 0.45, 0.50, 0.55):
        counts = []
        for _ in range(trials):
            breaker = CircuitBreaker(["s"], config)
            for k in range(2000):
                breaker.observe("s", bool(rng.random() < rate), T0 + pd.Timedelta(minutes=k))
                if breaker.transitions:
                    counts.append(k + 1)
                    break
        tripped = len(counts) / trials
        median = float(np.median(counts)) if counts else float("nan")
        print(
            f"    hit rate {rate:.2f}: tripped within 2000 in {tripped:6.1%}, "
            f"median {median:6.0f} outcomes"
        )


def cost_per_decision(n_signals: int = 8, n: int = 2000) -> None:
    names = [f"s{i}" for i in range(n_signals)]
    rng = np.random.default_rng(1)
    readings = [
        [SignalReading(name, float(rng.uniform(-1, 1)), 0.7) for name in names] for _ in range(n)
    ]
    print(f"\n(c) cost per decision, {n_signals} signals, {n} decisions (combine + record)")
    for label, combiner in (
        ("bayesian_averaging", BayesianAveraging(names)),
        ("bma + breaker", BayesianAveraging(names, breaker=CircuitBreaker(names))),
        ("stacking", StackingCombiner(names)),
    ):
        start = time.perf_counter()
        for k in range(n):
            at = T0 + pd.Timedelta(minutes=5 * k)
            combiner.combine(readings[k], at)
            combiner.record_outcome(readings[k], float(rng.normal()), at)
        print(f"    {label:20s} {1e6 * (time.perf_counter() - start) / n:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--per-day", type=int, default=6)
    args = parser.parse_args()
    start = time.perf_counter()
    scenario_table(args.seeds, args.days, args.per_day)
    breaker_delays()
    cost_per_decision()
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
