"""Cross-sectional signal on the single-stock universe (seed 001 §5 pipeline 4).

Two per-stock readings from daily closes known before `at` (completed sessions only):
- momentum: the 15-session log return, ranked across the names present into deciles
  (1 = weakest tenth, 10 = strongest; ties share the average rank), scored linearly
  (decile - 5.5) / 4.5 in [-1, 1];
- mean reversion: z = (last close - mean) / sd over the last 20 closes; only beyond the entry
  band |z| > 1.3 does it speak, against the stretch: -tanh(z / 2); inside the band it is 0.

Sector neutralisation (`market.sectors.SECTORS`): each reading is demeaned within its sector,
so a day when all banks rally shows up as no bank signal (the index and sector signals carry
that), and the book cannot go all-in on one sector. A sector's demeaned values are then divided
by max(1, their largest |value|): the range stays in [-1, 1] and the sector mean stays exactly 0.
A name alone in its sector (RELIANCE, BHARTIARTL, LT in the current table) has no sector-relative
view and scores 0: that is what neutralising within sector means, stated rather than hidden.
Combined per-stock score = W_MOMENTUM x momentum + W_REVERSION x reversion (both neutral, so the
combination is too); the seed found mean reversion the more reliable, hence its larger weight.

Index-level summary (axis direction, for the index the universe belongs to): breadth of the
raw (not neutralised) 15-session returns, (up - down) / names, which is what a rank cannot say;
`numbers` also carries the cross-sectional dispersion of returns (the opportunity the seed says
cross-section trades when index vol is compressed) and the long/short candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from quantsentinel.market.contract_facts import UNDERLYINGS
from quantsentinel.market.sectors import SECTORS, sector
from quantsentinel.ml.signals.prices import closes_before_day
from quantsentinel.ml.signals.types import Signal, SignalInputError, check_at, clip01, neutral

NAME = "cross_sectional"
MOMENTUM_SESSIONS = 15
REVERSION_SESSIONS = 20
REVERSION_ENTRY_Z = 1.3
REVERSION_Z_SCALE = 2.0
W_MOMENTUM, W_REVERSION = 0.4, 0.6
MIN_NAMES = 4
INDICES = ("NIFTY", "BANKNIFTY")
STOCK_UNIVERSE: tuple[str, ...] = tuple(u for u in UNDERLYINGS if u not in INDICES)


@dataclass(frozen=True)
class CrossSection:
    """Per-stock readings (Series indexed by symbol) and the index-level summary Signal."""

    momentum_return: pd.Series
    momentum_decile: pd.Series
    momentum: pd.Series  # sector-neutral
    reversion_z: pd.Series
    reversion: pd.Series  # sector-neutral
    score: pd.Series  # combined, sector-neutral, in [-1, 1]
    sectors: pd.Series
    summary: Signal


def deciles(values: pd.Series) -> pd.Series:
    """Decile 1..10 of each value's average rank among the values (ties share a rank)."""
    pct = (values.rank(method="average") - 0.5) / values.size
    return np.ceil(pct * 10).clip(1, 10).astype(int)


def sector_neutral(scores: pd.Series, sectors: pd.Series) -> pd.Series:
    """Demean within sector, then scale each sector by max(1, largest |value|) (docstring)."""
    demeaned = scores - scores.groupby(sectors).transform("mean")
    scale = demeaned.abs().groupby(sectors).transform("max").clip(lower=1.0)
    return demeaned / scale


def _empty(summary: Signal) -> CrossSection:
    none = pd.Series(dtype=float)
    return CrossSection(none, none, none, none, none, none, pd.Series(dtype=object), summary)


def _closes_table(closes: pd.DataFrame, at: pd.Timestamp, universe: Sequence[str]) -> pd.DataFrame:
    known = closes_before_day(closes, at)
    known = known[known["underlying"].astype(str).isin(universe)]
    if known.empty:
        return pd.DataFrame()
    values = known["close"].to_numpy(float)
    if np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise SignalInputError("daily_closes.close must be finite and positive")
    day = known["ts"].dt.tz_convert("Asia/Kolkata").dt.date
    table = known.assign(day=day.to_numpy(), underlying=known["underlying"].astype(str))
    last = table.drop_duplicates(["day", "underlying"], keep="last")
    return last.pivot(index="day", columns="underlying", values="close").sort_index()


def cross_sectional_signal(
    daily_closes: pd.DataFrame | None,
    at: pd.Timestamp,
    *,
    universe: Sequence[str] = STOCK_UNIVERSE,
) -> CrossSection:
    """Per-stock sector-neutral scores and the index summary. Missing data gives empty
    per-stock Series and a neutral summary whose `fallback` says why."""
    at = check_at(at)
    for name in universe:
        sector(name)  # an unknown symbol is a caller error, named here
    if daily_closes is None:
        return _empty(neutral(NAME, "direction", "no_daily_closes"))
    table = _closes_table(daily_closes, at, universe)
    needed = REVERSION_SESSIONS
    usable = [u for u in universe if u in table and table[u].dropna().size >= needed]
    if len(usable) < MIN_NAMES:
        return _empty(
            neutral(NAME, "direction", "too_few_names", names=len(usable), needed=MIN_NAMES)
        )
    series = {u: table[u].dropna().to_numpy(float) for u in usable}
    mom_ret = pd.Series(
        {u: math.log(p[-1] / p[-1 - MOMENTUM_SESSIONS]) for u, p in series.items()}, dtype=float
    )
    z = {}
    for u, p in series.items():
        window = p[-REVERSION_SESSIONS:]
        sd = float(np.std(window, ddof=1))
        z[u] = (p[-1] - float(np.mean(window))) / sd if sd > 0 else 0.0
    rev_z = pd.Series(z, dtype=float)
    sectors = pd.Series({u: SECTORS[u] for u in usable})
    decile = deciles(mom_ret)
    momentum = sector_neutral((decile - 5.5) / 4.5, sectors)
    raw_rev = (-np.tanh(rev_z / REVERSION_Z_SCALE)).where(rev_z.abs() > REVERSION_ENTRY_Z, 0.0)
    reversion = sector_neutral(raw_rev, sectors)
    score = W_MOMENTUM * momentum + W_REVERSION * reversion
    up, down = int((mom_ret > 0).sum()), int((mom_ret < 0).sum())
    breadth = (up - down) / len(usable)
    ranked = score.sort_values()
    numbers = {
        "names": len(usable),
        "missing": [u for u in universe if u not in usable],
        "breadth": breadth,
        "mean_return_15d": float(mom_ret.mean()),
        "dispersion_15d": float(mom_ret.std(ddof=0)),
        "longs": [u for u in ranked.index[::-1] if ranked[u] > 0][:3],
        "shorts": [u for u in ranked.index if ranked[u] < 0][:3],
        "reversion_active": [u for u in usable if abs(rev_z[u]) > REVERSION_ENTRY_Z],
    }
    # Breadth of a dozen names is a weak index call: confidence scales with coverage, capped.
    summary = Signal(
        NAME, "direction", float(breadth), 0.5 * clip01(len(usable) / len(universe)), numbers
    )
    return CrossSection(mom_ret, decile, momentum, rev_z, reversion, score, sectors, summary)


def cross_sectional_for(section: CrossSection, underlying: str) -> Signal:
    """The signal an underlying's decision reads: a stock of the universe gets its own
    sector-neutral score (numbers extended with its readings); an index gets the summary.
    `detail` is the whole CrossSection either way."""
    summary = section.summary
    if underlying not in section.score.index:
        return replace(summary, detail=section)
    numbers = {
        **summary.numbers,
        "momentum_return_15d": float(section.momentum_return[underlying]),
        "momentum_decile": int(section.momentum_decile[underlying]),
        "momentum": float(section.momentum[underlying]),
        "reversion_z": float(section.reversion_z[underlying]),
        "reversion": float(section.reversion[underlying]),
    }
    score = float(np.clip(section.score[underlying], -1.0, 1.0))
    return Signal(NAME, "direction", score, summary.confidence, numbers, summary.fallback, section)
