"""The audit records on the embedded SQLite database (tests/pg covers Postgres)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from quantsentinel.db import engine_for, migrate
from quantsentinel.market import records


def test_quarantine_verdicts_are_upserted_per_snapshot_and_partition(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    engine = engine_for(url)
    verdict = {
        "snapshot_id": "NIFTY-1",
        "reasons": ["crossed_quote"],
        "details": ["x"],
        "n_rows": 1,
    }
    records.record_quarantine(engine, [verdict], partition_key="2026-01-06|NIFTY", run_id="r1")
    again = {**verdict, "reasons": ["crossed_quote", "stale_snapshot"]}
    records.record_quarantine(engine, [again], partition_key="2026-01-06|NIFTY", run_id="r2")
    (row,) = records.list_quarantine(engine)
    assert row["run_id"] == "r2" and row["times_seen"] == 2
    assert json.loads(row["reasons"]) == ["crossed_quote", "stale_snapshot"]


def test_the_same_content_is_recorded_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    engine = engine_for(url)
    common = {
        "size_bytes": 1,
        "fmt": None,
        "status": "accepted",
        "stored_at": "/x",
        "received_at": datetime.now(UTC),
    }
    assert records.record_input(engine, sha256="s", file_name="a", **common)
    assert not records.record_input(engine, sha256="s", file_name="b", **common)
    assert records.input_status(engine, "s") == "accepted"
    assert records.input_status(engine, "unknown") is None
    assert [r["file_name"] for r in records.inputs_since(engine, 0)] == ["a"]
