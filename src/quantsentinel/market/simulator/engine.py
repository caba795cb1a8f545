"""`MarketSimulator`: the public face of the simulator, with its caches.

Cost model: the daily skeleton (all trading days from the anchor to the end of the year asked
about, plus a few weeks so after-close news lands) is a small Python recursion, computed once and
extended when a later day is asked for; sessions (minute paths) are computed per (day, underlying)
and kept in a small LRU; chains are generated on demand from a session and closed-form OI.
Every output is a pure function of (config, day, underlying), so the caches only save time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, timedelta

import numpy as np
import pandas as pd

from quantsentinel.market import calendar, contracts
from quantsentinel.market.schema import (
    BAR_COLUMNS,
    CHAIN_COLUMNS,
    MARKET_TZ,
    NEWS_COLUMNS,
    conform,
    empty_frame,
)
from quantsentinel.market.simulator import chains
from quantsentinel.market.simulator.config import (
    REGIME_PARAMS,
    REGIMES,
    Regime,
    SimulatorConfig,
    profile,
)
from quantsentinel.market.simulator.dynamics import (
    MarketSkeleton,
    UnderlyingPath,
    build_skeleton,
    simulate_follower,
    simulate_nifty,
)
from quantsentinel.market.simulator.intraday import (
    IntradayPath,
    bars_frame,
    follower_session,
    nifty_session,
    stock_volume,
    u_shape,
)
from quantsentinel.market.simulator.state import DayState, day_state, shocks_frame

VIX = "INDIAVIX"
_SESSION_CACHE = 64
_HORIZON_SLACK = timedelta(days=45)


class MarketSimulator:
    """Seeded, deterministic NSE-like market: bars, India VIX, option chains and news.

    Same config -> identical frames, whatever was asked before. Days before `config.anchor`
    raise ValueError; a non-trading day gives empty frames (news is by calendar day, so a
    weekend can carry news; it moves prices at the next open).
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._lock = threading.RLock()
        self._skeleton: MarketSkeleton | None = None
        self._paths: dict[str, UnderlyingPath] = {}
        self._sessions: OrderedDict[tuple[date, str], IntradayPath] = OrderedDict()

    # --- ground truth ---------------------------------------------------------------------------

    def regime(self, day: date) -> Regime:
        """The hidden regime in force on `day` (a closed day: the last trading day's)."""
        return self._ensure(day).regime_on(day)

    def regimes(self, start: date, end: date) -> pd.Series:
        """Regime name per trading day in [start, end], indexed by date: labels for ML."""
        sk = self._ensure(end)
        days = calendar.trading_days(max(start, self.config.anchor), end)
        codes = [sk.regime_codes[sk.index(d)] for d in days]
        return pd.Series(
            [REGIMES[c].value for c in codes],
            index=pd.Index(days, name="day"),
            name="regime",
            dtype="string",
        )

    def day_state(self, day: date, underlying: str = "NIFTY") -> DayState:
        """Open/close, implied vol and the gap/session decomposition of one trading day."""
        sk = self._ensure(day)
        i = self._trading_index(sk, day)
        path = self._path(underlying)
        return day_state(sk, path, self._path("NIFTY"), i, profile(underlying).beta)

    def shocks(self, day: date, underlying: str = "NIFTY") -> pd.DataFrame:
        """Every news jump applied to `underlying` on trading day `day`, exactly as applied."""
        sk = self._ensure(day)
        return shocks_frame(sk, self._path(underlying), self._trading_index(sk, day))

    # --- bars -----------------------------------------------------------------------------------

    def bars(self, day: date, underlying: str) -> pd.DataFrame:
        """1-minute bars 09:15..15:29 (bar starts, UTC) of `underlying`; empty on a closed day."""
        self._check_underlying(underlying)
        if not calendar.is_trading_day(day):
            self._ensure(day)
            return empty_frame(BAR_COLUMNS)
        s = self._session(day, underlying)
        adv = profile(underlying).adv_shares
        volume = stock_volume(self.config, s, adv) if adv > 0 else None
        return bars_frame(underlying, np.exp(s.log_price), s, volume)

    def vix_bars(self, day: date) -> pd.DataFrame:
        """India VIX-like 1-minute bars: NIFTY's 30-day ATM implied vol in percent."""
        if not calendar.is_trading_day(day):
            self._ensure(day)
            return empty_frame(BAR_COLUMNS)
        s = self._session(day, "NIFTY")
        return bars_frame(VIX, 100.0 * s.iv, s, None)

    # --- chains ---------------------------------------------------------------------------------

    def snapshot_times(self, day: date) -> list[pd.Timestamp]:
        """Chain snapshot instants (UTC): every `snapshot_interval_minutes` from the open."""
        if not calendar.is_trading_day(day):
            return []
        sess = calendar.session(day)
        step = pd.Timedelta(minutes=self.config.snapshot_interval_minutes)
        n = int((sess.close - sess.open) / step)
        return [(sess.open + j * step).tz_convert("UTC") for j in range(n)]

    def chain_snapshot(self, ts: pd.Timestamp, underlying: str) -> pd.DataFrame:
        """One chain snapshot at instant `ts` (tz-aware, within a session, close included)."""
        stamp = pd.Timestamp(ts)
        if stamp.tzinfo is None:
            raise ValueError(f"chain_snapshot needs a tz-aware ts, got naive {stamp}")
        if not calendar.in_session(stamp):
            raise ValueError(f"{stamp} is not inside a trading session")
        day = stamp.tz_convert(MARKET_TZ).date()
        return self._chains(day, underlying, [stamp.tz_convert("UTC")])

    def chain_snapshots(self, day: date, underlying: str) -> pd.DataFrame:
        """All of the day's snapshots of `underlying`, concatenated in time order."""
        self._check_underlying(underlying)
        times = self.snapshot_times(day)
        if not times:
            self._ensure(day)
            return empty_frame(CHAIN_COLUMNS)
        return self._chains(day, underlying, times)

    def _chains(self, day: date, underlying: str, times: list[pd.Timestamp]) -> pd.DataFrame:
        self._check_underlying(underlying)
        s = self._session(day, underlying)
        cd = self._chain_day(day, underlying, s)
        ts_ns = np.array([t.value for t in times], dtype=np.int64)
        point = (ts_ns - s.open_ns) * s.substeps // 60_000_000_000
        point = np.clip(point, 0, s.n_minutes * s.substeps)
        minute = point // s.substeps
        # Snapshots quote the same rounded price the minute bar opens at.
        spot = np.round(np.exp(s.log_price[point]), 2)
        elapsed = point / (s.n_minutes * s.substeps)
        return chains.build_chain(cd, ts_ns, elapsed, minute, spot, s.iv[point])

    def _chain_day(self, day: date, underlying: str, s: IntradayPath) -> chains.ChainDay:
        cfg, prof = self.config, profile(underlying)
        sk = self._ensure(day)
        i = self._trading_index(sk, day)
        path = self._path(underlying)
        is_index = underlying in contracts.INDICES
        count = cfg.expiries_per_chain if is_index else cfg.stock_expiries_per_chain
        expiries = tuple(contracts.expiries(underlying, day, count))
        each = cfg.strikes_each_side if is_index else cfg.stock_strikes_each_side
        ref, ref_iv = float(path.open[i]), float(s.iv[0])
        strikes = chains.strike_grid(underlying, day, ref, each)
        step = contracts.strike_step_for_price(underlying, day, ref)
        oi_args = (cfg.seed, underlying)
        target = chains.open_interest_profile(
            *oi_args, day, expiries, strikes, step, ref, ref_iv, prof.oi_scale
        )
        prev = self._previous_oi(sk, i, underlying, expiries, strikes, step, target)
        par = REGIME_PARAMS[REGIMES[sk.regime_codes[i]]]
        nifty_long = cfg.long_run_iv
        long_run = nifty_long if underlying == "NIFTY" else prof.beta * nifty_long + prof.idio_iv
        return chains.ChainDay(
            underlying=underlying,
            day=day,
            seed=cfg.seed,
            expiries=expiries,
            strikes=strikes,
            rate=cfg.rate,
            carry_q=prof.div_yield,
            long_run_iv=long_run,
            skew_rho=par.skew_rho * prof.skew_scale,
            smile_eta=par.smile_eta,
            spread_rel=prof.spread_rel * par.spread_mult,
            tick=cfg.tick_size,
            oi_target=target,
            oi_prev=prev,
            volume_total=chains.daily_volume(
                *oi_args, day, expiries, strikes, target, ref, ref_iv, prof.volume_ratio
            ),
            volume_curve=chains.volume_curve(u_shape(s.n_minutes)),
        )

    def _previous_oi(self, sk, i, underlying, expiries, strikes, step, target) -> np.ndarray:
        """Yesterday's OI profile on today's grid; zero for contracts listed today."""
        if i == 0:
            return np.floor(0.9 * target)
        prev_day = sk.days[i - 1]
        prev_session = self._session(prev_day, underlying)
        prof = profile(underlying)
        prev = chains.open_interest_profile(
            self.config.seed,
            underlying,
            prev_day,
            expiries,
            strikes,
            step,
            float(self._path(underlying).open[i - 1]),
            float(prev_session.iv[0]),
            prof.oi_scale,
        )
        for j, e in enumerate(expiries):
            try:
                listed = contracts.listing_date(underlying, e)
            except ValueError:
                continue
            if listed > prev_day:
                prev[j] = 0.0
        return prev

    # --- news -----------------------------------------------------------------------------------

    def news(self, day: date) -> pd.DataFrame:
        """Events stamped on calendar day `day` (IST), scheduled and surprise, with the impact
        and implied-vol step each one applied (NaN only if it lands past the simulated horizon)."""
        sk = self._ensure(day + timedelta(days=10))
        nifty = self._path("NIFTY")
        applied: dict[str, tuple[float, float]] = {}
        rows = []
        for e in sk.events:
            if e.ts.tz_convert(MARKET_TZ).date() != day:
                continue
            iv_step = np.nan
            if e.event_id in sk.placement:
                i = sk.placement[e.event_id][0]
                path = nifty if e.scope == "MARKET" else self._path(e.scope)
                applied = {s.event_id: (s.log_jump, s.iv_jump) for s in path.shocks.get(i, [])}
                iv_step = applied[e.event_id][1]
            rows.append(
                {
                    "event_id": e.event_id,
                    "ts": e.ts,
                    "kind": e.kind,
                    "scheduled": e.scheduled,
                    "scope": e.scope,
                    "headline": e.headline,
                    "true_impact_pct": e.impact_pct,
                    "true_iv_change": iv_step,
                }
            )
        if not rows:
            return empty_frame(NEWS_COLUMNS)
        return conform(pd.DataFrame(rows), NEWS_COLUMNS)

    # --- caches ---------------------------------------------------------------------------------

    def _ensure(self, day: date) -> MarketSkeleton:
        """The skeleton, extended (recomputed from the anchor) to cover `day` and what follows."""
        if day < self.config.anchor:
            raise ValueError(f"{day} is before the simulator's anchor {self.config.anchor}")
        with self._lock:
            sk = self._skeleton
            if sk is None or sk.days[-1] < day + timedelta(days=7):
                horizon = date(day.year, 12, 31) + _HORIZON_SLACK
                self._skeleton = build_skeleton(self.config, horizon, contracts.STOCKS)
                self._paths.clear()
            return self._skeleton

    def _path(self, underlying: str) -> UnderlyingPath:
        self._check_underlying(underlying)
        with self._lock:
            if underlying not in self._paths:
                sk = self._skeleton
                nifty = self._paths.get("NIFTY") or simulate_nifty(sk)
                self._paths["NIFTY"] = nifty
                if underlying != "NIFTY":
                    self._paths[underlying] = simulate_follower(sk, nifty, underlying)
            return self._paths[underlying]

    def _session(self, day: date, underlying: str) -> IntradayPath:
        key = (day, underlying)
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
            sk = self._ensure(day)
            i = self._trading_index(sk, day)
            n_minutes = int((sk.close_ns[i] - sk.open_ns[i]) // 60_000_000_000)
            nifty = self._path("NIFTY")
            if underlying == "NIFTY":
                iv_vol = REGIME_PARAMS[REGIMES[sk.regime_codes[i]]].iv_vol
                s = nifty_session(self.config, nifty, i, day, int(sk.open_ns[i]), n_minutes, iv_vol)
            else:
                base = self._session(day, "NIFTY")
                path = self._path(underlying)
                beta = profile(underlying).beta
                s = follower_session(self.config, path, base, nifty.session_diff[i], i, beta)
            self._sessions[key] = s
            while len(self._sessions) > _SESSION_CACHE:
                self._sessions.popitem(last=False)
            return s

    @staticmethod
    def _trading_index(sk: MarketSkeleton, day: date) -> int:
        try:
            return sk.index(day)
        except KeyError:
            raise ValueError(f"{day} is not a trading day") from None

    @staticmethod
    def _check_underlying(underlying: str) -> None:
        if underlying not in contracts.UNDERLYINGS:
            known = ", ".join(contracts.UNDERLYINGS)
            raise ValueError(f"unknown underlying {underlying!r}; known: {known}")
