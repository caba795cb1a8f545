"""The landing zone: idempotent, never loses an input, newest input wins a snapshot."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import pandas as pd

from quantsentinel.market.landing import LandingZone
from quantsentinel.market.simulator import MarketSimulator

DAY = date(2026, 1, 6)


def _snapshots(n: int) -> pd.DataFrame:
    chain = MarketSimulator().chain_snapshots(DAY, "ITC")
    return chain[chain["snapshot_id"].isin(sorted(chain["snapshot_id"].unique())[:n])].copy()


def test_a_file_is_claimed_by_exactly_one_taker(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    dropped = tmp_path / "inbox.json"
    dropped.write_text("{}")
    first, second = zone.claim(dropped), zone.claim(dropped)
    assert first is not None and first.read_text() == "{}"
    assert second is None
    assert not dropped.exists()


def test_landing_the_same_input_twice_keeps_one_copy_and_its_landing_time(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    rows = _snapshots(2)
    assert zone.put_chain(rows, key="abc") == [(DAY, "ITC")]
    target = zone.chain_dir(DAY, "ITC") / "abc.parquet"
    landed_at = target.stat().st_mtime_ns
    time.sleep(0.01)
    zone.put_chain(rows, key="abc")
    assert target.stat().st_mtime_ns == landed_at
    assert len(zone.chain_for(DAY, "ITC").frame) == len(rows)
    assert not list(zone.chain_dir(DAY, "ITC").glob("*.tmp"))


def test_the_input_that_landed_last_wins_a_snapshot_and_the_loser_is_reported(
    tmp_path: Path,
) -> None:
    zone = LandingZone(tmp_path)
    original = _snapshots(3)
    victim = sorted(original["snapshot_id"].unique())[1]
    correction = original[original["snapshot_id"] == victim].assign(volume=7)
    zone.put_chain(original, key="original")
    later = time.time() + 5  # landing order is by landing time, not by name
    zone.put_chain(correction, key="a-correction")
    os.utime(zone.chain_dir(DAY, "ITC") / "a-correction.parquet", (later, later))

    landed = zone.chain_for(DAY, "ITC")
    assert landed.keys == ["original", "a-correction"]
    assert landed.superseded == {"original": [victim]}
    assert len(landed.frame) == len(original)  # each snapshot once
    corrected = landed.frame[landed.frame["snapshot_id"] == victim]
    assert (corrected["volume"] == 7).all()
    assert len(pd.read_parquet(zone.chain_dir(DAY, "ITC") / "original.parquet")) == len(original)


def test_the_first_reason_for_rejected_bytes_stands(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    for name, reason in (("a.json", "truncated_json"), ("b.json", "duplicate")):
        path = tmp_path / name
        path.write_text("{")
        zone.reject_original(path, "sha", name, reason, "detail")
    folder = tmp_path / "landing" / "rejected" / "sha"
    assert json.loads((folder / "reason.json").read_text())["reason"] == "truncated_json"
    assert sorted(p.name for p in folder.iterdir()) == ["a.json", "b.json", "reason.json"]
