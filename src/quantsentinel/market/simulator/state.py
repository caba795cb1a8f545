"""Read-only views of the simulator's ground truth, for tests, labels and audits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from quantsentinel.market.simulator.config import REGIMES, Regime
from quantsentinel.market.simulator.dynamics import MarketSkeleton, UnderlyingPath


@dataclass(frozen=True)
class DayState:
    """One underlying's trading day as the skeleton fixed it.

    open = prev_close * exp(gap_diffusion + gap_jump); close = open * exp(session_diffusion +
    session_jump). The *_jump terms are the summed log jumps of the news that hit (see
    `MarketSimulator.shocks`), the *_diffusion terms everything else. iv_open/iv_close are the
    underlying's 30-day ATM implied vol (for NIFTY: India VIX / 100).
    """

    day: date
    underlying: str
    regime: Regime
    prev_close: float
    open: float
    close: float
    gap_diffusion: float
    gap_jump: float
    session_diffusion: float
    session_jump: float
    iv_open: float
    iv_close: float


def day_state(
    sk: MarketSkeleton, path: UnderlyingPath, nifty: UnderlyingPath, i: int, beta: float
) -> DayState:
    """The DayState of skeleton day `i`; a follower's iv30 is beta * NIFTY's Y plus its eta."""
    if path.underlying == "NIFTY":
        iv_open, iv_close = path.vol_open[i], path.vol_close[i]
    else:
        iv_open = beta * nifty.vol_open[i] + path.vol_open[i]
        iv_close = beta * nifty.vol_close[i] + path.vol_close[i]
    return DayState(
        day=sk.days[i],
        underlying=path.underlying,
        regime=REGIMES[sk.regime_codes[i]],
        prev_close=float(path.prev_close[i]),
        open=float(path.open[i]),
        close=float(path.close[i]),
        gap_diffusion=float(path.gap_diff[i]),
        gap_jump=float(path.gap_jump[i]),
        session_diffusion=float(path.session_diff[i]),
        session_jump=float(path.session_jump[i]),
        iv_open=float(iv_open),
        iv_close=float(iv_close),
    )


SHOCK_COLUMNS = ("event_id", "ts", "minute", "log_jump", "impact_pct", "iv_jump")


def shocks_frame(sk: MarketSkeleton, path: UnderlyingPath, i: int) -> pd.DataFrame:
    """Applied news jumps of skeleton day `i`: minute -1 marks the overnight gap."""
    times = {e.event_id: e.ts for e in sk.events}
    rows = [
        {
            "event_id": s.event_id,
            "ts": times[s.event_id],
            "minute": -1 if s.minute is None else s.minute,
            "log_jump": s.log_jump,
            "impact_pct": 100.0 * np.expm1(s.log_jump),
            "iv_jump": s.iv_jump,
        }
        for s in path.shocks.get(i, [])
    ]
    frame = pd.DataFrame(rows, columns=list(SHOCK_COLUMNS))
    frame["minute"] = frame["minute"].astype(np.int64)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame
