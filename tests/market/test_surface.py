"""IV surface from chains priced off a known smile and a known (dividend-adjusted) forward."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from quantsentinel.market import surface as surface_mod
from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform
from quantsentinel.market.surface import atm_iv, iv_surface, smile

RATE = 0.065
DIV_YIELD = 0.013  # makes the parity forward differ from spot * exp(rT)
SPOT = 22_000.0
TS = pd.Timestamp("2025-01-06 10:00", tz=MARKET_TZ).tz_convert("UTC")
EXPIRIES = (pd.Timestamp("2025-01-09"), pd.Timestamp("2025-01-30"))


def smile_vol(k: np.ndarray | float) -> np.ndarray | float:
    """A put-skewed smile in log-moneyness k = ln(K/F)."""
    return 0.15 - 0.10 * k + 0.50 * k * k


def year_frac(ts: pd.Timestamp, expiry: pd.Timestamp) -> float:
    """ACT/365 to 15:30 IST on the expiry date, computed independently of the calendar module."""
    close = pd.Timestamp(expiry.date()).tz_localize(MARKET_TZ) + pd.Timedelta(hours=15, minutes=30)
    return (close - ts).total_seconds() / (365 * 86_400)


def forward(ts: pd.Timestamp, expiry: pd.Timestamp, spot: float = SPOT) -> float:
    return spot * math.exp((RATE - DIV_YIELD) * year_frac(ts, expiry))


def make_chain(
    ts: pd.Timestamp = TS,
    spot: float = SPOT,
    expiries: tuple[pd.Timestamp, ...] = EXPIRIES,
    strikes: np.ndarray | None = None,
) -> pd.DataFrame:
    strikes = np.arange(20_500.0, 23_501.0, 50.0) if strikes is None else strikes
    sid = f"NIFTY-{ts.strftime('%Y%m%dT%H%M%SZ')}"
    rows = []
    for expiry in expiries:
        T, F = year_frac(ts, expiry), forward(ts, expiry, spot)
        for option_type in ("CE", "PE"):
            sigma = smile_vol(np.log(strikes / F))
            price = black76_price(F, strikes, T, sigma, option_type == "CE", RATE)
            half = np.minimum(0.25, 0.05 * price)
            for K, p, h in zip(strikes, price, half, strict=True):
                rows.append(
                    {
                        "snapshot_id": sid, "underlying": "NIFTY", "ts": ts, "received_at": ts,
                        "spot": spot, "expiry": expiry, "strike": K, "option_type": option_type,
                        "bid": p - h, "ask": p + h, "last": p * 1.01, "volume": 100,
                        "oi": 1_000, "oi_change": 0, "iv": np.nan, "source": "simulator",
                    }
                )  # fmt: skip
    return conform(pd.DataFrame(rows), CHAIN_COLUMNS)


def near(surf: pd.DataFrame, frac: float = 0.06) -> pd.DataFrame:
    return surf[(surf["k"].abs() < frac)]


def test_recovers_forward_and_input_smile() -> None:
    surf = iv_surface(make_chain(), rate=RATE)
    assert len(surf) == 2 * 61
    for expiry in EXPIRIES:
        part = surf[surf["expiry"] == expiry]
        assert part["T"].iloc[0] == pytest.approx(year_frac(TS, expiry), rel=1e-9)
        assert (part["forward_source"] == "parity").all()
        assert part["forward"].iloc[0] == pytest.approx(forward(TS, expiry), rel=1e-9)
        # Not spot carry: the dividend yield is in the parity forward.
        assert abs(part["forward"].iloc[0] - SPOT * math.exp(RATE * part["T"].iloc[0])) > 1.0
    assert surf["iv_reason"].isna().all()
    expected = smile_vol(np.log(surf["strike"] / surf["forward"]))
    np.testing.assert_allclose(surf["iv"], expected, atol=1e-6)
    both = near(surf)
    np.testing.assert_allclose(both["iv_call"], smile_vol(both["k"]), atol=1e-6)
    np.testing.assert_allclose(both["iv_put"], smile_vol(both["k"]), atol=1e-6)
    assert ((surf["iv_side"] == "PE") == (surf["strike"] < surf["forward"])).all()


def test_derived_columns_match_independent_formulas() -> None:
    surf = iv_surface(make_chain(), rate=RATE)
    K, F, T, vol = (surf[c].to_numpy() for c in ("strike", "forward", "T", "iv"))
    np.testing.assert_allclose(surf["k"], np.log(K / F), rtol=1e-12)
    np.testing.assert_allclose(surf["total_variance"], vol**2 * T, rtol=1e-12)
    d1 = (np.log(F / K) + 0.5 * vol**2 * T) / (vol * np.sqrt(T))
    disc = np.exp(-RATE * T)
    expected = np.where(surf["iv_side"] == "CE", disc * norm.cdf(d1), -disc * norm.cdf(-d1))
    np.testing.assert_allclose(surf["delta"], expected, atol=1e-12)


def test_atm_iv_and_25_delta_skew() -> None:
    summary = atm_iv(iv_surface(make_chain(), rate=RATE))
    assert len(summary) == 2
    for _, row in summary.iterrows():
        assert row["atm_iv"] == pytest.approx(smile_vol(0.0), abs=1e-5)
        T = row["T"]
        disc = math.exp(-RATE * T)

        def call_delta(k: float, T: float = T, disc: float = disc) -> float:
            s = smile_vol(k)
            return disc * norm.cdf((-k + 0.5 * s * s * T) / (s * math.sqrt(T))) - 0.25

        def put_delta(k: float, T: float = T, disc: float = disc) -> float:
            s = smile_vol(k)
            return -disc * norm.cdf(-(-k + 0.5 * s * s * T) / (s * math.sqrt(T))) + 0.25

        vc = smile_vol(brentq(call_delta, 0.0, 0.5))
        vp = smile_vol(brentq(put_delta, -0.5, 0.0))
        assert row["iv_25d_call"] == pytest.approx(vc, abs=2e-4)
        assert row["iv_25d_put"] == pytest.approx(vp, abs=2e-4)
        assert row["rr25"] == pytest.approx(vc - vp, abs=3e-4)
        assert row["rr25"] < 0  # put skew
        assert row["bf25"] == pytest.approx(0.5 * (vc + vp) - 0.15, abs=3e-4)


def test_missing_bid_falls_back_to_last() -> None:
    chain = make_chain()
    otm_call = (chain["option_type"] == "CE") & (chain["strike"] == 22_500.0)
    otm_call &= chain["expiry"] == EXPIRIES[0]
    chain.loc[otm_call, "bid"] = np.nan
    surf = iv_surface(chain, rate=RATE)
    row = surf[(surf["strike"] == 22_500.0) & (surf["expiry"] == EXPIRIES[0])].iloc[0]
    assert row["call_price_source"] == "last"
    assert row["call_price"] == pytest.approx(chain.loc[otm_call, "last"].iloc[0])
    # The last trade is 1% rich, so its IV sits above the smile, and is what a re-pricing gives.
    repriced = black76_price(row["forward"], 22_500.0, row["T"], row["iv"], True, RATE)
    assert repriced == pytest.approx(row["call_price"], rel=1e-9)
    assert row["iv"] > smile_vol(row["k"])
    assert (surf["call_price_source"] == "mid").sum() == 2 * 61 - 1


def test_unsolvable_rows_get_reasons_and_leave_others_intact() -> None:
    chain = make_chain()
    first = chain["expiry"] == EXPIRIES[0]
    bad_put = first & (chain["option_type"] == "PE") & (chain["strike"] == 21_000.0)
    chain.loc[bad_put, ["bid", "ask", "last"]] = np.nan  # nothing to price
    bad_call = first & (chain["option_type"] == "CE") & (chain["strike"] == 23_000.0)
    chain.loc[bad_call, ["bid", "ask", "last"]] = [30_000.0, 30_001.0, np.nan]  # above F
    itm_put = first & (chain["option_type"] == "PE") & (chain["strike"] == 23_500.0)
    chain.loc[itm_put, ["bid", "ask", "last"]] = [0.5, 1.0, np.nan]  # far below intrinsic
    surf = iv_surface(chain, rate=RATE)
    part = surf[surf["expiry"] == EXPIRIES[0]].set_index("strike")
    assert part.loc[21_000.0, "iv_reason"] == "no_price"
    assert part.loc[23_000.0, "iv_reason"] == "above_upper_bound"
    assert part.loc[23_500.0, "iv_put_reason"] == "below_intrinsic"
    assert np.isnan(part.loc[[21_000.0, 23_000.0], "iv"]).all()
    assert np.isnan(part.loc[[21_000.0, 23_000.0], "delta"]).all()
    ok = surf["iv_reason"].isna()
    assert ok.sum() == len(surf) - 2
    np.testing.assert_allclose(surf.loc[ok, "iv"], smile_vol(surf.loc[ok, "k"]), atol=1e-6)


def test_one_sided_strikes_and_spot_carry_fallback() -> None:
    chain = make_chain(expiries=EXPIRIES[:1])
    calls_only = chain[chain["option_type"] == "CE"]
    surf = iv_surface(calls_only, rate=RATE)
    assert (surf["forward_source"] == "spot_carry").all()
    T = surf["T"].iloc[0]
    assert surf["forward"].iloc[0] == pytest.approx(SPOT * math.exp(RATE * T), rel=1e-12)
    below = surf["strike"] < surf["forward"]
    assert (surf.loc[below, "iv_reason"] == "no_otm_leg").all()
    assert surf.loc[~below, "iv"].notna().all()


def test_many_snapshots_use_one_solver_call(monkeypatch: pytest.MonkeyPatch) -> None:
    later = TS + pd.Timedelta(minutes=5)
    chain = pd.concat([make_chain(), make_chain(ts=later, spot=22_100.0)], ignore_index=True)
    calls: list[int] = []
    real = surface_mod.implied_volatility

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(surface_mod, "implied_volatility", counting)
    surf = iv_surface(chain, rate=RATE)
    assert calls == [len(chain)]
    assert surf["snapshot_id"].nunique() == 2
    late = surf[surf["ts"] == later]
    assert late["forward"].iloc[0] == pytest.approx(forward(later, EXPIRIES[0], 22_100.0))

    sm = smile(surf)
    assert (sm["snapshot_id"] == late["snapshot_id"].iloc[0]).all()
    assert (sm["expiry"] == EXPIRIES[0]).all()
    assert sm["strike"].is_monotonic_increasing and sm["k"].is_monotonic_increasing
    np.testing.assert_allclose(sm["iv"], smile_vol(sm["k"]), atol=1e-6)
    far = smile(surf, snapshot_id=surf["snapshot_id"].iloc[0], expiry=EXPIRIES[1])
    assert (far["expiry"] == EXPIRIES[1]).all() and len(far) == 61
    with pytest.raises(KeyError):
        smile(surf, snapshot_id="NIFTY-nope")
