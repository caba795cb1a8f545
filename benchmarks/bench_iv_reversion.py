"""IV mean reversion on ~2 years of simulated NIFTY: model vs the |z| > 1 rule, out of sample.

Run: .venv/bin/python benchmarks/bench_iv_reversion.py [--start 2024-03-01] [--end 2026-02-27]
     [--seed 7] [--sim-seed 7]

Prints the dataset build time (one chain snapshot per day), then the purged walk-forward CV
(each fold trains only on rows whose 5-day labels end before its test block) per fold and pooled
over the out-of-fold rows: AUC, Brier and precision at the rule's positive rate for the LightGBM
model and the z-score rule, and the lift (model - rule). Figures are printed, never asserted:
the point is to see whether the model earns its keep, and a lift near zero is an answer too.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig
from quantsentinel.ml.models import iv_reversion as ivr
from quantsentinel.ml.validation.lift import lift_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 3, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 2, 27))
    parser.add_argument("--seed", type=int, default=7, help="LightGBM seed")
    parser.add_argument("--sim-seed", type=int, default=7, help="simulated market's seed")
    args = parser.parse_args()

    sim = MarketSimulator(SimulatorConfig(seed=args.sim_seed))
    t0 = time.perf_counter()
    frame = ivr.iv_reversion_dataset(sim, "NIFTY", args.start, args.end)
    build_s = time.perf_counter() - t0
    print(f"IV reversion benchmark: NIFTY {args.start}..{args.end}, market seed {args.sim_seed}")
    print(
        f"dataset: {len(frame)} rows x {len(ivr.FEATURES)} features in {build_s:.1f} s "
        f"({1000 * build_s / len(frame):.1f} ms/row, one chain snapshot per day); "
        f"target rate {frame['target'].mean():.3f}, horizon {ivr.DEFAULT_HORIZON} days"
    )

    t0 = time.perf_counter()
    folds, oof = ivr.cross_validate(frame, seed=args.seed)
    cv_s = time.perf_counter() - t0
    print(f"\npurged walk-forward CV ({len(folds)} folds, {cv_s:.1f} s), model vs |z| > 1 rule:")
    table = pd.DataFrame(
        {
            "test": [
                f"{a}..{b}" for a, b in zip(folds["test_start"], folds["test_end"], strict=True)
            ],
            "n_train": folds["n_train"],
            "n_test": folds["n_rows"].astype(int),
            "pos": folds["positive_rate"],
            "auc": folds["auc"],
            "rule_auc": folds["rule_auc"],
            "auc_lift": folds["auc_lift"],
            "brier": folds["brier"],
            "rule_brier": folds["rule_brier"],
            "base_brier": folds["positive_rate"] * (1 - folds["positive_rate"]),
            "prec": folds["precision_at_rule_rate"],
            "rule_prec": folds["rule_precision"],
            "prec_lift": folds["precision_lift"],
        }
    )
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))

    y = oof["target"].to_numpy(int)
    pooled = lift_metrics(y, oof["prob"], oof["rule"].to_numpy())
    base = y.mean() * (1 - y.mean())
    print(f"\npooled out-of-fold ({len(y)} rows, positive rate {y.mean():.3f}):")
    print(f"  AUC        model {pooled['auc']:.3f}   rule {pooled['rule_auc']:.3f}   "
          f"lift {pooled['auc_lift']:+.3f}")  # fmt: skip
    print(f"  Brier      model {pooled['brier']:.3f}   rule {pooled['rule_brier']:.3f}   "
          f"constant base rate {base:.3f}")  # fmt: skip
    print(f"  precision  model {pooled['precision_at_rule_rate']:.3f}   rule "
          f"{pooled['rule_precision']:.3f}   lift {pooled['precision_lift']:+.3f}   (at the "
          f"rule's positive rate {pooled['rule_positive_rate']:.3f})")  # fmt: skip
    lift = folds["auc_lift"]
    print(f"  AUC lift per fold: mean {lift.mean():+.3f}, sd {lift.std(ddof=1):.3f}, "
          f"positive in {int((lift > 0).sum())}/{len(lift)} folds")  # fmt: skip

    # Why the rule scores as it does: the hit rate of the target by |z| bucket.
    buckets = pd.cut(frame["iv_z"].abs(), [0, 0.5, 1, 1.5, 2, np.inf], right=False)
    rate = frame.groupby(buckets, observed=True)["target"].agg(["mean", "size"])
    print("\ntarget rate by |z| (all rows):")
    for interval, row in rate.iterrows():
        print(f"  |z| in {interval}: {row['mean']:.3f} of {int(row['size'])}")


if __name__ == "__main__":
    main()
