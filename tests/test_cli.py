"""The operator CLI, run in-process against a private QS_HOME."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantsentinel.cli import main
from quantsentinel.settings import Settings


def test_demo_materializes_the_market_graph_into_qs_home(
    qs_home: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["demo", "--days", "2", "--end", "2026-01-07", "--underlying", "NIFTY", "--workers", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 runs" in out and "0 failed" in out
    for day in ("2026-01-06", "2026-01-07"):
        assert f"{day} NIFTY       75 snapshots ok, 0 quarantined" in out
        for asset in ("chain_snapshots", "iv_surface", "chain_analytics", "realized_vol"):
            assert (qs_home.data_dir / asset / day / "NIFTY.parquet").is_file()
        assert (qs_home.data_dir / "news_events" / f"{day}.parquet").is_file()
    # The runs are in the instance the UI would open.
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 4
    assert str(qs_home.home) in out


def test_demo_rejects_unknown_underlyings(
    qs_home: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--underlying", "GOLD"]) == 2
    assert "unknown underlying(s) GOLD" in capsys.readouterr().out
    assert main(["demo", "--days", "0"]) == 2


def test_ingest_takes_good_and_bad_files_and_inputs_lists_them(
    qs_home: Settings, fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fixtures_dir / "nse_option_chain_nifty.json"
    bad = fixtures_dir / "malformed" / "truncated.json"
    assert main(["ingest", "--historical", str(good), str(bad)]) == 1  # a rejection: exit 1
    out = capsys.readouterr().out
    assert "accepted nse_option_chain_nifty.json (nse_option_chain" in out
    assert "REJECTED truncated.json: truncated_json" in out
    # A backfill is validated on the spot, and an old snapshot is not stale for being old.
    assert "validated 2024-12-20|NIFTY: 1 snapshots ok, 0 quarantined" in out
    assert good.is_file()  # the operator's file is copied, never moved
    landed = list((qs_home.data_dir / "landing" / "chain").rglob("*.parquet"))
    assert len(landed) == 1 and len(pd.read_parquet(landed[0])) > 0

    assert main(["ingest", str(good)]) == 0
    assert "duplicate nse_option_chain_nifty.json" in capsys.readouterr().out

    assert main(["inputs"]) == 0
    listing = capsys.readouterr().out
    assert "accepted" in listing and "rejected truncated.json truncated_json" in listing
    assert main(["ingest", "/no/such/file.json"]) == 2


def test_live_ingest_of_an_old_file_quarantines_it_as_stale(
    qs_home: Settings, fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from quantsentinel.db import engine_for
    from quantsentinel.market import records

    assert main(["ingest", str(fixtures_dir / "nse_option_chain_nifty.json")]) == 0
    assert "validated 2024-12-20|NIFTY: 0 snapshots ok, 1 quarantined" in capsys.readouterr().out
    (verdict,) = records.list_quarantine(engine_for(qs_home.database_url))
    assert json.loads(verdict["reasons"]) == ["stale_snapshot"]


def test_ingest_never_overwrites_a_waiting_inbox_file(
    qs_home: Settings, fixtures_dir: Path, tmp_path: Path
) -> None:
    from quantsentinel.cli import _copy_into_inbox

    waiting = qs_home.inbox_dir / "chain.json"
    waiting.write_text("not yet processed")
    source = tmp_path / "chain.json"
    source.write_bytes((fixtures_dir / "nse_option_chain_nifty.json").read_bytes())
    placed = _copy_into_inbox(source, qs_home.inbox_dir)
    assert placed != waiting and placed.read_bytes() == source.read_bytes()
    assert waiting.read_text() == "not yet processed"
