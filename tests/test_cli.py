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
    assert main(["ingest", str(good), str(bad)]) == 1  # a rejection is a non-zero exit
    out = capsys.readouterr().out
    assert "accepted nse_option_chain_nifty.json (nse_option_chain" in out
    assert "REJECTED truncated.json: truncated_json" in out
    landed = list((qs_home.data_dir / "landing" / "chain").rglob("*.parquet"))
    assert len(landed) == 1 and len(pd.read_parquet(landed[0])) > 0

    assert main(["ingest", str(good)]) == 0
    assert "duplicate nse_option_chain_nifty.json" in capsys.readouterr().out

    assert main(["inputs"]) == 0
    listing = capsys.readouterr().out
    assert "accepted" in listing and "rejected truncated.json truncated_json" in listing
    assert main(["ingest", "/no/such/file.json"]) == 2
