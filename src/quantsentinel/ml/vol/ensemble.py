"""Quasi-Bayesian model averaging of variance forecasters on a rolling QLIKE record.

Members are plain forecast frames (index = trading days, one column per horizon h, values =
average daily variance over t+1..t+h in decimal^2; see ``losses`` for the timing convention),
so HAR, GARCH and baselines combine without this module importing any of them.

Weights, per horizon h and day t (after the close of t):

    w_i(t) ∝ prior_i * exp(-lambda * S_i(t)),   S_i(t) = sum_{s in W(t)} QLIKE(target_s, F_i,s),

where W(t) holds the last ``window`` origins s whose target is already observed, i.e.
s <= t - h (the h-day target of origin s is complete at the close of s+h). A forecast is thus
never weighted by a loss that could not have been computed on day t. Losses are summed over the
days on which every member has a scorable forecast, so no member is rewarded for missing days.

Why QLIKE: it is robust to the noise in realized variance as a proxy (Patton 2011), scale-free,
and, crucially here, it is a log-likelihood. For r ~ N(0, F) the negative log density is
(1/2)(log F + r^2/F) + const, and QLIKE(RV, F) = RV/F - log(RV/F) - 1 differs from
log F + RV/F only by a term in RV alone, which cancels when weights are normalised. So with
lambda = 1/2, exp(-lambda * S_i) is each member's Gaussian quasi-likelihood over the window and
w_i is a quasi-posterior model probability: Bayesian model averaging with QLIKE as the loss.

Same lambda for every horizon: the h-day targets of consecutive origins overlap in h-1 days, so
a window of 60 origins holds about 60/h independent h-day blocks; but one block is h daily
returns, whose Gaussian log-likelihood at a constant variance F is (h/2)(log F + mean r^2/F),
i.e. h times the one-day term. The two factors of h cancel: summing QLIKE over all 60
overlapping origins with lambda = 1/2 approximates the quasi-likelihood of the window's ~60 days
at every horizon. (Dividing by h for the overlap alone would flatten long-horizon weights.)

Floor: w_i <- floor + (1 - k * floor) * w_i for the k members available on day t. A strictly
likelihood-based posterior drives losers to ~0 within weeks, and a member shut out cannot earn
its weight back fast when the regime turns (the seed's HAR and GARCH "have different failure
modes" - the point of the ensemble). The floor keeps every member alive at a small, bounded cost.

Until any loss is observed (the first h days) the weights equal the prior.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quantsentinel.ml.vol.losses import qlike_terms, realized_targets

DEFAULT_WINDOW = 60
DEFAULT_LAMBDA = 0.5  # Gaussian quasi-likelihood scale; see module docstring
DEFAULT_FLOOR = 0.05


def _horizon_weights(
    forecasts: pd.DataFrame,
    target: pd.Series,
    h: int,
    window: int,
    log_prior: np.ndarray,
    lam: float,
    floor: float,
) -> pd.DataFrame:
    """Weights (date x member) for one horizon, using only losses observed by each date."""
    losses = pd.DataFrame(
        {m: qlike_terms(target.to_numpy(), forecasts[m].to_numpy()) for m in forecasts.columns},
        index=forecasts.index,
    )
    # Common sample: a day counts only if every member has a loss on it.
    losses[losses.isna().any(axis=1)] = np.nan
    summed = losses.rolling(window, min_periods=1).sum()
    count = losses.iloc[:, 0].notna().astype(float).rolling(window, min_periods=1).sum()
    # shift(h): on day t only origins s <= t - h have a complete target.
    summed = summed.shift(h)
    count = count.shift(h).fillna(0.0)

    log_w = log_prior[None, :] - lam * summed.to_numpy()
    no_record = (count.to_numpy() == 0) | np.isnan(log_w).any(axis=1)
    log_w[no_record] = log_prior
    available = forecasts.notna().to_numpy()
    log_w[~available] = -np.inf
    # Softmax row by row, subtracting the row max so exp() cannot overflow.
    row_max = np.max(np.where(available, log_w, -np.inf), axis=1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0.0
    raw = np.exp(log_w - row_max)
    total = raw.sum(axis=1, keepdims=True)
    k = available.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = raw / total
        w = np.where(available, floor + (1.0 - k * floor) * raw, 0.0)
    w[k[:, 0] == 0] = np.nan  # no member forecast that day: no weights, no ensemble
    return pd.DataFrame(w, index=forecasts.index, columns=forecasts.columns)


def ensemble_forecasts(
    member_forecasts: Mapping[str, pd.DataFrame],
    realized: pd.Series,
    window: int = DEFAULT_WINDOW,
    *,
    prior: Mapping[str, float] | None = None,
    lam: float = DEFAULT_LAMBDA,
    floor: float = DEFAULT_FLOOR,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Combine member forecasts with daily-recomputed quasi-posterior weights.

    Args:
        member_forecasts: name -> frame (index dates, columns horizons) under the timing
            convention of ``losses``. Horizons are those common to all members.
        realized: daily realized variance (decimal^2), the series the targets are built from.
        window: number of most recent scorable origins in each member's record (60 per issue).
        prior: prior weight per member (default uniform); normalised internally.
        lam: quasi-likelihood scale lambda (1/2 = Gaussian quasi-likelihood, all horizons).
        floor: minimum weight of every available member; requires floor * n_members < 1.

    Returns:
        (forecast, weights): forecast has one column per horizon; weights has a column
        MultiIndex (horizon, member). Both are indexed by date; row t uses information up to
        the close of t only. A day with no member forecast gives NaN in both.
    """
    if not member_forecasts:
        raise ValueError("ensemble needs at least one member")
    names = list(member_forecasts)
    if floor < 0 or floor * len(names) >= 1:
        raise ValueError(f"floor must be in [0, 1/{len(names)}), got {floor}")
    if window < 1 or lam < 0:
        raise ValueError("window must be >= 1 and lam >= 0")
    horizons = sorted(set.intersection(*(set(f.columns) for f in member_forecasts.values())))
    if not horizons:
        raise ValueError("members share no horizon")
    pri = np.array([float((prior or {}).get(n, 1.0)) for n in names])
    if np.any(pri <= 0):
        raise ValueError("prior weights must be positive")
    log_prior = np.log(pri / pri.sum())

    index = realized.index
    targets = realized_targets(realized, horizons)
    combined: dict[int, pd.Series] = {}
    weight_frames: dict[int, pd.DataFrame] = {}
    for h in horizons:
        f_h = pd.DataFrame({n: member_forecasts[n][h].reindex(index) for n in names}, index=index)
        w_h = _horizon_weights(f_h, targets[h], h, window, log_prior, lam, floor)
        combined[h] = (w_h * f_h.fillna(0.0)).sum(axis=1, min_count=1).where(w_h.notna().all(1))
        weight_frames[h] = w_h
    forecast = pd.DataFrame(combined, index=index)
    weights = pd.concat(weight_frames, axis=1, names=["horizon", "member"])
    return forecast, weights
