"""Ingest adapters: fixtures in each real format, the malformed corpus, and the guards.

The Parquet fixture is written at runtime from generic_snapshot.csv (see `generic_parquet`) so the
repository carries no binary that could drift from the CSV it mirrors.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from quantsentinel.market.ingest import (
    FORMATS,
    IngestError,
    IngestReason,
    detect_format,
    file_sha256,
    parse_generic,
    parse_nse_bhavcopy,
    parse_nse_option_chain,
    read_snapshot_file,
)
from quantsentinel.market.schema import CHAIN_COLUMNS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MALFORMED = FIXTURES / "malformed"
MANIFEST = json.loads((MALFORMED / "manifest.json").read_text())
CANONICAL_DTYPES = {c.name: c.dtype for c in CHAIN_COLUMNS}

GOOD = {
    "nse_option_chain_nifty.json": "nse_option_chain",
    "nse_bhavcopy_udiff.csv": "nse_bhavcopy",
    "nse_bhavcopy_legacy.csv": "nse_bhavcopy",
    "generic_snapshot.csv": "generic_csv",
}


@pytest.fixture(scope="module")
def generic_parquet(tmp_path_factory) -> Path:
    """generic_snapshot.csv as Parquet, with the native types a Parquet writer would use."""
    df = pd.read_csv(FIXTURES / "generic_snapshot.csv")
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["received_at"] = pd.to_datetime(df["received_at"], utc=True)
    df["expiry"] = pd.to_datetime(df["expiry"]).dt.date
    path = tmp_path_factory.mktemp("parquet") / "generic_snapshot.parquet"
    df.to_parquet(path, index=False)
    return path


def _row(frame: pd.DataFrame, expiry: str, strike: float, side: str, underlying: str = "NIFTY"):
    hit = frame[
        (frame["underlying"] == underlying)
        & (frame["expiry"] == pd.Timestamp(expiry))
        & (frame["strike"] == strike)
        & (frame["option_type"] == side)
    ]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def _reason(call) -> str:
    with pytest.raises(IngestError) as info:
        call()
    return info.value.reason


# ---------------------------------------------------------------- good fixtures


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_fixture_has_canonical_shape_and_format(name):
    result = read_snapshot_file(FIXTURES / name)
    assert result.format == GOOD[name] == detect_format(FIXTURES / name)
    assert result.format in FORMATS
    assert list(result.frame.columns) == list(CANONICAL_DTYPES)
    assert {c: str(t) for c, t in result.frame.dtypes.items()} == CANONICAL_DTYPES
    assert len(result.frame) > 0
    assert result.size_bytes == (FIXTURES / name).stat().st_size
    assert result.sha256 == file_sha256(FIXTURES / name)


def test_option_chain_values_units_and_time():
    raw = json.loads((FIXTURES / "nse_option_chain_nifty.json").read_text())
    frame = read_snapshot_file(FIXTURES / "nse_option_chain_nifty.json").frame
    # 20-Dec-2024 14:30:00 IST is 09:00:00 UTC.
    assert (frame["ts"] == pd.Timestamp("2024-12-20 09:00:00", tz="UTC")).all()
    assert (frame["received_at"] == frame["ts"]).all()  # no receipt time given -> ts
    assert frame["snapshot_id"].unique().tolist() == ["NIFTY-20241220T090000Z"]
    assert (frame["spot"] == 23587.5).all() and (frame["source"] == "nse_option_chain").all()
    assert sorted(frame["expiry"].unique()) == [
        pd.Timestamp("2024-12-26"),
        pd.Timestamp("2025-01-02"),
    ]

    row = _row(frame, "2024-12-26", 23500.0, "CE")
    side = next(
        e["CE"]
        for e in raw["records"]["data"]
        if e["expiryDate"] == "26-Dec-2024" and e["strikePrice"] == 23500
    )
    assert (row["bid"], row["ask"], row["last"]) == (229.2, 229.8, 229.5)
    assert row["oi"] == side["openInterest"] and row["oi_change"] == side["changeinOpenInterest"]
    assert row["volume"] == side["totalTradedVolume"]
    assert row["iv"] == pytest.approx(side["impliedVolatility"] / 100)  # percent -> decimal

    # NSE prints zeros for "none": untraded contract -> NaN last and iv, volume 0.
    untraded = _row(frame, "2025-01-02", 23300.0, "CE")
    assert np.isnan(untraded["last"]) and np.isnan(untraded["iv"]) and untraded["volume"] == 0
    # A strike that lists only its call yields only the call.
    assert len(frame) == 27
    only_call = frame[(frame["expiry"] == pd.Timestamp("2025-01-02")) & (frame["strike"] == 23900)]
    assert only_call["option_type"].tolist() == ["CE"]


def test_option_chain_zero_quote_is_nan_and_received_at_is_kept():
    raw = json.loads((FIXTURES / "nse_option_chain_nifty.json").read_text())
    raw["records"]["data"][0]["PE"]["bidprice"] = 0
    received = pd.Timestamp("2024-12-20 14:30:05", tz="Asia/Kolkata")
    frame = parse_nse_option_chain(json.dumps(raw).encode(), received_at=received)
    assert np.isnan(_row(frame, "2024-12-26", 23300.0, "PE")["bid"])
    assert (frame["received_at"] == pd.Timestamp("2024-12-20 09:00:05", tz="UTC")).all()
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_nse_option_chain(json.dumps(raw), received_at=pd.Timestamp("2024-12-20 09:00"))


def test_option_chain_structural_problems_are_named():
    assert _reason(lambda: parse_nse_option_chain(b"{}")) == IngestReason.MISSING_FIELD
    raw = json.loads((FIXTURES / "nse_option_chain_nifty.json").read_text())
    for entry in raw["records"]["data"]:
        for side in ("CE", "PE"):
            entry.get(side, {}).pop("underlying", None)
    with pytest.raises(IngestError, match="underlying") as info:
        parse_nse_option_chain(json.dumps(raw))
    assert info.value.reason == IngestReason.MISSING_FIELD
    raw = json.loads((FIXTURES / "nse_option_chain_nifty.json").read_text())
    raw["records"]["data"][2]["CE"]["openInterest"] = "lots"
    with pytest.raises(IngestError, match=r"records\.data\[2\]\.CE\.openInterest"):
        parse_nse_option_chain(json.dumps(raw))


def test_every_prefix_of_the_chain_is_truncated_json():
    text = (FIXTURES / "nse_option_chain_nifty.json").read_text()
    for cut in range(1, len(text) - 2, 611):
        if not text[:cut].strip():
            continue
        assert _reason(lambda c=cut: parse_nse_option_chain(text[:c])) == "truncated_json", cut


def test_generic_csv_and_parquet_match_the_option_chain(generic_parquet):
    market = [c for c in CANONICAL_DTYPES if c not in ("received_at", "source")]
    chain = read_snapshot_file(FIXTURES / "nse_option_chain_nifty.json").frame
    csv = read_snapshot_file(FIXTURES / "generic_snapshot.csv").frame
    parquet = read_snapshot_file(generic_parquet)
    assert parquet.format == "generic_parquet" == detect_format(generic_parquet)
    pd.testing.assert_frame_equal(csv[market], chain[market])
    pd.testing.assert_frame_equal(parquet.frame, csv)
    assert (csv["source"] == "generic").all()  # derived: the file has no source column
    assert (csv["received_at"] == pd.Timestamp("2024-12-20 09:00:02", tz="UTC")).all()


# ---------------------------------------------------------------- bhavcopy


def test_udiff_bhavcopy_units_spot_and_snapshots():
    raw = pd.read_csv(FIXTURES / "nse_bhavcopy_udiff.csv", dtype=str, keep_default_na=False)
    frame = read_snapshot_file(FIXTURES / "nse_bhavcopy_udiff.csv").frame
    assert sorted(frame["snapshot_id"].unique()) == [
        "BANKNIFTY-20241220T100000Z",  # 15:30 IST close of 20-Dec-2024
        "NIFTY-20241220T100000Z",
        "RELIANCE-20241220T100000Z",
    ]
    assert len(frame) == (raw["FinInstrmTp"].isin(["IDO", "STO"])).sum()  # futures dropped
    assert frame[["bid", "ask", "iv"]].isna().all().all()  # end-of-day: no book
    assert (frame.loc[frame["underlying"] == "NIFTY", "spot"] == 23587.5).all()

    for expiry, lot in (("2024-12-26", 25), ("2025-01-02", 75)):
        src = raw[
            (raw["TckrSymb"] == "NIFTY")
            & (raw["XpryDt"] == expiry)
            & (raw["StrkPric"] == "23500.00")
            & (raw["OptnTp"] == "CE")
        ].iloc[0]
        row = _row(frame, expiry, 23500.0, "CE")
        assert row["volume"] == int(src["TtlTradgVol"]) // lot  # units -> contracts
        assert row["oi"] == int(src["OpnIntrst"]) // lot
        assert row["oi_change"] == int(src["ChngInOpnIntrst"]) // lot
        assert row["last"] == float(src["LastPric"])


def test_bhavcopy_filters_by_underlying():
    data = (FIXTURES / "nse_bhavcopy_udiff.csv").read_bytes()
    bank = parse_nse_bhavcopy(data, underlying="banknifty")
    assert bank["underlying"].unique().tolist() == ["BANKNIFTY"]
    assert len(bank) == 16
    result = read_snapshot_file(FIXTURES / "nse_bhavcopy_legacy.csv", underlying="NIFTY")
    assert result.frame["snapshot_id"].unique().tolist() == ["NIFTY-20240628T100000Z"]
    with pytest.raises(IngestError, match="TCS") as info:
        parse_nse_bhavcopy(data, underlying="TCS")
    assert info.value.reason == IngestReason.EMPTY_CHAIN


def test_udiff_quantity_that_is_not_whole_lots_is_rejected():
    raw = pd.read_csv(FIXTURES / "nse_bhavcopy_udiff.csv", dtype=str, keep_default_na=False)
    opt = raw.index[raw["FinInstrmTp"] == "IDO"][0]
    raw.loc[opt, "TtlTradgVol"] = str(int(raw.loc[opt, "TtlTradgVol"]) + 1)
    with pytest.raises(IngestError, match=f"TtlTradgVol.*line {opt + 2}") as info:
        parse_nse_bhavcopy(raw.to_csv(index=False))
    assert info.value.reason == IngestReason.BAD_VALUE


def test_legacy_bhavcopy_lot_spot_and_untraded():
    text = (FIXTURES / "nse_bhavcopy_legacy.csv").read_text()
    raw = pd.read_csv(FIXTURES / "nse_bhavcopy_legacy.csv", dtype=str, keep_default_na=False)
    frame = parse_nse_bhavcopy(text)
    assert set(frame["underlying"]) == {"NIFTY", "BANKNIFTY"}  # TCS has futures only
    assert (frame["ts"] == pd.Timestamp("2024-06-28 10:00", tz="UTC")).all()
    near_future = raw[(raw["SYMBOL"] == "NIFTY") & (raw["EXPIRY_DT"] == "25-Jul-2024")]
    near_close = float(near_future[near_future["INSTRUMENT"] == "FUTIDX"]["CLOSE"].iloc[0])
    assert (frame.loc[frame["underlying"] == "NIFTY", "spot"] == near_close).all()

    src = raw[
        (raw["SYMBOL"] == "NIFTY")
        & (raw["EXPIRY_DT"] == "04-Jul-2024")
        & (raw["STRIKE_PR"] == "24000.0")
        & (raw["OPTION_TYP"] == "PE")
    ].iloc[0]
    row = _row(frame, "2024-07-04", 24000.0, "PE")
    assert row["oi"] == int(src["OPEN_INT"]) // 25  # lot 25 recovered from futures turnover
    assert row["volume"] == int(src["CONTRACTS"]) and row["last"] == float(src["CLOSE"])
    untraded = _row(frame, "2024-07-25", 23800.0, "CE")
    assert untraded["volume"] == 0 and np.isnan(untraded["last"])

    overridden = parse_nse_bhavcopy(text, underlying="NIFTY", spots={"NIFTY": 24010.6})
    assert (overridden["spot"] == 24010.6).all()
    same = parse_nse_bhavcopy(text, underlying="NIFTY", lot_sizes={"NIFTY": 25})
    pd.testing.assert_frame_equal(
        same, frame[frame["underlying"] == "NIFTY"].reset_index(drop=True)
    )
    wrong = lambda: parse_nse_bhavcopy(text, underlying="NIFTY", lot_sizes={"NIFTY": 7})  # noqa: E731
    assert _reason(wrong) == IngestReason.BAD_VALUE


def test_legacy_without_futures_needs_both_overrides():
    data = (MALFORMED / "legacy_no_futures.csv").read_bytes()
    with pytest.raises(IngestError, match="spot for NIFTY"):
        parse_nse_bhavcopy(data, lot_sizes={"NIFTY": 25})
    frame = parse_nse_bhavcopy(data, lot_sizes={"NIFTY": 25}, spots={"NIFTY": 24010.6})
    assert (frame["spot"] == 24010.6).all()


# ---------------------------------------------------------------- generic format


def test_generic_wrong_columns_lists_missing_and_unexpected():
    df = pd.read_csv(FIXTURES / "generic_snapshot.csv", dtype=str, keep_default_na=False)
    df = df.rename(columns={"oi": "open_interest"}).drop(columns=["iv"])
    with pytest.raises(IngestError) as info:
        parse_generic(df.to_csv(index=False).encode(), fmt="csv")
    assert info.value.reason == IngestReason.WRONG_COLUMNS
    assert (
        "missing: oi, iv" in info.value.detail and "unexpected: open_interest" in info.value.detail
    )


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("ts", "2024-12-20 09:00:00", IngestReason.BAD_TIMESTAMP),  # naive: IST or UTC?
        ("expiry", "26/12/2024", IngestReason.BAD_TIMESTAMP),
        ("option_type", "CALL", IngestReason.BAD_VALUE),
        ("volume", "12.5", IngestReason.BAD_VALUE),
        ("spot", "", IngestReason.MISSING_FIELD),
        ("snapshot_id", "NIFTY-20241220T093000Z", IngestReason.BAD_VALUE),
    ],
)
def test_generic_bad_cells_name_column_and_line(column, value, reason):
    df = pd.read_csv(FIXTURES / "generic_snapshot.csv", dtype=str, keep_default_na=False)
    if column not in df.columns:
        df[column] = ""
    df.loc[4, column] = value
    with pytest.raises(IngestError) as info:
        parse_generic(df.to_csv(index=False).encode(), fmt="csv")
    assert info.value.reason == reason
    assert column in info.value.detail and "line 6" in info.value.detail


def test_generic_defaults_and_header_only(tmp_path):
    df = pd.read_csv(FIXTURES / "generic_snapshot.csv", dtype=str, keep_default_na=False)
    df = df.drop(columns=["received_at"])
    received = pd.Timestamp("2024-12-20 09:00:01", tz="UTC")
    frame = parse_generic(df.to_csv(index=False).encode(), fmt="csv", received_at=received)
    assert (frame["received_at"] == received).all()
    frame = parse_generic(df.to_csv(index=False).encode(), fmt="csv")
    assert (frame["received_at"] == frame["ts"]).all()
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(df.columns) + "\n")
    assert _reason(lambda: read_snapshot_file(path)) == IngestReason.EMPTY_CHAIN


def test_parquet_schema_is_checked_before_any_data_is_read(tmp_path, monkeypatch):
    df = pd.read_csv(FIXTURES / "generic_snapshot.csv").rename(columns={"strike": "strike_price"})
    path = tmp_path / "wrong.parquet"
    df.to_parquet(path, index=False)

    def no_data(*args, **kwargs):
        raise AssertionError("data pages read before the schema was checked")

    monkeypatch.setattr(pq, "read_table", no_data)
    with pytest.raises(IngestError) as info:
        read_snapshot_file(path)
    assert info.value.reason == IngestReason.WRONG_COLUMNS
    assert "strike_price" in info.value.detail and "wrong.parquet" in info.value.detail


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"PAR1" + b"\x00\x15garbage" * 40)
    assert detect_format(path) == "generic_parquet"
    assert _reason(lambda: read_snapshot_file(path)) == IngestReason.INVALID_PARQUET


# ---------------------------------------------------------------- malformed corpus


def test_manifest_lists_every_malformed_file():
    on_disk = {p.name for p in MALFORMED.iterdir() if p.name != "manifest.json"}
    assert on_disk == set(MANIFEST)
    for entry in MANIFEST.values():
        assert entry["stage"] in ("ingest", "validation")
        if entry["stage"] == "ingest":
            assert entry["reason"] in IngestReason.all()


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["stage"] == "ingest"))
def test_ingest_stage_file_fails_with_its_reason(name):
    path = MALFORMED / name
    with pytest.raises(IngestError) as info:
        read_snapshot_file(path)
    assert info.value.reason == MANIFEST[name]["reason"], info.value.detail
    assert name in info.value.detail and info.value.path == path


@pytest.mark.parametrize(
    "name", sorted(n for n, e in MANIFEST.items() if e["stage"] == "validation")
)
def test_validation_stage_file_parses_cleanly(name):
    frame = read_snapshot_file(MALFORMED / name).frame
    assert {c: str(t) for c, t in frame.dtypes.items()} == CANONICAL_DTYPES
    assert len(frame) >= 27


def test_not_utf8_offset_points_at_the_bad_byte():
    path = MALFORMED / "not_utf8.csv"
    with pytest.raises(IngestError) as info:
        read_snapshot_file(path)
    offset = int(info.value.detail.rsplit("byte offset ", 1)[1])
    assert path.read_bytes()[offset] == 0xE9


def test_too_large_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.write(b'{"records": ')
        fh.truncate(600 * 2**20)  # sparse: 600 MiB on paper, nothing on disk
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(IngestError) as info:
            read_snapshot_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == IngestReason.FILE_TOO_LARGE
    assert "629,145,600 bytes" in info.value.detail and "67,108,864" in info.value.detail
    assert peak < 1 << 20
    assert time.perf_counter() - started < 5  # reading 600 MiB would take far longer


def test_detect_format_reads_only_the_head(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.write(b"TradDt,FinInstrmTp,TckrSymb,OptnTp\n")
        fh.truncate(200 * 2**20)
    tracemalloc.start()
    try:
        assert detect_format(path) == "nse_bhavcopy"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# ---------------------------------------------------------------- small pieces


def test_file_sha256_streams_to_the_same_digest(tmp_path):
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 41 + b"tail"
    path.write_bytes(payload)
    assert file_sha256(path, chunk=7) == hashlib.sha256(payload).hexdigest()
    assert file_sha256(path) == hashlib.sha256(payload).hexdigest()


def test_ingest_error_round_trips_and_rejects_unknown_reasons():
    err = IngestError(IngestReason.BAD_VALUE, "x.csv: column 'oi', line 3", Path("x.csv"))
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.detail, copy.path) == (err.reason, err.detail, err.path)
    assert str(copy) == "bad_value: x.csv: column 'oi', line 3"
    with pytest.raises(ValueError, match="unknown ingest reason"):
        IngestError("typo_reason", "detail")
