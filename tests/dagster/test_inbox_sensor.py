"""The inbox sensor, evaluated against a real (temporary) instance: idempotent, lossless."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import dagster as dg
from quantsentinel.assets.partitions import multi_key
from quantsentinel.db import engine_for
from quantsentinel.market import records
from quantsentinel.settings import Settings

MALFORMED = Path(__file__).parents[1] / "fixtures" / "malformed"


@pytest.fixture
def defs(qs_home: Settings) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    return build_definitions()


def _drop(src: Path, inbox: Path, name: str | None = None) -> Path:
    target = inbox / (name or src.name)
    shutil.copyfile(src, target)
    settled = time.time() - 10  # as if it finished copying ten seconds ago
    os.utime(target, (settled, settled))
    return target


class Ticker:
    """Evaluates the sensor the way the daemon does (evaluate_tick validates partition keys),
    carrying the cursor from tick to tick."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def __call__(self):
        from quantsentinel.orchestration.definitions import build_resources

        sensor = self.defs.resolve_sensor_def("inbox_sensor")
        with dg.build_sensor_context(
            instance=self.instance,
            definitions=self.defs,
            resources=build_resources(),
            cursor=self.cursor,
        ) as context:
            data = sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data


def test_a_file_is_ingested_once_however_often_it_arrives(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path
) -> None:
    from quantsentinel.market.ingest import read_snapshot_file

    fixture = fixtures_dir / "nse_option_chain_nifty.json"
    expected = read_snapshot_file(fixture).frame
    day = expected["ts"].dt.tz_convert("Asia/Kolkata").dt.date.iloc[0]

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        tick = Ticker(defs, instance)
        _drop(fixture, qs_home.inbox_dir)
        first = tick()
        assert len(first.run_requests) == 1
        request = first.run_requests[0]
        assert request.partition_key == multi_key(day, "NIFTY")
        (record,) = records.list_inputs(engine_for(qs_home.database_url))
        assert request.run_key == f"inbox:{day}|NIFTY:{record['id']}"
        assert request.tags["qs/partition"] == f"{day}_NIFTY"

        # The file left the inbox for the landing zone, byte for byte.
        assert not any(qs_home.inbox_dir.iterdir())
        archived = list((qs_home.data_dir / "landing" / "files").rglob(fixture.name))
        assert len(archived) == 1 and archived[0].read_bytes() == fixture.read_bytes()

        # A second tick has nothing to do; the same bytes under another name are a duplicate.
        assert not tick().run_requests
        _drop(fixture, qs_home.inbox_dir, name="again.json")
        again = tick()
        assert not again.run_requests
        assert "again.json" in again.skip_message

        # The requested run validates the landed partition (no simulator pull).
        job = defs.resolve_job_def("chain_ingest_job")
        result = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, run_config=request.run_config
        )
        assert result.success
    published = pd.read_parquet(
        qs_home.data_dir / "raw_chain_snapshots" / str(day) / "NIFTY.parquet"
    )
    assert len(published) == len(expected)


MANIFEST = json.loads((MALFORMED / "manifest.json").read_text())
INGEST_STAGE = {n: spec for n, spec in MANIFEST.items() if spec["stage"] == "ingest"}
VALIDATION_STAGE = {n: spec for n, spec in MANIFEST.items() if spec["stage"] == "validation"}


def test_unparseable_inputs_are_kept_with_their_named_reason(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    assert len(INGEST_STAGE) >= 10
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        for name in INGEST_STAGE:
            _drop(MALFORMED / name, qs_home.inbox_dir)
        result = Ticker(defs, instance)()  # must not raise, whatever the inbox holds
    assert not result.run_requests
    rejected = {e.metadata["file"].value: e.metadata["reason"].value for e in result.asset_events}
    assert rejected == {name: spec["reason"] for name, spec in INGEST_STAGE.items()}
    for name, spec in INGEST_STAGE.items():  # the raw bytes are kept next to their reason
        (kept,) = (qs_home.data_dir / "landing" / "rejected").rglob(name)
        assert kept.read_bytes() == (MALFORMED / name).read_bytes()
        assert json.loads((kept.parent / "reason.json").read_text())["reason"] == spec["reason"]
    logged = records.list_inputs(engine_for(qs_home.database_url), limit=100)
    assert {r["file_name"]: r["reason"] for r in logged} == rejected


@pytest.mark.parametrize("name", sorted(VALIDATION_STAGE))
def test_content_problems_are_quarantined_with_their_named_reason(
    defs: dg.Definitions, qs_home: Settings, name: str
) -> None:
    from quantsentinel.market.ingest import read_snapshot_file

    expected = VALIDATION_STAGE[name]["reason"]
    source = MALFORMED / name
    frame = read_snapshot_file(source).frame
    dropped = _drop(source, qs_home.inbox_dir)
    # It arrived five seconds after its own timestamp, so staleness is judged realistically.
    arrival = frame["ts"].max().timestamp() + 5
    os.utime(dropped, (arrival, arrival))

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        result = Ticker(defs, instance)()
        (request,) = result.run_requests
        run = defs.resolve_job_def("chain_ingest_job").execute_in_process(
            instance=instance, partition_key=request.partition_key, run_config=request.run_config
        )
    assert run.success  # a bad snapshot is a quarantine entry, not a failed run

    quarantine = records.list_quarantine(engine_for(qs_home.database_url), limit=500)
    assert {row["snapshot_id"] for row in quarantine} == set(frame["snapshot_id"])
    found = {reason for row in quarantine for reason in json.loads(row["reasons"])}
    assert expected in found
    if expected != "stale_snapshot":
        assert "stale_snapshot" not in found
    # Nothing of it reached the published asset; the raw rows are still in the landing zone.
    day, underlying = request.partition_key.keys_by_dimension.values()
    published = pd.read_parquet(
        qs_home.data_dir / "chain_snapshots" / day / f"{underlying}.parquet"
    )
    assert published.empty
    landed = list((qs_home.data_dir / "landing" / "chain").rglob("*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in landed) == len(frame)


def test_an_oversized_file_is_rejected_without_being_read(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    import tracemalloc

    big = qs_home.inbox_dir / "huge_chain.csv"
    with big.open("wb") as handle:
        handle.truncate(600 * 2**20)  # sparse: 600 MiB that costs no disk
    settled = time.time() - 10
    os.utime(big, (settled, settled))

    tracemalloc.start()
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        result = Ticker(defs, instance)()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert not result.run_requests
    (event,) = result.asset_events
    assert event.metadata["reason"].value == "file_too_large"
    assert peak < 32 * 2**20  # never read into memory
    (kept,) = (qs_home.data_dir / "landing" / "rejected").rglob("huge_chain.csv")
    assert kept.stat().st_size == 600 * 2**20  # moved intact, not truncated or copied


def _generic_variant(fixtures_dir: Path, target: Path, **changes) -> Path:
    """The generic fixture with some columns changed (ts shifts move received_at along)."""
    frame = pd.read_csv(fixtures_dir / "generic_snapshot.csv")
    for column, value in changes.items():
        frame[column] = value
    if "ts" in changes:
        frame["received_at"] = (pd.to_datetime(frame["ts"]) + pd.Timedelta(seconds=2)).astype(str)
    frame.to_csv(target, index=False)
    return target


@pytest.mark.parametrize(
    ("label", "changes"),
    [
        ("saturday", {"ts": "2024-12-21T09:00:00Z"}),
        ("holiday", {"ts": "2024-12-25T09:00:00Z"}),  # Christmas
        ("before_partitions", {"ts": "2023-12-20T09:00:00Z", "expiry": "2023-12-28"}),
        ("unknown_symbol", {"underlying": "MARUTI"}),
    ],
)
def test_rows_outside_the_partitions_are_rejected_without_breaking_the_tick(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path, tmp_path: Path, label, changes
) -> None:
    odd = _generic_variant(fixtures_dir, tmp_path / f"{label}.csv", **changes)
    _drop(odd, qs_home.inbox_dir)
    _drop(fixtures_dir / "nse_option_chain_nifty.json", qs_home.inbox_dir)  # a good neighbour
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        data = Ticker(defs, instance)()  # evaluate_tick: every partition key is validated
    (event,) = data.asset_events
    assert event.metadata["reason"].value == "no_partition"
    assert event.metadata["file"].value == odd.name
    assert len(data.run_requests) == 1  # the good file still gets its run
    (kept,) = (qs_home.data_dir / "landing" / "rejected").rglob(odd.name)
    assert kept.read_bytes() == odd.read_bytes()


def test_an_end_of_day_bhavcopy_arriving_now_is_not_stale(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path
) -> None:
    source = fixtures_dir / "nse_bhavcopy_udiff.csv"
    target = qs_home.inbox_dir / source.name
    shutil.copyfile(source, target)
    settled = time.time() - 10  # arrived today, long after its 2024 trade date
    os.utime(target, (settled, settled))
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        data = Ticker(defs, instance)()
        assert data.run_requests
        job = defs.resolve_job_def("chain_ingest_job")
        for request in data.run_requests:
            run = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_config=request.run_config,
            )
            assert run.success
    reasons = {
        reason
        for row in records.list_quarantine(engine_for(qs_home.database_url), limit=100)
        for reason in json.loads(row["reasons"])
    }
    assert "stale_snapshot" not in reasons


def test_a_corrected_resend_supersedes_the_earlier_snapshot(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path, tmp_path: Path
) -> None:
    first = _generic_variant(fixtures_dir, tmp_path / "first.csv")
    corrected = _generic_variant(fixtures_dir, tmp_path / "corrected.csv", volume=123)
    ticker_runs = []
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        tick = Ticker(defs, instance)
        job = defs.resolve_job_def("chain_ingest_job")
        for path in (first, corrected):
            _drop(path, qs_home.inbox_dir)
            (request,) = tick().run_requests
            run = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_config=request.run_config,
            )
            ticker_runs.append((request, run))
    request, run = ticker_runs[-1]
    day, underlying = request.partition_key.keys_by_dimension.values()
    published = pd.read_parquet(
        qs_home.data_dir / "chain_snapshots" / day / f"{underlying}.parquet"
    )
    assert len(published) == len(pd.read_csv(corrected))  # one copy of the snapshot, not two
    assert (published["volume"] == 123).all()  # the correction won
    assert not records.list_quarantine(engine_for(qs_home.database_url))  # no duplicate_contract
    raw_meta = next(
        e.event_specific_data.materialization.metadata
        for e in run.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.to_user_string() == "raw_chain_snapshots"
    )
    assert len(raw_meta["superseded"].value) == 1  # the first input, reported, still on disk
    assert len(raw_meta["landed_inputs"].value) == 2


def test_files_landed_outside_the_sensor_still_get_their_run(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path
) -> None:
    """The ledger: `qs ingest` (or a tick that died after landing) leaves records; the next tick
    launches their runs."""
    from quantsentinel.assets.partitions import partition_exists
    from quantsentinel.market.inbox import take_inbox
    from quantsentinel.market.landing import LandingZone

    _drop(fixtures_dir / "nse_option_chain_nifty.json", qs_home.inbox_dir)
    engine = engine_for(qs_home.database_url)
    from quantsentinel.db import migrate

    migrate(qs_home.database_url)
    landed = take_inbox(
        qs_home.inbox_dir, LandingZone(qs_home.data_dir), engine, accepts=partition_exists
    )
    assert len(landed.accepted) == 1
    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        tick = Ticker(defs, instance)
        (request,) = tick().run_requests
        assert request.tags["qs/inputs"] == "nse_option_chain_nifty.json"
        assert not tick().run_requests  # the cursor moved past it
