"""Rolling out-of-sample HAR forecasts under a treatment (see `treatments`).

Timing (the convention of `losses`): the row for day t is made after the close of t from data up
to and including t, and forecasts the average daily RV over t+1..t+h. Parameters are re-estimated
every `refit_every` days on the trailing `window` days ending at the refit day (or on all days so
far when `window` is None); between refits the last parameters are kept and each day's forecast
starts from that day's own history. Re-estimating daily would cost ~20x more and HAR
coefficients move slowly (Corsi 2009 estimates them stable over years).

Speed: `HARFit.forecast` in log form simulates SIM_PATHS paths for h > 1 (~13 ms per origin, so a
1,500-day evaluation would spend ~20 s there). `_forecast_block` produces the same numbers for a
block of origins at once: the same seed and the same standard-normal draws as `HARFit.forecast`
(one draw of SIM_PATHS per step, shared by every origin, exactly as each origin would draw them),
and the partial averages are updated as running sums (add the new day, drop the one leaving the
window) instead of re-averaged from scratch. The two agree to floating-point rounding (relative
differences ~1e-13; the tests pin 1e-9), far inside the Monte Carlo error of ~0.5% at h = 22.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from quantsentinel.ml.vol.har import (
    BV_COLUMN,
    JUMP_UNIT,
    RV_COLUMN,
    SIM_PATHS,
    SIM_SEED,
    HARError,
    HARFit,
    HARSpec,
    fit_har,
)
from quantsentinel.ml.vol.losses import DEFAULT_HORIZONS
from quantsentinel.ml.vol.treatments import (
    DEFAULT_DOWNWEIGHT,
    DEFAULT_SPEC,
    har_inputs,
    treated_history,
)

DEFAULT_WINDOW = 750  # about three trading years, as for GARCH
DEFAULT_REFIT_EVERY = 20  # about a trading month
DEFAULT_MIN_TRAIN = 250  # first expanding-window fit: a trading year
BLOCK_ORIGINS = 8  # origins simulated together: 8 x SIM_PATHS arrays stay in cache (faster than 64)


def _forecast_block(
    fit: HARFit, rv_hist: np.ndarray, bv_hist: np.ndarray | None, hmax: int
) -> np.ndarray:
    """Per-step conditional means (B, hmax) for B origins with histories rv_hist (B, max_lag).

    Mirrors `HARFit.forecast` (see the module docstring): column k is E_t[RV_{t+k+1}].
    """
    spec = fit.spec
    lags = spec.lags
    n_org, m = rv_hist.shape
    log = spec.form == "log"
    n_paths = SIM_PATHS if log and hmax > 1 else 1
    if bv_hist is None:
        hist_parts = [rv_hist]
        share = None
    else:
        hist_parts = [np.minimum(rv_hist, bv_hist), np.maximum(rv_hist - bv_hist, 0.0)]
        share = (hist_parts[0].sum(axis=1) / rv_hist.sum(axis=1))[:, None]  # continuous share
    beta = fit.params[spec.columns()].to_numpy()
    const = float(fit.params["const"])
    sigma = np.sqrt(fit.sigma2)
    if log:
        draws = np.random.default_rng(SIM_SEED).standard_normal((hmax, n_paths))
        shocks = np.exp(sigma * draws)  # lognormal multipliers, shared by every origin
        half_var = np.exp(0.5 * fit.sigma2)
    # Running sums of the last k values of each part, per origin and path.
    sums = [
        [np.repeat(p[:, m - k :].sum(axis=1)[:, None], n_paths, axis=1) for k in lags]
        for p in hist_parts
    ]
    future = [np.empty((n_org, n_paths, hmax)) for _ in hist_parts]
    out = np.empty((n_org, hmax))
    for step in range(hmax):
        mu = np.full((n_org, n_paths), const)
        j = 0
        for part_no, part_sums in enumerate(sums):
            for k, s in zip(lags, part_sums, strict=True):
                x = s / k
                if log:
                    x = np.log(x) if part_no == 0 else np.log1p(x / JUMP_UNIT)
                mu += beta[j] * x
                j += 1
        if log:
            # exp(mu + a) = exp(mu) * exp(a): one exp of the (origins x paths) array per step.
            e_mu = np.exp(mu)
            out[:, step] = e_mu.mean(axis=1) * half_var
            nxt = e_mu * shocks[step][None, :]
        else:
            out[:, step] = mu[:, 0]
            nxt = mu
        if share is None:
            new_parts = [nxt]
        else:
            new_bv = share * nxt
            new_parts = [np.minimum(nxt, new_bv), np.maximum(nxt - new_bv, 0.0)]
        pos = m + step  # position of the new day in history + future
        for part_no, part_sums in enumerate(sums):
            future[part_no][:, :, step] = new_parts[part_no]
            for i, k in enumerate(lags):
                if k == 1:  # the window is just the new day: exact, no running-sum rounding
                    part_sums[i] = new_parts[part_no]
                    continue
                old = pos - k  # the day leaving the k-day window
                leaving = (
                    hist_parts[part_no][:, old][:, None]
                    if old < m
                    else future[part_no][:, :, old - m]
                )
                part_sums[i] = part_sums[i] + new_parts[part_no] - leaving
    return out


def forecast_origins(
    fit: HARFit, history: pd.DataFrame, positions: Iterable[int], horizons: Iterable[int]
) -> np.ndarray:
    """Forecasts (len(positions), len(horizons)) from each origin position of `history`.

    Equivalent to ``fit.forecast(history.iloc[: p + 1], horizons)`` for each p, batched.
    """
    hs = sorted({int(h) for h in horizons})
    if not hs or hs[0] < 1:
        raise ValueError(f"horizons must be positive ints, got {hs}")
    pos = np.asarray(list(positions), dtype=int)
    m = fit.spec.max_lag
    if pos.size == 0:
        return np.empty((0, len(hs)))
    if pos.min() < m - 1:
        raise HARError("too_short", f"an origin needs {m} days of history")
    rv = history[RV_COLUMN].to_numpy(dtype=float)
    take = pos[:, None] + np.arange(-m + 1, 1)[None, :]
    bv = history[BV_COLUMN].to_numpy(dtype=float)[take] if fit.spec.jumps == "cj" else None
    hmax = hs[-1]
    cum = np.empty((pos.size, hmax))
    # An explosive fit overflows exp(); that is detected below and raised as a HARError.
    with np.errstate(over="ignore", invalid="ignore"):
        for lo in range(0, pos.size, BLOCK_ORIGINS):
            sl = slice(lo, lo + BLOCK_ORIGINS)
            block_bv = None if bv is None else bv[sl]
            cum[sl] = np.cumsum(_forecast_block(fit, rv[take[sl]], block_bv, hmax), axis=1)
    out = cum[:, [h - 1 for h in hs]] / np.array(hs, dtype=float)
    if not np.all(np.isfinite(out)):
        raise HARError("nan_gaps", "forecast is not finite (explosive or overflowing fit)")
    return out


def _check_finite(frame: pd.DataFrame) -> None:
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        where = [str(d) for d in frame.index[bad][:10]]
        raise HARError("nan_gaps", f"measures have {int(bad.sum())} non-finite rows at {where}")


def rolling_har_forecasts(
    measures: pd.DataFrame,
    treatment: str,
    *,
    window: int | None = DEFAULT_WINDOW,
    refit_every: int = DEFAULT_REFIT_EVERY,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    underlying: str | None = None,
    downweight: float = DEFAULT_DOWNWEIGHT,
    spec: HARSpec = DEFAULT_SPEC,
    min_train: int = DEFAULT_MIN_TRAIN,
) -> pd.DataFrame:
    """Out-of-sample HAR forecasts, one row per day from the first full training window on.

    measures: realized measures indexed by trading date (see `treatments`). window: trailing
    fit length in days, None for an expanding window starting with `min_train` days. Returns a
    frame on measures.index with one column per horizon (NaN before the first origin);
    ``attrs`` records the treatment, the number of refits and the refit dates.

    A refit whose forecasts are not finite (an explosive fit: HAR-CJ on a window with few jumps
    can estimate jump terms that feed simulated RV back into itself) keeps the previous
    parameters for its block; ``attrs["failed_refits"]`` counts such refits.

    Raises HARError: too_short (fewer days than one window), nan_gaps (any non-finite RV/BV:
    dropping a day would shift every later partial average, or an explosive first fit), and
    whatever `fit_har` raises.
    """
    hs = sorted({int(h) for h in horizons})
    if refit_every < 1:
        raise ValueError(f"refit_every must be >= 1, got {refit_every}")
    first = window if window is not None else min_train
    if first < spec.max_lag + 1:
        raise ValueError(f"window/min_train must exceed the longest lag {spec.max_lag}")
    inputs = har_inputs(
        measures, treatment, underlying=underlying, downweight=downweight, spec=spec
    )
    history = treated_history(measures, treatment)
    _check_finite(history)
    n = len(history)
    if n < first:
        raise HARError("too_short", f"{n} days of measures; the first fit needs {first}")
    out = np.full((n, len(hs)), np.nan)
    refits, failed = [], []
    fit: HARFit | None = None
    for start in range(first - 1, n, refit_every):
        lo = 0 if window is None else start - window + 1
        sl = slice(lo, start + 1)
        new_fit = fit_har(
            inputs.rv.iloc[sl],
            inputs.spec,
            bv=None if inputs.bv is None else inputs.bv.iloc[sl],
            weights=None if inputs.weights is None else inputs.weights.iloc[sl],
        )
        block = range(start, min(start + refit_every, n))
        try:
            out[start : block.stop] = forecast_origins(new_fit, history, block, hs)
            fit = new_fit
            refits.append(history.index[start])
        except HARError as err:
            # The inputs are finite (checked above), so this is an explosive fit. Keep the
            # last usable parameters, as rolling GARCH keeps them after a failed refit.
            if fit is None or err.reason != "nan_gaps":
                raise
            failed.append(history.index[start])
            out[start : block.stop] = forecast_origins(fit, history, block, hs)
    frame = pd.DataFrame(out, index=measures.index, columns=hs)
    frame.attrs.update(
        treatment=treatment,
        n_refits=len(refits),
        refit_dates=refits,
        failed_refits=len(failed),
        failed_refit_dates=failed,
    )
    return frame
