"""The daily skeleton of the simulated market: regimes, implied vol, opens and closes.

One cheap recursion over trading days from `anchor` fixes, for every underlying and day, the
open, the close and the implied-vol state; intraday.py then fills each session with a bridge
pinned to these end points. Because the recursion is deterministic and its draws are keyed by
(seed, underlying, year) and day of year, extending the horizon never changes a day already
computed: any day can be asked for in any order.

Model (per trading day t, s = overnight variance share, vrp = 1 + variance risk premium):
- regime r_t: Markov chain with `TRANSITIONS`, starting NORMAL on the first day.
- NIFTY 30-day ATM implied vol Y (India VIX / 100): log-OU toward the regime's `iv_mean` with
  speed `iv_reversion` per day and daily vol `iv_vol`, shocks correlated with price shocks
  (`leverage`), split between the night and the session, floored at `iv_floor`, plus the exact
  steps of the news events that hit it.
- NIFTY log price: the realised vol is Y / vrp (implied vol carries a premium over realised);
  drift = regime drift + `level_reversion` * (log reference level - log price); the overnight gap
  takes share s of the day's variance plus the jumps of events since the last close, the
  session the rest plus the jumps of events inside it.
- Any other underlying u: log return = beta * NIFTY's diffusive return + idiosyncratic diffusion
  + jumps (MARKET events by beta * NIFTY's jump, stock-scoped events in full). Its implied vol is
  beta * Y + eta, with eta an idiosyncratic premium that mean-reverts to `idio_iv` and steps with
  stock news; the idiosyncratic realised vol is sqrt(iv_u^2 - beta^2 Y^2) / vrp, so the total
  realised vol is exactly iv_u / vrp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np

from quantsentinel.market import calendar
from quantsentinel.market.simulator.config import (
    LEVEL_EPOCH,
    REGIME_PARAMS,
    REGIMES,
    TRANSITIONS,
    Regime,
    SimulatorConfig,
    profile,
)
from quantsentinel.market.simulator.news import MARKET, NewsEvent, generate_events
from quantsentinel.market.simulator.randomness import stream

TRADING_DAYS_PER_YEAR = 252
ETA_REVERSION = 0.10  # per day, idiosyncratic vol premium back to its base
ETA_VOL = 0.05  # daily sd of log eta shocks
ETA_FLOOR = 0.005


@dataclass(frozen=True)
class Shock:
    """One event's effect on one underlying, exactly as the paths apply it.

    minute is None for an event that reached the market in the overnight gap, else the session
    minute (0 = 09:15) at whose start the jump happens. iv_jump is the step in the underlying's
    30-day ATM implied vol (0 for MARKET events on a non-NIFTY underlying: their vol moves
    through beta * Y instead).
    """

    event_id: str
    minute: int | None
    log_jump: float
    iv_jump: float


@dataclass
class UnderlyingPath:
    """Per-trading-day arrays of one underlying (index = position in `MarketSkeleton.days`).

    vol_* is the state that underlying's implied vol is built from: Y itself for NIFTY, the
    idiosyncratic premium eta for the others. *_diff are the diffusive log returns (drift
    included), *_jump the summed event jumps; open = prev_close * exp(gap_diff + gap_jump) and
    close = open * exp(session_diff + session_jump).
    """

    underlying: str
    prev_close: np.ndarray
    open: np.ndarray
    close: np.ndarray
    gap_diff: np.ndarray
    gap_jump: np.ndarray
    session_diff: np.ndarray
    session_jump: np.ndarray
    session_sd: np.ndarray  # sd of the session's (idiosyncratic, for non-NIFTY) diffusion
    vol_open: np.ndarray
    vol_close_diff: np.ndarray  # vol state at the close before the session's event steps
    vol_close: np.ndarray
    shocks: dict[int, list[Shock]] = field(default_factory=dict)


def reference_level(underlying: str, day: date) -> float:
    """The level an underlying's price is pulled toward on `day` (grows at its trend rate)."""
    p = profile(underlying)
    return p.level * math.exp(p.growth * (day - LEVEL_EPOCH).days / 365.0)


@dataclass
class MarketSkeleton:
    """Trading days in [anchor, horizon], their regimes and session bounds, and the news."""

    config: SimulatorConfig
    days: list[date]
    day_ord: np.ndarray  # proleptic ordinals of `days`, for searchsorted
    regime_codes: np.ndarray
    open_ns: np.ndarray
    close_ns: np.ndarray
    events: list[NewsEvent]
    # event_id -> (day index, minute or None); events past the horizon are absent.
    placement: dict[str, tuple[int, int | None]]

    def index(self, day: date) -> int:
        """Position of trading day `day`; KeyError when it is not a simulated trading day."""
        pos = int(np.searchsorted(self.day_ord, day.toordinal()))
        if pos >= len(self.days) or self.days[pos] != day:
            raise KeyError(day)
        return pos

    def regime_on(self, day: date) -> Regime:
        """Regime in force on calendar day `day` (the last trading day's on a closed day)."""
        pos = int(np.searchsorted(self.day_ord, day.toordinal(), side="right")) - 1
        return REGIMES[self.regime_codes[pos]] if pos >= 0 else Regime.NORMAL


def build_skeleton(
    config: SimulatorConfig, horizon: date, stocks: tuple[str, ...]
) -> MarketSkeleton:
    """Trading days, regimes and news from `config.anchor` through `horizon`."""
    days = calendar.trading_days(config.anchor, horizon)
    if not days:
        raise ValueError(f"no trading days between {config.anchor} and {horizon}")
    opens, closes = session_bounds_ns(days)
    skeleton = MarketSkeleton(
        config=config,
        days=days,
        day_ord=np.array([d.toordinal() for d in days], dtype=np.int64),
        regime_codes=simulate_regimes(config, days),
        open_ns=opens,
        close_ns=closes,
        events=[],
        placement={},
    )
    skeleton.events = generate_events(
        config.seed, config.anchor, horizon, skeleton.regime_on, stocks, config.stock_surprise_rate
    )
    skeleton.placement = place_events(skeleton.events, opens, closes)
    return skeleton


def simulate_regimes(config: SimulatorConfig, days: list[date]) -> np.ndarray:
    """Regime code per trading day: a Markov chain driven by per-day uniforms."""
    cumulative = np.cumsum(np.asarray(TRANSITIONS), axis=1)
    codes = np.empty(len(days), dtype=np.int8)
    state = REGIMES.index(Regime.NORMAL)
    blocks: dict[int, np.ndarray] = {}
    for i, d in enumerate(days):
        if i > 0:
            u = _market_block(config.seed, d.year, blocks)[0][d.timetuple().tm_yday - 1]
            state = min(int(np.searchsorted(cumulative[state], u, side="right")), 3)
        codes[i] = state
    return codes


def _market_block(seed: int, year: int, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    if year not in cache:
        rng = stream(seed, "daily", "MARKET", year)
        cache[year] = (rng.random(366), rng.standard_normal((366, 4)))
    return cache[year]


def _underlying_block(seed: int, underlying: str, year: int, cache: dict) -> np.ndarray:
    if year not in cache:
        cache[year] = stream(seed, "daily", underlying, year).standard_normal((366, 4))
    return cache[year]


def place_events(
    events: list[NewsEvent], open_ns: np.ndarray, close_ns: np.ndarray
) -> dict[str, tuple[int, int | None]]:
    """Which day (and session minute, or None for the gap) each event reaches prices.

    An event at or after a close belongs to the next session's open; one inside [open, close)
    jumps at the start of its minute.
    """
    out: dict[str, tuple[int, int | None]] = {}
    for e in events:
        t = e.ts.value
        i = int(np.searchsorted(close_ns, t, side="right"))
        if i >= len(close_ns):
            continue
        minute = None if t < open_ns[i] else int((t - open_ns[i]) // 60_000_000_000)
        out[e.event_id] = (i, minute)
    return out


def _by_day(skeleton: MarketSkeleton, scope: set[str]) -> dict[int, list[NewsEvent]]:
    out: dict[int, list[NewsEvent]] = {}
    for e in skeleton.events:
        if e.scope in scope and e.event_id in skeleton.placement:
            out.setdefault(skeleton.placement[e.event_id][0], []).append(e)
    return out


def _log_jump(event: NewsEvent) -> float:
    return math.log1p(event.impact_pct / 100.0)


def simulate_nifty(skeleton: MarketSkeleton) -> UnderlyingPath:
    """The NIFTY daily path and the implied-vol state Y everything else is built on."""
    cfg = skeleton.config
    n, s = len(skeleton.days), cfg.overnight_variance_share
    vrp, lev = 1.0 + cfg.variance_risk_premium, cfg.leverage
    lev_c = math.sqrt(1.0 - lev * lev)
    out = _empty_path("NIFTY", n)
    events = _by_day(skeleton, {MARKET})
    blocks: dict = {}
    log_close = math.log(reference_level("NIFTY", skeleton.days[0]))
    y_close = REGIME_PARAMS[Regime.NORMAL].iv_mean
    for i, d in enumerate(skeleton.days):
        par = REGIME_PARAMS[REGIMES[skeleton.regime_codes[i]]]
        zp_on, zp_id, zv_on, zv_id = _market_block(cfg.seed, d.year, blocks)[1][
            d.timetuple().tm_yday - 1
        ]
        pull = par.drift / TRADING_DAYS_PER_YEAR + cfg.level_reversion * (
            math.log(reference_level("NIFTY", d)) - log_close
        )
        sd_on = y_close / vrp * math.sqrt(s / TRADING_DAYS_PER_YEAR)
        gap_diff = s * pull - 0.5 * sd_on**2 + sd_on * zp_on
        y = _log_ou(
            y_close,
            par.iv_mean,
            cfg.iv_reversion * s,
            par.iv_vol * math.sqrt(s),
            lev * zp_on + lev_c * zv_on,
        )
        y = max(y, cfg.iv_floor)
        day_events = events.get(i, [])
        gap_jump, shocks = 0.0, []
        for e in (e for e in day_events if skeleton.placement[e.event_id][1] is None):
            step = max(e.iv_change, cfg.iv_floor - y)
            y += step
            gap_jump += _log_jump(e)
            shocks.append(Shock(e.event_id, None, _log_jump(e), step))
        y_open = y
        sd_id = y_open / vrp * math.sqrt((1.0 - s) / TRADING_DAYS_PER_YEAR)
        session_diff = (1.0 - s) * pull - 0.5 * sd_id**2 + sd_id * zp_id
        y_diff = _log_ou(
            y_open,
            par.iv_mean,
            cfg.iv_reversion * (1 - s),
            par.iv_vol * math.sqrt(1 - s),
            lev * zp_id + lev_c * zv_id,
        )
        y_diff = max(y_diff, cfg.iv_floor)
        session_jump, cum = 0.0, 0.0
        for e in (e for e in day_events if skeleton.placement[e.event_id][1] is not None):
            # Keep the vol above the floor at both ends of the bridge the step lands on.
            step = max(e.iv_change, cfg.iv_floor - min(y_open, y_diff) - cum)
            cum += step
            session_jump += _log_jump(e)
            shocks.append(Shock(e.event_id, skeleton.placement[e.event_id][1], _log_jump(e), step))
        log_open = log_close + gap_diff + gap_jump
        _store(out, i, log_close, log_open, gap_diff, gap_jump, session_diff, session_jump, sd_id)
        out.vol_open[i], out.vol_close_diff[i], out.vol_close[i] = y_open, y_diff, y_diff + cum
        if shocks:
            out.shocks[i] = shocks
        log_close = log_open + session_diff + session_jump
        y_close = y_diff + cum
    return out


def simulate_follower(
    skeleton: MarketSkeleton, nifty: UnderlyingPath, underlying: str
) -> UnderlyingPath:
    """Daily path of BANKNIFTY or a stock: beta to NIFTY plus its own diffusion and news."""
    cfg, prof = skeleton.config, profile(underlying)
    n, s = len(skeleton.days), cfg.overnight_variance_share
    vrp, beta = 1.0 + cfg.variance_risk_premium, prof.beta
    out = _empty_path(underlying, n)
    events = _by_day(skeleton, {MARKET, underlying})
    blocks: dict = {}
    log_close = math.log(reference_level(underlying, skeleton.days[0]))
    eta_close = prof.idio_iv
    y_prev = REGIME_PARAMS[Regime.NORMAL].iv_mean
    for i, d in enumerate(skeleton.days):
        zi_on, zi_id, ze_on, ze_id = _underlying_block(cfg.seed, underlying, d.year, blocks)[
            d.timetuple().tm_yday - 1
        ]
        pull = cfg.level_reversion * (math.log(reference_level(underlying, d)) - log_close)
        sd_on = _idio_sd(beta, y_prev, eta_close, vrp) * math.sqrt(s / TRADING_DAYS_PER_YEAR)
        gap_diff = beta * nifty.gap_diff[i] + s * pull - 0.5 * sd_on**2 + sd_on * zi_on
        eta = _log_ou(eta_close, prof.idio_iv, ETA_REVERSION * s, ETA_VOL * math.sqrt(s), ze_on)
        eta = max(eta, ETA_FLOOR)
        day_events = events.get(i, [])
        gap_jump, shocks = 0.0, []
        for e in (e for e in day_events if skeleton.placement[e.event_id][1] is None):
            jump, step = _follower_effect(e, beta, ETA_FLOOR - eta)
            eta += step
            gap_jump += jump
            shocks.append(Shock(e.event_id, None, jump, step))
        eta_open = eta
        y_open = nifty.vol_open[i]
        sd_id = _idio_sd(beta, y_open, eta_open, vrp) * math.sqrt((1 - s) / TRADING_DAYS_PER_YEAR)
        session_diff = (
            beta * nifty.session_diff[i] + (1 - s) * pull - 0.5 * sd_id**2 + sd_id * zi_id
        )
        eta_diff = _log_ou(
            eta_open, prof.idio_iv, ETA_REVERSION * (1 - s), ETA_VOL * math.sqrt(1 - s), ze_id
        )
        eta_diff = max(eta_diff, ETA_FLOOR)
        session_jump, cum = 0.0, 0.0
        for e in (e for e in day_events if skeleton.placement[e.event_id][1] is not None):
            jump, step = _follower_effect(e, beta, ETA_FLOOR - min(eta_open, eta_diff) - cum)
            cum += step
            session_jump += jump
            shocks.append(Shock(e.event_id, skeleton.placement[e.event_id][1], jump, step))
        log_open = log_close + gap_diff + gap_jump
        _store(out, i, log_close, log_open, gap_diff, gap_jump, session_diff, session_jump, sd_id)
        out.vol_open[i], out.vol_close_diff[i], out.vol_close[i] = (
            eta_open,
            eta_diff,
            eta_diff + cum,
        )
        if shocks:
            out.shocks[i] = shocks
        log_close = log_open + session_diff + session_jump
        eta_close, y_prev = eta_diff + cum, nifty.vol_close[i]
    return out


def _follower_effect(event: NewsEvent, beta: float, min_step: float) -> tuple[float, float]:
    """(log jump, eta step) of an event on a non-NIFTY underlying."""
    if event.scope == MARKET:
        return beta * _log_jump(event), 0.0
    return _log_jump(event), max(event.iv_change, min_step)


def _idio_sd(beta: float, y: float, eta: float, vrp: float) -> float:
    # Total implied vol beta*Y + eta, realised at 1/vrp of it; what beta*NIFTY does not explain.
    total = (beta * y + eta) / vrp
    return math.sqrt(max(total * total - (beta * y / vrp) ** 2, 0.0))


def _log_ou(x: float, mean: float, speed: float, vol: float, z: float) -> float:
    lx = math.log(x)
    return math.exp(lx + speed * (math.log(mean) - lx) + vol * z)


def _empty_path(underlying: str, n: int) -> UnderlyingPath:
    # Every field between the name and the shocks dict is a per-day array.
    n_arrays = len(fields(UnderlyingPath)) - 2
    return UnderlyingPath(underlying, *(np.zeros(n) for _ in range(n_arrays)))


def _store(
    out: UnderlyingPath,
    i: int,
    log_prev: float,
    log_open: float,
    gap_diff: float,
    gap_jump: float,
    session_diff: float,
    session_jump: float,
    sd_id: float,
) -> None:
    out.prev_close[i] = math.exp(log_prev)
    out.open[i] = math.exp(log_open)
    out.close[i] = math.exp(log_open + session_diff + session_jump)
    out.gap_diff[i], out.gap_jump[i] = gap_diff, gap_jump
    out.session_diff[i], out.session_jump[i] = session_diff, session_jump
    out.session_sd[i] = sd_id


def session_bounds_ns(days: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds of each trading day's open and close."""
    sessions = [calendar.session(d) for d in days]
    opens = np.array([s.open.value for s in sessions], dtype=np.int64)
    closes = np.array([s.close.value for s in sessions], dtype=np.int64)
    return opens, closes
