"""Snapshot sensor: every new validated snapshot of a decided underlying launches a decide run.

It follows `chain_snapshots` materializations in the event log (cursor: the last storage id seen,
and per partition the newest snapshot already requested). For each new materialization it reads
the partition's validated snapshot ids; a quarantined snapshot is not in that file, so it never
triggers a decision, and a materialization whose blocking checks failed (GX suite, static
arbitrage) triggers nothing at all. Each request's run key is the snapshot id: Dagster launches a
run key once, so a snapshot is decided once; deciding it again is an explicit re-execution.
"""

import json
from datetime import date
from pathlib import Path

import pandas as pd

import dagster as dg
from quantsentinel.assets.partitions import multi_key, trading_day_by_underlying
from quantsentinel.resources import DataDirResource
from quantsentinel.resources.decide import DecideResource

SNAPSHOTS = dg.AssetKey("chain_snapshots")
BLOCKING_CHECKS = ("tabular_expectations", "no_static_arbitrage")
DECIDE_TAG = "qs/decide"  # dagster.yaml limits runs with this tag to one at a time
SNAPSHOT_TAG = "qs/snapshot"
MAX_RECORDS_PER_TICK = 50
KEEP_PARTITIONS = 40  # per-partition watermarks kept in the cursor


def on_cadence(ts: pd.Timestamp, every_minutes: int) -> bool:
    """Is the snapshot's minute of the session (from 09:15 IST) a multiple of `every_minutes`?"""
    from quantsentinel.market.schema import MARKET_TZ

    local = pd.Timestamp(ts).tz_convert(MARKET_TZ)
    minute = (local.hour * 60 + local.minute) - (9 * 60 + 15)
    return every_minutes <= 1 or minute % every_minutes == 0


def blocking_check_problems(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Blocking checks on chain_snapshots that failed, or never ran, in the (finished) run that
    materialized it. The file is written and the materialization logged BEFORE the checks run,
    so only a finished run's checks are an answer."""
    passed, failed = set(), []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.asset_key == SNAPSHOTS and evaluation.check_name in BLOCKING_CHECKS:
            (passed.add if evaluation.passed else failed.append)(evaluation.check_name)
    missing = [
        f"{name} did not run" for name in BLOCKING_CHECKS if name not in passed | set(failed)
    ]
    return [f"{name} failed" for name in failed] + missing


def snapshot_times(data_dir: DataDirResource, day: date, underlying: str) -> pd.DataFrame:
    """(snapshot_id, ts) of the validated snapshots stored for a partition, in time order."""
    path = Path(data_dir.path) / "chain_snapshots" / day.isoformat() / f"{underlying}.parquet"
    try:
        frame = pd.read_parquet(path, columns=["snapshot_id", "ts"])
    except FileNotFoundError:
        return pd.DataFrame(columns=["snapshot_id", "ts"])
    return frame.drop_duplicates("snapshot_id").sort_values("ts").reset_index(drop=True)


def build_snapshot_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="snapshot_sensor",
        job_name=job_name,
        minimum_interval_seconds=2,  # reads the event log after its cursor: cheap
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches a decide run for every new validated snapshot of the decided "
        "underlyings (run key = snapshot id).",
    )
    def snapshot_sensor(
        context: dg.SensorEvaluationContext, decide: DecideResource, data_dir: DataDirResource
    ) -> dg.SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        after, latest = state.get("after"), dict(state.get("latest", {}))
        found = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SNAPSHOTS, after_storage_id=after),
            limit=MAX_RECORDS_PER_TICK,
            ascending=True,
        )
        decided = set(decide.underlying_list())
        now = pd.Timestamp.now(tz="UTC")
        max_age = pd.Timedelta(minutes=decide.max_age_minutes) if decide.max_age_minutes else None
        requests: list[tuple[pd.Timestamp, dg.RunRequest]] = []
        notes: list[str] = []
        too_old = 0
        for record in found.records:
            day_s, underlying = _parts(record.partition_key)
            if underlying in decided:
                run = context.instance.get_run_by_id(record.run_id)
                if run is not None and not run.is_finished:
                    notes.append(f"{record.partition_key}: waiting for run {run.run_id[:8]}")
                    break  # the cursor stays before it: its checks are not in yet
                problems = blocking_check_problems(context.instance, record.run_id)
                if problems:
                    notes.append(f"{record.partition_key}: not decided ({', '.join(problems)})")
                    after = record.storage_id
                    continue
                partition = f"{day_s}|{underlying}"
                seen = pd.Timestamp(latest[partition]) if partition in latest else None
                times = snapshot_times(data_dir, date.fromisoformat(day_s), underlying)
                for row in times.itertuples(index=False):
                    ts = pd.Timestamp(row.ts)
                    if not ((seen is None or ts > seen) and on_cadence(ts, decide.every_minutes)):
                        continue
                    if max_age is not None and now - ts > max_age:
                        too_old += 1  # a backlog or a backfill is not traded as if live
                        continue
                    requests.append((ts, _request(str(row.snapshot_id), day_s, underlying, ts)))
                if len(times):
                    newest = pd.Timestamp(times["ts"].max())
                    latest[partition] = (
                        max(newest, seen).isoformat() if seen else newest.isoformat()
                    )
            after = record.storage_id
        if too_old:
            notes.append(
                f"{too_old} snapshot(s) older than {decide.max_age_minutes} min not decided "
                "(QS_DECIDE_MAX_AGE_MINUTES=0 decides any age: replays and backfills)"
            )
        latest = dict(sorted(latest.items())[-KEEP_PARTITIONS:])
        cursor = json.dumps({"after": after, "latest": latest})
        ordered = [r for _, r in sorted(requests, key=lambda pair: (pair[0], pair[1].run_key))]
        if not ordered:
            reason = "; ".join(notes) or "no new validated snapshot"
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=ordered, cursor=cursor)

    return snapshot_sensor


def _parts(partition_key: str) -> tuple[str, str]:
    dims = trading_day_by_underlying.get_partition_key_from_str(partition_key).keys_by_dimension
    return dims["date"], dims["underlying"]


def _request(snapshot_id: str, day: str, underlying: str, ts: pd.Timestamp) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=snapshot_id,
        partition_key=multi_key(date.fromisoformat(day), underlying),
        run_config={"ops": {"decision_batches": {"config": {"snapshot_id": snapshot_id}}}},
        tags={DECIDE_TAG: "serial", SNAPSHOT_TAG: snapshot_id, "qs/snapshot_ts": ts.isoformat()},
    )
