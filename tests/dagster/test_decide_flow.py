"""Snapshot sensor -> decide job, on the real assets: the market job validates a day of NIFTY
chains, the sensor asks for one run per snapshot on the cadence (run key = snapshot id), a run
commits the batch and reports it, and re-executing a snapshot decides nothing twice."""

from __future__ import annotations

import json
from datetime import date

import pytest

import dagster as dg
from quantsentinel.settings import Settings

DAY = date(2025, 3, 5)


@pytest.fixture
def defs(qs_home: Settings, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    defs = build_definitions()
    monkeypatch.setenv("QS_DECIDE_EVERY_MINUTES", "60")
    monkeypatch.setenv("QS_DECIDE_MAX_AGE_MINUTES", "0")  # the test day is in the past
    return defs


def _tick(defs: dg.Definitions, instance, cursor: str | None = None):
    from quantsentinel.orchestration.definitions import build_resources

    sensor = defs.resolve_sensor_def("snapshot_sensor")
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=build_resources(), cursor=cursor
    ) as context:
        return sensor.evaluate_tick(context)


def _meta(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def test_sensor_launches_one_decide_run_per_validated_snapshot(
    defs: dg.Definitions, qs_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantsentinel.assets.partitions import multi_key
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.decide.store import DecisionStore, stored_records
    from quantsentinel.risk.tenancy.store import TenantStore

    migrate(qs_home.database_url)
    engine = engine_for(qs_home.database_url)
    TenantStore(engine).add("Acme", capital=3_000_000, tenant_id="acme", actor="test")
    TenantStore(engine).add("Beta", capital=1_000_000, tenant_id="beta", actor="test")
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        nothing = _tick(defs, instance)
        assert not nothing.run_requests and "no new validated snapshot" in nothing.skip_message

        market = defs.resolve_job_def("market_job").execute_in_process(
            instance=instance, partition_key=multi_key(DAY, "NIFTY")
        )
        assert market.success
        tick = _tick(defs, instance)
        requests = tick.run_requests
        # 09:15, 10:15 ... 15:15 IST: the snapshots on the hourly cadence, in time order.
        assert [r.run_key for r in requests] == [
            f"NIFTY-20250305T{h:02d}4500Z" for h in (3, 4, 5, 6, 7, 8, 9)
        ]
        first = requests[0]
        assert first.partition_key == multi_key(DAY, "NIFTY")
        assert first.run_config["ops"]["decision_batches"]["config"]["snapshot_id"] == first.run_key
        assert first.tags["qs/decide"] == "serial"
        assert not _tick(defs, instance, tick.cursor).run_requests  # the cursor moved on

        decide = defs.resolve_job_def("decide_job")
        result = decide.execute_in_process(
            instance=instance,
            partition_key=first.partition_key,
            run_config=first.run_config,
            tags=first.tags,
        )
        assert result.success
        meta = _meta(result)
        (check,) = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["stored_decisions"].value == 2
        stored = stored_records(DecisionStore(engine), first.run_key)
        assert meta["tenants"] == 2 == len(stored)
        assert meta["approved"] == sum(r.approved for r in stored)
        blocked = json.loads(json.dumps(meta["blocked_by_wall"]))
        assert sum(blocked.values()) == 2 - meta["approved"]
        assert "| volatility |" in meta["signals"]
        assert meta["already_decided"] is False

        again = decide.execute_in_process(
            instance=instance,
            partition_key=first.partition_key,
            run_config=first.run_config,
            tags=first.tags,
        )
        assert again.success and _meta(again)["already_decided"] is True

        # Only a run whose blocking checks all ran and passed lets its snapshots be decided.
        from quantsentinel.sensors.decide import blocking_check_problems

        assert blocking_check_problems(instance, market.run_id) == []
        assert blocking_check_problems(instance, result.run_id) == [
            "tabular_expectations did not run",
            "no_static_arbitrage did not run",
        ]
        assert len(stored_records(DecisionStore(engine), first.run_key)) == 2

        # An underlying that is not decided never triggers a run.
        monkeypatch.setenv("QS_DECIDE_UNDERLYINGS", "BANKNIFTY")
        assert not _tick(defs, instance).run_requests


def test_cadence_counts_session_minutes() -> None:
    import pandas as pd

    from quantsentinel.sensors.decide import on_cadence

    at = pd.Timestamp("2025-03-05T03:45:00Z")  # 09:15 IST, the open
    assert on_cadence(at, 30) and on_cadence(at + pd.Timedelta(minutes=30), 30)
    assert not on_cadence(at + pd.Timedelta(minutes=25), 30)
    assert on_cadence(at + pd.Timedelta(minutes=25), 5)


def _started_run_with_a_materialization(instance, partition) -> str:
    """A chain_snapshots materialization whose run is still going (its checks not logged yet)."""
    import time
    import uuid

    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    run_id = str(uuid.uuid4())
    instance.add_run(
        DagsterRun(job_name="chain_ingest_job", run_id=run_id, status=DagsterRunStatus.STARTED)
    )
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="chain_ingest_job",
        event_specific_data=StepMaterializationData(
            dg.AssetMaterialization(asset_key="chain_snapshots", partition=partition)
        ),
    )
    instance.store_event(
        EventLogEntry(error_info=None, level="debug", user_message="", run_id=run_id,
                      timestamp=time.time(), dagster_event=event)
    )  # fmt: skip
    return run_id


def test_a_run_still_going_holds_back_only_its_own_snapshots(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    from datetime import timedelta

    from quantsentinel.assets.partitions import multi_key

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        earlier = multi_key(DAY - timedelta(days=1), "NIFTY")
        run_id = _started_run_with_a_materialization(instance, earlier)
        market = defs.resolve_job_def("market_job").execute_in_process(
            instance=instance, partition_key=multi_key(DAY, "NIFTY")
        )
        assert market.success
        tick = _tick(defs, instance)
        # The finished run's snapshots go ahead; the running one is remembered, not skipped.
        assert len(tick.run_requests) == 7
        assert all(r.partition_key == multi_key(DAY, "NIFTY") for r in tick.run_requests)
        state = json.loads(tick.cursor)
        assert list(state["waiting"]) and not _tick(defs, instance, tick.cursor).run_requests
        # The run ends without its blocking checks: re-checked, refused by name, forgotten.
        instance.report_run_failed(instance.get_run_by_id(run_id))
        after = _tick(defs, instance, tick.cursor)
        assert "did not run" in after.skip_message
        assert json.loads(after.cursor)["waiting"] == {}
