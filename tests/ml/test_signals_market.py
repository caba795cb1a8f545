"""Volatility, implied-distribution and positioning signals on constructed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.ml.signals import (
    SignalInputError,
    flow_signals,
    implied_distribution_signal,
    volatility_signal,
)
from tests.ml.test_signals import UNDERLYING, market

# --- volatility -------------------------------------------------------------------------------


def _flat_forecast(variance: float, source: str = "champion", reason: str | None = None):
    m = market()
    return m["forecasts"].assign(variance=variance, source=source, fallback_reason=reason)


def _matched_variance(ratio: float) -> float:
    """Daily variance whose matched vol is `ratio` x the ATM implied vol the signal reads."""
    m = market()
    probe = volatility_signal(_flat_forecast(1e-4), m["surface"], m["at"], underlying=UNDERLYING)
    n = probe.numbers
    return (ratio * n["atm_iv"]) ** 2 * n["T_years"] / n["trading_days_to_expiry"]


def _vol(variance: float, **kwargs):
    m = market()
    frame = _flat_forecast(variance, **kwargs)
    return volatility_signal(frame, m["surface"], m["at"], underlying=UNDERLYING)


def test_a_forecast_half_above_implied_favours_long_premium() -> None:
    up = _vol(_matched_variance(1.5))
    assert up.score > 0.8 and up.fallback is None
    assert math.isclose(up.numbers["log_ratio"], math.log(1.5), rel_tol=1e-9)
    down = _vol(_matched_variance(1 / 1.5))
    assert down.score < -0.8
    assert math.isclose(down.score, -up.score, rel_tol=1e-9)  # odd in the log ratio
    assert abs(_vol(_matched_variance(1.0)).score) < 1e-12


@settings(max_examples=30, deadline=None)
@given(st.floats(0.2, 5.0), st.floats(0.2, 5.0))
def test_volatility_score_rises_with_the_forecast(a: float, b: float) -> None:
    low, high = sorted((a, b))
    s_low, s_high = _vol(_matched_variance(low)), _vol(_matched_variance(high))
    assert -1.0 <= s_low.score <= s_high.score <= 1.0


def test_a_baseline_forecast_answers_with_less_confidence_and_says_so() -> None:
    v = _matched_variance(1.3)
    champion = _vol(v)
    baseline = _vol(v, source="baseline", reason="no_champion")
    assert baseline.score == champion.score
    assert baseline.confidence == pytest.approx(0.5 * champion.confidence)
    assert baseline.fallback == "vol_forecast_baseline:no_champion"


def test_confidence_falls_close_to_expiry() -> None:
    m = market()
    forecast = _flat_forecast(_matched_variance(1.3))
    at_close = m["at"] + pd.Timedelta(days=1)  # the day before the weekly expiry
    near = volatility_signal(forecast, m["surface"], at_close, underlying=UNDERLYING)
    far = volatility_signal(forecast, m["surface"], m["at"], underlying=UNDERLYING)
    assert near.numbers["trading_days_to_expiry"] < far.numbers["trading_days_to_expiry"]
    assert near.confidence < far.confidence


def test_a_forecast_for_another_underlying_is_not_used() -> None:
    m = market()
    other = _flat_forecast(1e-4).assign(underlying="BANKNIFTY")
    out = volatility_signal(other, m["surface"], m["at"], underlying=UNDERLYING)
    assert out.is_neutral and out.fallback == "no_vol_forecast"


def test_malformed_volatility_inputs_raise() -> None:
    m = market()
    aware = _flat_forecast(1e-4).assign(date=lambda f: f["date"].dt.tz_localize("UTC"))
    with pytest.raises(SignalInputError, match=r"vol_forecasts\.date"):
        volatility_signal(aware, m["surface"], m["at"], underlying=UNDERLYING)
    with pytest.raises(SignalInputError, match="overnight_share"):
        volatility_signal(aware, m["surface"], m["at"], underlying=UNDERLYING, overnight_share=1)


# --- implied distribution ---------------------------------------------------------------------


def _density_history(last_skew: float, last_crash: float, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ts = pd.date_range("2025-03-03 04:00", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame(
        {
            "snapshot_id": [f"S{i}" for i in range(n)],
            "ts": ts,
            "underlying": UNDERLYING,
            "expiry": pd.Timestamp("2025-03-20"),
            "T": 14 / 365,
            "published": True,
            "skewness": np.r_[rng.normal(-0.5, 0.05, n - 1), last_skew],
            "crash_probability": np.r_[rng.normal(0.03, 0.003, n - 1), last_crash],
            "implied_move": 0.025,
        }
    )


def _dist(frame: pd.DataFrame, **kwargs):
    at = frame["ts"].iloc[-1] + pd.Timedelta(minutes=1)
    return implied_distribution_signal(frame, at, underlying=UNDERLYING, **kwargs)


def test_an_unusually_fat_left_tail_and_steep_skew_is_bearish() -> None:
    fearful = _dist(_density_history(last_skew=-0.8, last_crash=0.05))
    assert fearful.score < -0.5 and fearful.numbers["z_skew"] < -2
    calm = _dist(_density_history(last_skew=-0.3, last_crash=0.02))
    assert calm.score > 0.5
    usual = _dist(_density_history(last_skew=-0.5, last_crash=0.03))
    assert abs(usual.score) < abs(fearful.score)


def test_distribution_needs_history_and_published_rows() -> None:
    short = _dist(_density_history(-0.8, 0.05, n=6))
    assert short.is_neutral and short.fallback == "short_history"
    unpublished = _dist(_density_history(-0.8, 0.05).assign(published=False))
    assert unpublished.fallback == "no_implied_distribution"
    with pytest.raises(SignalInputError, match="crash_move"):
        _dist(_density_history(-0.8, 0.05), crash_move=0.05)


def test_distribution_on_simulated_history_is_in_range() -> None:
    m = market()
    out = implied_distribution_signal(m["density"], m["at"], underlying=UNDERLYING)
    assert -1 <= out.score <= 1 and 0 < out.confidence <= 0.7
    assert out.numbers["days_to_expiry"] >= 5


# --- OI flow and GEX ------------------------------------------------------------------------


def _analytics(**changes) -> pd.DataFrame:
    row = {
        "snapshot_id": "S1", "underlying": UNDERLYING,
        "ts": pd.Timestamp("2025-03-04 06:00", tz="UTC"), "spot": 22500.0,
        "nearest_expiry": pd.Timestamp("2025-03-13"), "total_call_oi": 1e6,
        "total_put_oi": 1e6, "call_oi_change": 0.0, "put_oi_change": 0.0, "max_pain": 22500.0,
        "gex": 1e9, "gex_flip_level": float("nan"), "gex_coverage": 1.0,
    }  # fmt: skip
    return pd.DataFrame([{**row, **changes}])


def _flow(frame: pd.DataFrame, at: str = "2025-03-04 06:01"):
    return flow_signals(frame, pd.Timestamp(at, tz="UTC"), underlying=UNDERLYING)


def test_put_writing_over_call_writing_leans_bullish() -> None:
    bull, _ = _flow(_analytics(put_oi_change=40_000.0, call_oi_change=-10_000.0))
    bear, _ = _flow(_analytics(put_oi_change=-10_000.0, call_oi_change=40_000.0))
    assert bull.score > 0.5 and bear.score < -0.5
    assert bull.numbers["max_pain_weight"] == 0.0  # a week from expiry: no pin


def test_max_pain_pulls_only_near_expiry() -> None:
    far, _ = _flow(_analytics(max_pain=22700.0))
    near, _ = _flow(_analytics(max_pain=22700.0, nearest_expiry=pd.Timestamp("2025-03-04")))
    assert far.score == 0.0
    assert near.numbers["max_pain_weight"] > 0.7  # 0.64 sessions left of the 3-day ramp
    assert near.score > 0.3  # the pull alone, OI flow flat
    later, _ = _flow(
        _analytics(max_pain=22700.0, nearest_expiry=pd.Timestamp("2025-03-04")),
        at="2025-03-04 09:00",
    )
    assert later.score > near.score  # the pull grows toward the close


def test_long_dealer_gamma_favours_short_premium_more_so_far_from_the_flip() -> None:
    _, firm = _flow(_analytics(gex=1e9))
    _, near_flip = _flow(_analytics(gex=1e9, gex_flip_level=22450.0))
    _, short_gamma = _flow(_analytics(gex=-1e9))
    assert firm.score < -0.9
    assert -0.5 < near_flip.score < 0
    assert short_gamma.score == -firm.score
    _, partial = _flow(_analytics(gex_coverage=0.5))
    assert partial.confidence == pytest.approx(0.5 * firm.confidence)


def test_flow_without_open_interest_is_neutral() -> None:
    oi, gex = _flow(_analytics(total_call_oi=0.0, total_put_oi=0.0, gex=0.0))
    assert oi.fallback == "no_open_interest" and gex.fallback == "no_gamma_exposure"
    oi, gex = _flow(_analytics(), at="2025-03-04 06:00")  # the row is not before `at`
    assert oi.fallback == gex.fallback == "no_chain_analytics"
