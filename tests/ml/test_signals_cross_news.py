"""Cross-sectional scores (deciles, mean reversion, sector neutrality) and the graduated news
response per event type, scope and recency."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantsentinel.market import calendar
from quantsentinel.market.sectors import SECTORS
from quantsentinel.ml.signals import (
    STOCK_UNIVERSE,
    cross_sectional_for,
    cross_sectional_signal,
    news_response,
    news_signal,
    sector_neutral,
)
from tests.ml.test_signals import market

AT = pd.Timestamp("2025-03-04 12:30", tz="Asia/Kolkata").tz_convert("UTC")


def _closes(drifts: dict[str, float], last_jump: dict[str, float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    days = calendar.trading_days(date(2025, 1, 10), date(2025, 3, 3))[-25:]
    ts = [calendar.session(d).close.tz_convert("UTC") for d in days]
    rows = []
    for u, drift in drifts.items():
        path = 1000 * np.exp(np.cumsum(drift + rng.normal(0, 0.004, len(days))))
        path[-1] *= 1 + (last_jump or {}).get(u, 0.0)
        rows += [{"underlying": u, "ts": t, "close": p} for t, p in zip(ts, path, strict=True)]
    return pd.DataFrame(rows)


DRIFTS = dict(zip(STOCK_UNIVERSE, np.linspace(-0.01, 0.01, len(STOCK_UNIVERSE)), strict=True))


def test_scores_are_sector_neutral_and_in_range() -> None:
    cs = cross_sectional_signal(_closes(DRIFTS), AT)
    assert set(cs.score.index) == set(STOCK_UNIVERSE)
    for series in (cs.momentum, cs.reversion, cs.score):
        assert series.between(-1, 1).all()
        means = series.groupby(cs.sectors).mean()
        assert np.allclose(means.to_numpy(), 0.0, atol=1e-12)
    alone = [u for u in STOCK_UNIVERSE if list(SECTORS.values()).count(SECTORS[u]) == 1]
    assert (cs.score[alone] == 0).all()  # no sector-relative view for a one-name sector


def test_momentum_deciles_follow_the_fifteen_day_return() -> None:
    cs = cross_sectional_signal(_closes(DRIFTS), AT)
    order = cs.momentum_return.sort_values().index
    assert list(cs.momentum_decile[order]) == sorted(cs.momentum_decile)
    assert cs.momentum_decile.min() == 1 and cs.momentum_decile.max() == 10
    banks = [u for u in STOCK_UNIVERSE if SECTORS[u] == "FINANCIAL_SERVICES"]
    best_bank = cs.momentum_return[banks].idxmax()
    assert cs.momentum[best_bank] == cs.momentum[banks].max() > 0


def test_mean_reversion_speaks_only_beyond_the_entry_band() -> None:
    flat = dict.fromkeys(STOCK_UNIVERSE, 0.0)
    cs = cross_sectional_signal(_closes(flat, {"HDFCBANK": 0.15, "TCS": -0.15}), AT)
    assert cs.reversion_z["HDFCBANK"] > 1.3 and cs.reversion_z["TCS"] < -1.3
    assert cs.reversion["HDFCBANK"] < 0 < cs.reversion["TCS"]  # against the stretch
    quiet = [u for u in STOCK_UNIVERSE if abs(cs.reversion_z[u]) <= 1.3]
    raw = -np.tanh(cs.reversion_z / 2).where(cs.reversion_z.abs() > 1.3, 0.0)
    assert (raw[quiet] == 0).all()
    assert cs.summary.numbers["reversion_active"] == [
        u for u in STOCK_UNIVERSE if abs(cs.reversion_z[u]) > 1.3
    ]


def test_index_summary_is_breadth_and_a_stock_reads_its_own_score() -> None:
    up = cross_sectional_signal(_closes(dict.fromkeys(STOCK_UNIVERSE, 0.01)), AT)
    assert up.summary.score == 1.0 and up.summary.axis == "direction"
    stock = cross_sectional_for(up, "HDFCBANK")
    assert stock.score == pytest.approx(up.score["HDFCBANK"])
    assert cross_sectional_for(up, "NIFTY").score == up.summary.score


def test_too_few_names_is_neutral() -> None:
    cs = cross_sectional_signal(_closes({"TCS": 0.0, "INFY": 0.0}), AT)
    assert cs.summary.is_neutral and cs.summary.fallback == "too_few_names"
    assert cs.score.empty
    with pytest.raises(ValueError, match="unknown underlying"):
        cross_sectional_signal(None, AT, universe=("NOPE",))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=len(STOCK_UNIVERSE), max_size=len(STOCK_UNIVERSE)))
def test_sector_neutralisation_invariants(values) -> None:
    scores = pd.Series(values, index=list(STOCK_UNIVERSE))
    sectors = pd.Series({u: SECTORS[u] for u in STOCK_UNIVERSE})
    out = sector_neutral(scores, sectors)
    assert out.between(-1 - 1e-12, 1 + 1e-12).all()
    assert np.allclose(out.groupby(sectors).mean().to_numpy(), 0.0, atol=1e-12)
    # order within a sector is kept (weakly: a subnormal gap may round away)
    for names in sectors.groupby(sectors).groups.values():
        a, b = scores[names].to_numpy(), out[names].to_numpy()
        assert not np.any((a[:, None] < a[None, :]) & (b[:, None] > b[None, :]))


# --- news -------------------------------------------------------------------------------------


def _event(kind: str, ts: pd.Timestamp, scope: str = "MARKET", scheduled: bool | None = None):
    return pd.DataFrame(
        [{
            "event_id": f"e-{kind}-{scope}", "ts": ts, "kind": kind,
            "scheduled": kind != "SURPRISE" if scheduled is None else scheduled,
            "scope": scope, "headline": "", "true_impact_pct": 9.9, "true_iv_change": 0.5,
        }]
    )  # fmt: skip


SOON = AT + pd.Timedelta(hours=2)  # in session later today


@pytest.mark.parametrize(
    "kind, action, multiplier",
    [
        ("UNION_BUDGET", "blackout", 0.0),
        ("RBI_POLICY", "reduce_50", 0.5),
        ("FED", "reduce_25", 0.75),
        ("CPI", "proceed", 1.0),
    ],
)
def test_scheduled_events_ahead_get_their_graduated_response(kind, action, multiplier) -> None:
    r = news_response(_event(kind, SOON), AT, underlying="NIFTY")
    assert (r.action, r.multiplier) == (action, multiplier)
    if action != "proceed":
        assert kind in r.reason and r.events[0].relation == "market"


@pytest.mark.parametrize(
    "underlying, action, relation",
    [("HDFCBANK", "blackout", "own"), ("ICICIBANK", "reduce_50", "peer"),
     ("BANKNIFTY", "reduce_50", "peer"), ("TCS", "proceed", None), ("NIFTY", "proceed", None)],
)  # fmt: skip
def test_a_stock_surprise_concerns_the_stock_and_its_sector(underlying, action, relation) -> None:
    news = _event("SURPRISE", AT - pd.Timedelta(minutes=5), scope="HDFCBANK")
    r = news_response(news, AT, underlying=underlying)
    assert r.action == action
    assert (r.events[0].relation if r.events else None) == relation


def test_a_surprise_fades_with_time_and_a_future_one_is_unknown() -> None:
    def action(minutes: float) -> str:
        news = _event("SURPRISE", AT - pd.Timedelta(minutes=minutes), scope="SBIN")
        return news_response(news, AT, underlying="SBIN").action

    assert [action(m) for m in (1, 30, 90, 400)] == [
        "blackout",
        "reduce_50",
        "reduce_25",
        "proceed",
    ]
    future = _event("SURPRISE", AT + pd.Timedelta(minutes=1), scope="SBIN")
    assert news_response(future, AT, underlying="SBIN").action == "proceed"


def test_a_market_surprise_reduces_then_fades() -> None:
    fresh = news_response(_event("SURPRISE", AT - pd.Timedelta(minutes=2)), AT, underlying="NIFTY")
    stale = news_response(_event("SURPRISE", AT - pd.Timedelta(minutes=90)), AT, underlying="NIFTY")
    assert fresh.action == "reduce_25" and stale.action == "proceed"


def test_scheduled_release_outside_hours_counts_from_the_next_open() -> None:
    evening = pd.Timestamp("2025-03-04 17:30", tz="Asia/Kolkata").tz_convert("UTC")
    r = news_response(_event("RBI_POLICY", evening), AT, underlying="NIFTY")
    assert r.events[0].reaches_market == calendar.session(date(2025, 3, 5)).open
    too_far = news_response(_event("RBI_POLICY", AT + pd.Timedelta(days=3)), AT, underlying="NIFTY")
    assert too_far.action == "proceed" and not too_far.events


def test_the_strictest_event_binds_and_ground_truth_is_never_read() -> None:
    news = pd.concat([_event("CPI", SOON), _event("UNION_BUDGET", SOON), _event("FED", SOON)])
    r = news_response(news, AT, underlying="NIFTY")
    assert r.action == "blackout" and r.events[0].kind == "UNION_BUDGET"
    scrambled = news.assign(true_impact_pct=0.0, true_iv_change=0.0)
    assert news_response(scrambled, AT, underlying="NIFTY") == r


def test_news_signal_is_direction_neutral_and_carries_the_response() -> None:
    s = news_signal(_event("RBI_POLICY", SOON), AT, underlying="NIFTY")
    assert s.score == 0.0 and s.axis == "direction"
    assert s.numbers["multiplier"] == 0.5 and s.detail.action == "reduce_50"
    m = market()
    simulated = news_signal(m["news"], m["at"], underlying="NIFTY")
    assert simulated.numbers["action"] in ("proceed", "reduce_25", "reduce_50", "blackout")
