"""Inbox sensor: files dropped into QS_HOME/inbox are landed and their partitions re-validated.

Thin shell over `market.inbox.take_inbox`. The database is the ledger: each tick lands what is in
the inbox, then walks the `ingested_inputs` records above its cursor and asks for one run per
touched partition (run key `inbox:<partition>:<last record id>`). So a file is ingested once
however often it is delivered, a tick that died after landing files loses nothing (the next tick
finds the records), and files landed by `qs ingest` are picked up too. Rejected inputs are
reported as materializations of `rejected_inputs`, with their reason.
"""

import json
from datetime import date
from pathlib import Path

import dagster as dg
from quantsentinel.assets.partitions import PARTITION_TAG, multi_key, partition_exists
from quantsentinel.market import records
from quantsentinel.resources import DatabaseResource, DataDirResource


class InboxResource(dg.ConfigurableResource):
    path: str
    max_file_bytes: int = 64 * 2**20
    # Bounded work per tick keeps each evaluation well inside the sensor timeout.
    max_files_per_tick: int = 100


REJECTED_INPUTS = dg.AssetSpec(
    "rejected_inputs",
    group_name="market",
    description="Inbox files that could not be used, kept byte for byte under "
    "landing/rejected/<sha256>/ with their reason (reported by the inbox sensor).",
    kinds={"file"},
)


def build_inbox_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="inbox_sensor",
        job_name=job_name,
        minimum_interval_seconds=2,  # a directory listing and one query: cheap to run often
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lands option-chain files dropped into the inbox and validates the "
        "partitions they touch; rejects unusable files with a named reason.",
    )
    def inbox_sensor(
        context: dg.SensorEvaluationContext,
        inbox: InboxResource,
        data_dir: DataDirResource,
        database: DatabaseResource,
    ) -> dg.SensorResult:
        from quantsentinel.market.inbox import take_inbox

        engine = database.engine()
        outcome = take_inbox(
            Path(inbox.path),
            data_dir.landing(),
            engine,
            accepts=partition_exists,
            max_bytes=inbox.max_file_bytes,
            max_files=inbox.max_files_per_tick,
        )
        ledger = records.inputs_since(engine, int(context.cursor or 0))
        cursor = str(ledger[-1]["id"]) if ledger else context.cursor
        run_requests = _run_requests(ledger)
        events = [_rejection_event(row) for row in ledger if row["status"] == "rejected"]
        if not run_requests and not events:
            notes = [f"waiting on {', '.join(outcome.waiting)}"] if outcome.waiting else []
            if outcome.duplicates:
                notes.append(f"ignored duplicates {', '.join(outcome.duplicates)}")
            return dg.SensorResult(skip_reason="; ".join(["no new files", *notes]), cursor=cursor)
        return dg.SensorResult(run_requests=run_requests, asset_events=events, cursor=cursor)

    return inbox_sensor


def _run_requests(ledger: list[dict]) -> list[dg.RunRequest]:
    """One run per touched partition, however many files touched it in this batch."""
    touched: dict[str, list[dict]] = {}
    for row in ledger:
        if row["status"] == "accepted":
            for partition in json.loads(row["partitions"] or "[]"):
                touched.setdefault(partition, []).append(row)
    requests = []
    for partition, rows in sorted(touched.items()):
        day, underlying = partition.split("|")
        key = multi_key(date.fromisoformat(day), underlying)
        requests.append(
            dg.RunRequest(
                run_key=f"inbox:{partition}:{max(r['id'] for r in rows)}",
                partition_key=key,
                run_config={"ops": {"raw_chain_snapshots": {"config": {"pull_feed": False}}}},
                tags={
                    PARTITION_TAG: f"{day}_{underlying}",
                    "qs/inputs": ", ".join(r["file_name"] for r in rows)[:200],
                },
            )
        )
    return requests


def _rejection_event(row: dict) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        asset_key=REJECTED_INPUTS.key,
        description=f"{row['file_name']}: {row['reason']}",
        metadata={
            "file": row["file_name"],
            "reason": row["reason"],
            "detail": dg.MetadataValue.text((row["detail"] or "")[:4000]),
            "sha256": row["sha256"],
            "kept_at": dg.MetadataValue.path(row["stored_at"]),
        },
    )
