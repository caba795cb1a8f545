"""Realized measures from simulated 1-minute bars with known integrated variance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gamma as gamma_fn
from scipy.stats import norm

from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.ml.vol.realized import realized_measures

SIGMA = 0.20
DAILY_VAR = SIGMA**2 / 252
MINUTES = 375  # 09:15-15:30
MEASURES = [
    "realized_variance",
    "bipower_variation",
    "jump_variation",
    "realized_quarticity",
    "tripower_quarticity",
    "jump_z",
    "session_return",
    "overnight_return",
]


def simulate_bars(
    n_days: int,
    *,
    seed: int = 0,
    sigma: float = SIGMA,
    start_price: float = 22_000.0,
    jump: float = 0.0,
    jump_minute: int = 167,
    overnight_sd: float = 0.005,
    underlying: str = "NIFTY",
) -> pd.DataFrame:
    """Constant-volatility GBM in 1-minute bars; optional log jump inside one minute each day."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-03-04", periods=n_days)
    minute_sd = sigma / math.sqrt(252 * MINUTES)
    frames = []
    price = start_price
    for day in days:
        open_price = price * math.exp(rng.normal(0.0, overnight_sd))
        r = rng.normal(-0.5 * minute_sd**2, minute_sd, MINUTES)
        r[jump_minute] += jump
        closes = open_price * np.exp(np.cumsum(r))
        opens = np.concatenate([[open_price], closes[:-1]])
        start = pd.Timestamp(day.date()).tz_localize(MARKET_TZ) + pd.Timedelta(hours=9, minutes=15)
        ts = (start + pd.to_timedelta(np.arange(MINUTES), unit="min")).tz_convert("UTC")
        frames.append(
            pd.DataFrame(
                {
                    "underlying": underlying,
                    "ts": ts,
                    "open": opens,
                    "high": np.maximum(opens, closes),
                    "low": np.minimum(opens, closes),
                    "close": closes,
                    "volume": 0,
                }
            )
        )
        price = closes[-1]
    return pd.concat(frames, ignore_index=True)


def test_constant_vol_gbm_recovers_daily_variance_and_no_jumps() -> None:
    out = realized_measures(simulate_bars(80, seed=1), sampling_minutes=5)
    assert len(out) == 80
    assert (out["n_returns"] == 75).all()
    assert out["reason"].isna().all()
    # var(RV)/V^2 = 2/n per day under constant vol; the mean of 80 days has ~1.8% rel. error.
    assert out["realized_variance"].mean() == pytest.approx(DAILY_VAR, rel=0.08)
    assert out["bipower_variation"].mean() == pytest.approx(DAILY_VAR, rel=0.08)
    day_err = (out["realized_variance"] / DAILY_VAR - 1).abs()
    assert (day_err < 5 * math.sqrt(2 / 75)).all()
    assert out["realized_vol_annualised"].median() == pytest.approx(SIGMA, rel=0.06)
    # Truncated RV - BV is positive about half the time, but small: E[JV]/V ~ 0.04 here.
    assert out["jump_share"].mean() < 0.08
    assert out["jump_detected"].mean() <= 0.05
    assert out["tripower_quarticity"].mean() == pytest.approx(DAILY_VAR**2, rel=0.15)
    assert out["realized_quarticity"].mean() == pytest.approx(DAILY_VAR**2, rel=0.15)


def test_known_jump_shows_up_as_jump_variation_and_is_flagged() -> None:
    jump = 0.03
    out = realized_measures(simulate_bars(30, seed=2, jump=jump), sampling_minutes=5)
    assert out["jump_variation"].median() == pytest.approx(jump**2, rel=0.2)
    # In finite samples the jump leaks into the two products it touches:
    # E[BV] ~ V + (pi/2) * 2|J| * E|r| with E|r| = mu1 sqrt(V/n) -- the known BV small-sample bias.
    leak = math.pi * jump * math.sqrt(2 / math.pi) * math.sqrt(DAILY_VAR / 75)
    assert out["bipower_variation"].median() == pytest.approx(DAILY_VAR + leak, rel=0.2)
    assert (out["bipower_variation"] < 0.5 * out["realized_variance"]).all()
    assert out["jump_detected"].all()
    assert (out["jump_p_value"] < 1e-4).all()
    expected_share = (jump**2 - leak) / (jump**2 + DAILY_VAR)
    assert out["jump_share"].median() == pytest.approx(expected_share, abs=0.05)


@pytest.mark.parametrize("minutes,n", [(1, 375), (5, 75), (15, 25)])
def test_sampling_frequencies_are_all_sane(minutes: int, n: int) -> None:
    out = realized_measures(simulate_bars(60, seed=3), sampling_minutes=minutes)
    assert (out["n_returns"] == n).all()
    assert out["realized_variance"].mean() == pytest.approx(DAILY_VAR, rel=0.12)
    assert out["bipower_variation"].mean() == pytest.approx(DAILY_VAR, rel=0.12)


def test_measures_match_an_independent_direct_computation() -> None:
    bars = simulate_bars(1, seed=4).iloc[:60]  # 09:15-10:14, k=1 -> 60 returns
    out = realized_measures(bars, sampling_minutes=1).iloc[0]
    prices = np.concatenate([[bars["open"].iloc[0]], bars["close"].to_numpy()])
    r = np.diff(np.log(prices))
    n = len(r)
    rv = float(np.sum(r**2))
    bv = math.pi / 2 * n / (n - 1) * sum(abs(r[i]) * abs(r[i - 1]) for i in range(1, n))
    mu43 = 2 ** (2 / 3) * gamma_fn(7 / 6) / gamma_fn(1 / 2)
    tp = sum(abs(r[i] * r[i - 1] * r[i - 2]) ** (4 / 3) for i in range(2, n))
    tq = n * mu43**-3 * n / (n - 2) * tp
    z = ((rv - bv) / rv) / math.sqrt((math.pi**2 / 4 + math.pi - 5) / n * max(1, tq / bv**2))
    assert out["n_returns"] == n
    assert out["realized_variance"] == pytest.approx(rv, rel=1e-12)
    assert out["bipower_variation"] == pytest.approx(bv, rel=1e-12)
    assert out["tripower_quarticity"] == pytest.approx(tq, rel=1e-12)
    assert out["realized_quarticity"] == pytest.approx(n / 3 * np.sum(r**4), rel=1e-12)
    assert out["jump_z"] == pytest.approx(z, rel=1e-10)
    assert out["jump_p_value"] == pytest.approx(norm.sf(z), rel=1e-9)
    assert out["session_return"] == pytest.approx(math.log(prices[-1] / prices[0]), abs=1e-14)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1e-3, 1e3), seed=st.integers(0, 10_000))
def test_invariant_to_price_scale_and_row_order(scale: float, seed: int) -> None:
    bars = simulate_bars(3, seed=seed)
    base = realized_measures(bars)
    scaled = bars.copy()
    for col in ("open", "high", "low", "close"):
        scaled[col] = scaled[col] * scale
    shuffled = scaled.sample(frac=1.0, random_state=seed)
    other = realized_measures(shuffled)
    for col in MEASURES:
        np.testing.assert_allclose(other[col], base[col], rtol=1e-7, atol=1e-15)


def test_overnight_return_is_reported_but_excluded_from_rv() -> None:
    bars = simulate_bars(2, seed=5)
    gapped = bars.copy()
    day2 = gapped["ts"] >= gapped["ts"].iloc[MINUTES]
    gapped.loc[day2, ["open", "high", "low", "close"]] *= 1.10  # a 10% overnight gap
    a, b = realized_measures(bars), realized_measures(gapped)
    np.testing.assert_allclose(b["realized_variance"], a["realized_variance"], rtol=1e-10)
    np.testing.assert_allclose(b["jump_variation"], a["jump_variation"], atol=1e-15)
    assert b["overnight_return"].iloc[1] == pytest.approx(
        a["overnight_return"].iloc[1] + math.log(1.10), abs=1e-12
    )
    assert np.isnan(b["overnight_return"].iloc[0])
    # Close-to-close decomposes exactly into overnight + intraday.
    close1, close2 = bars["close"].iloc[MINUTES - 1], bars["close"].iloc[-1]
    total = b["overnight_return"].iloc[1] + b["session_return"].iloc[1]
    assert total == pytest.approx(math.log(1.10 * close2 / close1), abs=1e-12)


def test_missing_minutes_use_actual_observations() -> None:
    bars = simulate_bars(60, seed=6)
    rng = np.random.default_rng(0)
    holes = bars.drop(index=rng.choice(len(bars), size=len(bars) // 4, replace=False))
    # A 40-minute feed outage on the first day: the return spans it instead of being zero.
    first_day = holes["ts"] < holes["ts"].iloc[0] + pd.Timedelta(hours=8)
    outage = first_day & (holes["ts"] >= holes["ts"].iloc[0] + pd.Timedelta(minutes=100))
    outage &= holes["ts"] < holes["ts"].iloc[0] + pd.Timedelta(minutes=140)
    holes = holes[~outage]
    out = realized_measures(holes, sampling_minutes=5)
    assert out["n_returns"].iloc[0] <= 75 - 8
    assert out["realized_variance"].mean() == pytest.approx(DAILY_VAR, rel=0.1)
    assert out["bipower_variation"].mean() == pytest.approx(DAILY_VAR, rel=0.1)
    for date, day in holes.groupby(holes["ts"].dt.tz_convert(MARKET_TZ).dt.date):
        row = out[out["date"] == pd.Timestamp(date)].iloc[0]
        expected = math.log(day["close"].iloc[-1] / day["open"].iloc[0])
        assert row["session_return"] == pytest.approx(expected, abs=1e-12)


def test_short_and_flat_days_get_nan_and_a_reason() -> None:
    bars = simulate_bars(3, seed=7)
    short_day = bars.iloc[MINUTES : MINUTES + 30]  # 30 minutes -> 6 five-minute returns
    flat_day = bars.iloc[2 * MINUTES :].copy()
    flat_day[["open", "high", "low", "close"]] = 100.0
    out = realized_measures(pd.concat([bars.iloc[:MINUTES], short_day, flat_day]))
    assert out["reason"].iloc[0] is None
    assert "too few returns" in out["reason"].iloc[1]
    assert out["n_returns"].iloc[1] == 6
    assert "zero realized variance" in out["reason"].iloc[2]
    for i in (1, 2):
        assert out.loc[i, ["realized_variance", "bipower_variation", "jump_z"]].isna().all()
        assert pd.isna(out["jump_detected"].iloc[i])
    assert out["jump_detected"].iloc[0] in (True, False)


def test_pre_open_bars_and_other_underlyings_do_not_leak() -> None:
    bars = simulate_bars(2, seed=8)
    pre_open = bars.iloc[:8].copy()
    pre_open["ts"] = pre_open["ts"] - pd.Timedelta(minutes=15)  # 09:00-09:07 auction
    pre_open[["open", "high", "low", "close"]] *= 1.5
    bank = simulate_bars(2, seed=9, sigma=0.4, start_price=48_000.0, underlying="BANKNIFTY")
    out = realized_measures(pd.concat([bank, pre_open, bars]))
    alone = realized_measures(bars)
    nifty = out[out["underlying"] == "NIFTY"].reset_index(drop=True)
    for col in MEASURES:
        np.testing.assert_allclose(nifty[col], alone[col], rtol=1e-12)
    bank_rv = out.loc[out["underlying"] == "BANKNIFTY", "realized_variance"].mean()
    assert bank_rv > 2 * nifty["realized_variance"].mean()


def test_empty_and_invalid_arguments() -> None:
    empty = realized_measures(simulate_bars(1).iloc[:0])
    assert empty.empty and "jump_detected" in empty.columns
    with pytest.raises(ValueError):
        realized_measures(simulate_bars(1), sampling_minutes=0)
    with pytest.raises(ValueError):
        realized_measures(simulate_bars(1), alpha=1.5)
