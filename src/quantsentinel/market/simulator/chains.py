"""Option chains priced off the simulated state: smile, quotes, volume and open interest.

Surface. ATM vol per expiry follows the expected average variance of a mean-reverting variance,
atm(T)^2 = L + (iv30^2 - L) g(T) / g(30d) with g(T) = (1 - e^{-kT}) / (kT), so the 30-day point
is exactly the underlying's iv30 (India VIX for NIFTY) and the curve bends toward the long-run
level L (upward in calm markets, inverted in stress). The smile is Gatheral-Jacquier SSVI with
phi(theta) = eta / sqrt(theta): w(k) = theta/2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2)).
With eta^2 (1 + |rho|) <= 4 it has no butterfly arbitrage, and with theta increasing in T no
calendar arbitrage; rho < 0 gives the index put skew. Prices are Black-76 on F = S e^{(r-q)T}.

Quotes. The half-spread is a regime- and underlying-dependent share of the option's time value,
widened with standardised moneyness (wings), plus a sliver of intrinsic value, never under a
tick. Bid is the model price less the half-spread, floored to the tick grid; ask is then placed
so the mid sits within a quarter tick of the model price. So bid <= model <= ask, every
butterfly and vertical is non-negative on executable prices, and mids are arbitrage-free up to a
quarter tick each. Rows whose bid would fall below one tick have no bid (NaN), as far-wing
options do.

Open interest and volume are closed-form in (day, expiry, strike, side) with counter-based noise,
so a snapshot is computable on its own: OI mass sits out of the money around the day's opening
price, is multiplied on round strikes (multiples of 2, 10 and 20 strike steps), grows toward
expiry, and moves from the previous day's profile to today's through the session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from quantsentinel.market import calendar, contracts
from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import CHAIN_COLUMNS, conform
from quantsentinel.market.simulator.randomness import hash_normal, hash_uniform

TERM_SPEED = 4.0  # per year: how fast the ATM term structure bends toward its long-run level
_G30 = (1.0 - math.exp(-TERM_SPEED * 30 / 365)) / (TERM_SPEED * 30 / 365)
IV_CAP = 2.5  # far-wing vols on expiry day explode; keep them inside sane validation bounds
WING_SPREAD = 0.12  # spread widening per unit squared standardised moneyness
PRE_OPEN_VOLUME_SHARE = 0.02
INTRINSIC_SPREAD = 0.0005  # spread per unit of intrinsic value (delta-hedging cost)


@dataclass(frozen=True)
class ChainDay:
    """Everything one underlying's chains need on one day that does not change intraday."""

    underlying: str
    day: date
    seed: int
    expiries: tuple[date, ...]
    strikes: np.ndarray
    rate: float
    carry_q: float
    long_run_iv: float
    skew_rho: float
    smile_eta: float
    spread_rel: float
    tick: float
    oi_target: np.ndarray  # (n_expiries, n_strikes, 2): OI the day builds toward
    oi_prev: np.ndarray  # the previous close's OI
    volume_total: np.ndarray  # contracts the day trades in each contract
    volume_curve: np.ndarray  # cumulative share of the day's volume at each minute (n+1 points)


def strike_grid(underlying: str, day: date, ref: float, each_side: int) -> np.ndarray:
    """Listed strikes around `ref`: the exchange's step, wider where its rules widen it."""
    if underlying in contracts.INDICES:
        step = contracts.strike_step(underlying, day)
        centre = round(ref / step) * step
        cand = centre + step * np.arange(-4 * each_side, 4 * each_side + 1)
        cand = cand[cand > 0]
        far = np.array([contracts.strike_step(underlying, day, k / ref) for k in cand])
        cand = cand[np.isclose(np.mod(cand, far), 0.0) | np.isclose(np.mod(cand, far), far)]
    else:
        step = contracts.strike_step_for_price(underlying, day, ref)
        centre = round(ref / step) * step
        cand = centre + step * np.arange(-each_side, each_side + 1)
        cand = cand[cand > 0]
    below = cand[cand < centre][-each_side:]
    above = cand[cand > centre][:each_side]
    return np.round(np.concatenate((below, [centre], above)), 2)


def round_multiplier(strikes: np.ndarray, step: float) -> np.ndarray:
    """Extra open interest on round strikes: where retail writes and dealers hedge (pin risk)."""
    cents, s = np.round(strikes * 100).astype(np.int64), round(step * 100)
    return (
        1.0
        + 0.35 * (cents % (2 * s) == 0)
        + 0.9 * (cents % (10 * s) == 0)
        + 1.0 * (cents % (20 * s) == 0)
    )


def open_interest_profile(
    seed: int,
    underlying: str,
    day: date,
    expiries: tuple[date, ...],
    strikes: np.ndarray,
    step: float,
    ref_price: float,
    ref_iv: float,
    oi_scale: float,
) -> np.ndarray:
    """OI (contracts) per (expiry, strike, side) that `day` builds toward.

    Calls are written above the reference price, puts below, within about one expected move;
    near expiries hold far more OI than far ones. `ref_price`/`ref_iv` are the day's opening
    values, so nothing from later in the session leaks into a morning snapshot.
    """
    dte = np.array([max((e - day).days, 0) for e in expiries], dtype=float)
    width = 1.2 * np.maximum(ref_iv * np.sqrt(np.maximum(dte, 1.0) / 365.0), 0.01)[:, None]
    k = np.log(strikes / ref_price)[None, :]
    call = np.exp(-0.5 * ((k - 0.5 * width) / width) ** 2) + 0.02
    put = np.exp(-0.5 * ((k + 0.5 * width) / width) ** 2) + 0.02
    shape = np.stack((call, put), axis=-1)
    shape *= round_multiplier(strikes, step)[None, :, None]
    shape *= (1.0 / (1.0 + dte / 7.0))[:, None, None]
    keys = _contract_keys(expiries, strikes)
    persist = np.exp(0.3 * hash_normal(seed, "oi", underlying, *keys) - 0.045)
    daily = np.exp(0.08 * hash_normal(seed, "oi-day", underlying, day, *keys))
    return np.floor(oi_scale * shape * persist * daily)


def _contract_keys(expiries, strikes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    e = np.array([d.toordinal() for d in expiries], dtype=np.int64)[:, None, None]
    k = np.round(np.asarray(strikes) * 100).astype(np.int64)[None, :, None]
    side = np.array([0, 1], dtype=np.int64)[None, None, :]
    return e, k, side


def _atm_iv(iv30: np.ndarray, long_run: float, T: np.ndarray) -> np.ndarray:
    kt = TERM_SPEED * T
    g = np.where(kt > 1e-12, -np.expm1(-kt) / np.where(kt > 1e-12, kt, 1.0), 1.0)
    var = long_run**2 + (iv30[:, None] ** 2 - long_run**2) * g / _G30
    return np.sqrt(np.maximum(var, 1e-4))


def _ssvi_iv(k: np.ndarray, atm: np.ndarray, T: np.ndarray, rho: float, eta: float) -> np.ndarray:
    theta = (atm * atm * T)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        pk = eta / np.sqrt(theta) * k
        w = 0.5 * theta * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))
        iv = np.sqrt(w / T[..., None])
    iv = np.where(T[..., None] > 0, iv, atm[..., None])
    return np.clip(iv, 0.01, IV_CAP)


def build_chain(
    cd: ChainDay,
    ts_ns: np.ndarray,
    elapsed: np.ndarray,
    minute: np.ndarray,
    spot: np.ndarray,
    iv30: np.ndarray,
) -> pd.DataFrame:
    """CHAIN_COLUMNS for snapshots at `ts_ns` (UTC ns), all in one vectorized pass.

    elapsed: share of the session gone at each snapshot (0..1); minute: its session minute;
    spot/iv30: the underlying's price and 30-day ATM vol at each snapshot.
    """
    n_s, n_e, n_k = len(ts_ns), len(cd.expiries), len(cd.strikes)
    stamps = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]")).tz_localize("UTC")
    T = np.stack([calendar.year_fraction(stamps, e) for e in cd.expiries], axis=1)
    fwd = spot[:, None] * np.exp((cd.rate - cd.carry_q) * T)
    atm = _atm_iv(iv30, cd.long_run_iv, T)
    k = np.log(cd.strikes[None, None, :] / fwd[..., None])
    iv3 = _ssvi_iv(k, atm, T, cd.skew_rho, cd.smile_eta)
    shape4 = (n_s, n_e, n_k, 2)
    is_call = np.broadcast_to(np.array([True, False]), shape4)
    iv = np.broadcast_to(iv3[..., None], shape4)
    price = black76_price(
        fwd[..., None, None],
        cd.strikes[None, None, :, None],
        T[..., None, None],
        iv,
        is_call,
        cd.rate,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        x = k / (atm * np.sqrt(T))[..., None]
    x2 = np.minimum(np.nan_to_num(x * x, nan=36.0, posinf=36.0), 36.0)[..., None]
    keys = _contract_keys(cd.expiries, cd.strikes)
    ts_key = ts_ns[:, None, None, None]
    noise = hash_normal(cd.seed, "spread", cd.underlying, ts_key, *keys)
    # Market makers quote the option's time value (its out-of-the-money twin) plus a little of
    # the intrinsic they must hedge; in-the-money options are not 50x wider than their twins.
    intrinsic = (
        np.where(
            is_call,
            np.maximum(fwd[..., None, None] - cd.strikes[None, None, :, None], 0.0),
            np.maximum(cd.strikes[None, None, :, None] - fwd[..., None, None], 0.0),
        )
        * np.exp(-cd.rate * T)[..., None, None]
    )
    time_value = np.maximum(price - intrinsic, 0.0)
    rel = cd.spread_rel * (1.0 + WING_SPREAD * x2) * np.exp(0.25 * noise)
    half = 0.5 * (rel * time_value + INTRINSIC_SPREAD * intrinsic)
    bid, ask = _quotes(price, half, cd.tick)

    frac = cd.volume_curve[minute][:, None, None, None]
    volume = np.floor(cd.volume_total[None] * frac).astype(np.int64)
    oi_prev = np.broadcast_to(cd.oi_prev[None], shape4)
    oi = np.round(oi_prev + (cd.oi_target[None] - oi_prev) * elapsed[:, None, None, None])
    last = _last_trade(cd, price, bid, ask, half, ts_key, keys)
    last = np.where(volume > 0, last, np.nan)

    sids = np.array([f"{cd.underlying}-{s.strftime('%Y%m%dT%H%M%SZ')}" for s in stamps])
    latency = 150 + np.floor(500 * hash_uniform(cd.seed, "latency", cd.underlying, ts_ns))
    received = ts_ns + latency.astype(np.int64) * 1_000_000
    n_rows_snap = n_e * n_k * 2
    exp_days = np.array(cd.expiries, dtype="datetime64[D]").astype("datetime64[ns]")
    frame = pd.DataFrame(
        {
            "snapshot_id": np.repeat(sids, n_rows_snap),
            "underlying": cd.underlying,
            "ts": stamps.repeat(n_rows_snap),
            "received_at": pd.DatetimeIndex(
                np.repeat(received, n_rows_snap).astype("datetime64[ns]")
            ).tz_localize("UTC"),
            "spot": np.repeat(spot, n_rows_snap),
            "expiry": np.broadcast_to(exp_days[None, :, None, None], shape4).ravel(),
            "strike": np.broadcast_to(cd.strikes[None, None, :, None], shape4).ravel(),
            "option_type": np.where(is_call, "CE", "PE").ravel(),
            "bid": bid.ravel(),
            "ask": ask.ravel(),
            "last": last.ravel(),
            "volume": volume.ravel(),
            "oi": oi.astype(np.int64).ravel(),
            "oi_change": (oi - oi_prev).astype(np.int64).ravel(),
            "iv": iv.ravel(),
            "source": "simulator",
        }
    )
    return conform(frame, CHAIN_COLUMNS)


def _quotes(price: np.ndarray, half: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """Bid/ask on the tick grid around `price` (see the module doc for the guarantees)."""
    p_ticks = price / tick
    n_half = np.maximum(np.ceil(half / tick - 1e-9), 1.0)
    n_bid = np.floor(p_ticks - n_half + 1e-9)
    has_bid = n_bid >= 1.0
    # The ask mirrors the bid about the model price, to the nearest tick: mid within 1/4 tick.
    n_ask = np.where(has_bid, np.round(2.0 * p_ticks - n_bid), np.ceil(p_ticks + n_half - 1e-9))
    n_ask = np.maximum(n_ask, 1.0)
    bid = np.where(has_bid, np.round(n_bid * tick, 2), np.nan)
    return bid, np.round(n_ask * tick, 2)


def _last_trade(cd, price, bid, ask, half, ts_key, keys) -> np.ndarray:
    # The last print sits inside the current quotes, near the model price.
    wobble = hash_normal(cd.seed, "last", cd.underlying, ts_key, *keys)
    raw = np.round((price + 0.5 * half * wobble) / cd.tick) * cd.tick
    low = np.where(np.isnan(bid), cd.tick, bid)
    return np.round(np.clip(raw, low, ask), 2)


def volume_curve(u_shape_minutes: np.ndarray) -> np.ndarray:
    """Cumulative share of a day's option volume traded before each minute (and by the close)."""
    w = u_shape_minutes**2
    cum = np.concatenate(([0.0], np.cumsum(w))) / w.sum()
    return (PRE_OPEN_VOLUME_SHARE + cum) / (PRE_OPEN_VOLUME_SHARE + 1.0)


def daily_volume(
    seed: int,
    underlying: str,
    day: date,
    expiries: tuple[date, ...],
    strikes: np.ndarray,
    oi_target: np.ndarray,
    ref_price: float,
    ref_iv: float,
    volume_ratio: float,
) -> np.ndarray:
    """Contracts each option trades today: near-the-money and near-expiry options trade most."""
    dte = np.array([max((e - day).days, 0) for e in expiries], dtype=float)
    width = np.maximum(ref_iv * np.sqrt(np.maximum(dte, 1.0) / 365.0), 0.01)[:, None, None]
    k = np.log(strikes / ref_price)[None, :, None]
    liquidity = 0.15 + np.exp(-0.5 * (k / width) ** 2)
    turnover = (1.0 + 2.0 / (1.0 + dte))[:, None, None]
    noise = np.exp(
        0.3 * hash_normal(seed, "volume", underlying, day, *_contract_keys(expiries, strikes))
    )
    return np.floor(volume_ratio * oi_target * liquidity * turnover * noise)
