"""Inbox sensor: files dropped into QS_HOME/inbox are landed and their partitions re-validated.

Thin shell over `market.inbox.take_inbox`. Run keys are `<sha256>:<date>|<underlying>`, so a file
is ingested once however often it is delivered or however often the sensor ticks. Files that
cannot be parsed are reported as materializations of `rejected_inputs` with their reason.
"""

from pathlib import Path

import dagster as dg
from quantsentinel.assets.partitions import multi_key
from quantsentinel.resources import DatabaseResource, DataDirResource


class InboxResource(dg.ConfigurableResource):
    path: str
    max_file_bytes: int = 64 * 2**20


REJECTED_INPUTS = dg.AssetSpec(
    "rejected_inputs",
    group_name="market",
    description="Inbox files that could not be parsed, kept byte for byte under "
    "landing/rejected/<sha256>/ with their reason (reported by the inbox sensor).",
    kinds={"file"},
)


def build_inbox_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="inbox_sensor",
        job_name=job_name,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lands option-chain files dropped into the inbox and validates their "
        "partitions; rejects unparseable files with a named reason.",
    )
    def inbox_sensor(
        context: dg.SensorEvaluationContext,
        inbox: InboxResource,
        data_dir: DataDirResource,
        database: DatabaseResource,
    ) -> dg.SensorResult:
        from quantsentinel.market.inbox import take_inbox

        outcome = take_inbox(
            Path(inbox.path), data_dir.landing(), database.engine(), max_bytes=inbox.max_file_bytes
        )
        run_requests = [
            dg.RunRequest(
                run_key=f"{item.sha256}:{day.isoformat()}|{underlying}",
                partition_key=multi_key(day, underlying),
                run_config={"ops": {"raw_chain_snapshots": {"config": {"pull_feed": False}}}},
                tags={"qs/source_file": item.file_name, "qs/sha256": item.sha256},
            )
            for item in outcome.accepted
            for day, underlying in item.partitions
        ]
        events = [
            dg.AssetMaterialization(
                asset_key=REJECTED_INPUTS.key,
                description=f"{item.file_name}: {item.reason}",
                metadata={
                    "file": item.file_name,
                    "reason": item.reason,
                    "detail": dg.MetadataValue.text(item.detail[:4000]),
                    "sha256": item.sha256,
                },
            )
            for item in outcome.rejected
        ]
        if not run_requests and not events:
            waiting = f"; waiting on {', '.join(outcome.waiting)}" if outcome.waiting else ""
            duplicates = (
                f"; ignored duplicates {', '.join(outcome.duplicates)}"
                if outcome.duplicates
                else ""
            )
            return dg.SensorResult(skip_reason=f"no new files{waiting}{duplicates}")
        return dg.SensorResult(run_requests=run_requests, asset_events=events)

    return inbox_sensor
