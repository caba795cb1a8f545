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


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.SensorResult:
    from quantsentinel.orchestration.definitions import build_resources

    sensor = defs.resolve_sensor_def("inbox_sensor")
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=build_resources()
    ) as context:
        return sensor(context)


def test_a_file_is_ingested_once_however_often_it_arrives(
    defs: dg.Definitions, qs_home: Settings, fixtures_dir: Path
) -> None:
    from quantsentinel.market.ingest import read_snapshot_file

    fixture = fixtures_dir / "nse_option_chain_nifty.json"
    expected = read_snapshot_file(fixture).frame
    day = expected["ts"].dt.tz_convert("Asia/Kolkata").dt.date.iloc[0]

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        _drop(fixture, qs_home.inbox_dir)
        first = _tick(defs, instance)
        assert len(first.run_requests) == 1
        request = first.run_requests[0]
        assert request.partition_key == multi_key(day, "NIFTY")
        assert request.run_key.startswith(
            records.list_inputs(engine_for(qs_home.database_url))[0]["sha256"]
        )

        # The file left the inbox for the landing zone, byte for byte.
        assert not any(qs_home.inbox_dir.iterdir())
        archived = list((qs_home.data_dir / "landing" / "files").rglob(fixture.name))
        assert len(archived) == 1 and archived[0].read_bytes() == fixture.read_bytes()

        # A second tick has nothing to do; the same bytes under another name are a duplicate.
        assert _tick(defs, instance).run_requests in (None, [])
        _drop(fixture, qs_home.inbox_dir, name="again.json")
        again = _tick(defs, instance)
        assert not again.run_requests
        assert "again.json" in again.skip_reason.skip_message

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
        result = _tick(defs, instance)  # must not raise, whatever the inbox holds
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
        result = _tick(defs, instance)
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
        result = _tick(defs, instance)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert not result.run_requests
    (event,) = result.asset_events
    assert event.metadata["reason"].value == "file_too_large"
    assert peak < 32 * 2**20  # never read into memory
    (kept,) = (qs_home.data_dir / "landing" / "rejected").rglob("huge_chain.csv")
    assert kept.stat().st_size == 600 * 2**20  # moved intact, not truncated or copied
