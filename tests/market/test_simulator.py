"""The market simulator: determinism, shapes, dynamics, chain sanity and ground-truth news."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar, contracts
from quantsentinel.market.schema import BAR_COLUMNS, CHAIN_COLUMNS, MARKET_TZ, NEWS_COLUMNS, Column
from quantsentinel.market.simulator import (
    PROFILES,
    MarketSimulator,
    Regime,
    SimulatorConfig,
)

DAY = date(2025, 3, 4)  # a Tuesday, three sessions before a NIFTY weekly expiry
WEEKEND = date(2025, 3, 8)
TICK = 0.05


@pytest.fixture(scope="module")
def sim() -> MarketSimulator:
    return MarketSimulator()


@pytest.fixture(scope="module")
def nifty_chain(sim: MarketSimulator) -> pd.DataFrame:
    return sim.chain_snapshots(DAY, "NIFTY")


def _fingerprint(frame: pd.DataFrame) -> bytes:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()


def _assert_schema(frame: pd.DataFrame, columns: tuple[Column, ...]) -> None:
    assert list(frame.columns) == [c.name for c in columns]
    for c in columns:
        dtype = frame[c.name].dtype
        if c.dtype == "string":
            assert isinstance(dtype, pd.StringDtype), c.name
        else:
            assert str(dtype) == c.dtype, (c.name, dtype)
        if not c.nullable:
            assert not frame[c.name].isna().any(), c.name


def _news_between(sim: MarketSimulator, start: date, end: date) -> pd.DataFrame:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return pd.concat([sim.news(d) for d in days], ignore_index=True)


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_whatever_was_simulated_before() -> None:
    later = date(2026, 2, 10)
    a = MarketSimulator(SimulatorConfig(seed=11))
    first = [a.bars(DAY, "SBIN"), a.chain_snapshots(DAY, "BANKNIFTY"), a.news(DAY), a.vix_bars(DAY)]
    b = MarketSimulator(SimulatorConfig(seed=11))
    b.bars(later, "NIFTY")  # a longer horizon and other sessions first
    b.chain_snapshot(b.snapshot_times(later)[3], "RELIANCE")
    second = [
        b.vix_bars(DAY),
        b.news(DAY),
        b.chain_snapshots(DAY, "BANKNIFTY"),
        b.bars(DAY, "SBIN"),
    ]
    for x, y in zip(first, reversed(second), strict=True):
        assert _fingerprint(x) == _fingerprint(y)


def test_single_snapshot_matches_the_day_batch(sim: MarketSimulator, nifty_chain) -> None:
    ts = sim.snapshot_times(DAY)[17]
    one = sim.chain_snapshot(ts, "NIFTY")
    from_day = nifty_chain[nifty_chain["ts"] == ts].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, from_day, check_exact=False, rtol=1e-12)


def test_different_seeds_make_different_markets() -> None:
    a, b = MarketSimulator(SimulatorConfig(seed=1)), MarketSimulator(SimulatorConfig(seed=2))
    assert not np.allclose(a.bars(DAY, "NIFTY")["close"], b.bars(DAY, "NIFTY")["close"])
    assert a.regimes(date(2024, 1, 1), DAY).tolist() != b.regimes(date(2024, 1, 1), DAY).tolist()


# --- shapes ---------------------------------------------------------------------------------------


def test_every_output_has_the_canonical_schema(sim: MarketSimulator, nifty_chain) -> None:
    _assert_schema(sim.bars(DAY, "NIFTY"), BAR_COLUMNS)
    _assert_schema(sim.bars(DAY, "INFY"), BAR_COLUMNS)
    _assert_schema(sim.vix_bars(DAY), BAR_COLUMNS)
    _assert_schema(nifty_chain, CHAIN_COLUMNS)
    news = _news_between(sim, date(2025, 2, 1), date(2025, 2, 14))
    assert len(news) > 0
    _assert_schema(news, NEWS_COLUMNS)


def test_non_trading_day_gives_empty_frames_with_dtypes(sim: MarketSimulator) -> None:
    assert not calendar.is_trading_day(WEEKEND)
    assert sim.snapshot_times(WEEKEND) == []
    for frame, cols in (
        (sim.bars(WEEKEND, "NIFTY"), BAR_COLUMNS),
        (sim.vix_bars(WEEKEND), BAR_COLUMNS),
        (sim.chain_snapshots(WEEKEND, "NIFTY"), CHAIN_COLUMNS),
    ):
        assert frame.empty
        assert [str(t) for t in frame.dtypes] == [str(pd.Series(dtype=c.dtype).dtype) for c in cols]
    with pytest.raises(ValueError, match="anchor"):
        sim.bars(date(2023, 12, 29), "NIFTY")
    with pytest.raises(ValueError, match="unknown underlying"):
        sim.bars(DAY, "NOPE")


# --- bars and dynamics ----------------------------------------------------------------------------


@pytest.mark.parametrize("underlying", ["NIFTY", "BANKNIFTY", "RELIANCE"])
def test_bars_are_consistent_and_cover_the_session(sim: MarketSimulator, underlying: str) -> None:
    bars = sim.bars(DAY, underlying)
    assert len(bars) == 375
    local = bars["ts"].dt.tz_convert(MARKET_TZ)
    assert local.iloc[0].strftime("%H:%M") == "09:15"
    assert local.iloc[-1].strftime("%H:%M") == "15:29"
    assert (bars["ts"].diff().dropna() == pd.Timedelta(minutes=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    # Bars chain into each other: a bar opens where the previous one closed.
    np.testing.assert_allclose(bars["open"].iloc[1:], bars["close"].iloc[:-1], atol=0.005)
    is_index = underlying in contracts.INDICES
    assert (bars["volume"] == 0).all() if is_index else (bars["volume"] > 0).all()


def test_days_follow_each_other(sim: MarketSimulator) -> None:
    days = calendar.trading_days(date(2025, 3, 3), date(2025, 3, 12))
    for prev, day in itertools.pairwise(days):
        a, b = sim.day_state(prev, "NIFTY"), sim.day_state(day, "NIFTY")
        assert b.prev_close == a.close
        assert b.open == pytest.approx(a.close * np.exp(b.gap_diffusion + b.gap_jump), rel=1e-12)
        bars_prev, bars_next = sim.bars(prev, "NIFTY"), sim.bars(day, "NIFTY")
        assert bars_prev["close"].iloc[-1] == pytest.approx(a.close, abs=0.005)
        assert bars_next["open"].iloc[0] == pytest.approx(b.open, abs=0.005)
        assert abs(np.log(b.open / a.close)) < 0.05  # a gap, not a teleport


def test_levels_and_realised_vol_are_plausible(sim: MarketSimulator) -> None:
    days = calendar.trading_days(date(2024, 9, 1), date(2025, 8, 31))
    closes = np.array([sim.day_state(d, "NIFTY").close for d in days])
    assert closes.min() > 18_000 and closes.max() < 30_000
    rv = np.diff(np.log(closes)).std() * np.sqrt(252)
    assert 0.07 < rv < 0.30
    bn = np.array([sim.day_state(d, "BANKNIFTY").close for d in days])
    assert bn.min() > 38_000 and bn.max() < 65_000
    corr = np.corrcoef(np.diff(np.log(closes)), np.diff(np.log(bn)))[0, 1]
    assert corr > 0.7
    # Intraday realised vol from 1-minute bars sits in the same band.
    minute = np.concatenate(
        [np.diff(np.log(sim.bars(d, "NIFTY")["close"].to_numpy())) for d in days[:5]]
    )
    assert 0.04 < minute.std() * np.sqrt(252 * 375) < 0.35


def test_regime_is_recoverable_and_shapes_volatility(sim: MarketSimulator) -> None:
    regimes = sim.regimes(date(2024, 1, 1), date(2025, 12, 31))
    assert set(regimes.unique()) <= {r.value for r in Regime}
    assert regimes.nunique() >= 3
    assert sim.regime(DAY).value == regimes[DAY]
    assert sim.regime(WEEKEND) == sim.regime(calendar.previous_trading_day(WEEKEND))
    vix = pd.Series([sim.day_state(d).iv_open for d in regimes.index], index=regimes.index)
    by = vix.groupby(regimes.to_numpy()).mean()
    assert by["LOW_VOL_RANGE"] < by["NORMAL"]
    stressed = [r for r in ("HIGH_VOL", "CRISIS") if r in by.index]
    assert stressed and min(by[r] for r in stressed) > by["NORMAL"]


def test_vix_tracks_nifty_atm_implied_vol(sim: MarketSimulator) -> None:
    days = calendar.trading_days(date(2025, 1, 6), date(2025, 3, 28))[::3]
    vix_levels, atm_levels = [], []
    for d in days:
        ts = sim.snapshot_times(d)[6]
        chain = sim.chain_snapshot(ts, "NIFTY")
        vix = sim.vix_bars(d)
        vix_now = float(vix.loc[vix["ts"] == ts, "open"].iloc[0]) / 100.0
        far = chain[(chain["expiry"] == chain["expiry"].max()) & (chain["option_type"] == "CE")]
        atm_iv = float(far.iloc[(far["strike"] - far["spot"]).abs().argmin()]["iv"])
        assert 0.05 < vix_now < 0.6
        vix_levels.append(vix_now)
        atm_levels.append(atm_iv)
    vix_levels, atm_levels = np.array(vix_levels), np.array(atm_levels)
    assert np.abs(vix_levels - atm_levels).mean() < 0.02
    assert np.corrcoef(vix_levels, atm_levels)[0, 1] > 0.9


# --- chains ---------------------------------------------------------------------------------------


def _arbitrage_problems(chain: pd.DataFrame, rate: float, q: float) -> list[str]:
    """Static no-arbitrage on one snapshot frame, written out here (not the validation module)."""
    problems = []
    if (chain["bid"] > chain["ask"]).any():
        problems.append("crossed quote")
    for col in ("bid", "ask", "last"):
        if (chain[col] < 0).any():
            problems.append(f"negative {col}")
    mid = (chain["bid"] + chain["ask"]) / 2
    spot = chain["spot"].iloc[0]
    ts = chain["ts"].iloc[0]
    for expiry, g in chain.assign(mid=mid).groupby("expiry"):
        T = calendar.year_fraction(ts, expiry.date())
        disc, fwd = np.exp(-rate * T), spot * np.exp((rate - q) * T)
        c = g[g["option_type"] == "CE"].sort_values("strike").set_index("strike")
        p = g[g["option_type"] == "PE"].sort_values("strike").set_index("strike")
        K = c.index.to_numpy()
        # Executable quotes: no vertical or butterfly can be bought for less than nothing.
        for side, sign in ((c, 1), (p, -1)):
            bid, ask = side["bid"].to_numpy(), side["ask"].to_numpy()
            cheap, dear = (ask[:-1], bid[1:]) if sign == 1 else (ask[1:], bid[:-1])
            if np.any(cheap < dear):
                problems.append(f"vertical arbitrage {expiry.date()} {'CE' if sign == 1 else 'PE'}")
            w = (K[2:] - K[1:-1]) / (K[2:] - K[:-2])
            fly_cost = w * ask[:-2] + (1 - w) * ask[2:] - bid[1:-1]
            if np.any(fly_cost < -1e-9):
                problems.append(f"butterfly arbitrage {expiry.date()}")
            # Mids: monotone and convex up to the quarter-tick rounding of each mid.
            m = side["mid"].to_numpy()
            ok = ~np.isnan(m)
            km, mm = K[ok], m[ok]
            if (sign * np.diff(mm)).max(initial=-1.0) > TICK / 2:
                problems.append(f"mid not monotone {expiry.date()}")
            wm = (km[2:] - km[1:-1]) / (km[2:] - km[:-2])
            if np.any(wm * mm[:-2] + (1 - wm) * mm[2:] - mm[1:-1] < -TICK):
                problems.append(f"mid not convex {expiry.date()}")
        both = c["mid"].notna() & p["mid"].notna()
        lhs = (c["mid"] - p["mid"])[both]
        rhs = disc * (fwd - K[both.to_numpy()])
        width = ((c["ask"] - c["bid"]) + (p["ask"] - p["bid"]))[both] / 2
        if np.any(np.abs(lhs.to_numpy() - rhs) > width.to_numpy() + TICK):
            problems.append(f"put-call parity {expiry.date()}")
    return problems


@pytest.mark.parametrize(
    ("underlying", "day"),
    [
        ("NIFTY", DAY),
        ("NIFTY", date(2025, 3, 6)),  # expiry day: the weekly dies at 15:30
        ("BANKNIFTY", DAY),
        ("RELIANCE", DAY),
    ],
)
def test_chains_are_free_of_static_arbitrage(sim: MarketSimulator, underlying, day) -> None:
    chain = sim.chain_snapshots(day, underlying)
    rate, q = sim.config.rate, PROFILES[underlying].div_yield
    problems = []
    for _, snap in list(chain.groupby("snapshot_id"))[::4]:
        problems += _arbitrage_problems(snap, rate, q)
    assert problems == []
    assert np.all(np.round(chain[["bid", "ask", "last"]] / TICK, 6).fillna(0) % 1 == 0)
    assert (chain["ask"] >= TICK).all() and (chain["bid"].dropna() >= TICK).all()


def test_the_arbitrage_check_itself_catches_a_bad_quote(sim: MarketSimulator, nifty_chain) -> None:
    snap = nifty_chain[nifty_chain["ts"] == nifty_chain["ts"].iloc[0]].reset_index(drop=True)
    rate, q = sim.config.rate, PROFILES["NIFTY"].div_yield
    assert _arbitrage_problems(snap, rate, q) == []
    calls = snap.index[(snap["option_type"] == "CE") & snap["bid"].notna()]
    bad = snap.copy()
    i = calls[len(calls) // 2]  # a call near the money quoted 5 points too rich
    bad.loc[i, ["bid", "ask"]] += 5.0
    found = _arbitrage_problems(bad, rate, q)
    assert any("butterfly" in p for p in found) and any("parity" in p for p in found)


def test_chain_shape_follows_the_contract_rules(sim: MarketSimulator, nifty_chain) -> None:
    snaps = sim.snapshot_times(DAY)
    assert len(snaps) == 75 and nifty_chain["snapshot_id"].nunique() == 75
    assert list(nifty_chain["ts"].unique()) == snaps
    expiries = [pd.Timestamp(e) for e in contracts.expiries("NIFTY", DAY, 3)]
    assert sorted(nifty_chain["expiry"].unique()) == expiries
    one = nifty_chain[nifty_chain["ts"] == snaps[0]]
    strikes = np.sort(one["strike"].unique())
    assert 60 <= len(strikes) <= 100
    assert np.all(strikes % 50 == 0)
    assert one["received_at"].gt(one["ts"]).all()
    assert (one["received_at"] - one["ts"]).max() < pd.Timedelta(seconds=1)


def test_spreads_widen_in_the_wings(nifty_chain) -> None:
    c = nifty_chain[nifty_chain["bid"].notna()].copy()
    c["rel"] = (c["ask"] - c["bid"]) / ((c["ask"] + c["bid"]) / 2)
    c["m"] = np.log(c["strike"] / c["spot"])
    otm = ((c["option_type"] == "CE") & (c["m"] > 0)) | ((c["option_type"] == "PE") & (c["m"] < 0))
    atm = c[otm & (c["m"].abs() < 0.005)]["rel"].median()
    wing = c[otm & (c["m"].abs() > 0.03)]["rel"].median()
    assert wing > 3 * atm


def test_index_smile_has_a_put_skew(nifty_chain) -> None:
    last = nifty_chain[nifty_chain["ts"] == nifty_chain["ts"].max()]
    for _, g in last[last["option_type"] == "CE"].groupby("expiry"):
        iv = g.set_index("strike")["iv"]
        atm = iv.index[np.abs(iv.index - g["spot"].iloc[0]).argmin()]
        for j in (4, 8, 12):
            assert iv[atm - 50 * j] > iv[atm + 50 * j]


def test_open_interest_clusters_on_round_strikes_and_builds(sim, nifty_chain) -> None:
    snaps = sorted(nifty_chain["ts"].unique())
    first = nifty_chain[nifty_chain["ts"] == snaps[0]]
    last = nifty_chain[nifty_chain["ts"] == snaps[-1]]
    assert (first["oi_change"].abs() <= 1).all()  # the open shows yesterday's OI
    assert last["oi_change"].abs().sum() > 0
    assert (last["volume"].to_numpy() >= first["volume"].to_numpy()).all()
    near = last[last["expiry"] == last["expiry"].min()]
    oi = near.groupby("strike")["oi"].sum()
    round_k = [k for k in oi.index if k % 500 == 0 and k - 50 in oi.index and k + 50 in oi.index]
    assert round_k
    neighbours = [oi[k - 50] + oi[k + 50] for k in round_k]
    assert oi[round_k].mean() > 1.5 * np.mean(neighbours) / 2
    # OI concentrates in the nearest expiry.
    by_expiry = last.groupby("expiry")["oi"].sum()
    assert by_expiry.iloc[0] > by_expiry.iloc[-1]


# --- news -----------------------------------------------------------------------------------------


def _hit(sim: MarketSimulator, event: pd.Series) -> tuple[date, pd.Series]:
    """The trading day an event moved prices on, and its applied shock row."""
    day = event["ts"].tz_convert(MARKET_TZ).date()
    scope = "NIFTY" if event["scope"] == "MARKET" else event["scope"]
    for _ in range(10):
        if calendar.is_trading_day(day):
            shocks = sim.shocks(day, scope)
            row = shocks[shocks["event_id"] == event["event_id"]]
            if len(row):
                return day, row.iloc[0]
        day += timedelta(days=1)
    raise AssertionError(f"event {event['event_id']} was never applied")


def test_news_cadence_is_realistic(sim: MarketSimulator) -> None:
    news = _news_between(sim, date(2025, 1, 1), date(2025, 12, 31))
    kinds = news[news["scheduled"]]["kind"].value_counts()
    assert kinds["RBI_POLICY"] == 6 and kinds["UNION_BUDGET"] == 1
    assert kinds["CPI"] == 12 and kinds["FED"] == 8
    budget = news[news["kind"] == "UNION_BUDGET"].iloc[0]
    assert budget["ts"].tz_convert(MARKET_TZ).date() == date(2025, 2, 1)
    cpi = news[news["kind"] == "CPI"]["ts"].dt.tz_convert(MARKET_TZ)
    assert (cpi.dt.strftime("%H:%M") == "17:30").all()
    surprises = news[~news["scheduled"]]
    assert len(surprises) > 5 and set(surprises["kind"]) == {"SURPRISE"}
    assert {"MARKET"} < set(surprises["scope"]) <= {"MARKET", *contracts.STOCKS}


def test_recorded_news_impact_is_the_applied_shock(sim: MarketSimulator) -> None:
    news = _news_between(sim, date(2025, 1, 1), date(2025, 4, 30))
    intraday_checked = overnight_checked = 0
    for _, event in news.iterrows():
        day, shock = _hit(sim, event)
        assert shock["impact_pct"] == pytest.approx(event["true_impact_pct"], rel=1e-9, abs=1e-12)
        assert shock["iv_jump"] == pytest.approx(event["true_iv_change"], abs=1e-15)
        scope = "NIFTY" if event["scope"] == "MARKET" else event["scope"]
        if shock["minute"] < 0:
            # After-hours news lands in the next open's gap, to the last digit.
            state = sim.day_state(day, scope)
            gap = sim.shocks(day, scope).query("minute < 0")["log_jump"].sum()
            assert state.gap_jump == pytest.approx(gap, abs=1e-15)
            overnight_checked += 1
        else:
            # In session: that minute's bar return is the jump plus one minute of diffusion.
            bars = sim.bars(day, scope)
            ret = np.log(bars["close"] / bars["open"]).to_numpy()
            noise = np.median(np.abs(ret))
            assert abs(ret[shock["minute"]] - shock["log_jump"]) < 12 * noise + 2e-4
            if event["scope"] == "MARKET":
                # ...and India VIX steps by the recorded vol change in the same minute.
                vix = sim.vix_bars(day)
                dv = ((vix["close"] - vix["open"]) / 100).to_numpy()
                vix_noise = np.median(np.abs(dv))
                assert abs(dv[shock["minute"]] - shock["iv_jump"]) < 12 * vix_noise + 2e-4
            intraday_checked += 1
        if event["scope"] == "MARKET":
            # Market news moves BANKNIFTY by its beta, and only stock news carries a stock vol step.
            bn = sim.shocks(day, "BANKNIFTY").set_index("event_id").loc[event["event_id"]]
            beta = PROFILES["BANKNIFTY"].beta
            assert bn["log_jump"] == pytest.approx(beta * shock["log_jump"], rel=1e-12)
            assert bn["iv_jump"] == 0.0
    assert intraday_checked >= 3 and overnight_checked >= 3
