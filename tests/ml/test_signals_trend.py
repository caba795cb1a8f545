"""Multi-timeframe consensus and the direction model slot on constructed price paths."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market import calendar
from quantsentinel.ml.signals import (
    SignalInputError,
    consensus,
    direction_signal,
    multi_timeframe_signal,
)
from quantsentinel.ml.signals.timeframes import HORIZONS

DAY = date(2025, 3, 4)
AT = pd.Timestamp("2025-03-04 12:30", tz="Asia/Kolkata").tz_convert("UTC")


def _paths(daily_drift: float, intraday_drift: float, seed: int = 1):
    """Daily closes for 30 sessions before DAY, today's minute bars from the open to AT, and
    5-minute snapshots, each drifting at its own rate with small noise."""
    rng = np.random.default_rng(seed)
    days = calendar.trading_days(date(2025, 1, 10), DAY)[:-1][-30:]
    level = 22000 * np.exp(np.cumsum(daily_drift + rng.normal(0, 0.001, len(days))))
    closes = pd.DataFrame(
        {
            "underlying": "NIFTY",
            "ts": [calendar.session(d).close.tz_convert("UTC") for d in days],
            "close": level,
        }
    )
    open_ = calendar.session(DAY).open.tz_convert("UTC")
    n = int((AT - open_) / pd.Timedelta(minutes=1))
    minute = level[-1] * np.exp(np.cumsum(intraday_drift + rng.normal(0, 0.0001, n)))
    bars = pd.DataFrame(
        {
            "underlying": "NIFTY",
            "ts": open_ + pd.to_timedelta(np.arange(n), unit="min"),
            "open": minute, "high": minute, "low": minute, "close": minute, "volume": 0,
        }
    )  # fmt: skip
    snaps = bars.iloc[::5][["ts", "close"]].rename(columns={"close": "spot"})
    snaps = snaps.assign(ts=snaps["ts"] + pd.Timedelta(minutes=1))
    return snaps, bars, closes


def test_a_steady_uptrend_on_every_horizon_is_agreement_and_bullish() -> None:
    s = multi_timeframe_signal(*_paths(0.004, 0.0002), AT, underlying="NIFTY")
    c = s.detail
    assert c.state == "agreement" and not c.transition
    assert set(c.bullish) == set(HORIZONS) and not c.missing
    assert (c.agreement_frame().to_numpy() == 1).all()
    assert s.score == pytest.approx(c.weighted_mean) and s.score > 0.8
    assert s.confidence > 0.8


def test_short_horizons_against_the_long_trend_flag_a_transition_and_shrink() -> None:
    s = multi_timeframe_signal(*_paths(0.004, -0.0002), AT, underlying="NIFTY")
    c = s.detail
    assert c.state == "transition" and c.transition
    assert set(c.bearish) == {"tick", "intraday"} and set(c.bullish) == {"daily", "weekly"}
    assert c.agreement_frame().loc["intraday", "daily"] == -1
    assert c.disagreements()[0][2] > 1.5
    assert abs(s.score) < abs(c.weighted_mean)
    assert s.numbers["transition"] is True


def test_horizons_without_data_are_missing_not_zero() -> None:
    _, bars, closes = _paths(0.004, 0.0002)
    s = multi_timeframe_signal(None, bars, closes.iloc[-8:], AT, underlying="NIFTY")
    assert s.detail.missing == ("tick", "weekly")
    assert s.detail.coverage == pytest.approx(0.85)
    alone = multi_timeframe_signal(None, bars, None, AT, underlying="NIFTY")
    assert alone.is_neutral and alone.fallback == "insufficient_horizons"


def test_constructed_consensus_states() -> None:
    mixed = consensus({"tick": 0.8, "intraday": -0.6, "daily": 0.7, "weekly": -0.5})
    assert mixed.state == "mixed" and mixed.score == pytest.approx(0.5 * mixed.weighted_mean)
    quiet = consensus({"tick": 0.05, "intraday": -0.1, "daily": 0.0, "weekly": 0.1})
    assert quiet.state == "neutral" and quiet.score == 0.0
    assert set(quiet.abstaining) == set(HORIZONS)
    lone = consensus({"intraday": 0.6, "daily": 0.05})
    assert lone.state == "agreement" and lone.missing == ("tick", "weekly")
    with pytest.raises(SignalInputError, match="weights"):
        consensus({"tick": 0.1}, {"monthly": 1.0})
    with pytest.raises(SignalInputError, match="horizon score"):
        consensus({"tick": 1.5, "daily": 0.0})


score = st.one_of(st.none(), st.floats(-1.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({h: score for h in HORIZONS}))
def test_consensus_invariants(scores) -> None:
    c = consensus(scores)
    assert -1.0 <= c.score <= 1.0 and 0.0 <= c.confidence <= 1.0
    assert abs(c.score) <= abs(c.weighted_mean) + 1e-12  # conditioning never amplifies
    m = np.array(c.matrix)
    assert (m == m.T).all() if m.size else True
    assert set(c.bullish) | set(c.bearish) | set(c.abstaining) | set(c.missing) == set(HORIZONS)
    opposed = bool(c.bullish) and bool(c.bearish)
    assert (c.state in ("transition", "mixed")) == opposed
    if c.state == "agreement":
        assert c.score == pytest.approx(c.weighted_mean)


# --- direction model slot -------------------------------------------------------------------


def test_rule_baseline_follows_the_five_day_drift() -> None:
    _, _, up = _paths(0.004, 0.0)
    _, _, down = _paths(-0.004, 0.0)
    s_up = direction_signal(up, AT, underlying="NIFTY")
    s_down = direction_signal(down, AT, underlying="NIFTY")
    assert s_up.score > 0.5 and s_down.score < -0.5
    assert s_up.fallback == "rule_baseline" and s_up.numbers["source"] == "rule"


def test_a_model_answers_when_it_can() -> None:
    _, _, closes = _paths(0.004, 0.0)
    seen = {}

    def model(features):
        seen.update(features)
        return 0.2

    s = direction_signal(closes, AT, underlying="NIFTY", model=model)
    assert s.fallback is None and s.score == pytest.approx(-0.6)
    assert seen["return_5d"] == pytest.approx(
        math.log(closes["close"].iloc[-1] / closes["close"].iloc[-6])
    )


@pytest.mark.parametrize(
    "model, why",
    [
        (lambda f: float("nan"), "nan"),
        (lambda f: 1.7, "outside"),
        (lambda f: "up", "not a probability"),
        (lambda f: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_a_failing_model_falls_back_to_the_rule_and_says_so(model, why) -> None:
    _, _, closes = _paths(0.004, 0.0)
    rule = direction_signal(closes, AT, underlying="NIFTY")
    s = direction_signal(closes, AT, underlying="NIFTY", model=model)
    assert s.score == rule.score
    assert s.fallback.startswith("rule_baseline (model failed:") and why in s.fallback


def test_direction_needs_twenty_sessions() -> None:
    _, _, closes = _paths(0.004, 0.0)
    s = direction_signal(closes.iloc[-10:], AT, underlying="NIFTY")
    assert s.is_neutral and s.fallback == "short_history"
