"""Layer-1 signals on simulated market data: the bundle, no look-ahead for every signal, and
the shared guards (missing -> neutral with a reason, malformed -> SignalInputError).

The simulated frames are built once per session (`market()`) and imported by the other
test_signals_* files."""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar
from quantsentinel.market.analytics import chain_analytics
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.market.surface import iv_surface
from quantsentinel.ml.density.chain import chain_densities
from quantsentinel.ml.signals import (
    SIGNAL_NAMES,
    STOCK_UNIVERSE,
    Signal,
    SignalInputError,
    SignalInputs,
    compute_signals,
    daily_closes_from_bars,
)
from quantsentinel.ml.signals.clock import close_of

DAY = date(2025, 3, 4)
UNDERLYING = "NIFTY"


@cache
def market() -> dict:
    """A NIFTY decision at 12:35:30 IST on DAY with ~26 sessions of history behind it."""
    sim = MarketSimulator()
    days = calendar.trading_days(date(2025, 1, 27), DAY)
    bars = pd.concat(
        [sim.bars(d, u) for d in days for u in (UNDERLYING, *STOCK_UNIVERSE)], ignore_index=True
    )
    chain = sim.chain_snapshots(DAY, UNDERLYING)
    surface = iv_surface(chain)
    times = sim.snapshot_times(DAY)
    every_other = chain[chain["ts"].isin(times[::2])]
    density = chain_densities(every_other, rate=0.065, crash_move=-0.05, snapshots="all").summary
    news_days = calendar.trading_days(date(2025, 1, 27), date(2025, 3, 14))
    news = pd.concat([sim.news(d) for d in news_days], ignore_index=True)
    forecasts = pd.DataFrame(
        {
            "underlying": UNDERLYING,
            "date": pd.Timestamp(calendar.previous_trading_day(DAY)),
            "horizon": [1, 5, 22],
            "variance": [0.011**2, 0.010**2, 0.009**2],
            "source": "champion",
            "fallback_reason": None,
        }
    )
    return {
        "at": times[40] + pd.Timedelta(seconds=30),
        "bars": bars,
        "closes": daily_closes_from_bars(bars),
        "surface": surface,
        "analytics": chain_analytics(chain, surface),
        "density": density,
        "news": news,
        "forecasts": forecasts,
    }


def inputs(m: dict | None = None, **overrides) -> SignalInputs:
    m = m or market()
    frames = {
        "vol_forecasts": m["forecasts"],
        "iv_surface": m["surface"],
        "implied_distribution": m["density"],
        "chain_analytics": m["analytics"],
        "bars": m["bars"][m["bars"]["underlying"] == UNDERLYING],
        "daily_closes": m["closes"],
        "news": m["news"],
    }
    return SignalInputs(UNDERLYING, **{**frames, **overrides})


def same(a: Signal, b: Signal) -> bool:
    return (a.name, a.axis, a.score, a.confidence, a.fallback, repr(a.numbers)) == (
        b.name, b.axis, b.score, b.confidence, b.fallback, repr(b.numbers),
    )  # fmt: skip


def perturbed(m: dict, cut: pd.Timestamp, at: pd.Timestamp) -> dict:
    """Every frame changed at and after `cut` (and a boundary row stamped exactly `cut`); the
    news ground-truth columns scrambled everywhere; events added at and after `cut`."""
    rng = np.random.default_rng(7)
    out = dict(m)

    def later(frame: pd.DataFrame, column: str = "ts") -> np.ndarray:
        return (frame[column] >= cut).to_numpy()

    s = m["surface"].copy()
    s.loc[later(s), "iv"] *= 1.5
    boundary = s[s["ts"] == s.loc[s["ts"] < at, "ts"].max()].assign(
        ts=cut, iv=lambda f: f["iv"] * 2
    )
    out["surface"] = pd.concat([s, boundary], ignore_index=True)
    a = m["analytics"].copy()
    rows = later(a)
    a.loc[rows, "put_oi_change"] = -3 * a.loc[rows, "put_oi_change"] - 1e6
    a.loc[rows, ["gex", "spot"]] *= [-1.0, 1.02]
    a.loc[rows, "max_pain"] += 500.0
    out["analytics"] = pd.concat([a, a.iloc[[-1]].assign(ts=cut, spot=1.0e5)], ignore_index=True)
    d = m["density"].copy()
    d.loc[later(d), "skewness"] -= 1.0
    d.loc[later(d), "crash_probability"] = 0.3
    out["density"] = d
    b = m["bars"].copy()
    rows = (b["ts"] + pd.Timedelta(minutes=1) > cut).to_numpy()
    b.loc[rows, ["open", "high", "low", "close"]] *= 1.03
    out["bars"] = b
    c = m["closes"].copy()
    rows = later(c)
    c.loc[rows, "close"] *= np.where(np.arange(rows.sum()) % 2, 1.1, 0.9)
    out["closes"] = c
    f = m["forecasts"].copy()
    known = f["date"].map(lambda d: close_of(d.date()) >= cut).to_numpy(bool)
    f.loc[known, "variance"] *= 4.0
    today = f.assign(date=pd.Timestamp(at.tz_convert("Asia/Kolkata").date()), variance=9e-4)
    out["forecasts"] = pd.concat([f, today], ignore_index=True)
    n = m["news"].copy()
    n["true_impact_pct"] = rng.normal(0, 5, len(n))
    n["true_iv_change"] = rng.normal(0, 0.1, len(n))
    extra = n.iloc[[0, 0, 0]].copy()
    extra["event_id"] = ["x-cut", "x-late", "x-budget"]
    extra["ts"] = [cut, max(cut, at - pd.Timedelta(minutes=1)), at + pd.Timedelta(days=31)]
    extra["kind"] = ["SURPRISE", "SURPRISE", "UNION_BUDGET"]
    extra["scheduled"] = [False, False, True]
    extra["scope"] = "MARKET"
    out["news"] = pd.concat([n, extra], ignore_index=True)
    return out


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_no_signal_reads_data_at_or_after_the_decision_time(name: str) -> None:
    m = market()
    at = m["at"]
    base = compute_signals(inputs(m), at)[name]
    assert not base.is_neutral, f"{name} must answer on full data for this test to mean anything"
    after = compute_signals(inputs(perturbed(m, at, at)), at)[name]
    assert same(base, after), f"{name} changed when only data at/after `at` changed"
    # Control: the same perturbation a day earlier is visible, so the check above has teeth.
    earlier = compute_signals(inputs(perturbed(m, at - pd.Timedelta(days=1), at)), at)[name]
    assert not same(base, earlier), f"{name} did not react to data before `at`"


def test_bundle_answers_every_signal_in_range_and_on_its_axis() -> None:
    out = compute_signals(inputs(), market()["at"])
    assert tuple(out) == SIGNAL_NAMES
    axes = {"volatility": "volatility", "gex": "volatility"}
    for name, signal in out.items():
        assert signal.name == name
        assert signal.axis == axes.get(name, "direction")
        assert -1.0 <= signal.score <= 1.0 and 0.0 <= signal.confidence <= 1.0
    assert out["news"].score == 0.0
    assert out["direction"].fallback == "rule_baseline"


def test_daily_closes_are_derived_from_bars_when_not_given() -> None:
    m = market()
    derived = compute_signals(inputs(m, daily_closes=None), m["at"])
    given = compute_signals(inputs(m), m["at"])
    assert same(derived["direction"], given["direction"])
    assert same(derived["multi_timeframe"], given["multi_timeframe"])
    assert derived["cross_sectional"].fallback == "no_daily_closes"


def test_missing_inputs_answer_neutral_with_the_reason() -> None:
    out = compute_signals(SignalInputs(UNDERLYING), market()["at"])
    for name, signal in out.items():
        assert signal.score == 0.0 and signal.confidence == 0.0, name
        assert signal.fallback, name
    assert out["volatility"].fallback == "no_vol_forecast"
    assert out["oi_flow"].fallback == "no_chain_analytics"
    assert out["multi_timeframe"].fallback == "insufficient_horizons"
    assert out["news"].fallback == "no_news_feed"


def test_empty_frames_are_missing_data_not_errors() -> None:
    m = market()
    empty = {k: v.iloc[0:0] for k, v in m.items() if isinstance(v, pd.DataFrame)}
    out = compute_signals(inputs({**m, **empty}), m["at"])
    assert all(s.score == 0.0 for s in out.values())
    assert out["news"].numbers["action"] == "proceed"


def test_a_stale_snapshot_is_not_read_as_current() -> None:
    m = market()
    late = m["at"] + pd.Timedelta(days=2)
    out = compute_signals(inputs(m), late)
    assert out["oi_flow"].fallback == "stale_chain_analytics"
    assert out["volatility"].fallback == "stale_iv_surface"


@pytest.mark.parametrize(
    "field, frame, drop",
    [
        ("iv_surface", "surface", "iv"),
        ("chain_analytics", "analytics", "gex"),
        ("implied_distribution", "density", "skewness"),
        ("vol_forecasts", "forecasts", "variance"),
        ("news", "news", "scope"),
        ("daily_closes", "closes", "close"),
        ("bars", "bars", "close"),
    ],
)
def test_a_frame_without_a_needed_column_is_refused_by_name(field, frame, drop) -> None:
    m = market()
    broken = m[frame].drop(columns=[drop])
    with pytest.raises(SignalInputError, match=drop):
        compute_signals(inputs(m, **{field: broken}), m["at"])


@pytest.mark.parametrize(
    "field, frame",
    [("iv_surface", "surface"), ("chain_analytics", "analytics"), ("news", "news"),
     ("implied_distribution", "density"), ("daily_closes", "closes"), ("bars", "bars")],
)  # fmt: skip
def test_naive_timestamps_are_refused(field, frame) -> None:
    m = market()
    naive = m[frame].assign(ts=m[frame]["ts"].dt.tz_localize(None))
    with pytest.raises(SignalInputError, match="tz-aware"):
        compute_signals(inputs(m, **{field: naive}), m["at"])


def test_a_naive_decision_time_is_refused() -> None:
    with pytest.raises(SignalInputError, match="at must be a tz-aware"):
        compute_signals(inputs(), pd.Timestamp("2025-03-04 07:00"))


def test_a_signal_out_of_range_cannot_be_built() -> None:
    with pytest.raises(SignalInputError, match="score"):
        Signal("x", "direction", 1.5, 0.5)
    with pytest.raises(SignalInputError, match="confidence"):
        Signal("x", "volatility", 0.5, float("nan"))
    with pytest.raises(SignalInputError, match="axis"):
        Signal("x", "sideways", 0.0, 0.0)  # type: ignore[arg-type]
