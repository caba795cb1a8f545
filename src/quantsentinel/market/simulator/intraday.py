"""One session, minute by minute: a stochastic-vol bridge between the day's open and close.

The daily skeleton fixes each session's diffusive log return and its vol state at both ends;
here the path between them is drawn on `substeps_per_minute` points a minute:
- vol multiplier m_i = U-shaped intraday seasonality (busy open, busier than midday close) times
  exp(h_i), h an Ornstein-Uhlenbeck log-vol with a 30-minute half-life; normalised to mean
  square 1 so the session's variance is what the skeleton said;
- increments sd * m_i * z_i / sqrt(n), then pinned to the skeleton's return by subtracting the
  end-point error in proportion to elapsed variance (a Brownian bridge in variance time, the
  conditional law given the end point when the vol profile is known);
- news inside the session adds its jump exactly, as a step at the start of its minute, after the
  minute bar's open (so a bar's open is pre-news and its close post-news).
Implied vol gets the same treatment (a bridge between its open and diffusive close, shocks
correlated with price shocks, plus the exact event steps). Other underlyings reuse NIFTY's
bridged diffusion times beta and add an idiosyncratic bridge of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from quantsentinel.market.schema import BAR_COLUMNS, conform
from quantsentinel.market.simulator.config import SimulatorConfig
from quantsentinel.market.simulator.dynamics import ETA_FLOOR, ETA_VOL, Shock, UnderlyingPath
from quantsentinel.market.simulator.randomness import stream

INTRADAY_VOL_OF_VOL = 0.25  # sd of the intraday log-vol factor h
INTRADAY_VOL_HALF_LIFE_MIN = 30.0
PATH_IV_FLOOR = 0.05  # last-resort floor; the skeleton keeps vol far above it


@dataclass(frozen=True)
class IntradayPath:
    """Points of one session: index j * substeps is the start of minute j; the last is the close.

    log_price: log of the underlying's price. iv: its 30-day ATM implied vol (decimal).
    diffusion: the bridged diffusive log return since the open (jumps excluded).
    weights: cumulative share of the session's variance (0 at the open, 1 at the close).
    multiplier: per-substep vol multiplier (mean square 1), shared by all underlyings.
    """

    day: date
    underlying: str
    open_ns: int
    n_minutes: int
    substeps: int
    log_price: np.ndarray
    iv: np.ndarray
    diffusion: np.ndarray
    weights: np.ndarray
    multiplier: np.ndarray

    def minute_index(self, minute: np.ndarray | int) -> np.ndarray:
        """Point index of the start of session minute(s) `minute` (n_minutes = the close)."""
        return np.asarray(minute) * self.substeps


def u_shape(n_minutes: int) -> np.ndarray:
    """Relative vol of each session minute: high after the open, a lull, a rise into the close."""
    m = np.arange(n_minutes, dtype=float)
    return 1.0 + 1.2 * np.exp(-m / 20.0) + 0.6 * np.exp(-(n_minutes - 1 - m) / 30.0)


def _bridge(increments: np.ndarray, weights: np.ndarray, target: float) -> np.ndarray:
    path = np.concatenate(([0.0], np.cumsum(increments)))
    return path - weights * (path[-1] - target)


def _steps(n_points: int, substeps: int, shocks: list[Shock], attr: str) -> np.ndarray:
    out = np.zeros(n_points)
    for s in shocks:
        if s.minute is not None:
            out[s.minute * substeps + 1 :] += getattr(s, attr)
    return out


def nifty_session(
    config: SimulatorConfig,
    path: UnderlyingPath,
    i: int,
    day: date,
    open_ns: int,
    n_minutes: int,
    iv_vol: float,
) -> IntradayPath:
    """NIFTY's session `i` (position in the skeleton) on `day`."""
    k = config.substeps_per_minute
    n = n_minutes * k
    z = stream(config.seed, "intraday", "NIFTY", day).standard_normal((3, n))
    phi = math.exp(-math.log(2.0) / (INTRADAY_VOL_HALF_LIFE_MIN * k))
    from scipy.signal import lfilter  # scipy.signal costs ~0.9 s to import: only when used

    h = lfilter([INTRADAY_VOL_OF_VOL * math.sqrt(1 - phi * phi)], [1.0, -phi], z[2])
    mult = np.repeat(u_shape(n_minutes), k) * np.exp(h)
    mult /= math.sqrt(float(np.mean(mult * mult)))
    weights = np.concatenate(([0.0], np.cumsum(mult * mult))) / float(np.sum(mult * mult))
    scale = mult / math.sqrt(n)
    diffusion = _bridge(path.session_sd[i] * scale * z[0], weights, path.session_diff[i])
    shocks = path.shocks.get(i, [])
    log_price = math.log(path.open[i]) + diffusion + _steps(n + 1, k, shocks, "log_jump")
    lev = config.leverage
    shocks_v = lev * z[0] + math.sqrt(1 - lev * lev) * z[1]
    y0 = path.vol_open[i]
    iv_sd = iv_vol * math.sqrt(1 - config.overnight_variance_share) * y0
    iv = y0 + _bridge(iv_sd * scale * shocks_v, weights, path.vol_close_diff[i] - y0)
    iv = np.maximum(iv + _steps(n + 1, k, shocks, "iv_jump"), PATH_IV_FLOOR)
    return IntradayPath(
        day, "NIFTY", open_ns, n_minutes, k, log_price, iv, diffusion, weights, mult
    )


def follower_session(
    config: SimulatorConfig,
    path: UnderlyingPath,
    nifty: IntradayPath,
    nifty_session_diff: float,
    i: int,
    beta: float,
) -> IntradayPath:
    """Session `i` of a non-NIFTY underlying: beta times NIFTY's path plus its own bridge."""
    k, n = nifty.substeps, nifty.n_minutes * nifty.substeps
    z = stream(config.seed, "intraday", path.underlying, nifty.day).standard_normal((2, n))
    scale = nifty.multiplier / math.sqrt(n)
    own_target = path.session_diff[i] - beta * nifty_session_diff
    own = _bridge(path.session_sd[i] * scale * z[0], nifty.weights, own_target)
    diffusion = beta * nifty.diffusion + own
    shocks = path.shocks.get(i, [])
    log_price = math.log(path.open[i]) + diffusion + _steps(n + 1, k, shocks, "log_jump")
    e0 = path.vol_open[i]
    eta_sd = ETA_VOL * math.sqrt(1 - config.overnight_variance_share) * e0
    eta = e0 + _bridge(eta_sd * scale * z[1], nifty.weights, path.vol_close_diff[i] - e0)
    eta = np.maximum(eta + _steps(n + 1, k, shocks, "iv_jump"), ETA_FLOOR)
    iv = beta * nifty.iv + eta
    return IntradayPath(
        nifty.day,
        path.underlying,
        nifty.open_ns,
        nifty.n_minutes,
        k,
        log_price,
        iv,
        diffusion,
        nifty.weights,
        nifty.multiplier,
    )


def ohlc(points: np.ndarray, n_minutes: int, substeps: int) -> tuple[np.ndarray, ...]:
    """Open, high, low, close of each minute from a path of n_minutes * substeps + 1 points."""
    body = points[:-1].reshape(n_minutes, substeps)
    close = points[substeps::substeps]
    high = np.maximum(body.max(axis=1), close)
    low = np.minimum(body.min(axis=1), close)
    return body[:, 0], high, low, close


def minute_stamps(open_ns: int, n_minutes: int) -> pd.DatetimeIndex:
    """UTC start of each session minute."""
    ns = open_ns + np.arange(n_minutes, dtype=np.int64) * 60_000_000_000
    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")


def bars_frame(
    name: str, points: np.ndarray, session: IntradayPath, volume: np.ndarray | None
) -> pd.DataFrame:
    """BAR_COLUMNS for one session from a path of price (or index) points, rounded to paise."""
    o, h, lo, c = (np.round(x, 2) for x in ohlc(points, session.n_minutes, session.substeps))
    frame = pd.DataFrame(
        {
            "underlying": name,
            "ts": minute_stamps(session.open_ns, session.n_minutes),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.zeros(session.n_minutes, np.int64) if volume is None else volume,
        }
    )
    return conform(frame, BAR_COLUMNS)


def stock_volume(config: SimulatorConfig, session: IntradayPath, adv_shares: float) -> np.ndarray:
    """Shares traded per minute: intraday seasonality, more on big moves, lognormal noise."""
    k = session.substeps
    z = stream(config.seed, "volume", session.underlying, session.day).standard_normal(
        session.n_minutes
    )
    activity = (session.multiplier**2).reshape(session.n_minutes, k).mean(axis=1)
    move = np.abs(np.diff(session.log_price[::k]))
    raw = activity * (1.0 + 40.0 * move) * np.exp(0.35 * z - 0.06)
    return np.floor(adv_shares * raw / raw.sum() * (1.0 + 20.0 * move.sum())).astype(np.int64)
