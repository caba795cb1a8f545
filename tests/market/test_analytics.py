"""Chain analytics on small chains whose answers are computed by hand or in closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from quantsentinel.market.analytics import chain_analytics, gex_at, max_pain, oi_flow
from quantsentinel.market.contracts import lot_size
from quantsentinel.market.pricing import black76_greeks, black76_price
from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform

RATE = 0.065
SIGMA = 0.14
SPOT = 22_000.0
TS = pd.Timestamp("2025-01-06 10:00", tz=MARKET_TZ).tz_convert("UTC")
NEAR, FAR = pd.Timestamp("2025-01-09"), pd.Timestamp("2025-01-30")


def year_frac(expiry: pd.Timestamp, ts: pd.Timestamp = TS) -> float:
    close = pd.Timestamp(expiry.date()).tz_localize(MARKET_TZ) + pd.Timedelta(hours=15, minutes=30)
    return (close - ts).total_seconds() / (365 * 86_400)


def chain_of(
    positions: dict[tuple[pd.Timestamp, float, str], tuple[int, int, int]],
    *,
    ts: pd.Timestamp = TS,
    spot: float = SPOT,
    price_bump: float = 0.0,
) -> pd.DataFrame:
    """Both legs at every listed strike, priced at a flat SIGMA on F = spot exp(rT), so the
    surface recovers SIGMA; `positions` maps (expiry, strike, type) -> (oi, volume, oi_change),
    unlisted legs carry zero OI."""
    rows = []
    for expiry, strike in sorted({(e, k) for e, k, _ in positions}):
        T = year_frac(expiry, ts)
        F = spot * math.exp(RATE * T)
        for option_type in ("CE", "PE"):
            price = float(black76_price(F, strike, T, SIGMA, option_type == "CE", RATE))
            price += price_bump
            oi, volume, change = positions.get((expiry, strike, option_type), (0, 0, 0))
            rows.append(
                {
                    "snapshot_id": f"NIFTY-{ts.strftime('%Y%m%dT%H%M%SZ')}", "underlying": "NIFTY",
                    "ts": ts, "received_at": ts, "spot": spot, "expiry": expiry,
                    "strike": strike, "option_type": option_type, "bid": price * 0.999,
                    "ask": price * 1.001, "last": price, "volume": volume, "oi": oi,
                    "oi_change": change, "iv": np.nan, "source": "simulator",
                }
            )  # fmt: skip
    return conform(pd.DataFrame(rows), CHAIN_COLUMNS)


def closed_form_gex(
    legs: list[tuple[pd.Timestamp, float, str, int]], spot: float, spot0: float = SPOT
) -> float:
    """sum +-Gamma_S * OI * lot * S^2 * 0.01 with Gamma_S = F e^{-rT} phi(d1) / (S^2 sigma sqrt T),
    the forward moving with spot (F = S exp(rT) here)."""
    total = 0.0
    for expiry, strike, option_type, oi in legs:
        T = year_frac(expiry)
        F = spot0 * math.exp(RATE * T) * spot / spot0
        d1 = (math.log(F / strike) + 0.5 * SIGMA**2 * T) / (SIGMA * math.sqrt(T))
        gamma = F * math.exp(-RATE * T) * norm.pdf(d1) / (spot**2 * SIGMA * math.sqrt(T))
        lot = lot_size("NIFTY", TS.tz_convert(MARKET_TZ).date(), expiry.date())
        total += (1 if option_type == "CE" else -1) * gamma * oi * lot * spot**2 * 0.01
    return total


POSITIONS = {
    # nearest expiry: the hand-computed max-pain book (oi, volume, oi_change)
    (NEAR, 21_900.0, "CE"): (10, 40, 2),
    (NEAR, 22_000.0, "CE"): (20, 90, 8),
    (NEAR, 22_100.0, "CE"): (5, 70, 5),
    (NEAR, 21_900.0, "PE"): (5, 10, -1),
    (NEAR, 22_000.0, "PE"): (15, 50, 12),
    (NEAR, 22_100.0, "PE"): (31, 20, 3),
    # a later expiry: counts in totals, not in max pain / walls
    (FAR, 22_000.0, "CE"): (100, 100, 0),
    (FAR, 22_000.0, "PE"): (200, 60, 10),
}


def test_max_pain_by_hand() -> None:
    # Payout P(X) = sum C_i (X-K_i)+ + sum P_i (K_i-X)+:
    #   X=21900: puts 15*100 + 31*200 = 7700
    #   X=22000: calls 10*100 = 1000; puts 31*100 = 3100 -> 4100
    #   X=22100: calls 10*200 + 20*100 = 4000 -> 4000  => max pain 22100
    strike, payout = max_pain(np.array([21_900.0, 22_000.0, 22_100.0]), [10, 20, 5], [5, 15, 31])
    assert (strike, payout) == (22_100.0, 4_000.0)
    # A flat segment resolves to the lowest strike.
    assert max_pain(np.array([100.0, 110.0, 120.0]), [0, 0, 0], [0, 0, 0])[0] == 100.0


def test_chain_analytics_totals_pcr_max_pain_walls() -> None:
    out = chain_analytics(chain_of(POSITIONS), rate=RATE)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["nearest_expiry"] == NEAR
    assert row["total_call_oi"] == 10 + 20 + 5 + 100
    assert row["total_put_oi"] == 5 + 15 + 31 + 200
    assert row["pcr_oi"] == pytest.approx(251 / 135)
    assert row["pcr_volume"] == pytest.approx((10 + 50 + 20 + 60) / (40 + 90 + 70 + 100))
    assert row["max_pain"] == 22_100.0
    lot = lot_size("NIFTY", TS.tz_convert(MARKET_TZ).date(), NEAR.date())
    assert row["max_pain_payout"] == pytest.approx(4_000.0 * lot)
    assert row["call_wall"] == 22_000.0 and row["put_wall"] == 22_100.0
    assert row["call_oi_change"] == 15 and row["put_oi_change"] == 24
    assert row["net_oi_change"] == 24 - 15
    assert row["top_call_buildup"] == [22_000.0, 22_100.0, 21_900.0]
    assert row["top_put_buildup"] == [22_000.0, 22_100.0]  # only positive build-ups
    assert row["gex_coverage"] == pytest.approx(1.0)


def test_gex_matches_closed_form_and_sign_convention() -> None:
    legs = [(e, k, t, v[0]) for (e, k, t), v in POSITIONS.items()]
    row = chain_analytics(chain_of(POSITIONS), rate=RATE).iloc[0]
    assert row["gex"] == pytest.approx(closed_form_gex(legs, SPOT), rel=1e-6)
    calls = [leg for leg in legs if leg[2] == "CE"]
    assert row["gex_call"] == pytest.approx(closed_form_gex(calls, SPOT), rel=1e-6)
    assert row["gex_call"] > 0 > row["gex_put"]

    only_calls = {k: v for k, v in POSITIONS.items() if k[2] == "CE"}
    only_puts = {k: v for k, v in POSITIONS.items() if k[2] == "PE"}
    assert chain_analytics(chain_of(only_calls), rate=RATE)["gex"].iloc[0] > 0
    assert chain_analytics(chain_of(only_puts), rate=RATE)["gex"].iloc[0] < 0
    # Calls only: dealer gamma is positive at every spot on the grid, so no flip level.
    assert np.isnan(chain_analytics(chain_of(only_calls), rate=RATE)["gex_flip_level"].iloc[0])

    doubled = {k: (2 * v[0], v[1], v[2]) for k, v in POSITIONS.items()}
    double = chain_analytics(chain_of(doubled), rate=RATE).iloc[0]
    assert double["gex"] == pytest.approx(2 * row["gex"], rel=1e-9)


def test_gex_at_agrees_with_pricing_gamma() -> None:
    rng = np.random.default_rng(3)
    n = 50
    F0 = SPOT * 1.004
    K = rng.uniform(20_000, 24_000, n)
    T = rng.uniform(0.005, 0.5, n)
    vol = rng.uniform(0.08, 0.6, n)
    w = rng.normal(0, 1_000, n)
    levels = np.array([21_000.0, SPOT, 23_000.0])
    got = gex_at(levels, SPOT, F0, K, T, vol, w, RATE)
    for j, S in enumerate(levels):
        F = F0 * S / SPOT
        gamma_f = black76_greeks(F, K, T, vol, True, RATE).gamma
        expected = np.sum(w * gamma_f * (F / S) ** 2) * S**2 * 0.01
        assert got[j] == pytest.approx(expected, rel=1e-10)


def test_gex_flip_level_lies_between_the_put_and_call_strikes() -> None:
    # Heavy puts at 21,700 and calls at 22,300: negative GEX near the puts, positive near calls.
    book = {(NEAR, 21_700.0, "PE"): (500, 0, 0), (NEAR, 22_300.0, "CE"): (400, 0, 0)}
    chain = chain_of(book | {(NEAR, 22_000.0, "CE"): (0, 0, 0)})
    row = chain_analytics(chain, rate=RATE).iloc[0]
    legs = [(e, k, t, v[0]) for (e, k, t), v in book.items()]
    root = brentq(lambda s: closed_form_gex(legs, s), 21_750.0, 22_250.0)
    assert 21_700.0 < row["gex_flip_level"] < 22_300.0
    # Linear interpolation on an 11-point grid: well inside one index point of the true root.
    assert row["gex_flip_level"] == pytest.approx(root, abs=1.0)
    assert closed_form_gex(legs, SPOT * 0.99) < 0 < closed_form_gex(legs, SPOT * 1.01)
    # Scaling every OI scales GEX at every spot, so the zero crossing does not move.
    doubled = {k: (2 * v[0], v[1], v[2]) for k, v in book.items()}
    double = chain_analytics(chain_of(doubled | {(NEAR, 22_000.0, "CE"): (0, 0, 0)}), rate=RATE)
    assert double["gex"].iloc[0] == pytest.approx(2 * row["gex"], rel=1e-9)
    assert double["gex_flip_level"].iloc[0] == pytest.approx(row["gex_flip_level"], rel=1e-12)


def test_legs_without_iv_are_left_out_and_reported_in_coverage() -> None:
    chain = chain_of(POSITIONS)
    far_put = (chain["expiry"] == FAR) & (chain["option_type"] == "PE")
    far_call = (chain["expiry"] == FAR) & (chain["option_type"] == "CE")
    chain.loc[far_put | far_call, ["bid", "ask", "last"]] = np.nan
    row = chain_analytics(chain, rate=RATE).iloc[0]
    assert row["gex_coverage"] == pytest.approx(86 / 386)
    near_legs = [(e, k, t, v[0]) for (e, k, t), v in POSITIONS.items() if e == NEAR]
    assert row["gex"] == pytest.approx(closed_form_gex(near_legs, SPOT), rel=1e-6)


def test_one_row_per_snapshot() -> None:
    later = TS + pd.Timedelta(minutes=5)
    chain = pd.concat([chain_of(POSITIONS), chain_of(POSITIONS, ts=later, spot=22_050.0)])
    out = chain_analytics(chain, rate=RATE)
    assert list(out["ts"]) == [TS, later]
    assert list(out["spot"]) == [SPOT, 22_050.0]
    assert chain_analytics(chain.iloc[:0]).empty


def test_many_snapshots_give_the_rows_each_gives_alone() -> None:
    # chain_analytics groups all snapshots at once; three books with different spots, walls,
    # build-ups and nearest expiries, their rows interleaved, must not leak into each other.
    later, last = TS + pd.Timedelta(minutes=5), TS + pd.Timedelta(minutes=10)
    other = {
        (NEAR, 21_900.0, "CE"): (50, 5, 9),
        (NEAR, 22_000.0, "CE"): (5, 1, 1),
        (NEAR, 21_900.0, "PE"): (60, 3, -4),  # no put build-up: adjacent call groups in
        (NEAR, 22_100.0, "PE"): (2, 2, 0),  # the sorted table must still split by snapshot
        (FAR, 22_100.0, "CE"): (80, 10, 3),
    }
    far_only = {k: v for k, v in POSITIONS.items() if k[0] == FAR}
    snapshots = [
        chain_of(POSITIONS),
        chain_of(other, ts=later, spot=22_050.0),
        chain_of(far_only, ts=last, spot=21_980.0),
    ]
    alone = pd.concat([chain_analytics(s, rate=RATE) for s in snapshots], ignore_index=True)
    # Rows interleaved one per snapshot in turn, forwards and backwards (snapshot order of first
    # appearance changes, and with it the order of the groups inside the implementation).
    mixed = pd.concat(snapshots, ignore_index=True)
    mixed = mixed.iloc[np.argsort(mixed.groupby("snapshot_id").cumcount(), kind="stable")]
    for rows in (mixed, mixed.iloc[::-1]):
        together = chain_analytics(rows, rate=RATE)
        pd.testing.assert_frame_equal(together, alone, check_exact=False, rtol=1e-9)
    assert list(together["nearest_expiry"]) == [NEAR, NEAR, FAR]
    assert list(together["call_wall"]) == [22_000.0, 21_900.0, 22_000.0]
    assert list(together["top_call_buildup"]) == [
        [22_000.0, 22_100.0, 21_900.0],
        [21_900.0, 22_000.0],
        [],
    ]
    assert together["top_put_buildup"].tolist() == [
        [22_000.0, 22_100.0],
        [],
        [22_000.0],
    ]


def test_oi_flow_between_two_snapshots() -> None:
    later = TS + pd.Timedelta(minutes=5)
    prev = chain_of(POSITIONS)
    changed = dict(POSITIONS)
    changed[(NEAR, 22_000.0, "CE")] = (35, 0, 0)  # +15
    changed[(NEAR, 22_100.0, "PE")] = (21, 0, 0)  # -10
    changed[(NEAR, 22_200.0, "CE")] = (7, 0, 0)  # newly listed strike
    now = chain_of(changed, ts=later, price_bump=1.0)  # every premium up by 1 point
    now = now[~((now["expiry"] == FAR) & (now["option_type"] == "PE"))]  # a leg not in this view
    flow = oi_flow(prev, now).set_index(["expiry", "strike", "option_type"])
    assert flow.loc[(NEAR, 22_000.0, "CE"), "oi_flow"] == 15
    assert flow.loc[(NEAR, 22_000.0, "CE"), "reading"] == "long_buildup"
    assert flow.loc[(NEAR, 22_100.0, "PE"), "oi_flow"] == -10
    assert flow.loc[(NEAR, 22_100.0, "PE"), "reading"] == "short_covering"
    assert flow.loc[(NEAR, 21_900.0, "CE"), "oi_flow"] == 0
    key = ["expiry", "strike", "option_type"]
    mid_now = now.set_index(key).eval("(bid + ask) / 2")
    mid_prev = prev.set_index(key).eval("(bid + ask) / 2")
    leg = (NEAR, 21_900.0, "CE")
    assert flow.loc[leg, "price_change"] == pytest.approx(mid_now[leg] - mid_prev[leg], rel=1e-12)
    assert flow.loc[(NEAR, 22_200.0, "CE"), "status"] == "new"
    assert np.isnan(flow.loc[(NEAR, 22_200.0, "CE"), "oi_flow"])
    assert flow.loc[(FAR, 22_000.0, "PE"), "status"] == "gone"
    assert (flow["prev_snapshot_id"] == prev["snapshot_id"].iloc[0]).all()
    with pytest.raises(ValueError):
        oi_flow(now, prev)
