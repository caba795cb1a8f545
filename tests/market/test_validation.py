"""Chain snapshot validation: every reason in isolation, all reasons together, both engines.

The clean chain is priced here with Black-76 on a smile, quoted around fair value with a spread,
stamped inside a trading session and received promptly. Each corruption breaks exactly one rule
in exactly one snapshot of a multi-snapshot frame, so the tests can demand that precise verdict
and that the neighbouring snapshots still pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pytest

from quantsentinel.market import calendar
from quantsentinel.market.pricing import black76_price
from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform, snapshot_id
from quantsentinel.market.validation import (
    EMPTY_SNAPSHOT,
    UNKNOWN_SNAPSHOT,
    Reason,
    ValidationConfig,
    ValidationReport,
    build_expectation_suite,
    validate_snapshots,
)

DAY = date(2025, 1, 8)  # a Wednesday, not an NSE holiday
EXPIRIES = (date(2025, 1, 16), date(2025, 1, 30), date(2025, 2, 27))
RATE = 0.065
TOL = ValidationConfig().arbitrage_tolerance
ENGINES = {"gx": ValidationConfig(), "pandas": ValidationConfig(use_great_expectations=False)}


@pytest.fixture(scope="module")
def gx_suite():
    """Pay the Great Expectations import and context build once for the whole module."""
    return build_expectation_suite(ENGINES["gx"])


@pytest.fixture(params=list(ENGINES), ids=list(ENGINES))
def config(request, gx_suite) -> ValidationConfig:
    return ENGINES[request.param]


def one_snapshot(ts: pd.Timestamp, spot: float, put_vol_bump: float = 0.0) -> pd.DataFrame:
    """486 rows: 3 expiries x CE/PE x 81 strikes (100 apart), priced on a skewed smile.

    `put_vol_bump` prices the puts off a shifted smile: each side stays arbitrage-free on its
    own, but C - P no longer matches one forward across strikes (a parity break, nothing else).
    """
    strikes = np.round(spot / 100.0) * 100.0 + 100.0 * np.arange(-40, 41)
    grid = np.meshgrid(np.arange(len(EXPIRIES)), [True, False], strikes, indexing="ij")
    e, call, K = (g.ravel() for g in grid)
    expiry = np.array(EXPIRIES, dtype="datetime64[ns]")[e]
    T = calendar.year_fraction(ts, expiry)
    forward = spot * np.exp((RATE - 0.012) * T)  # a carry the validator is never told
    k = np.log(K / forward)
    sigma = 0.14 - 0.05 * k + 0.25 * k * k + np.where(call, 0.0, put_vol_bump)
    fair = black76_price(forward, K, T, sigma, call, RATE)
    half = 0.05 + 0.001 * fair
    i = np.arange(len(K), dtype=np.int64)
    return pd.DataFrame(
        {
            "snapshot_id": snapshot_id("NIFTY", ts),
            "underlying": "NIFTY",
            "ts": ts,
            "received_at": ts + pd.Timedelta(seconds=2),
            "spot": spot,
            "expiry": expiry,
            "strike": K,
            "option_type": np.where(call, "CE", "PE"),
            "bid": np.maximum(fair - half, 0.0),
            "ask": fair + half,
            "last": fair,
            "volume": i % 997,
            "oi": i * 75,
            "oi_change": i % 11 - 5,
            "iv": sigma,
            "source": "simulator",
        }
    )


def make_chain(n_snapshots: int = 4) -> pd.DataFrame:
    """Snapshots every 4 minutes from 10:00 IST, spot drifting a little between them."""
    start = pd.Timestamp(f"{DAY} 10:00", tz=MARKET_TZ)
    frames = [
        one_snapshot((start + pd.Timedelta(minutes=4 * i)).tz_convert("UTC"), 23500 + 7.0 * i)
        for i in range(n_snapshots)
    ]
    return conform(pd.concat(frames, ignore_index=True), CHAIN_COLUMNS)


def ids(chain: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(chain["snapshot_id"]))


def contract(chain, sid, expiry, side) -> pd.Series:
    """Mask of one (snapshot, expiry, side) curve."""
    return (
        (chain["snapshot_id"] == sid)
        & (chain["expiry"] == pd.Timestamp(expiry))
        & (chain["option_type"] == side)
    )


def shift_quotes(chain, mask, delta) -> None:
    chain.loc[mask, ["bid", "ask", "last"]] += delta


# --- corruptions: each breaks one rule in snapshot `sid` only ------------------------------------


def _cell(column: str, value, nth: int) -> Callable:
    """Corruption setting one cell of the snapshot's `nth` row."""

    def apply(c, sid):
        c.loc[(c["snapshot_id"] == sid).to_numpy().nonzero()[0][nth], column] = value

    return apply


def _crossed(c, sid):
    i = (c["snapshot_id"] == sid).to_numpy().nonzero()[0][40]
    c.loc[i, ["bid", "ask"]] = c.loc[i, ["ask", "bid"]].to_numpy()  # mid unchanged


def _duplicate(c, sid):
    row = c[c["snapshot_id"] == sid].iloc[[20]]
    return pd.concat([c, row], ignore_index=True)


def _outside_session(c, sid):
    m = c["snapshot_id"] == sid
    early = pd.Timestamp(f"{DAY} 08:30", tz=MARKET_TZ).tz_convert("UTC")
    c.loc[m, "ts"] = early
    c.loc[m, "received_at"] = early + pd.Timedelta(seconds=1)


def _stale(c, sid):
    m = c["snapshot_id"] == sid
    c.loc[m, "received_at"] = c.loc[m, "ts"] + pd.Timedelta(minutes=5)


def _expired(c, sid):
    c.loc[(c["snapshot_id"] == sid) & (c["expiry"] == pd.Timestamp(EXPIRIES[0])), "expiry"] = (
        pd.Timestamp(DAY) - pd.Timedelta(days=1)
    )


def _tail(side: str) -> Callable:
    """The two far-OTM quotes of one side climb away from the money by a tick pair: the curve
    stays convex, but is no longer monotone."""

    def apply(c, sid):
        idx = contract(c, sid, EXPIRIES[1], side).to_numpy().nonzero()[0]
        edge = idx[-3:] if side == "CE" else idx[:3][::-1]
        base = c.loc[edge[0], ["bid", "ask", "last"]].to_numpy()
        c.loc[edge[1], ["bid", "ask", "last"]] = base + 0.10
        c.loc[edge[2], ["bid", "ask", "last"]] = base + 0.20

    return apply


def _bump(c, sid, side, position):
    """Lift one OTM quote just above its neighbours' chord: a concave kink, nothing else."""
    idx = contract(c, sid, EXPIRIES[1], side).to_numpy().nonzero()[0]
    j = idx[position]
    m = (c.loc[idx, "bid"].to_numpy() + c.loc[idx, "ask"].to_numpy()) / 2
    p = position % len(idx)
    fly = 0.5 * (m[p - 1] + m[p + 1]) - m[p]
    shift_quotes(c, c.index == j, fly + 4 * TOL)


def _call_not_convex(c, sid):
    _bump(c, sid, "CE", 48)  # ~8% above the money


def _put_not_convex(c, sid):
    _bump(c, sid, "PE", 32)  # ~8% below the money


def _vertical(c, sid):
    # Lowest call strike made dearer than D*dK over its neighbour; slopes stay convex.
    idx = contract(c, sid, EXPIRIES[1], "CE").to_numpy().nonzero()[0]
    shift_quotes(c, c.index == idx[0], 1.0)


def _parity(c, sid):
    m = (c["snapshot_id"] == sid).to_numpy()
    ts, spot = c.loc[m, "ts"].iloc[0], c.loc[m, "spot"].iloc[0]
    repriced = conform(one_snapshot(ts, spot, put_vol_bump=0.05), CHAIN_COLUMNS)
    return pd.concat([c[~m], repriced], ignore_index=True)


CORRUPTIONS: dict[str, Callable] = {
    Reason.NULL_REQUIRED: _cell("spot", np.nan, 5),
    Reason.CROSSED_QUOTE: _crossed,
    Reason.NEGATIVE_PRICE: _cell("last", -1.0, 7),
    Reason.IV_OUT_OF_BOUNDS: _cell("iv", 5.0, 9),
    Reason.BAD_OPTION_TYPE: _cell("option_type", "XX", 11),
    Reason.NON_POSITIVE_STRIKE: _cell("strike", 0.0, 13),
    Reason.DUPLICATE_CONTRACT: _duplicate,
    Reason.OUTSIDE_SESSION: _outside_session,
    Reason.STALE_SNAPSHOT: _stale,
    Reason.EXPIRED_CONTRACT: _expired,
    Reason.CALL_NOT_MONOTONE: _tail("CE"),
    Reason.PUT_NOT_MONOTONE: _tail("PE"),
    Reason.CALL_NOT_CONVEX: _call_not_convex,
    Reason.PUT_NOT_CONVEX: _put_not_convex,
    Reason.VERTICAL_SPREAD_BOUND: _vertical,
    Reason.PUT_CALL_PARITY: _parity,
}


def corrupt(chain: pd.DataFrame, sid: str, reason: str) -> pd.DataFrame:
    out = chain.copy()
    returned = CORRUPTIONS[reason](out, sid)
    return out if returned is None else returned


def verdicts(report: ValidationReport) -> set[tuple[str, str, str, int]]:
    return {(v.snapshot_id, v.reason, v.detail, v.count) for v in report.violations}


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_chain()


# --- tests ---------------------------------------------------------------------------------


def test_clean_chain_passes(clean, config):
    report = validate_snapshots(clean, config)
    assert report.violations == ()
    assert report.rejected.empty
    expected = ["snapshot_id", "underlying", "ts", "reasons", "details", "n_rows"]
    assert list(report.rejected.columns) == expected
    pd.testing.assert_frame_equal(report.passed, clean)


def test_every_row_reason_has_a_corruption():
    schema_level = {Reason.MISSING_COLUMNS, Reason.BAD_DTYPE, Reason.EMPTY_CHAIN}
    assert set(CORRUPTIONS) == set(Reason.all()) - schema_level


@pytest.mark.parametrize("reason", list(CORRUPTIONS))
def test_each_reason_rejects_only_its_snapshot(clean, config, reason):
    target = ids(clean)[1]
    bad = corrupt(clean, target, reason)
    report = validate_snapshots(bad, config)
    assert report.reasons_for(target) == [reason], [v.detail for v in report.violations]
    assert {v.snapshot_id for v in report.violations} == {target}
    assert report.rejected["snapshot_id"].tolist() == [target]
    assert report.rejected["reasons"].iloc[0] == [reason]
    assert report.rejected["n_rows"].iloc[0] == (bad["snapshot_id"] == target).sum()
    others = [s for s in ids(clean) if s != target]
    assert ids(report.passed) == others
    expected = clean[clean["snapshot_id"] != target].reset_index(drop=True)
    pd.testing.assert_frame_equal(report.passed, expected)


def test_multiple_reasons_in_one_snapshot_are_all_reported(clean, config):
    target = ids(clean)[2]
    # parity first: it reprices the whole snapshot, which would undo earlier corruptions
    reasons = [Reason.PUT_CALL_PARITY, Reason.STALE_SNAPSHOT, Reason.IV_OUT_OF_BOUNDS]
    bad = clean
    for reason in reasons:
        bad = corrupt(bad, target, reason)
    report = validate_snapshots(bad, config)
    assert report.reasons_for(target) == sorted(reasons)
    assert report.rejected["reasons"].iloc[0] == sorted(reasons)
    assert len(report.rejected["details"].iloc[0]) == len(report.violations)
    assert len(ids(report.passed)) == len(ids(clean)) - 1


def test_engines_agree_on_a_corpus(gx_suite):
    chain = make_chain(len(CORRUPTIONS) + 2)
    sids = ids(chain)
    for sid, reason in zip(sids, CORRUPTIONS, strict=False):
        chain = corrupt(chain, sid, reason)
    chain = corrupt(chain, sids[0], Reason.CROSSED_QUOTE)  # a second reason on one snapshot
    gx_report = validate_snapshots(chain, ENGINES["gx"])
    pd_report = validate_snapshots(chain, ENGINES["pandas"])
    assert verdicts(gx_report) == verdicts(pd_report)
    pd.testing.assert_frame_equal(gx_report.passed, pd_report.passed)
    pd.testing.assert_frame_equal(gx_report.rejected, pd_report.rejected)
    assert ids(gx_report.passed) == sids[-2:]
    for sid, reason in zip(sids, CORRUPTIONS, strict=False):
        assert reason in gx_report.reasons_for(sid)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (Reason.CROSSED_QUOTE, ["expiry 2025-01-16", "strike 23", "bid > ask"]),
        (Reason.CALL_NOT_CONVEX, ["expiry 2025-01-30 CE", "butterfly", "K=2"]),
        (Reason.PUT_NOT_MONOTONE, ["expiry 2025-01-30 PE", "price falls by 0.10", "K=1"]),
        (Reason.VERTICAL_SPREAD_BOUND, ["expiry 2025-01-30 CE", "D*dK+tol", "K=19500"]),
        (Reason.PUT_CALL_PARITY, ["expiry 2025-01-16 K=", "bid-ask width", "F~"]),
        (Reason.STALE_SNAPSHOT, ["received 300 s after", "max 60 s"]),
        (Reason.EXPIRED_CONTRACT, ["expiry 2025-01-07 before snapshot date 2025-01-08"]),
        (Reason.IV_OUT_OF_BOUNDS, ["iv outside [0.01, 3]", "iv=5"]),
    ],
)
def test_details_name_contract_and_numbers(clean, config, reason, expected):
    target = ids(clean)[0]
    report = validate_snapshots(corrupt(clean, target, reason), config)
    (violation,) = [v for v in report.violations if v.reason == reason]
    for fragment in expected:
        assert fragment in violation.detail, violation.detail
    assert violation.count >= 1


def test_missing_column_rejects_every_snapshot_without_crashing(clean, config):
    report = validate_snapshots(clean.drop(columns=["iv", "spot"]), config)
    assert report.passed.empty
    assert list(report.passed.columns) == [c.name for c in CHAIN_COLUMNS]
    assert sorted(report.rejected["snapshot_id"]) == sorted(ids(clean))
    for sid in ids(clean):
        assert report.reasons_for(sid) == [Reason.MISSING_COLUMNS]
    assert "spot, iv" in report.violations[0].detail


def test_bad_dtypes_reported_per_column(clean, config):
    bad = clean.astype({"volume": "float64", "underlying": object})
    bad["ts"] = bad["ts"].dt.tz_convert(MARKET_TZ)
    report = validate_snapshots(bad, config)
    assert report.passed.empty
    details = {v.detail for v in report.violations if v.snapshot_id == ids(clean)[0]}
    assert details == {
        "column underlying has dtype object, expected string",
        "column ts has dtype datetime64[ns, Asia/Kolkata], expected datetime64[ns, UTC]",
        "column volume has dtype float64, expected int64",
    }
    assert report.rejected["ts"].notna().all()


def test_missing_snapshot_id_uses_pseudo_id(clean, config):
    report = validate_snapshots(clean.drop(columns=["snapshot_id"]), config)
    assert report.rejected["snapshot_id"].tolist() == [UNKNOWN_SNAPSHOT]
    assert report.reasons_for(UNKNOWN_SNAPSHOT) == [Reason.MISSING_COLUMNS]
    assert report.rejected["n_rows"].iloc[0] == len(clean)


def test_garbage_frames_do_not_crash(config):
    frames = [
        pd.DataFrame({"a": [1, 2]}),
        pd.DataFrame({"snapshot_id": ["x", None], "strike": ["1", "two"]}),
        pd.DataFrame([[1, 2]], columns=["snapshot_id", "snapshot_id"]),
    ]
    for frame in frames:
        report = validate_snapshots(frame, config)
        assert report.passed.empty
        assert set(report.rejected["snapshot_id"]) <= {"x", UNKNOWN_SNAPSHOT, "1"}
        assert {v.reason for v in report.violations} <= Reason.SCHEMA


def test_empty_frame_reports_empty_chain(clean, config):
    report = validate_snapshots(clean.iloc[:0], config)
    assert [(v.snapshot_id, v.reason) for v in report.violations] == [
        (EMPTY_SNAPSHOT, Reason.EMPTY_CHAIN)
    ]
    assert report.passed.empty
    assert report.rejected["snapshot_id"].tolist() == [EMPTY_SNAPSHOT]
    report = validate_snapshots(pd.DataFrame(), config)
    assert Reason.EMPTY_CHAIN in report.reasons_for(EMPTY_SNAPSHOT)


def test_null_snapshot_id_rejects_the_snapshot_it_belongs_to(clean, config):
    target = ids(clean)[1]
    bad = clean.copy()
    row = bad.index[bad["snapshot_id"] == target][3]
    bad.loc[row, "snapshot_id"] = pd.NA  # still identifiable by (underlying, ts)
    # Without a ts the row belongs to no snapshot anyone can name: rejected on its own.
    bad.loc[bad.index[bad["snapshot_id"] == ids(clean)[2]][0], ["snapshot_id", "ts"]] = pd.NA
    report = validate_snapshots(bad, config)
    assert report.reasons_for(target) == [Reason.NULL_REQUIRED]
    assert report.reasons_for(UNKNOWN_SNAPSHOT) == [Reason.NULL_REQUIRED]
    assert ids(report.passed) == [s for s in ids(clean) if s != target]


def test_staleness_can_be_disabled_for_historical_files(clean, config):
    target = ids(clean)[0]
    bad = corrupt(clean, target, Reason.STALE_SNAPSHOT)
    relaxed = ValidationConfig(
        max_staleness=None, use_great_expectations=config.use_great_expectations
    )
    assert validate_snapshots(bad, relaxed).violations == ()


def test_order_and_index_of_the_input_do_not_matter(clean, config):
    target = ids(clean)[3]
    bad = corrupt(clean, target, Reason.CALL_NOT_CONVEX)
    shuffled = bad.sample(frac=1.0, random_state=7)
    shuffled.index = shuffled.index * 3 + 11
    a, b = validate_snapshots(bad, config), validate_snapshots(shuffled, config)
    assert verdicts(a) == verdicts(b)
    assert sorted(ids(b.passed)) == sorted(ids(a.passed))
    assert len(b.passed) == len(a.passed)


def test_tighter_iv_bounds_change_the_verdict(clean, gx_suite):
    for engine in ENGINES.values():
        config = ValidationConfig(
            iv_bounds=(0.01, 0.15), use_great_expectations=engine.use_great_expectations
        )
        report = validate_snapshots(clean, config)
        assert {v.reason for v in report.violations} == {Reason.IV_OUT_OF_BOUNDS}
        assert report.passed.empty


def test_expectation_suite_documents_the_tabular_rules(gx_suite):
    types = [e.expectation_type for e in gx_suite.expectations]
    # int64 columns cannot hold nulls, so only the other required columns get a not-null rule.
    nullable_dtype = [c for c in CHAIN_COLUMNS if not c.nullable and c.dtype != "int64"]
    assert types.count("expect_column_values_to_not_be_null") == len(nullable_dtype)
    assert "expect_compound_columns_to_be_unique" in types
    assert "expect_column_pair_values_a_to_be_greater_than_b" in types
    reasons = {e.meta["reason"] for e in gx_suite.expectations}
    assert reasons == {
        Reason.NULL_REQUIRED,
        Reason.BAD_OPTION_TYPE,
        Reason.CROSSED_QUOTE,
        Reason.NEGATIVE_PRICE,
        Reason.NON_POSITIVE_STRIKE,
        Reason.IV_OUT_OF_BOUNDS,
        Reason.DUPLICATE_CONTRACT,
    }


def test_dates_the_calendar_cannot_judge_are_outside_session(clean, config):
    # 2009 predates the calendar's session table: the calendar raises, validation must not.
    target = ids(clean)[1]
    old = clean.copy()
    m = old["snapshot_id"] == target
    back = pd.Timedelta(days=7 * 52 * 16)  # whole weeks, so weekdays stay weekdays
    for col in ("ts", "received_at", "expiry"):
        old.loc[m, col] = old.loc[m, col] - back
    report = validate_snapshots(old, config)
    assert report.reasons_for(target) == [Reason.OUTSIDE_SESSION]
    (violation,) = report.violations
    assert "2009-01-" in violation.detail
    assert "no session timings" in violation.detail
    assert len(ids(report.passed)) == len(ids(clean)) - 1


def test_great_expectations_stays_quiet(clean, gx_suite, capfd):
    bad = corrupt(clean, ids(clean)[0], Reason.CROSSED_QUOTE)
    capfd.readouterr()
    validate_snapshots(bad, ENGINES["gx"])
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out
