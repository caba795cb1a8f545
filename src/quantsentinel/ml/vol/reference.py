"""Data for the volatility evaluation: public reference series and the simulator's measures.

- `arch_reference`: S&P 500 / NASDAQ daily bars shipped with `arch` (1999-2018). There are no
  intraday bars, so the daily variance proxy is the Garman & Klass (1980) range estimator

      GK_t = 0.5 * ln(H_t / L_t)^2 - (2 ln 2 - 1) * ln(C_t / O_t)^2,

  the minimum-variance combination of the squared high-low range and the squared open-to-close
  return among their analytic estimators (about 7x as efficient as the squared open-to-close
  return under a driftless diffusion). It is a *session* variance, like the project's RV (no
  overnight move); it is non-negative because |ln(C/O)| <= ln(H/L). Without intraday returns
  there is no bipower variation and no jump test, so bipower_variation = realized_variance and
  jump_detected = False: the HAR-CJ treatment then coincides with plain HAR and down-weighting
  has no jump days to act on (and there is no NSE expiry calendar for a US index). The jump
  treatments are not identifiable on this data; `evaluation` reports them as such.
  Caveat of the source: in the early years of `sp500` the Open often equals the previous Close
  (a known artefact of the index feed), which makes ln(C/O) a close-to-close return those days.
- `vix_reference` / `vix_reference_table`: the CBOE VIX as a 22-day variance forecast of the
  GK series, the "implied vol reference" row. VIX is a 30-calendar-day (~21-22 trading days)
  risk-neutral close-to-close volatility, so it sits above session realized variance by the
  variance risk premium plus the overnight share; the table also reports a level-matched version
  (scaled each day by the ratio of realized to implied variance over the past year of
  *completed* targets), which isolates its timing information from its level.
- `simulated_measures`: realized measures from the market simulator's 1-minute bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.ml.vol.har import BV_COLUMN, RV_COLUMN
from quantsentinel.ml.vol.losses import naive_forecasts, realized_targets
from quantsentinel.ml.vol.realized import realized_measures
from quantsentinel.ml.vol.treatments import EXPIRY_COLUMN, JUMP_COLUMN, expiry_week_flags

RETURN_COLUMN = "daily_return"
TRADING_DAYS_PER_YEAR = 252
GK_RANGE_WEIGHT = 0.5
GK_DRIFT_WEIGHT = 2.0 * np.log(2.0) - 1.0  # ~0.386
VIX_HORIZON = 22  # trading days in VIX's 30 calendar days, the closest HAR horizon
VIX_SCALE_WINDOW = 252  # completed targets in the level-matching ratio


def garman_klass(bars: pd.DataFrame) -> pd.Series:
    """Garman-Klass (1980) daily variance from columns Open, High, Low, Close (any case)."""
    cols = {c.lower(): c for c in bars.columns}
    missing = [c for c in ("open", "high", "low", "close") if c not in cols]
    if missing:
        raise ValueError(f"missing_input: OHLC columns {missing} not in {list(bars.columns)}")
    o, h, low, c = (bars[cols[k]].astype(float) for k in ("open", "high", "low", "close"))
    if not ((o > 0) & (h > 0) & (low > 0) & (c > 0)).all():
        raise ValueError("non_positive: prices must be positive for log ranges")
    gk = GK_RANGE_WEIGHT * np.log(h / low) ** 2 - GK_DRIFT_WEIGHT * np.log(c / o) ** 2
    return gk.rename(RV_COLUMN)


def arch_reference(name: Literal["sp500", "nasdaq"]) -> pd.DataFrame:
    """Daily measures from `arch.data.<name>`: GK `realized_variance`, close-to-close
    `daily_return` (log, NaN on the first day), BV = RV and no jumps (see module docstring)."""
    if name == "sp500":
        from arch.data import sp500 as dataset  # lazy: arch is heavy and optional at import
    elif name == "nasdaq":
        from arch.data import nasdaq as dataset
    else:
        raise ValueError(f"unknown reference {name!r}; expected 'sp500' or 'nasdaq'")
    raw = dataset.load().sort_index()
    rv = garman_klass(raw)
    out = pd.DataFrame({RV_COLUMN: rv, BV_COLUMN: rv})
    out[JUMP_COLUMN] = pd.array(np.zeros(len(out), dtype=bool), dtype="boolean")
    out[RETURN_COLUMN] = np.log(raw["Adj Close"].astype(float)).diff()
    out.index = pd.DatetimeIndex(raw.index, name="date")
    out.attrs["source"] = f"arch.data.{name}"
    return out


def vix_reference() -> pd.DataFrame:
    """CBOE VIX close (annualised percent) and its daily variance (VIX/100)^2 / 252."""
    from arch.data import vix

    raw = vix.load().sort_index()
    out = pd.DataFrame({"vix": raw["vix"].astype(float)})
    out["implied_variance"] = (out["vix"] / 100.0) ** 2 / TRADING_DAYS_PER_YEAR
    out.index = pd.DatetimeIndex(raw.index, name="date")
    return out


def level_matched(
    forecast: pd.Series, rv: pd.Series, horizon: int, window: int = VIX_SCALE_WINDOW
) -> pd.Series:
    """Scale `forecast` by sum(target)/sum(forecast) over the last `window` completed origins.

    On day t only origins s <= t - horizon have an observed target, hence the shift: the
    scaled forecast uses nothing after t.
    """
    target = realized_targets(rv, [horizon])[horizon]
    both = pd.concat({"f": forecast, "y": target}, axis=1).dropna()
    ratio = (
        both["y"].rolling(window, min_periods=window).sum()
        / both["f"].rolling(window, min_periods=window).sum()
    )
    # Rows of `both` are origins; the ratio at origin s is usable from s + horizon on.
    ratio = ratio.reindex(rv.index).shift(horizon).ffill()
    return forecast.reindex(rv.index) * ratio


def vix_reference_table(
    sp500: pd.DataFrame | None = None,
    *,
    horizon: int = VIX_HORIZON,
    extra: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Score VIX-implied variance as a `horizon`-day forecast of S&P 500 GK variance.

    Joins VIX and GK on dates (the VIX file covers 2014-2019). Rows: vix_implied (raw),
    vix_implied_scaled (see `level_matched`), the naive baselines, and any `extra` forecast
    frames (e.g. the evaluation's ensemble), all on their common sample.
    """
    from quantsentinel.ml.vol.evaluation import score_table  # evaluation imports this module

    measures = arch_reference("sp500") if sp500 is None else sp500
    rv = measures[RV_COLUMN].astype(float)
    vix = vix_reference()["implied_variance"].reindex(rv.index)
    forecasts: dict[str, pd.DataFrame] = {
        "vix_implied": vix.to_frame(horizon),
        "vix_implied_scaled": level_matched(vix, rv, horizon).to_frame(horizon),
    }
    forecasts.update({k: v[[horizon]] for k, v in naive_forecasts(rv, [horizon]).items()})
    forecasts.update({k: v[[horizon]] for k, v in (extra or {}).items()})
    # Keep the sample to the dates VIX covers (the naive ones exist everywhere).
    covered = vix.notna()
    forecasts = {k: v.reindex(rv.index).where(covered, axis=0) for k, v in forecasts.items()}
    return score_table(forecasts, rv)


def simulated_measures(
    simulator: Any,
    underlying: str,
    start: date,
    end: date,
    sampling_minutes: int = 5,
) -> pd.DataFrame:
    """Daily realized measures of `underlying` for the trading days in [start, end).

    All bars of the span go through `realized_measures` at once, so `overnight_return` links each
    day to the previous one. `daily_return` = overnight_return + session_return, the close-to-
    close log return (the session return ends at the last bar's close); it is NaN on the first
    day, which has no previous close in the span, and nothing is dropped for that: callers that
    need returns (GARCH) trim the leading NaN themselves. `expiry_week` comes from
    `treatments.expiry_week_flags`. Index: the trading date (naive Timestamp), named "date".
    """
    days = calendar.trading_days(start, end - timedelta(days=1))
    if not days:
        raise ValueError(f"too_short: no trading days in [{start}, {end})")
    bars = pd.concat([simulator.bars(d, underlying) for d in days], ignore_index=True)
    measures = realized_measures(bars, sampling_minutes=sampling_minutes).set_index("date")
    measures = measures.drop(columns=["underlying"]).sort_index()
    measures[RETURN_COLUMN] = measures["overnight_return"] + measures["session_return"]
    measures[EXPIRY_COLUMN] = expiry_week_flags(measures.index, underlying).to_numpy()
    return measures
