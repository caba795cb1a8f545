"""Reference data: Garman-Klass against a hand computation, the arch datasets, the VIX row,
and realized measures from the simulator."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.vol.reference import (
    arch_reference,
    garman_klass,
    level_matched,
    simulated_measures,
    vix_reference,
    vix_reference_table,
)
from quantsentinel.ml.vol.treatments import expiry_week_flags


def test_garman_klass_matches_hand_computation() -> None:
    # O=100, H=105, L=98, C=103:
    #   ln(105/98) = 0.0689928714869514, squared 0.0047600163160150, halved 0.0023800081580075
    #   ln(103/100) = 0.0295588022415444, squared 0.0008737227899547
    #   (2 ln 2 - 1) = 0.3862943611198906, times the latter 0.0003375141869414
    #   GK = 0.0023800081580075 - 0.0003375141869414 = 0.0020424939710661
    bars = pd.DataFrame({"Open": [100.0], "High": [105.0], "Low": [98.0], "Close": [103.0]})
    assert garman_klass(bars).iloc[0] == pytest.approx(0.00204249397106605, rel=1e-12)
    # A day that closes where it opened is the pure range term; lower-case names work too.
    flat = pd.DataFrame({"open": [50.0], "high": [51.0], "low": [49.0], "close": [50.0]})
    assert garman_klass(flat).iloc[0] == pytest.approx(0.5 * np.log(51 / 49) ** 2)
    with pytest.raises(ValueError, match="missing_input"):
        garman_klass(bars.drop(columns="Low"))
    with pytest.raises(ValueError, match="non_positive"):
        garman_klass(bars.assign(Low=0.0))


def test_arch_reference_sp500() -> None:
    m = arch_reference("sp500")
    assert len(m) == 5031 and m.index.is_monotonic_increasing and m.index.is_unique
    assert (m["realized_variance"] > 0).all()
    assert m["bipower_variation"].equals(m["realized_variance"])  # no intraday data: BV = RV
    assert not m["jump_detected"].any()
    assert np.isnan(m["daily_return"].iloc[0]) and m["daily_return"].iloc[1:].notna().all()
    # GK is a session variance of the right size: ~1% daily moves -> ~1e-4.
    assert 2e-5 < m["realized_variance"].median() < 2e-4
    with pytest.raises(ValueError, match="unknown reference"):
        arch_reference("ftse")  # type: ignore[arg-type]


def test_vix_reference_and_table() -> None:
    vix = vix_reference()
    row = vix.iloc[0]
    assert row["implied_variance"] == pytest.approx((row["vix"] / 100) ** 2 / 252)
    table = vix_reference_table(horizon=22)
    assert set(table["model"]) == {
        "vix_implied",
        "vix_implied_scaled",
        "random_walk",
        "rolling_mean",
    }
    assert (table["horizon"] == 22).all()
    # Scored only where VIX exists (2014-2019, ~1,300 days), minus a year for the scaled one.
    assert 700 < table["n"].iloc[0] <= len(vix)
    t = table.set_index("model")
    # VIX carries the variance risk premium and the overnight move: level-matching helps.
    assert t.loc["vix_implied_scaled", "qlike"] < t.loc["vix_implied", "qlike"]
    assert t.loc["vix_implied_scaled", "oos_r2_rw"] > 0


def test_level_matched_uses_only_completed_targets() -> None:
    idx = pd.bdate_range("2020-01-01", periods=120)
    rng = np.random.default_rng(0)
    rv = pd.Series(np.exp(rng.normal(-9, 0.3, len(idx))), index=idx)
    f = pd.Series(2.0 * rv.rolling(5, min_periods=1).mean(), index=idx)
    base = level_matched(f, rv, horizon=5, window=20)
    cut = 80
    altered = rv.copy()
    altered.iloc[cut + 1 :] *= 5.0
    other = level_matched(f, altered, horizon=5, window=20)
    pd.testing.assert_series_equal(base.iloc[: cut + 1], other.iloc[: cut + 1])
    assert base.iloc[: 20 + 5 - 1].isna().all() and base.iloc[30:].notna().all()
    assert 0.3 < (base / f).iloc[-1] < 0.7  # halves a forecast that is twice the level


def test_simulated_measures() -> None:
    sim = MarketSimulator()
    start, end = date(2024, 1, 15), date(2024, 2, 5)
    m = simulated_measures(sim, "NIFTY", start, end)
    days = calendar.trading_days(start, date(2024, 2, 2))
    assert [d.date() for d in m.index] == days  # [start, end): the end day is excluded
    assert m.index.name == "date" and (m["realized_variance"] > 0).all()
    assert {"bipower_variation", "jump_detected", "daily_return", "expiry_week"} <= set(m.columns)
    # daily_return is the close-to-close log return of the bars; NaN on the first day only.
    closes = pd.Series([sim.bars(d, "NIFTY")["close"].iloc[-1] for d in days])
    expected = np.log(closes).diff().to_numpy()
    assert np.isnan(m["daily_return"].iloc[0])
    np.testing.assert_allclose(m["daily_return"].to_numpy()[1:], expected[1:], rtol=1e-9)
    flags = expiry_week_flags(pd.Index(days), "NIFTY").to_numpy()
    assert np.array_equal(m["expiry_week"].to_numpy(), flags) and flags.any()
    with pytest.raises(ValueError, match="too_short"):
        simulated_measures(sim, "NIFTY", date(2024, 1, 13), date(2024, 1, 15))  # a weekend
