"""Freshness rules: a snapshot must be from a trading session and must not be stale.

Project code rather than Great Expectations because both need the exchange calendar (holidays,
session hours in Asia/Kolkata), which GX has no notion of.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantsentinel.market import calendar
from quantsentinel.market.validation.rules import format_value, snapshot_ids
from quantsentinel.market.validation.types import Reason, ValidationConfig, Violation


def _open_mask(stamps: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(in session, judged) per instant; what the calendar cannot judge counts as outside."""
    try:
        return np.asarray(calendar.in_session_mask(stamps), dtype=bool), np.ones(len(stamps), bool)
    except ValueError:
        # The calendar refuses dates its session table does not cover: judge one by one so a
        # single odd timestamp cannot hide the verdict on the others.
        open_, judged = np.zeros(len(stamps), bool), np.ones(len(stamps), bool)
        for i, t in enumerate(stamps):
            try:
                open_[i] = bool(calendar.in_session(t))
            except ValueError:
                judged[i] = False
        return open_, judged


def session_violations(chain: pd.DataFrame) -> list[Violation]:
    """OUTSIDE_SESSION for snapshots with any row stamped outside a trading session."""
    ts = chain["ts"]
    present = ts.notna().to_numpy()
    if not present.any():
        return []
    # A snapshot has one ts repeated on hundreds of rows: ask the calendar once per instant.
    codes, uniques = pd.factorize(ts[present])
    open_unique, judged_unique = _open_mask(pd.DatetimeIndex(uniques))
    outside = np.zeros(len(chain), dtype=bool)
    outside[present] = ~open_unique[codes]
    unjudged = np.zeros(len(chain), dtype=bool)
    unjudged[present] = ~judged_unique[codes]
    if not outside.any():
        return []
    frame = pd.DataFrame(
        {
            "sid": snapshot_ids(chain).to_numpy()[outside],
            "ts": ts[outside],
            "unjudged": unjudged[outside],
        }
    )
    out = []
    for sid, g in frame.groupby("sid", sort=True):
        stamps = ", ".join(format_value(t) for t in g["ts"].drop_duplicates().head(3))
        detail = f"{len(g)} row(s) stamped outside the trading session: ts {stamps} (IST)"
        if g["unjudged"].any():
            detail += "; the exchange calendar has no session timings for that date"
        out.append(Violation(str(sid), Reason.OUTSIDE_SESSION, detail, len(g)))
    return out


def staleness_violations(
    chain: pd.DataFrame, max_staleness: pd.Timedelta | None
) -> list[Violation]:
    """STALE_SNAPSHOT where received_at lags the exchange time by more than `max_staleness`."""
    if max_staleness is None:
        return []
    lag = chain["received_at"] - chain["ts"]
    stale = (lag > max_staleness).fillna(False).to_numpy(dtype=bool)
    if not stale.any():
        return []
    frame = pd.DataFrame(
        {"sid": snapshot_ids(chain).to_numpy()[stale], "lag": lag[stale].dt.total_seconds()}
    )
    limit = max_staleness.total_seconds()
    out = []
    for sid, g in frame.groupby("sid", sort=True):
        worst = float(g["lag"].max())
        detail = f"received {worst:g} s after exchange time (max {limit:g} s) on {len(g)} row(s)"
        out.append(Violation(str(sid), Reason.STALE_SNAPSHOT, detail, len(g)))
    return out


def freshness_violations(chain: pd.DataFrame, config: ValidationConfig) -> list[Violation]:
    """Session and staleness rules together; assumes the schema already checked out."""
    return session_violations(chain) + staleness_violations(chain, config.max_staleness)
