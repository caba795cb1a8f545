"""Daily realized measures (RV, bipower variation, jumps) from 1-minute bars.

The project computes its realized-variance series itself, from raw bars, end to end: a feed's
"realized vol" can change definition silently, and a forecaster fitted across such a change is
wrong in ways no model diagnostic reveals. Everything here is a pure function of BAR_COLUMNS.

Sampling (per underlying and per trading day in Asia/Kolkata, regular session 09:15-15:30):

- prices are observed at bar ends: the close of the bar starting at minute m is the price at m+1;
  the open of the day's first bar is the price at that bar's start (the session's opening print);
- the session is cut into a calendar-time grid of `sampling_minutes`, anchored at 09:15; the
  sampled price of a grid cell is the last observation inside it (previous-tick sampling);
- cells with no observation (missing minutes, a halted feed) are skipped rather than filled, so the
  next return spans the gap. Filling would insert zero returns, which leave RV unbiased but drag
  bipower variation towards zero (every product |r_i||r_{i-1}| touching a zero vanishes) and fake
  jump evidence. Returns spanning a gap are longer than the others; the estimators stay consistent
  because they only need the returns to tile the session, which they still do;
- intraday returns r_i = ln(P_i / P_{i-1}), i = 1..n. Their sum is the open-to-close log return.

The overnight return ln(P_open,t / P_close,t-1) is reported but excluded from RV: it is one
17-hour return containing all news since the previous close, sampled once, so adding its square
would make RV a noisy mix of a session integrated variance and a single squared daily-scale shock,
and it is by construction a discontinuity that would look like a jump every day (ABD 2007 treat
it as a separate component for the same reason). `realized_vol_annualised` is therefore the
volatility of the trading session, lower than close-to-close volatility.

Estimators (Barndorff-Nielsen & Shephard 2004; Andersen, Bollerslev & Diebold 2007), all in
daily units of squared log return (variance per day, not annualised unless stated):

- RV  = sum_i r_i^2, consistent for integrated variance plus the sum of squared jumps;
- BV  = mu1^-2 * n/(n-1) * sum_{i=2..n} |r_i||r_{i-1}|, mu1 = E|Z| = sqrt(2/pi): consistent for
  integrated variance alone. The n/(n-1) factor corrects for there being only n-1 adjacent
  products, so BV is unbiased for the daily variance under constant volatility in finite samples;
- JV  = max(RV - BV, 0) (truncated because RV - BV is negative about half the time without jumps);
- RQ  = n/3 * sum_i r_i^4 (realized quarticity, consistent for integrated quarticity);
- TQ  = n * mu_{4/3}^-3 * n/(n-2) * sum_{i=3..n} prod_{j=0..2} |r_{i-j}|^{4/3}, with
  mu_{4/3} = 2^{2/3} Gamma(7/6)/Gamma(1/2): tripower quarticity, jump-robust (Huang & Tauchen 2005);
- jump test: the Huang-Tauchen (2005) ratio statistic with the max adjustment, as used by ABD 2007,
      z = ((RV - BV)/RV) / sqrt((pi^2/4 + pi - 5) * (1/n) * max(1, TQ/BV^2)),
  asymptotically N(0, 1) without jumps; one-sided, a jump is flagged when z > Phi^-1(1 - alpha).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import gamma as gamma_fn
from scipy.special import ndtr, ndtri

from quantsentinel.market.schema import MARKET_TZ

TRADING_DAYS_PER_YEAR = 252
SESSION_OPEN_MINUTE = 9 * 60 + 15  # 09:15 IST, minutes after midnight
SESSION_CLOSE_MINUTE = 15 * 60 + 30  # 15:30 IST

MU1 = math.sqrt(2.0 / math.pi)
MU43 = 2.0 ** (2.0 / 3.0) * gamma_fn(7.0 / 6.0) / gamma_fn(0.5)
# Asymptotic variance constant of the ratio statistic (Huang & Tauchen 2005, eq. for RJ).
THETA_RJ = math.pi**2 / 4.0 + math.pi - 5.0

OUTPUT_COLUMNS = (
    "underlying",
    "date",
    "sampling_minutes",
    "n_returns",
    "realized_variance",
    "bipower_variation",
    "jump_variation",
    "jump_share",
    "realized_vol_annualised",
    "realized_quarticity",
    "tripower_quarticity",
    "jump_z",
    "jump_p_value",
    "jump_detected",
    "session_return",
    "overnight_return",
    "reason",
)

_KEYS = ["underlying", "date"]


def _empty_output() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in OUTPUT_COLUMNS})
    out["underlying"] = out["underlying"].astype("string")
    out["date"] = out["date"].astype("datetime64[ns]")
    out["sampling_minutes"] = out["sampling_minutes"].astype("int64")
    out["n_returns"] = out["n_returns"].astype("int64")
    out["jump_detected"] = out["jump_detected"].astype("boolean")
    out["reason"] = out["reason"].astype("object")
    return out


def _session_observations(
    bars: pd.DataFrame, sampling_minutes: int, session_open: int, session_close: int
) -> pd.DataFrame:
    """Price observations (underlying, date, cell, t, price) on the sampling grid.

    `t` is minutes after the session open; `cell` is the grid cell the observation falls in.
    """
    local = pd.to_datetime(bars["ts"], utc=True).dt.tz_convert(MARKET_TZ)
    date = local.dt.normalize().dt.tz_localize(None)
    minute = (
        local.dt.hour * 60 + local.dt.minute + local.dt.second / 60.0 - session_open
    ).to_numpy(float)
    close = bars["close"].to_numpy(float)
    open_ = bars["open"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "underlying": bars["underlying"].astype("string").to_numpy(),
            "date": date.to_numpy(),
            "m": minute,
            "open": open_,
            "close": close,
        }
    )
    # Pre-open auction bars and post-close prints are not part of the continuous session.
    in_session = (frame["m"] >= 0) & (frame["m"] < session_close - session_open)
    # Non-positive or missing prices have no log; validation quarantines such bars upstream.
    usable = np.isfinite(frame["close"]) & (frame["close"] > 0)
    frame = frame[in_session & usable].sort_values([*_KEYS, "m"], kind="stable")

    k = float(sampling_minutes)
    closes = pd.DataFrame(
        {
            "underlying": frame["underlying"],
            "date": frame["date"],
            "t": frame["m"] + 1.0,
            "price": frame["close"],
        }
    )
    first = frame.groupby(_KEYS, sort=False, observed=True).head(1)
    first = first[np.isfinite(first["open"]) & (first["open"] > 0)]
    opens = pd.DataFrame(
        {
            "underlying": first["underlying"],
            "date": first["date"],
            "t": first["m"],
            "price": first["open"],
        }
    )
    # The open sits at the start of its cell (floor) and every close at the end of one (ceil):
    # floor(m/k) < ceil((m+1)/k) always, so the opening print never shares a cell with a close.
    opens["cell"] = np.floor(opens["t"] / k)
    closes["cell"] = np.ceil(closes["t"] / k)
    obs = pd.concat([opens, closes], ignore_index=True)
    obs = obs.sort_values([*_KEYS, "t"], kind="stable")
    return obs.groupby([*_KEYS, "cell"], sort=True, observed=True).last().reset_index()


def realized_measures(
    bars: pd.DataFrame,
    *,
    sampling_minutes: int = 5,
    alpha: float = 0.01,
    min_returns: int = 10,
    session_open_minute: int = SESSION_OPEN_MINUTE,
    session_close_minute: int = SESSION_CLOSE_MINUTE,
) -> pd.DataFrame:
    """Daily realized measures per (underlying, Asia/Kolkata trading day) from 1-minute bars.

    Args:
        bars: BAR_COLUMNS rows (`ts` is the bar start, tz-aware); any number of days/underlyings,
            in any order. Only `underlying`, `ts`, `open` and `close` are read.
        sampling_minutes: grid step in minutes. 5 is the usual compromise between sampling error
            (var(RV) ~ 2 IQ / n) and microstructure noise, which biases RV upwards at 1 minute.
        alpha: size of the one-sided jump test.
        min_returns: days with fewer sampled returns get NaN measures and a `reason`: the
            asymptotics behind BV, TQ and the z test are meaningless on a handful of returns.
        session_open_minute, session_close_minute: session bounds in IST minutes after midnight.

    Returns:
        One row per (underlying, date), columns OUTPUT_COLUMNS. `date` is the IST trading date
        as naive midnight (the schema's date convention). Variances and quarticities are per
        day in squared (fourth-power) log-return units; `realized_vol_annualised` = sqrt(252 RV);
        `overnight_return` is ln(first session price / previous present session's last price),
        NaN on an underlying's first day; `reason` is None when all measures are defined.
    """
    if sampling_minutes < 1:
        raise ValueError("sampling_minutes must be >= 1")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if min_returns < 3:
        raise ValueError("min_returns must be >= 3 (tripower quarticity needs three returns)")
    if bars.empty:
        return _empty_output()

    obs = _session_observations(bars, sampling_minutes, session_open_minute, session_close_minute)
    if obs.empty:
        return _empty_output()
    log_p = np.log(obs["price"])
    by_day = obs.groupby(_KEYS, sort=False, observed=True)
    r = log_p.groupby([obs["underlying"], obs["date"]], sort=False).diff()
    abs_r = r.abs()
    day_keys = [obs["underlying"], obs["date"]]
    lag1 = abs_r.groupby(day_keys, sort=False).shift(1)
    lag2 = abs_r.groupby(day_keys, sort=False).shift(2)
    terms = pd.DataFrame(
        {
            "underlying": obs["underlying"],
            "date": obs["date"],
            "n": r.notna().astype("int64"),
            "sum_r": r,
            "rv": r * r,
            "bp": abs_r * lag1,
            "tp": (abs_r * lag1 * lag2) ** (4.0 / 3.0),
            "r4": r**4,
        }
    )
    sums = terms.groupby(_KEYS, sort=True, observed=True).sum(min_count=1)
    edges = by_day["price"].agg(first_price="first", last_price="last")
    day = sums.join(edges).reset_index()

    n = day["n"].to_numpy(float)
    rv = day["rv"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bv = (1.0 / MU1**2) * n / (n - 1.0) * day["bp"].to_numpy(float)
        tq = n * MU43**-3 * n / (n - 2.0) * day["tp"].to_numpy(float)
        rq = n / 3.0 * day["r4"].to_numpy(float)
        rel_jump = (rv - bv) / rv
        z = rel_jump / np.sqrt(THETA_RJ / n * np.maximum(1.0, tq / (bv * bv)))

    too_few = n < min_returns
    flat = ~too_few & ~(rv > 0)
    bad = too_few | flat
    reason = np.full(len(day), None, dtype=object)
    reason[too_few] = [f"too few returns: {int(k)} < min_returns={min_returns}" for k in n[too_few]]
    reason[flat] = "zero realized variance (constant price)"

    def masked(values: np.ndarray) -> np.ndarray:
        return np.where(bad, np.nan, values)

    jv = np.maximum(rv - bv, 0.0)
    p_value = ndtr(-z)  # not 1 - ndtr(z): keeps precision in the far tail
    detected = pd.array(z > ndtri(1.0 - alpha), dtype="boolean")
    detected[bad] = pd.NA

    # Overnight spans to the previous session present in the input for that underlying
    # (weekends, holidays or a missing day in the data all collapse into one return).
    prev_close = day.groupby("underlying", sort=False)["last_price"].shift(1)
    overnight = np.log(day["first_price"] / prev_close)

    out = pd.DataFrame(
        {
            "underlying": day["underlying"].astype("string"),
            "date": day["date"].astype("datetime64[ns]"),
            "sampling_minutes": np.int64(sampling_minutes),
            "n_returns": day["n"].astype("int64"),
            "realized_variance": masked(rv),
            "bipower_variation": masked(bv),
            "jump_variation": masked(jv),
            "jump_share": masked(jv / np.where(rv > 0, rv, np.nan)),
            "realized_vol_annualised": masked(np.sqrt(TRADING_DAYS_PER_YEAR * rv)),
            "realized_quarticity": masked(rq),
            "tripower_quarticity": masked(tq),
            "jump_z": masked(z),
            "jump_p_value": masked(p_value),
            "jump_detected": detected,
            "session_return": day["sum_r"].to_numpy(float),
            "overnight_return": overnight.to_numpy(float),
            "reason": reason,
        }
    )
    return out.reset_index(drop=True)
