"""Model vs rule on the same rows: the numbers that say whether a model earns its keep.

A model is worth its pipelines, monitoring and retraining only if it beats the rule a desk would
otherwise use (seed 001 §10: some modules gave ~2% over the rule and were retired). So every
comparison here scores both on identical rows and reports the difference:

- AUC of each (ranking quality, threshold-free) and `auc_lift` = model - rule;
- Brier of each (the rule's Brier depends on how its score is mapped to [0, 1], so it is a
  reference, not a verdict);
- precision at the rule's positive rate: the rule fires on a share r of rows; the model's top r
  share by probability is compared at the same number of trades (`precision_lift`).

The rule is given as a score in [0, 1] whose decision threshold is 0.5 (score > 0.5: the rule
fires), so one array carries both its ranking and its decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quantsentinel.ml.registry.metrics import classification_metrics, roc_auc


def precision_at_rate(y: Any, score: Any, rate: float) -> float:
    """Precision of the top `rate` share of rows by score; NaN when that share is no row."""
    y = np.asarray(y, dtype=float)
    k = round(rate * y.size)
    if k == 0:
        return float("nan")
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    return float(np.mean(y[top]))


def lift_metrics(y_true: Any, y_prob: Any, rule_score: Any) -> dict[str, float]:
    """classification_metrics of the model plus the rule's AUC/Brier/precision and the lifts."""
    y = np.asarray(y_true, dtype=int)
    rule = np.asarray(rule_score, dtype=float)
    out = classification_metrics(y, y_prob)
    fires = rule > 0.5
    rate = float(fires.mean())
    rule_precision = float(y[fires].mean()) if fires.any() else float("nan")
    model_precision = precision_at_rate(y, y_prob, rate)
    out.update(
        rule_auc=roc_auc(y, rule),
        rule_brier=float(np.mean((rule - y) ** 2)),
        rule_positive_rate=rate,
        rule_precision=rule_precision,
        precision_at_rule_rate=model_precision,
        positive_rate=float(y.mean()),
        n_rows=float(y.size),
    )
    out["auc_lift"] = out["auc"] - out["rule_auc"]
    out["precision_lift"] = model_precision - rule_precision
    return out


def roc_points(y_true: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    y, s = np.asarray(y_true, dtype=float)[order], np.asarray(score, dtype=float)[order]
    last = np.r_[np.diff(s) != 0, True]  # tied scores move the curve in one step
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def lift_figure(folds: pd.DataFrame, oof: pd.DataFrame, rule_label: str = "rule") -> Any:
    """Per-fold AUC bars, model vs rule (left), and pooled out-of-fold ROC curves (right).

    `folds` has auc, rule_auc and test_start per fold; `oof` has target, prob and rule per row.
    """
    from matplotlib.figure import Figure  # no pyplot: no global figure state, any backend

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    x = np.arange(len(folds))
    left.bar(x - 0.2, folds["auc"], 0.4, label="model")
    left.bar(x + 0.2, folds["rule_auc"], 0.4, label=rule_label)
    left.axhline(0.5, color="grey", lw=0.8, ls="--")
    left.set_xticks(x, [f"{pd.Timestamp(s):%Y-%m-%d}" for s in folds["test_start"]], rotation=30)
    left.set_ylim(0.0, 1.0)
    left.set(title="Walk-forward CV AUC per test fold", ylabel="AUC")
    left.legend()
    y = oof["target"].to_numpy(int)
    for name, col in (("model", "prob"), (rule_label, "rule")):
        fpr, tpr = roc_points(y, oof[col])
        right.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, oof[col]):.3f})")
    right.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    right.set(title="Pooled out-of-fold ROC", xlabel="false positive rate", ylabel="TPR")
    right.legend()
    fig.tight_layout()
    return fig
