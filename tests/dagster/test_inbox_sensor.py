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
    sensor = defs.resolve_sensor_def("inbox_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
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


def test_every_malformed_input_is_kept_with_its_named_reason(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    manifest = json.loads((MALFORMED / "manifest.json").read_text())
    ingest_stage = {name: spec for name, spec in manifest.items() if spec["stage"] == "ingest"}
    validation_stage = {n: s for n, s in manifest.items() if s["stage"] == "validation"}
    assert ingest_stage and validation_stage

    with dg.instance_for_test(temp_dir=str(qs_home.dagster_home)) as instance:
        for name in manifest:
            _drop(MALFORMED / name, qs_home.inbox_dir)
        result = _tick(defs, instance)  # must not raise, whatever the inbox holds

        rejected = {
            e.metadata["file"].value: e.metadata["reason"].value for e in result.asset_events
        }
        assert rejected == {name: spec["reason"] for name, spec in ingest_stage.items()}
        for name in ingest_stage:  # the raw bytes are kept next to their reason
            kept = list((qs_home.data_dir / "landing" / "rejected").rglob(name))
            assert len(kept) == 1
            reason = json.loads((kept[0].parent / "reason.json").read_text())
            assert reason["reason"] == manifest[name]["reason"]

        # Content-level problems land, then the partition run quarantines them by name.
        job = defs.resolve_job_def("chain_ingest_job")
        for request in result.run_requests:
            run = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_config=request.run_config,
                raise_on_error=False,
            )
            assert run.success, request.tags
    from quantsentinel.market.ingest import read_snapshot_file

    quarantine = records.list_quarantine(engine_for(qs_home.database_url), limit=500)
    reasons_by_snapshot: dict[str, set[str]] = {}
    for row in quarantine:
        reasons_by_snapshot.setdefault(row["snapshot_id"], set()).update(json.loads(row["reasons"]))
    for name, spec in validation_stage.items():
        snapshots = set(read_snapshot_file(MALFORMED / name).frame["snapshot_id"])
        found = set().union(*(reasons_by_snapshot.get(s, set()) for s in snapshots))
        assert spec["reason"] in found, f"{name}: expected {spec['reason']}, got {found or 'none'}"
