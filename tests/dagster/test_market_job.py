"""The market graph end to end on an ephemeral-per-test instance under a private QS_HOME."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

import dagster as dg
from quantsentinel.assets.partitions import multi_key, trading_day_by_underlying, trading_days
from quantsentinel.db import engine_for
from quantsentinel.market import records
from quantsentinel.market.landing import LandingZone
from quantsentinel.settings import Settings

DAY = date(2026, 1, 6)  # a Tuesday: NIFTY weekly expiry day under the post-2025-08-28 rules


@pytest.fixture
def defs(qs_home: Settings) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    return build_definitions()


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def test_definitions_load_and_partitions_are_trading_days(defs: dg.Definitions) -> None:
    keys = trading_days.get_partition_keys()
    assert "2026-01-06" in keys
    assert "2026-01-03" not in keys  # a Saturday
    assert "2026-01-26" not in keys  # Republic Day
    assert defs.resolve_job_def("market_job").executor_def is dg.in_process_executor
    assert {"NIFTY", "BANKNIFTY", "RELIANCE"} <= set(
        trading_day_by_underlying.get_partitions_def_for_dimension(
            "underlying"
        ).get_partition_keys()
    )


def test_market_job_materializes_the_graph_from_the_simulator(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("market_job").execute_in_process(
            instance=instance, partition_key=multi_key(DAY, "NIFTY")
        )
    assert result.success
    mats = _materializations(result)
    assert set(mats) == {
        "raw_chain_snapshots",
        "chain_snapshots",
        "quarantined_snapshots",
        "underlying_bars",
        "realized_vol",
        "iv_surface",
        "chain_analytics",
        "implied_distribution",
        "vol_forecasts",
    }
    assert mats["chain_snapshots"]["snapshots"] == 75  # 09:15 .. 15:25 every 5 minutes
    assert mats["quarantined_snapshots"]["quarantined"] == 0
    assert mats["underlying_bars"]["rows"] == 375
    assert "data:image/png;base64," in mats["iv_surface"]["smile_nearest_expiry"]

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "tabular_expectations": True,
        "no_static_arbitrage": True,
        "densities_published": True,
        "forecast_published": True,
    }

    # Without a vol_forecaster champion the documented baseline answers, saying why.
    vol = mats["vol_forecasts"]
    assert (vol["source"], vol["fallback_reason"]) == ("baseline", "no_champion")
    forecasts = pd.read_parquet(
        qs_home.data_dir / "vol_forecasts" / DAY.isoformat() / "NIFTY.parquet"
    )
    assert list(forecasts["horizon"]) == [1, 5, 22]
    assert forecasts["variance"].gt(0).all() and forecasts["variance"].nunique() == 1
    # The last snapshot's expiries each get a density with its grid, moments and crash odds.
    densities = pd.read_parquet(
        qs_home.data_dir / "implied_distribution" / DAY.isoformat() / "NIFTY.parquet"
    )
    assert densities["snapshot_id"].nunique() == 1
    # DAY is an expiry day: at 15:25 the expiring weekly has too few live strikes for a density.
    refused = densities[~densities["published"]]
    assert list(refused["reason"]) == ["too_few_strikes"]
    assert refused["grid_strike"].isna().all() and refused["mean"].isna().all()
    published = densities[densities["published"]]
    assert mats["implied_distribution"]["published"] == len(published) >= 2
    for row in published.itertuples():
        strikes, density = row.grid_strike, row.grid_density
        assert abs(float(pd.Series(density).sum() * (strikes[1] - strikes[0])) - 1.0) < 0.02
        assert abs(row.mean / row.forward - 1.0) < 0.01 and 0.0 <= row.crash_probability < 0.5
    assert "data:image/png;base64," in mats["implied_distribution"]["density_nearest_expiry"]

    stored = pd.read_parquet(
        qs_home.data_dir / "chain_snapshots" / DAY.isoformat() / "NIFTY.parquet"
    )
    assert stored["snapshot_id"].nunique() == 75
    assert (qs_home.data_dir / "landing" / "chain" / f"date={DAY}" / "underlying=NIFTY").is_dir()


def _corrupt(frame: pd.DataFrame, snapshot_index: int) -> tuple[pd.DataFrame, str]:
    """Cross one quote of one snapshot (bid above ask) and return the frame and that snapshot."""
    victim = sorted(frame["snapshot_id"].unique())[snapshot_index]
    quoted = (frame["snapshot_id"] == victim) & frame["bid"].notna() & frame["ask"].notna()
    row = frame.index[quoted][len(frame.index[quoted]) // 2]
    frame.loc[row, "bid"] = frame.loc[row, "ask"] + 5.0
    return frame, victim


def test_a_bad_snapshot_is_quarantined_whole_and_never_reaches_downstream(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    from quantsentinel.market.simulator import MarketSimulator

    chain = MarketSimulator().chain_snapshots(DAY, "BANKNIFTY")
    chain = chain[chain["snapshot_id"].isin(sorted(chain["snapshot_id"].unique())[:6])].copy()
    chain, victim = _corrupt(chain, 2)
    LandingZone(qs_home.data_dir).put_chain(chain, key="corrupted-file")

    job = defs.resolve_job_def("market_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=multi_key(DAY, "BANKNIFTY"),
            run_config={"ops": {"raw_chain_snapshots": {"config": {"pull_feed": False}}}},
        )
    assert result.success
    mats = _materializations(result)
    assert mats["chain_snapshots"]["snapshots"] == 5
    assert mats["quarantined_snapshots"]["quarantined"] == 1

    base = qs_home.data_dir
    quarantined = pd.read_parquet(base / "quarantined_snapshots" / str(DAY) / "BANKNIFTY.parquet")
    assert quarantined["snapshot_id"].tolist() == [victim]
    assert "crossed_quote" in list(quarantined["reasons"].iloc[0])
    published = pd.read_parquet(base / "chain_snapshots" / str(DAY) / "BANKNIFTY.parquet")
    surface = pd.read_parquet(base / "iv_surface" / str(DAY) / "BANKNIFTY.parquet")
    assert victim not in set(published["snapshot_id"]) | set(surface["snapshot_id"])

    # The raw rows are still in the landing zone, and the decision is in the database.
    assert victim in set(LandingZone(base).chain_for(DAY, "BANKNIFTY").frame["snapshot_id"])
    events = records.list_quarantine(engine_for(qs_home.database_url))
    assert [e["snapshot_id"] for e in events] == [victim]
    assert "crossed_quote" in events[0]["reasons"]


def test_blocking_check_stops_downstream_when_a_bad_row_is_published(
    defs: dg.Definitions, qs_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the split ever let a bad snapshot through, the blocking check must stop iv_surface."""
    import quantsentinel.market.validation as validation
    from quantsentinel.market.simulator import MarketSimulator

    chain = MarketSimulator().chain_snapshots(DAY, "NIFTY")
    chain = chain[chain["snapshot_id"].isin(sorted(chain["snapshot_id"].unique())[:3])].copy()
    chain, _ = _corrupt(chain, 1)
    LandingZone(qs_home.data_dir).put_chain(chain, key="corrupted")

    real = validation.validate_snapshots

    def leaky_split(frame, config):  # a bug in the split: everything "passes"
        report = real(frame, config)
        return type(report)(
            passed=frame, rejected=report.rejected.iloc[0:0], violations=report.violations
        )

    monkeypatch.setattr(validation, "validate_snapshots", leaky_split)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("market_job").execute_in_process(
            instance=instance,
            partition_key=multi_key(DAY, "NIFTY"),
            run_config={"ops": {"raw_chain_snapshots": {"config": {"pull_feed": False}}}},
            raise_on_error=False,
        )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["tabular_expectations"] is False
    materialized = set(_materializations(result))
    assert "iv_surface" not in materialized
    assert "chain_analytics" not in materialized
    assert "underlying_bars" in materialized  # unrelated branch still ran


def test_daily_job_materializes_news_and_vix(defs: dg.Definitions) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("market_daily_job").execute_in_process(
            instance=instance, partition_key=DAY.isoformat()
        )
    assert result.success
    mats = _materializations(result)
    assert mats["india_vix"]["rows"] == 375
    assert 5 < mats["india_vix"]["close"] < 60
