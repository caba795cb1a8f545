"""HAR-RV and HAR-CJ models of daily realized variance, fitted by OLS/WLS with HAC errors.

HAR-RV (Corsi 2009, "A Simple Approximate Long-Memory Model of Realized Volatility", J. Fin.
Econometrics 7(2)): with the partial averages over the previous k days

    RV_t^(k) = (1/k) * sum_{i=1..k} RV_{t-i}          (k = 1, 5, 22: day, week, month)

the RV form is   RV_t     = b0 + b_d RV_t^(1) + b_w RV_t^(5) + b_m RV_t^(22) + e_t
and the log form log RV_t = b0 + b_d log RV_t^(1) + b_w log RV_t^(5) + b_m log RV_t^(22) + e_t.

The log form takes logs of the partial averages (Corsi's definition), not averages of logs, so its
components stay the economically meaningful "average variance of the last week/month".

HAR-CJ (Andersen, Bollerslev & Diebold 2007, "Roughing It Up", REStat 89(4)) splits each day into
a continuous part C_t and a jump part J_t = max(RV_t - BV_t, 0), C_t = RV_t - J_t = min(RV_t, BV_t),
with BV the bipower variation, and regresses on the partial averages of both:

    RV_t = b0 + sum_k bC_k C_t^(k) + sum_k bJ_k J_t^(k) + e_t
    log RV_t = b0 + sum_k bC_k log C_t^(k) + sum_k bJ_k log(1 + J_t^(k)) + e_t   (ABD's log form)

with J in ABD's units, percent^2 (J / JUMP_UNIT). In decimal units (J ~ 1e-4) log(1 + J) ~ J is
linear, the fitted bJ run to 1e3-1e4, and the log-form path simulation, which feeds simulated RV
back into J, overflows; in percent^2 log(1 + J) compresses large jumps as ABD intend.

ABD count only *significant* jumps; pass ``bv = bipower.where(jump_detected, rv)`` to get that
(insignificant days then have J = 0 and C = RV). This is the "proper" treatment the seed's
expiry-week down-weighting patch lacked; `fit_har(weights=...)` keeps down-weighting available
so the two can be compared out of sample.

Every regressor at row t uses data up to t-1 only. Coefficients are OLS (WLS with `weights`);
standard errors are Newey-West HAC with `hac_lags` lags, because HAR residuals are serially
correlated (overlapping averages, and mis-specified long memory) and plain OLS errors are too tight.

Bad input raises `HARError` with a machine-readable `reason`; NaNs are refused with their dates
rather than dropped, since dropping a day silently shifts every later weekly/monthly average by one
day and the forecasts would then be quietly wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

MIN_REGRESSION_OBS = 30  # on top of the longest lag: fewer leaves HAC errors meaningless

RV_COLUMN = "realized_variance"  # column names as produced by `realized_measures`
BV_COLUMN = "bipower_variation"
SIM_PATHS = 4000  # log-form h > 1 Monte Carlo: ~0.5% relative noise at h = 22
JUMP_UNIT = 1e-4  # log-form jump regressors use J in percent^2 (ABD 2007); see docstring
SIM_SEED = 20090101  # fixed so a forecast is a deterministic function of its inputs


class HARError(ValueError):
    """Input the HAR model refuses; `reason` is one of too_short, constant_series, non_positive,
    nan_gaps, bad_weights, missing_input."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class HARSpec:
    """Model choice: component lags (day, week, month), RV or log form, HAC lags, jump split."""

    lags: tuple[int, int, int] = (1, 5, 22)
    form: Literal["rv", "log"] = "log"
    hac_lags: int = 5
    jumps: Literal["none", "cj"] = "none"

    def __post_init__(self) -> None:
        if len(self.lags) != 3 or not 1 <= self.lags[0] < self.lags[1] < self.lags[2]:
            raise ValueError(f"lags must be three increasing positive ints, got {self.lags}")
        if self.form not in ("rv", "log") or self.jumps not in ("none", "cj"):
            raise ValueError(f"unknown form/jumps: {self.form!r}/{self.jumps!r}")

    @property
    def max_lag(self) -> int:
        return self.lags[-1]

    def columns(self) -> list[str]:
        """Regressor names, e.g. rv_1, rv_5, rv_22 or c_1..c_22, j_1..j_22 (plus const in fits)."""
        prefixes = ("c", "j") if self.jumps == "cj" else ("rv",)
        return [f"{p}_{k}" for p in prefixes for k in self.lags]


def _validate(
    series: pd.Series, spec: HARSpec, name: str, *, min_len: int, check_constant: bool = True
) -> np.ndarray:
    """Raise HARError for NaNs, too few rows, constant or non-positive values; return floats."""
    values = series.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        dates = [str(d) for d in series.index[bad][:10]]
        raise HARError("nan_gaps", f"{name} has {int(bad.sum())} non-finite values at {dates}")
    if len(values) < min_len:
        raise HARError(
            "too_short",
            f"{name} has {len(values)} observations; need at least {min_len} "
            f"({spec.max_lag} for the longest lag + {MIN_REGRESSION_OBS} regression rows)",
        )
    # RV is a sum of squares: negative is corrupt in either form; zero only breaks the log.
    if (values < 0).any() or (spec.form == "log" and (values <= 0).any()):
        where = series.index[values <= 0 if spec.form == "log" else values < 0][:10]
        raise HARError("non_positive", f"{name} <= 0 at {[str(d) for d in where]}")
    if check_constant and np.ptp(values) == 0:
        raise HARError("constant_series", f"{name} is constant ({values[0]!r}); nothing to fit")
    return values


def _components(rv: np.ndarray, bv: np.ndarray | None, spec: HARSpec) -> np.ndarray:
    """Partial averages for rows t = max_lag..n, each using values t-k..t-1 only.

    Row i of the result is the regressor vector for time index max_lag + i (so it has
    n - max_lag + 1 rows: the last one is the forecast-time row for the day after the data).
    """
    if spec.jumps == "cj":
        assert bv is not None
        jump = np.maximum(rv - bv, 0.0)
        parts = [rv - jump, jump]
    else:
        parts = [rv]
    m = spec.max_lag
    cols = []
    for part in parts:
        # Cumulative sums give each trailing mean in O(n); csum[t] = sum of part[:t].
        csum = np.concatenate([[0.0], np.cumsum(part)])
        ends = np.arange(m, len(part) + 1)
        cols.extend((csum[ends] - csum[ends - k]) / k for k in spec.lags)
    x = np.column_stack(cols)
    if spec.form == "log":
        n_lag = len(spec.lags)
        x[:, :n_lag] = np.log(x[:, :n_lag])
        # ABD's log(1 + J), J in percent^2: J is often exactly 0, and log(1 + 0) = 0.
        x[:, n_lag:] = np.log1p(x[:, n_lag:] / JUMP_UNIT)
    return x


def _check_bv(rv: pd.Series, bv: pd.Series | None, spec: HARSpec) -> np.ndarray | None:
    if spec.jumps == "none":
        return None
    if bv is None:
        raise HARError("missing_input", "jumps='cj' needs the bipower variation series `bv`")
    if not bv.index.equals(rv.index):
        raise HARError("missing_input", "bv must have exactly the index of rv")
    values = bv.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise HARError("nan_gaps", f"bv non-finite at {[str(d) for d in bv.index[bad][:10]]}")
    if (values < 0).any() or (spec.form == "log" and (np.minimum(values, rv) <= 0).any()):
        raise HARError("non_positive", "bipower variation must be positive (log C needs C > 0)")
    return values


def har_design(
    rv: pd.Series, spec: HARSpec = HARSpec(), *, bv: pd.Series | None = None
) -> pd.DataFrame:
    """Regressors for each day t >= max_lag, built from data up to t-1 only (no constant).

    The index is rv.index[max_lag:], so row t pairs with the target rv[t] (or log rv[t]).
    """
    values = _validate(rv, spec, "rv", min_len=spec.max_lag + 1, check_constant=False)
    bvals = _check_bv(rv, bv, spec)
    x = _components(values, bvals, spec)[:-1]  # the last row is for the day after the data
    return pd.DataFrame(x, index=rv.index[spec.max_lag :], columns=spec.columns())


@dataclass(frozen=True)
class HARFit:
    """A fitted HAR model; `forecast` maps a history of realized measures to RV forecasts.

    sigma2 is the residual variance of a weight-1 observation (statsmodels' `scale`), used for the
    log-form bias correction: if log RV ~ N(mu, sigma2) then E[RV] = exp(mu + sigma2 / 2).
    """

    params: pd.Series
    bse: pd.Series
    tvalues: pd.Series
    rsquared: float
    nobs: int
    spec: HARSpec
    sigma2: float

    def _next_mean(self, rv: np.ndarray, bv: np.ndarray | None) -> np.ndarray:
        """Conditional mean mu of the target for the day after each path (rows of rv)."""
        spec = self.spec
        parts = [rv] if bv is None else [np.minimum(rv, bv), np.maximum(rv - bv, 0.0)]
        x = np.column_stack([p[:, -k:].mean(axis=1) for p in parts for k in spec.lags])
        if spec.form == "log":
            n_lag = len(spec.lags)
            x[:, :n_lag] = np.log(x[:, :n_lag])
            x[:, n_lag:] = np.log1p(x[:, n_lag:] / JUMP_UNIT)
        return self.params["const"] + x @ self.params[spec.columns()].to_numpy()

    def forecast(self, history: pd.DataFrame, horizons: Sequence[int] = (1, 5, 22)) -> pd.DataFrame:
        """Forecast the average daily RV over the next h days, for each h, in RV units.

        history: rows of realized measures ending at the forecast origin, with column
        `realized_variance` (and `bipower_variation` for HAR-CJ); at least max_lag rows.

        Iterated, not direct: one fit serves every horizon. In the RV form iterating the one-step
        means is exact (a linear model's h-step conditional mean is the recursion of one-step
        means; arch's analytic HARX forecast does the same). In the log form the one-step mean is
        exactly exp(mu + sigma2/2) under Gaussian log errors, but feeding that mean back into the
        log-of-averages regressors is biased for h > 1 (Jensen: measured +3% at h=5, +9% at h=22
        on a persistent simulated process), so for h > 1 the log form simulates SIM_PATHS paths
        with N(0, sigma2) errors (fixed seed: deterministic) and averages exp(mu_k + sigma2/2)
        over paths at each step k (the conditional mean of each draw, lower Monte Carlo noise).
        For HAR-CJ the future days' C/J split is unknown; future days are split with the jump
        share of the last max_lag days (jumps as a steady rate, not forecast individually).
        """
        spec = self.spec
        if RV_COLUMN not in history:
            raise HARError("missing_input", f"history needs a {RV_COLUMN!r} column")
        hs = sorted({int(h) for h in horizons})
        if not hs or hs[0] < 1:
            raise ValueError(f"horizons must be positive ints, got {list(horizons)}")
        rv_hist = history[RV_COLUMN]
        rv = _validate(rv_hist, spec, "history rv", min_len=spec.max_lag, check_constant=False)
        rv = rv[-spec.max_lag :].copy()
        bv = None
        if spec.jumps == "cj":
            if BV_COLUMN not in history:
                raise HARError("missing_input", f"HAR-CJ history needs a {BV_COLUMN!r} column")
            full_bv = _check_bv(rv_hist, history[BV_COLUMN], spec)
            assert full_bv is not None  # jumps == "cj" always returns an array
            bv = full_bv[-spec.max_lag :].copy()
            cont_share = float(np.minimum(rv, bv).sum() / rv.sum())
        n_paths = SIM_PATHS if spec.form == "log" and hs[-1] > 1 else 1
        rng = np.random.default_rng(SIM_SEED)
        rv_paths = np.tile(rv, (n_paths, 1))
        bv_paths = None if bv is None else np.tile(bv, (n_paths, 1))
        path: list[float] = []
        for _ in range(hs[-1]):
            mu = self._next_mean(rv_paths, bv_paths)
            if spec.form == "log":
                path.append(float(np.mean(np.exp(mu + 0.5 * self.sigma2))))
                nxt = np.exp(mu + np.sqrt(self.sigma2) * rng.standard_normal(n_paths))
            else:
                path.append(float(mu[0]))
                nxt = mu
            rv_paths = np.column_stack([rv_paths[:, 1:], nxt])
            if bv_paths is not None:
                bv_paths = np.column_stack([bv_paths[:, 1:], cont_share * nxt])
        # Guard the contract: never hand a NaN forecast downstream.
        if not np.all(np.isfinite(path)):
            raise HARError("nan_gaps", "forecast is not finite (explosive or overflowing fit)")
        return pd.DataFrame(
            {
                "origin": rv_hist.index[-1],
                "horizon": hs,
                "rv_forecast": [float(np.mean(path[:h])) for h in hs],
            }
        ).set_index("horizon")


def fit_har(
    rv: pd.Series,
    spec: HARSpec = HARSpec(),
    *,
    bv: pd.Series | None = None,
    weights: pd.Series | None = None,
) -> HARFit:
    """Fit HAR-RV / HAR-CJ by OLS (WLS if `weights`) with Newey-West HAC(`spec.hac_lags`) errors.

    weights: per-day WLS weights on rv's index (1 for ordinary days, < 1 to down-weight flagged
    expiry-week or jump days); only rows that are regression targets use them.
    """
    values = _validate(rv, spec, "rv", min_len=spec.max_lag + MIN_REGRESSION_OBS)
    x = har_design(rv, spec, bv=bv)
    target = values[spec.max_lag :]
    y = np.log(target) if spec.form == "log" else target
    import statsmodels.api as sm  # ~0.5 s to import: paid by fitting, not by importers

    exog = sm.add_constant(x, has_constant="add")
    cov = {"cov_type": "HAC", "cov_kwds": {"maxlags": spec.hac_lags}}
    if weights is None:
        res = sm.OLS(y, exog).fit(**cov)
    else:
        if not weights.index.equals(rv.index):
            raise HARError("bad_weights", "weights must have exactly the index of rv")
        w = weights.to_numpy(dtype=float)[spec.max_lag :]
        if not np.all(np.isfinite(w)) or (w < 0).any() or not (w > 0).any():
            raise HARError("bad_weights", "weights must be finite, >= 0 and not all zero")
        res = sm.WLS(y, exog, weights=w).fit(**cov)
    names = ["const", *spec.columns()]
    return HARFit(
        params=pd.Series(np.asarray(res.params), index=names, name="params"),
        bse=pd.Series(np.asarray(res.bse), index=names, name="bse"),
        tvalues=pd.Series(np.asarray(res.tvalues), index=names, name="tvalues"),
        rsquared=float(res.rsquared),
        nobs=int(res.nobs),
        spec=spec,
        sigma2=float(res.scale),
    )
