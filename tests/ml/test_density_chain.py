"""chain_densities: simulator chains, calendar arbitrage, every refusal reason, figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market.calendar import year_fraction
from quantsentinel.market.pricing import black76_price
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.density import (
    DensityReason,
    chain_densities,
    density_plot,
    density_vs_histogram,
)
from quantsentinel.ml.density.chain import GRID_COLUMNS, REQUIRED_COLUMNS, SUMMARY_COLUMNS
from quantsentinel.ml.density.synthetic import ChainSpec, chain_rows, lognormal_chain, quote

RATE = 0.065
DAY = date(2024, 3, 5)
TS = pd.Timestamp("2024-03-05 09:55", tz="UTC")
EXPIRY = pd.Timestamp("2024-04-04")  # a Thursday: 30 days out
F = 22_000.0
STRIKES = np.arange(19_000.0, 25_001.0, 50.0)


@cache
def _simulated() -> pd.DataFrame:
    return MarketSimulator().chain_snapshots(DAY, "NIFTY")


def simulated() -> pd.DataFrame:
    return _simulated().copy()


def spec_for(expiry: pd.Timestamp, forward: float = F) -> ChainSpec:
    """A synthetic expiry whose T is what chain_densities will derive from (TS, expiry)."""
    return ChainSpec(STRIKES, forward, year_fraction(TS, expiry.date()), RATE)


def lognormal_rows(expiry: pd.Timestamp, sigma: float, seed: int = 0) -> pd.DataFrame:
    spec = spec_for(expiry)
    calls, puts, _ = lognormal_chain(spec, sigma)
    return chain_rows(spec, calls, puts, seed, ts=TS, expiry=expiry)


def one_expiry() -> pd.DataFrame:
    return lognormal_rows(EXPIRY, 0.15)


def test_simulated_nifty_publishes_sensible_densities() -> None:
    chain = simulated()
    batch = chain_densities(chain, rate=RATE)
    s = batch.summary
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    assert list(batch.grid.columns) == list(GRID_COLUMNS)
    assert s["snapshot_id"].nunique() == 1  # "last": the latest snapshot only
    assert s["snapshot_id"].iloc[0] == chain.sort_values("ts")["snapshot_id"].iloc[-1]
    assert len(s) == chain["expiry"].nunique() >= 3
    assert s["published"].all() and s["reason"].isna().all() and s["calendar_ok"].all()
    for row in s.itertuples():
        d = batch.densities[(row.snapshot_id, row.expiry)]
        full_mean = float(np.trapezoid(d.strikes * d.density, d.strikes))
        assert full_mean == pytest.approx(row.forward, rel=5e-4)  # E[S_T] = F
        assert row.mean == pytest.approx(row.forward, rel=2e-3)  # 1-99 % truncated
        assert row.skewness < 0  # the simulator's SSVI smile has an index put skew
        assert 0.0 <= row.crash_probability < 0.2
        assert 0.0 < row.implied_move < 0.05
        assert 0.98 < row.mass_before_normalisation < 1.01
        g = batch.grid[(batch.grid["snapshot_id"] == row.snapshot_id)]
        g = g[g["expiry"] == row.expiry]
        assert len(g) == 400 and np.all(np.diff(g["cdf"]) >= 0)
        assert g["cdf"].iloc[-1] == pytest.approx(1.0)
    # Variance grows with T: the longer expiry is wider.
    assert np.all(np.diff(s.sort_values("T")["variance"]) > 0)


def test_all_snapshots_and_spot_check_of_truth() -> None:
    chain = simulated()
    chain = chain[chain["snapshot_id"].isin(chain["snapshot_id"].unique()[::15])]
    batch = chain_densities(chain, rate=RATE, snapshots="all", grid_points=200)
    assert len(batch.summary) == chain.groupby(["snapshot_id", "expiry"]).ngroups
    assert batch.summary["published"].all()
    assert len(batch.grid) == 200 * len(batch.summary) == 200 * len(batch.densities)
    with pytest.raises(ValueError, match="snapshots"):
        chain_densities(chain, rate=RATE, snapshots="first")  # type: ignore[arg-type]


def test_calendar_arbitrage_in_a_later_expiry_is_caught() -> None:
    chain = simulated()
    last = chain[chain["snapshot_id"] == chain.sort_values("ts")["snapshot_id"].iloc[-1]].copy()
    clean = chain_densities(last, rate=RATE)
    near, far = clean.summary.sort_values("T").iloc[[0, -1]].itertuples()
    # Re-quote the far expiry at a flat vol whose total variance is 60 % of the near one's:
    # each chain alone is arbitrage-free, together they are a free calendar spread.
    w_near = near.variance / near.forward**2
    sigma = float(np.sqrt(0.6 * w_near / far.T))
    rows = last["expiry"] == far.expiry
    K = last.loc[rows, "strike"].to_numpy()
    spec = ChainSpec(K, far.forward, far.T, RATE)
    is_call = (last.loc[rows, "option_type"] == "CE").to_numpy()
    price = black76_price(spec.forward, K, spec.T, sigma, is_call, RATE)
    bid, ask, mid = quote(price, np.random.default_rng(3), spec)
    last.loc[rows, "bid"] = np.where(bid > 0, bid, np.nan)
    last.loc[rows, "ask"], last.loc[rows, "last"] = ask, mid

    batch = chain_densities(last, rate=RATE)
    s = batch.summary.set_index("expiry")
    bad = s.loc[far.expiry]
    assert bad["reason"] == DensityReason.CALENDAR_ARBITRAGE == "calendar_arbitrage"
    assert not bad["published"] and not pd.isna(bad["calendar_ok"]) and not bad["calendar_ok"]
    assert "cheaper than" in bad["detail"] and "total variance" in bad["detail"]
    # The far expiry contradicts both others, which agree: only the outlier is dropped.
    others = s.drop(index=far.expiry)
    assert len(others) >= 2 and others["published"].all() and others["calendar_ok"].all()
    assert (batch.grid["expiry"] != far.expiry).all()
    assert (near.snapshot_id, far.expiry) not in batch.densities


def test_a_single_contradicting_pair_drops_both() -> None:
    later = EXPIRY + pd.Timedelta(days=28)
    t1, t2 = year_fraction(TS, EXPIRY.date()), year_fraction(TS, later.date())
    sigma2 = 0.15 * np.sqrt(0.7 * t1 / t2)  # w(T2) = 0.7 w(T1)
    frame = pd.concat([one_expiry(), lognormal_rows(later, sigma2, seed=1)], ignore_index=True)
    s = chain_densities(frame, rate=RATE).summary
    assert (s["reason"] == "calendar_arbitrage").all() and not s["published"].any()
    # Flat total variance is no arbitrage: equal normalised prices pass within the spreads.
    flat = pd.concat(
        [one_expiry(), lognormal_rows(later, 0.15 * np.sqrt(t1 / t2), seed=1)], ignore_index=True
    )
    assert chain_densities(flat, rate=RATE).summary["published"].all()


def _keep_four(f: pd.DataFrame) -> pd.DataFrame:
    return f[(f["strike"] >= F - 50.0) & (f["strike"] <= F + 100.0)]


def _butterfly(f: pd.DataFrame) -> pd.DataFrame:
    hit = (f["strike"] == F + 300.0) & (f["option_type"] == "CE")
    f.loc[hit, ["bid", "ask", "last"]] += 5.0
    return f


def _dip(f: pd.DataFrame) -> pd.DataFrame:
    # Narrow dip in the smile inside wide quotes: chain passes, fitted density goes negative.
    spec = spec_for(EXPIRY)
    K = f["strike"].to_numpy()
    sigma = 0.15 - 0.02 * np.exp(-0.5 * ((np.log(K / F) - 0.02) / 0.008) ** 2)
    price = black76_price(F, K, spec.T, sigma, (f["option_type"] == "CE").to_numpy(), RATE)
    return f.assign(bid=np.maximum(price - 1.0, 0.05), ask=price + 1.0, last=price)


def _otm_only(f: pd.DataFrame) -> pd.DataFrame:
    itm = ((f["option_type"] == "CE") & (f["strike"] < F)) | (
        (f["option_type"] == "PE") & (f["strike"] >= F)
    )
    return f[~itm]


def _set(column: str, value: object, strike: float = F) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[f["strike"] == strike, column] = value
        return f

    return mutate


CASES = {
    "too_few_strikes": (_keep_four, "usable quotes"),
    "non_convex_chain": (_butterfly, "butterfly"),
    "negative_density": (_dip, "butterfly arbitrage in the fit"),
    "no_forward": (_otm_only, "parity"),
    "expired": (lambda f: f.assign(expiry=pd.Timestamp("2024-03-04")), "closed before"),
    "bad_input/crossed": (_set("bid", 9_999.0), "crossed quote"),
    "bad_input/negative": (_set("ask", -1.0), "negative quote"),
    "bad_input/side": (_set("option_type", "XX"), "not CE/PE"),
    "bad_input/strike": (_set("strike", np.nan), "strike not finite"),
    "bad_input/duplicate": (lambda f: pd.concat([f, f.iloc[:1]]), "duplicate rows"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_has_its_reason_and_no_grid(case: str) -> None:
    mutate, words = CASES[case]
    bad = mutate(one_expiry())
    # A clean expiry in the same frame and snapshot must be unaffected by its broken neighbour.
    later = EXPIRY + pd.Timedelta(days=28)
    frame = pd.concat([bad, lognormal_rows(later, 0.15, seed=2)], ignore_index=True)
    batch = chain_densities(frame, rate=RATE)
    s = batch.summary.set_index("expiry")
    row = s.loc[bad["expiry"].iloc[0]]
    assert row["reason"] == case.split("/")[0]
    assert not row["published"] and words in row["detail"]
    assert np.isnan(row["mean"]) and pd.isna(row["calendar_ok"])
    assert set(batch.grid["expiry"]) == {later}
    assert s.loc[later, "published"]


def test_undatable_snapshot_is_bad_input_not_a_crash() -> None:
    frame = one_expiry()
    frame["ts"] = frame["ts"].dt.tz_localize(None)  # off-schema: the calendar cannot date it
    (row,) = chain_densities(frame, rate=RATE).summary.itertuples()
    assert row.reason == "bad_input" and "year fraction" in row.detail


def test_clean_synthetic_expiry_is_published() -> None:
    batch = chain_densities(one_expiry(), rate=RATE)
    (row,) = batch.summary.itertuples()
    assert row.published and row.reason is None and row.detail == ""
    assert row.forward == pytest.approx(F, abs=0.5)
    assert row.n_strikes == STRIKES.size


def test_missing_columns_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="missing required columns: spot, bid"):
        chain_densities(one_expiry().drop(columns=["bid", "spot"]), rate=RATE)
    assert chain_densities(one_expiry()[list(REQUIRED_COLUMNS)], rate=RATE).summary["published"][0]


def test_empty_frame_gives_empty_batch() -> None:
    batch = chain_densities(one_expiry().iloc[:0], rate=RATE)
    assert batch.summary.empty and batch.grid.empty and batch.densities == {}
    assert list(batch.summary.columns) == list(SUMMARY_COLUMNS)


def test_figures() -> None:
    spec = spec_for(EXPIRY)
    _, _, pdf = lognormal_chain(spec, 0.15)
    density = next(iter(chain_densities(one_expiry(), rate=RATE).densities.values()))
    samples = np.random.default_rng(0).lognormal(np.log(F) - 0.5 * 0.15**2 * spec.T, 0.15, 5_000)
    fig = density_plot(density, title="NIFTY 2024-04-04", samples=samples)
    assert fig.axes[0].get_title() == "NIFTY 2024-04-04"
    fig = density_vs_histogram(density, true_pdf=pdf, samples=samples, title="lognormal")
    assert "L1" in fig.axes[0].get_title()
    with pytest.raises(ValueError):
        density_vs_histogram(density)
