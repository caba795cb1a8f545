"""Metrics every model type computes the same way on its held-out slice, so a candidate and its
champion are compared on equal terms (and so MLflow shows comparable numbers across types)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_LOG_LOSS_CLIP = 1e-15


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10) -> float:
    """Binary ECE with `n_bins` equal-width bins on [0, 1].

    Bin k holds predictions in [k/n, (k+1)/n); the last bin also holds 1.0. ECE is
    sum_k (n_k / N) * |mean(y_true in k) - mean(y_prob in k)|, on the positive-class probability
    (a reliability diagram of P(y=1)), so it stays meaningful under heavy class imbalance where a
    top-label ECE would mostly measure the majority class. Empty bins contribute nothing.
    """
    y, p = _binary_inputs(y_true, y_prob)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    # |sum_y - sum_p| / N equals (n_k/N) * |mean_y - mean_p| without dividing by empty bins.
    return float(np.abs(sum_y - sum_p).sum() / y.size)


def _binary_inputs(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_prob, dtype=float).ravel()
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equal non-empty arrays, got {y.shape} and {p.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be binary 0/1")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("y_prob must lie in [0, 1]")
    return y, p


def roc_auc(y_true: Any, y_prob: Any) -> float:
    """AUC as the Mann-Whitney statistic: P(score of a positive > score of a negative), ties 1/2.

    NaN when the slice has one class only: AUC is undefined there, and 0.5 would be a lie.
    """
    y, p = _binary_inputs(y_true, y_prob)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    from scipy.stats import rankdata  # lazy: scipy.stats costs ~1 s on sensor import paths

    ranks = rankdata(p)  # average ranks give ties half credit
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(
    y_true: Any, y_prob: Any, notes: list[str] | None = None
) -> dict[str, float]:
    """Held-out metrics of a binary classifier from P(y=1).

    accuracy (threshold 0.5), log_loss (probabilities clipped to [1e-15, 1-1e-15] so one
    confident miss is large but finite), brier, auc (NaN on a one-class slice), ece (10 bins).
    Values are plain floats so the dict can go straight to MLflow; explanations of NaNs are
    appended to `notes` when a list is passed.
    """
    y, p = _binary_inputs(y_true, y_prob)
    pc = np.clip(p, _LOG_LOSS_CLIP, 1 - _LOG_LOSS_CLIP)
    auc = roc_auc(y, p)
    if math.isnan(auc) and notes is not None:
        notes.append(f"auc undefined: slice of {y.size} rows has only class {int(y[0])}")
    return {
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "brier": float(np.mean((p - y) ** 2)),
        "auc": auc,
        "ece": expected_calibration_error(y, p),
    }


def regression_metrics(
    y_true: Any, y_pred: Any, notes: list[str] | None = None
) -> dict[str, float]:
    """Held-out metrics of a point forecast: rmse, mae, r2, directional_accuracy.

    r2 = 1 - SS_res / SS_tot about the slice mean (NaN when y_true is constant).
    directional_accuracy = share of rows with sign(y_pred) == sign(y_true), over rows where
    y_true != 0 (a zero return has no direction to get right); a zero forecast counts as a miss.
    """
    y, f = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if y.shape != f.shape or y.size == 0:
        raise ValueError(f"need equal non-empty arrays, got {y.shape} and {f.shape}")
    err = f - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((err**2).sum()) / ss_tot if ss_tot > 0 else math.nan
    moving = y != 0
    da = float(np.mean(np.sign(f[moving]) == np.sign(y[moving]))) if moving.any() else math.nan
    if notes is not None:
        if math.isnan(r2):
            notes.append("r2 undefined: y_true is constant on the slice")
        if math.isnan(da):
            notes.append("directional_accuracy undefined: every y_true is zero")
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": r2,
        "directional_accuracy": da,
    }
