"""Forecast losses, realized targets and naive baselines for variance forecasts.

Timing convention (used by every forecaster in `ml/vol`): a forecast row indexed by trading day t
is *made after the close of day t*, may use information up to and including day t, and targets
the average daily variance over the next h trading days,

    target_t(h) = (1/h) * sum_{j=1..h} RV_{t+j}.

Equivalently, the forecast *for* day t+1 uses data up to day t only. Forecast frames have one
column per horizon h (int), indexed like the realized series. A forecast made at t for horizon h
is scorable only after the close of day t+h; the ensemble relies on exactly that rule.

Units: daily variance in squared decimal log returns (RV of 1% moves is 1e-4), matching
`quantsentinel.ml.vol.realized`.

Losses (Patton 2011, "Volatility forecast comparison using imperfect volatility proxies"):

- MSE  = mean (RV - F)^2;
- QLIKE = mean (RV/F - log(RV/F) - 1), zero at F = RV and >= 0. QLIKE and MSE are the two
  members of Patton's family that rank forecasts consistently when RV is a noisy but unbiased
  proxy of the latent variance; QLIKE additionally depends on the forecast only through RV/F,
  so it is scale-free (a calm and a turbulent month weigh alike) and penalises under-prediction
  more than over-prediction, the costly error for premium selling;
- out-of-sample R^2 = 1 - sum (RV - F)^2 / sum (RV - B)^2 against a benchmark B (Campbell &
  Thompson 2008 style): positive when F beats B in squared error.

Pairs where either side is NaN are dropped. QLIKE needs RV > 0 (log RV); non-positive realized
values are dropped too, rather than replaced, since any replacement would favour some forecasts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 22)


def _aligned(realized: pd.Series | np.ndarray, forecast: pd.Series | np.ndarray):
    """Return float arrays of the pairs where both sides are finite (aligned on index if Series)."""
    if isinstance(realized, pd.Series) and isinstance(forecast, pd.Series):
        realized, forecast = realized.align(forecast, join="inner")
    rv = np.asarray(realized, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if rv.shape != f.shape:
        raise ValueError(f"shape mismatch: realized {rv.shape} vs forecast {f.shape}")
    ok = np.isfinite(rv) & np.isfinite(f)
    return rv[ok], f[ok]


def qlike_terms(realized: pd.Series | np.ndarray, forecast: pd.Series | np.ndarray) -> np.ndarray:
    """Element-wise QLIKE, RV/F - log(RV/F) - 1, NaN where undefined (RV <= 0 or missing).

    Kept element-wise (not averaged) so callers such as the ensemble can sum losses over their
    own windows. Raises ValueError on a non-positive forecast: a variance forecast <= 0 is a bug
    upstream, and QLIKE would silently turn it into +inf or NaN.
    """
    rv = np.asarray(realized, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if np.any(f[np.isfinite(f)] <= 0):
        raise ValueError("variance forecasts must be strictly positive for QLIKE")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rv / f
        out = ratio - np.log(ratio) - 1.0
    out[~(np.isfinite(out) & (rv > 0))] = np.nan
    return out


def qlike(realized: pd.Series | np.ndarray, forecast: pd.Series | np.ndarray) -> float:
    """Mean QLIKE loss (Patton 2011 robust form): mean_t [RV_t/F_t - log(RV_t/F_t) - 1]."""
    rv, f = _aligned(realized, forecast)
    terms = qlike_terms(rv, f)
    terms = terms[np.isfinite(terms)]
    return float(terms.mean()) if terms.size else float("nan")


def mse(realized: pd.Series | np.ndarray, forecast: pd.Series | np.ndarray) -> float:
    """Mean squared error, mean_t (RV_t - F_t)^2."""
    rv, f = _aligned(realized, forecast)
    return float(np.mean((rv - f) ** 2)) if rv.size else float("nan")


def oos_r2(
    realized: pd.Series | np.ndarray,
    forecast: pd.Series | np.ndarray,
    benchmark: pd.Series | np.ndarray,
) -> float:
    """Out-of-sample R^2 = 1 - SSE(forecast) / SSE(benchmark), on the common finite sample."""
    if isinstance(realized, pd.Series):
        # Align on the index when Series are passed, so callers need not pre-align.
        parts = {"rv": realized, "f": pd.Series(forecast), "b": pd.Series(benchmark)}
        frame = pd.concat(parts, axis=1).astype(float)
    else:
        frame = pd.DataFrame(
            {
                "rv": np.asarray(realized, dtype=float),
                "f": np.asarray(forecast, dtype=float),
                "b": np.asarray(benchmark, dtype=float),
            }
        )
    frame = frame.dropna()
    sse_b = float(((frame["rv"] - frame["b"]) ** 2).sum())
    if frame.empty or sse_b == 0.0:
        return float("nan")
    return 1.0 - float(((frame["rv"] - frame["f"]) ** 2).sum()) / sse_b


def realized_targets(rv: pd.Series, horizons: Iterable[int] = DEFAULT_HORIZONS) -> pd.DataFrame:
    """Targets under the timing convention: row t, column h = mean(RV_{t+1..t+h}).

    NaN in the last h rows (not yet observed). Positions, not calendar days, define t+j, so
    holidays and weekends are skipped as the trading calendar skips them.
    """
    rv = rv.astype(float)
    return pd.DataFrame(
        {h: rv.rolling(h, min_periods=h).mean().shift(-h) for h in horizons}, index=rv.index
    )


def naive_forecasts(
    rv: pd.Series,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    mean_window: int = 22,
) -> dict[str, pd.DataFrame]:
    """Naive baselines under the timing convention (row t uses RV up to and including day t).

    - ``random_walk``: F_t(h) = RV_t for every h (Andersen-Bollerslev's "last value" benchmark);
    - ``rolling_mean``: F_t(h) = mean(RV_{t-m+1..t}) with m = ``mean_window`` (22 days, about a
      month; the HAR monthly component on its own).

    The forecast for day t+1 therefore uses data up to day t only; no centring, no shift(-k).
    """
    horizons = tuple(horizons)
    rv = rv.astype(float)
    last = rv
    mean = rv.rolling(mean_window, min_periods=mean_window).mean()
    return {
        "random_walk": pd.DataFrame({h: last for h in horizons}, index=rv.index),
        "rolling_mean": pd.DataFrame({h: mean for h in horizons}, index=rv.index),
    }


def evaluation_table(
    forecasts: dict[str, pd.DataFrame],
    rv: pd.Series,
    benchmark: str = "random_walk",
) -> pd.DataFrame:
    """QLIKE, MSE and OOS R^2 (vs ``forecasts[benchmark]``) per model and horizon.

    Each (model, horizon) pair is scored on the rows where every model has a forecast and the
    target is observed, so the numbers in one horizon compare like with like.
    """
    horizons = sorted({h for f in forecasts.values() for h in f.columns})
    targets = realized_targets(rv, horizons)
    rows = []
    for h in horizons:
        frame = pd.concat({name: f[h] for name, f in forecasts.items()}, axis=1)
        frame["__rv"] = targets[h]
        frame = frame.dropna()
        for name in forecasts:
            rows.append(
                {
                    "model": name,
                    "horizon": h,
                    "n": len(frame),
                    "qlike": qlike(frame["__rv"], frame[name]),
                    "mse": mse(frame["__rv"], frame[name]),
                    "oos_r2": oos_r2(frame["__rv"], frame[name], frame[benchmark])
                    if benchmark in frame
                    else float("nan"),
                }
            )
    return pd.DataFrame(rows)
