"""GARCH-family variance forecasts on daily returns, via the ``arch`` package.

Models (returns r_t = mu + e_t, e_t = sigma_t z_t, z_t iid with unit variance; Student-t by
default because daily returns are fat-tailed even conditionally):

- GARCH(1,1) (Bollerslev 1986):   sigma2_t = omega + alpha e_{t-1}^2 + beta sigma2_{t-1};
- GJR-GARCH(1,1) (Glosten, Jagannathan & Runkle 1993):
      sigma2_t = omega + (alpha + gamma 1[e_{t-1} < 0]) e_{t-1}^2 + beta sigma2_{t-1},
  gamma > 0 being the leverage effect (bad news raises variance more than good news);
- EGARCH(1,1,1) (Nelson 1991):
      ln sigma2_t = omega + alpha (|z_{t-1}| - E|z|) + gamma z_{t-1} + beta ln sigma2_{t-1}.

Horizons: the quantity forecast is the *average daily variance* over the next h days,
(1/h) sum_{j=1..h} E_t[sigma2_{t+j}], the same target HAR and the naive baselines forecast (see
``losses`` for the timing convention: forecast made after the close of t for days t+1..t+h).
For GARCH and GJR the multi-step expectations are analytic (E_t sigma2_{t+j} follows a linear
recursion; for GJR, E[1[z<0] z^2] = 1/2 for a symmetric z). EGARCH has no closed form beyond
one step (E[exp(.)] of a log-variance recursion), so ``arch`` simulates paths from the fitted
innovation distribution; we use ``simulations`` paths with a seeded generator so forecasts are
reproducible.

Scaling: returns are multiplied by 100 before fitting (percent returns). ``arch``'s optimiser is
tuned for variances of order 1; with decimal returns omega is ~1e-6 and the fit is unreliable
(``arch`` warns about exactly this). Forecasts are divided by 100^2 on the way out, so they are
in squared decimal log returns, the units of the realized-variance series.

Note: close-to-close GARCH variance includes the overnight return, while the project's RV is a
session measure; the units match, the levels need not. The ensemble's loss-based weights absorb
a stable level gap, and HAR is fitted on RV directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantsentinel.ml.vol.losses import DEFAULT_HORIZONS, qlike, realized_targets

GarchKind = Literal["garch", "gjr", "egarch"]
GarchReason = Literal["too_short", "constant_series", "nan_gaps", "did_not_converge"]

SCALE = 100.0  # decimal -> percent returns
MIN_OBS = 250  # about a trading year: fewer leaves alpha/beta poorly identified
# Spec per kind: (vol name in arch, p, o, q). o=1 adds the asymmetric (leverage) term.
_SPECS: dict[str, tuple[str, int, int, int]] = {
    "garch": ("GARCH", 1, 0, 1),
    "gjr": ("GARCH", 1, 1, 1),
    "egarch": ("EGARCH", 1, 1, 1),
}


class GarchError(ValueError):
    """A GARCH fit refused or failed, with a machine-readable ``reason``."""

    def __init__(self, reason: GarchReason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: GarchReason = reason


def _validate(returns: pd.Series, min_obs: int) -> pd.Series:
    """Reject inputs that would produce a meaningless fit, each with a named reason."""
    r = pd.Series(returns, dtype=float)
    if r.isna().any() or not np.isfinite(r.to_numpy()).all():
        # Dropping NaNs would splice non-adjacent days together and fake a return; refuse instead.
        raise GarchError("nan_gaps", f"{int((~np.isfinite(r.to_numpy())).sum())} missing values")
    if len(r) < min_obs:
        raise GarchError("too_short", f"{len(r)} observations, need at least {min_obs}")
    if float(r.std()) <= 1e-12:
        raise GarchError("constant_series", "returns have zero variance")
    return r


def _model(returns_pct: pd.Series, kind: str, dist: str) -> Any:
    from arch import arch_model  # lazy: keeps `import quantsentinel` light

    vol, p, o, q = _SPECS[kind]
    # rescale=False: we already scaled, and arch must not rescale silently under us.
    return arch_model(
        returns_pct, mean="Constant", vol=vol, p=p, o=o, q=q, dist=dist, rescale=False
    )


def _average_variance(
    result: Any, horizons: tuple[int, ...], kind: str, simulations: int, seed: int
) -> np.ndarray:
    """Average daily variance over 1..h for each h, from the last origin, in decimal^2."""
    hmax = max(horizons)
    if kind == "egarch" and hmax > 1:
        # Draw innovations from the fitted distribution (Student-t with the fitted nu, ...)
        # through a freshly seeded copy, so a forecast is reproducible and independent of how
        # many forecasts were made before it.
        dist = result.model.distribution
        n_dist = len(dist.parameter_names())
        dist_params = result.params.to_numpy()[len(result.params) - n_dist :]
        draw = type(dist)(seed=seed).simulate(dist_params)
        fc = result.forecast(
            horizon=hmax, method="simulation", simulations=simulations, reindex=False, rng=draw
        )
    else:
        fc = result.forecast(horizon=hmax, method="analytic", reindex=False)
    path = fc.variance.to_numpy()[-1] / SCALE**2
    cum = np.cumsum(path)
    return np.array([cum[h - 1] / h for h in horizons])


@dataclass(frozen=True)
class GarchFit:
    """A fitted GARCH-family model.

    ``params`` are arch's estimates on percent returns (omega in percent^2; alpha, gamma, beta
    and nu are scale-free). ``omega_decimal`` converts omega to squared decimal returns.
    """

    kind: str
    dist: str
    params: pd.Series
    std_err: pd.Series
    loglikelihood: float
    nobs: int
    last_date: Any
    result: Any = field(repr=False)
    simulations: int = 1000
    seed: int = 0

    @property
    def omega_decimal(self) -> float:
        """omega in squared decimal returns (percent^2 / 100^2)."""
        return float(self.params["omega"]) / SCALE**2

    def forecast(self, horizons: Iterable[int] = DEFAULT_HORIZONS) -> pd.Series:
        """Average daily variance over the next h days, indexed by h, in decimal^2."""
        horizons = tuple(int(h) for h in horizons)
        values = _average_variance(self.result, horizons, self.kind, self.simulations, self.seed)
        return pd.Series(values, index=pd.Index(horizons, name="horizon"), name=self.last_date)


def fit_garch(
    returns: pd.Series,
    kind: GarchKind = "garch",
    dist: str = "t",
    *,
    min_obs: int = MIN_OBS,
    max_iter: int = 500,
    simulations: int = 1000,
    seed: int = 0,
) -> GarchFit:
    """Fit a GARCH-family model by maximum likelihood on daily decimal log returns.

    Raises ``GarchError`` with reason ``nan_gaps``, ``too_short``, ``constant_series`` or
    ``did_not_converge`` (the optimiser's flag is non-zero; such estimates are not published).
    """
    if kind not in _SPECS:
        raise ValueError(f"unknown GARCH kind {kind!r}; expected one of {sorted(_SPECS)}")
    r = _validate(returns, min_obs)
    model = _model(r * SCALE, kind, dist)
    with warnings.catch_warnings():
        # Convergence is checked through the flag below and reported as a GarchError; arch
        # edits the global warning filters in fit(), which catch_warnings() restores.
        warnings.simplefilter("ignore")
        result = model.fit(disp="off", show_warning=False, options={"maxiter": max_iter})
    if result.convergence_flag != 0:
        raise GarchError("did_not_converge", f"optimizer flag {result.convergence_flag}")
    return GarchFit(
        kind=kind,
        dist=dist,
        params=result.params,
        std_err=result.std_err,
        loglikelihood=float(result.loglikelihood),
        nobs=int(result.nobs),
        last_date=r.index[-1],
        result=result,
        simulations=simulations,
        seed=seed,
    )


def rolling_garch_forecasts(
    returns: pd.Series,
    kind: GarchKind = "garch",
    window: int = 750,
    refit_every: int = 20,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    dist: str = "t",
    *,
    simulations: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """One forecast row per day t >= window-1, using returns up to and including t only.

    Parameters are re-estimated every ``refit_every`` days on the trailing ``window`` returns
    (re-estimating daily costs ~50x more and moves forecasts little). Between refits the last
    parameters are held fixed but the conditional variance is filtered through each new day,
    on a model built from the trailing window ending at t, so nothing after t is ever given to
    arch (its variance bounds and backcast are computed from the data it is handed).

    A refit that fails to converge keeps the previous parameters (counted in
    ``result.attrs["failed_refits"]``); if the first fit fails, the GarchError propagates.
    """
    horizons = tuple(int(h) for h in horizons)
    r = _validate(returns, max(window, 2))
    out = np.full((len(r), len(horizons)), np.nan)
    params: pd.Series | None = None
    failed = 0
    for i in range(window - 1, len(r)):
        chunk = r.iloc[i - window + 1 : i + 1]
        if params is None or (i - (window - 1)) % refit_every == 0:
            try:
                params = fit_garch(chunk, kind, dist, min_obs=min(window, MIN_OBS)).params
            except GarchError:
                if params is None:
                    raise
                failed += 1
        fixed = _model(chunk * SCALE, kind, dist).fix(params)
        out[i] = _average_variance(fixed, horizons, kind, simulations, seed + i)
    frame = pd.DataFrame(out, index=r.index, columns=list(horizons))
    frame.attrs["failed_refits"] = failed
    return frame


def select_garch_kind(
    returns: pd.Series,
    candidates: Iterable[GarchKind] = ("garch", "gjr"),
    realized: pd.Series | None = None,
    window: int = 750,
    refit_every: int = 20,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    select_on: int = 1,
    dist: str = "t",
) -> tuple[str, pd.DataFrame]:
    """Choose the GARCH kind with the lowest out-of-sample QLIKE at horizon ``select_on``.

    ``realized`` is the variance proxy scored against (the project's RV); without it, squared
    demeaned returns are used. That proxy is very noisy, but QLIKE ranks forecasts correctly
    with any conditionally unbiased proxy (Patton 2011), which is why selection uses QLIKE.
    Every candidate is scored on the same dates. Returns (best kind, table kind x horizon).
    """
    horizons = tuple(int(h) for h in horizons)
    if select_on not in horizons:
        raise ValueError(f"select_on={select_on} is not among horizons {horizons}")
    r = _validate(returns, window + max(horizons) + 1)
    proxy = realized if realized is not None else (r - r.mean()) ** 2
    targets = realized_targets(proxy, horizons)
    forecasts = {
        k: rolling_garch_forecasts(r, k, window, refit_every, horizons, dist) for k in candidates
    }
    table = pd.DataFrame(index=list(forecasts), columns=list(horizons), dtype=float)
    for h in horizons:
        frame = pd.concat({k: f[h] for k, f in forecasts.items()}, axis=1)
        frame["__target"] = targets[h]
        frame = frame.dropna()
        for k in forecasts:
            table.loc[k, h] = qlike(frame["__target"], frame[k])
    best = str(table[select_on].idxmin())
    return best, table


def filtered_forecasts(
    returns: pd.Series,
    kind: GarchKind,
    params: pd.Series,
    *,
    dist: str = "t",
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    last: int | None = None,
) -> pd.DataFrame:
    """Forecasts from fixed (already estimated) parameters at every origin of ``returns``.

    This is how a registered GARCH serves: its parameters are frozen at training time and the
    conditional variance is filtered through the returns seen since, one analytic forecast per
    origin (row t uses returns up to and including t). ``last`` keeps only the last ``last``
    origins (the filter still runs over the whole series, so the early ones only warm it up).
    EGARCH is refused here: its multi-step forecast needs simulation per origin, too slow to
    serve on every partition, and ``select_garch_kind`` only chooses among analytic kinds.
    """
    if kind not in ("garch", "gjr"):
        raise ValueError(f"filtered_forecasts serves analytic kinds garch/gjr, not {kind!r}")
    horizons = tuple(int(h) for h in horizons)
    r = _validate(returns, 2)
    fixed = _model(r * SCALE, kind, dist).fix(params)
    start = 0 if last is None else max(0, len(r) - last)
    fc = fixed.forecast(horizon=max(horizons), start=start, method="analytic", reindex=False)
    cum = np.cumsum(fc.variance.to_numpy() / SCALE**2, axis=1)
    values = np.column_stack([cum[:, h - 1] / h for h in horizons])
    return pd.DataFrame(values, index=r.index[start:], columns=list(horizons))
