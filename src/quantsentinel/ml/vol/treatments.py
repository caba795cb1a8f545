"""How HAR treats expiry-week and jump days: the three candidate treatments compared out of sample.

The seed's HAR "degrades sharply around expiry events" and was patched by down-weighting
flagged days in the rolling fit; the proper fix it names is a jump decomposition. Both are kept
here so that `evaluation` can compare them on out-of-sample QLIKE rather than by argument:

- ``"none"``: plain HAR (Corsi 2009), every day weight 1;
- ``"downweight"``: the seed's patch, done as WLS: weight ``downweight`` on expiry-week days and
  on days with a significant jump, 1 otherwise;
- ``"cj"``: HAR-CJ (Andersen, Bollerslev & Diebold 2007): regress on separate continuous and
  jump components. Only *significant* jumps count, as in ABD 2007: on a day whose jump test does
  not reject, J = 0 and C = RV, which is obtained by passing
  ``bv = bipower_variation.where(jump_detected, realized_variance)`` to `har.fit_har` (RV - BV is
  negative about half the time without jumps and small otherwise; counting it as a jump would
  fill the J component with sampling noise).

Why DEFAULT_DOWNWEIGHT = 0.5: a WLS weight w is the statement "this day's error variance is
1/w times an ordinary day's" (Aitken GLS: weights are inverse error variances). Expiry-week and
jump days are noisier, not uninformative, and a weight of 0.5 states a doubling of the residual
variance, the order of the excess seen on flagged days; a weight near 0 would instead discard
roughly a quarter of the sample (every monthly expiry week) together with the information on
how volatility responds to those days. The value is a parameter, and the out-of-sample
comparison is what decides whether the treatment helps at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from quantsentinel.market import calendar, contracts
from quantsentinel.ml.vol.har import BV_COLUMN, RV_COLUMN, HARError, HARFit, HARSpec, fit_har

Treatment = Literal["none", "downweight", "cj"]
TREATMENTS: tuple[str, ...] = ("none", "downweight", "cj")
DEFAULT_DOWNWEIGHT = 0.5  # WLS weight = inverse of an assumed 2x error variance; see docstring
DEFAULT_SPEC = HARSpec()  # log form, (1, 5, 22) lags: har.py defaults
JUMP_COLUMN = "jump_detected"
EXPIRY_COLUMN = "expiry_week"
EXPIRY_WINDOW_DAYS = 5  # trading days ending at (and including) the expiry
# Which expiries make an "expiry week". Monthly only by default: NIFTY has a weekly expiry every
# week, so the 5 trading days ending at each weekly expiry tile the whole calendar and every day
# would be flagged, leaving nothing to down-weight. Quarterlies coincide with a monthly expiry.
DEFAULT_EXPIRY_CYCLES: tuple[str, ...] = ("monthly", "quarterly")


@dataclass(frozen=True)
class HARInputs:
    """Arguments for `har.fit_har` under one treatment: fit_har(rv, spec, bv=bv, weights=...)."""

    rv: pd.Series
    bv: pd.Series | None
    weights: pd.Series | None
    spec: HARSpec


def _as_day(d: object) -> date:
    return pd.Timestamp(d).date()  # type: ignore[arg-type]


def _expiries_covering(
    underlying: str, start: date, end: date, cycles: tuple[str, ...]
) -> list[date]:
    """Every expiry of `cycles` from the first one on/after `start` to the first on/after `end`.

    The nearest qualifying listed expiry of each trading day in [start, end] is collected; every
    expiry is the nearest one on its own day, so none in the span is missed.
    """
    found: set[date] = set()
    for d in calendar.trading_days(start, end):
        for e in contracts.expiries(underlying, d):
            if contracts.expiry_kind(underlying, e) in cycles:
                found.add(e)
                break
    return sorted(found)


def expiry_week_flags(
    dates: pd.Index,
    underlying: str,
    *,
    days: int = EXPIRY_WINDOW_DAYS,
    cycles: tuple[str, ...] = DEFAULT_EXPIRY_CYCLES,
) -> pd.Series:
    """True for each date within the `days` NSE trading days ending at (and including) an expiry.

    Expiries are those `contracts.expiries` lists for `underlying`, restricted to `cycles`
    (default: monthly and quarterly; pass ``("weekly", "monthly", "quarterly")`` to count
    weeklies too, which for NIFTY flags every trading day - see DEFAULT_EXPIRY_CYCLES). Trading
    days are counted on the exchange calendar, not on `dates`, so gaps in the data do not stretch
    the window. An unknown underlying, or dates before the contract tables, raise ValueError
    naming it (from `contracts`).
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    name = "expiry_week"
    if len(dates) == 0:
        return pd.Series(np.zeros(0, dtype=bool), index=dates, name=name)
    contracts.expiries(underlying, _as_day(dates[0]))  # ValueError naming an unknown underlying
    as_days = [_as_day(d) for d in dates]
    start, end = min(as_days), max(as_days)
    exp = _expiries_covering(underlying, start, end, cycles)
    if not exp:
        return pd.Series(np.zeros(len(dates), dtype=bool), index=dates, name=name)
    # Position of each trading day on the calendar; a date's window test is then arithmetic.
    cal = np.array(calendar.trading_days(start, max(exp[-1], end)), dtype="datetime64[D]")
    exp_pos = np.searchsorted(cal, np.array(exp, dtype="datetime64[D]"))
    d64 = np.array(as_days, dtype="datetime64[D]")
    pos = np.searchsorted(cal, d64)  # a non-trading date sits where the next trading day is
    trading = (pos < len(cal)) & (cal[np.minimum(pos, len(cal) - 1)] == d64)
    nxt = np.searchsorted(exp_pos, pos)  # first expiry at or after the date's position
    ok = nxt < len(exp_pos)
    dist = np.where(ok, exp_pos[np.minimum(nxt, len(exp_pos) - 1)] - pos, days)
    flags = trading & ok & (dist <= days - 1)
    return pd.Series(flags, index=dates, name=name)


def jump_day_flags(measures: pd.DataFrame) -> pd.Series:
    """True on days whose jump test rejected (`jump_detected`); NA (undefined measures) -> False."""
    if JUMP_COLUMN not in measures:
        raise HARError("missing_input", f"measures need a {JUMP_COLUMN!r} column")
    flags = measures[JUMP_COLUMN].astype("boolean").fillna(False).astype(bool)
    return flags.rename("jump_day")


def _check_measures(measures: pd.DataFrame, treatment: str) -> None:
    if treatment not in TREATMENTS:
        raise ValueError(f"unknown treatment {treatment!r}; expected one of {TREATMENTS}")
    missing = [c for c in (RV_COLUMN, BV_COLUMN, JUMP_COLUMN) if c not in measures]
    if missing:
        raise HARError("missing_input", f"measures lack columns {missing}")
    if not (measures.index.is_unique and measures.index.is_monotonic_increasing):
        raise HARError("missing_input", "measures must be indexed by unique ascending dates")


def _cj_bv(measures: pd.DataFrame) -> pd.Series:
    """BV on significant-jump days, RV elsewhere (so J = 0, C = RV on non-jump days)."""
    rv = measures[RV_COLUMN].astype(float)
    bv = measures[BV_COLUMN].astype(float)
    return bv.where(jump_day_flags(measures), rv).rename(BV_COLUMN)


def expiry_flags_for(measures: pd.DataFrame, underlying: str | None) -> pd.Series:
    """The `expiry_week` column if present (NA -> False), else computed from `underlying`."""
    if EXPIRY_COLUMN in measures:
        return measures[EXPIRY_COLUMN].astype("boolean").fillna(False).astype(bool)
    if underlying is None:
        raise HARError(
            "missing_input",
            "treatment 'downweight' needs an 'expiry_week' column or an underlying",
        )
    return expiry_week_flags(measures.index, underlying)


def har_inputs(
    measures: pd.DataFrame,
    treatment: str,
    *,
    underlying: str | None = None,
    downweight: float = DEFAULT_DOWNWEIGHT,
    spec: HARSpec = DEFAULT_SPEC,
) -> HARInputs:
    """Series, weights and spec for `fit_har` under `treatment` (see the module docstring).

    `spec` supplies the form, lags and HAC lags; its `jumps` field is set by the treatment
    ("cj" for HAR-CJ, "none" otherwise). Raises ValueError for an unknown treatment and
    HARError("bad_weights") for a downweight outside (0, 1].
    """
    _check_measures(measures, treatment)
    rv = measures[RV_COLUMN].astype(float)
    if treatment == "cj":
        return HARInputs(rv=rv, bv=_cj_bv(measures), weights=None, spec=replace(spec, jumps="cj"))
    plain = replace(spec, jumps="none")
    if treatment == "none":
        return HARInputs(rv=rv, bv=None, weights=None, spec=plain)
    if not (np.isfinite(downweight) and 0.0 < downweight <= 1.0):
        raise HARError("bad_weights", f"downweight must be in (0, 1], got {downweight}")
    flagged = (
        expiry_flags_for(measures, underlying).to_numpy() | jump_day_flags(measures).to_numpy()
    )
    weights = pd.Series(np.where(flagged, downweight, 1.0), index=measures.index, name="weight")
    return HARInputs(rv=rv, bv=None, weights=weights, spec=plain)


def fit_treated(
    measures: pd.DataFrame,
    treatment: str,
    *,
    underlying: str | None = None,
    downweight: float = DEFAULT_DOWNWEIGHT,
    spec: HARSpec = DEFAULT_SPEC,
) -> HARFit:
    """Fit HAR on `measures` under `treatment`; forecast with `treated_history(...)`."""
    inputs = har_inputs(
        measures, treatment, underlying=underlying, downweight=downweight, spec=spec
    )
    return fit_har(inputs.rv, inputs.spec, bv=inputs.bv, weights=inputs.weights)


def treated_history(measures: pd.DataFrame, treatment: str) -> pd.DataFrame:
    """The history frame `HARFit.forecast` wants under `treatment`.

    `realized_variance` always; for "cj" also `bipower_variation` replaced by RV on days without
    a significant jump, exactly as in the fit (a forecast built on raw BV would see jumps the
    model was never fitted on).
    """
    _check_measures(measures, treatment)
    history = measures[[RV_COLUMN]].astype(float)
    if treatment == "cj":
        history[BV_COLUMN] = _cj_bv(measures)
    return history
