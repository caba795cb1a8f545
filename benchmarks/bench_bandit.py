"""Strategy bandit: regret of the Gaussian, Student-t and bootstrap posteriors, and call cost.

    .venv/bin/python benchmarks/bench_bandit.py [--horizon 2000] [--runs 50] [--seed 7]

Prints
  (a) the heavy-tailed scenario's arms (mean vs median: the best median is not the best arm);
  (b) cumulative pseudo-regret at several horizons (mean, 10/50/90% quantiles over runs) and the
      share of runs locked onto a wrong arm (most-played arm over the last quarter not the best),
      per posterior, under a vague prior (sd 1) and a data-scale prior (sd 0.3, roughly one
      reward's sd); the bootstrap posterior does not use the prior's sd, so it runs once. All
      posteriors face the same reward streams (same seed: common random numbers);
  (c) the same on three clearly separated Gaussian arms (sanity: everyone should learn);
  (d) time per choose (6 arms) and per update, by posterior and history length per arm.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from quantsentinel.ml.bandit import (
    MAX_BOOTSTRAP_OBSERVATIONS,
    POSTERIORS,
    Prior,
    StructureBandit,
    gaussian_scenario,
    heavy_tailed_scenario,
    simulate_regret,
)

ARMS = ("iron_condor", "iron_fly", "vertical_credit", "vertical_debit", "straddle", "strangle")


def horizons(horizon: int) -> list[int]:
    marks = [h for h in (50, 100, 250, 500, 1000, 2000, 5000) if h < horizon]
    return [*marks, horizon]


def regret_table(title: str, arms: list, horizon: int, runs: int, seed: int) -> None:
    print(f"\n{title}: horizon {horizon}, {runs} runs, seed {seed}")
    print(f"{'posterior':<10} {'prior':<11} {'t':>5} {'mean':>7} {'q10':>7} {'q50':>7} {'q90':>7}")
    cases = [
        ("gaussian", "sd=1", Prior(sd=1.0)),
        ("student_t", "sd=1", Prior(sd=1.0)),
        ("gaussian", "sd=0.3", Prior(sd=0.3)),
        ("student_t", "sd=0.3", Prior(sd=0.3)),
        ("bootstrap", "anchors", Prior()),
    ]
    lock_ins = []
    for posterior, label, prior in cases:
        started = time.perf_counter()
        result = simulate_regret(
            posterior, arms, horizon, runs, np.random.default_rng(seed), prior=prior
        )
        elapsed = time.perf_counter() - started
        for t in horizons(horizon):
            r = result.at(t)
            q10, q50, q90 = np.quantile(r, [0.1, 0.5, 0.9])
            print(
                f"{posterior:<10} {label:<11} {t:>5} {r.mean():>7.2f} {q10:>7.2f} {q50:>7.2f}"
                f" {q90:>7.2f}"
            )
        lock_ins.append((posterior, label, result.locked_in_fraction(), elapsed))
    for posterior, label, locked, elapsed in lock_ins:
        print(f"locked on a wrong arm: {posterior:<10} {label:<8} {locked:6.1%} ({elapsed:.1f} s)")


def per_call_cost(repeats: int = 2000) -> None:
    print(f"\ncost per call, {len(ARMS)} arms (median of {repeats}, microseconds)")
    print(f"{'posterior':<10} {'history/arm':>11} {'choose':>8} {'update':>8}")
    rng = np.random.default_rng(0)
    for posterior in sorted(POSTERIORS):
        for history in (0, 100, MAX_BOOTSTRAP_OBSERVATIONS):
            bandit = StructureBandit(ARMS, posterior=posterior)
            for arm in ARMS:
                for r in rng.normal(0.05, 0.4, history):
                    bandit.update("NORMAL", arm, float(r))
            choose, update = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                choice = bandit.choose("NORMAL", rng, book_shares={"straddle": 0.3})
                t1 = time.perf_counter()
                bandit.update("HIGH_VOL", choice.arm, 0.1)
                t2 = time.perf_counter()
                choose.append(t1 - t0)
                update.append(t2 - t1)
            print(
                f"{posterior:<10} {history:>11} {np.median(choose) * 1e6:>8.1f}"
                f" {np.median(update) * 1e6:>8.1f}"
            )
    bandit = StructureBandit(ARMS, posterior="bootstrap")
    for arm in ARMS:
        for r in rng.normal(0.05, 0.4, MAX_BOOTSTRAP_OBSERVATIONS):
            bandit.update("NORMAL", arm, float(r))
    started = time.perf_counter()
    text = bandit.to_json()
    StructureBandit.from_json(text)
    print(
        f"bootstrap state at {MAX_BOOTSTRAP_OBSERVATIONS} rewards x {len(ARMS)} arms: "
        f"{len(text) / 1e3:.0f} kB JSON, "
        f"round trip {1e3 * (time.perf_counter() - started):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print("heavy-tailed scenario (reward = P&L / max loss)")
    for arm in heavy_tailed_scenario():
        print(f"  {arm.name:<15} mean {arm.mean:+.4f}  median {arm.median:+.4f}")
    regret_table("heavy-tailed", heavy_tailed_scenario(), args.horizon, args.runs, args.seed)
    regret_table(
        "separated Gaussian arms", gaussian_scenario(), args.horizon // 4, args.runs, args.seed
    )
    per_call_cost()


if __name__ == "__main__":
    main()
