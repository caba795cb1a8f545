"""Snapshot sensor: every new validated snapshot of a decided underlying launches a decide run.

It follows `chain_snapshots` materializations in the event log (cursor: the last storage id seen,
per partition the newest snapshot already requested, and the materializations whose runs were
still running: their blocking checks are logged after the materialization, so they are re-checked
each tick until the run ends, while later ones go on). For each new materialization it reads
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
MAX_WAITING = 200  # materializations whose runs are still running, re-checked every tick
WAIT_WARNING = pd.Timedelta(minutes=30)


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
        waiting: dict[str, str] = dict(state.get("waiting", {}))  # storage id -> first seen
        instance = context.instance
        records = []
        if waiting:  # materializations whose runs were still running at an earlier tick
            records += instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=SNAPSHOTS, storage_ids=[int(k) for k in waiting]),
                limit=len(waiting),
                ascending=True,
            ).records
        records += instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SNAPSHOTS, after_storage_id=after),
            limit=MAX_RECORDS_PER_TICK,
            ascending=True,
        ).records
        decided = set(decide.underlying_list())
        now = pd.Timestamp.now(tz="UTC")
        requests: list[tuple[pd.Timestamp, dg.RunRequest]] = []
        notes: list[str] = []
        too_old = 0
        for record in records:
            key = str(record.storage_id)
            after = max(after or 0, record.storage_id)
            day_s, underlying = _parts(record.partition_key)
            if underlying not in decided:
                continue
            run = instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                # Its checks are not in yet. Later materializations go on without it.
                first = pd.Timestamp(waiting.setdefault(key, now.isoformat()))
                if now - first > WAIT_WARNING:
                    since = f"{first:%H:%M} UTC"
                    notes.append(
                        f"{record.partition_key}: run {run.run_id[:8]} still running since "
                        f"{since} (a dead worker? check the run)"
                    )
                continue
            waiting.pop(key, None)
            problems = blocking_check_problems(instance, record.run_id)
            if problems:
                notes.append(f"{record.partition_key}: not decided ({', '.join(problems)})")
                continue
            found, old = _new_snapshots(decide, data_dir, latest, day_s, underlying, now)
            requests += found
            too_old += old
        if too_old:
            notes.append(
                f"{too_old} snapshot(s) older than {decide.max_age_minutes} min not decided and "
                "not retried (to decide them: QS_DECIDE_MAX_AGE_MINUTES=0 and reset this "
                "sensor's cursor)"
            )
        if len(waiting) > MAX_WAITING:
            dropped = sorted(waiting, key=int)[: len(waiting) - MAX_WAITING]
            notes.append(f"gave up waiting on {len(dropped)} materialization(s)")
            waiting = {k: v for k, v in waiting.items() if k not in dropped}
        latest = dict(sorted(latest.items())[-KEEP_PARTITIONS:])
        cursor = json.dumps({"after": after, "latest": latest, "waiting": waiting})
        ordered = [r for _, r in sorted(requests, key=lambda pair: (pair[0], pair[1].run_key))]
        if not ordered:
            reason = "; ".join(notes) or "no new validated snapshot"
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=ordered, cursor=cursor)

    return snapshot_sensor


def _new_snapshots(
    decide: DecideResource,
    data_dir: DataDirResource,
    latest: dict[str, str],
    day_s: str,
    underlying: str,
    now: pd.Timestamp,
) -> tuple[list[tuple[pd.Timestamp, dg.RunRequest]], int]:
    """Requests for a partition's snapshots newer than its watermark and on the cadence, and how
    many were too old to decide; moves the watermark to the newest stored snapshot."""
    max_age = pd.Timedelta(minutes=decide.max_age_minutes) if decide.max_age_minutes else None
    partition = f"{day_s}|{underlying}"
    seen = pd.Timestamp(latest[partition]) if partition in latest else None
    times = snapshot_times(data_dir, date.fromisoformat(day_s), underlying)
    requests, too_old = [], 0
    for row in times.itertuples(index=False):
        ts = pd.Timestamp(row.ts)
        if not ((seen is None or ts > seen) and on_cadence(ts, decide.every_minutes)):
            continue
        if max_age is not None and now - ts > max_age:
            too_old += 1  # a backlog or a backfill is not traded as if it were live
            continue
        requests.append((ts, _request(str(row.snapshot_id), day_s, underlying, ts)))
    if len(times):
        newest = pd.Timestamp(times["ts"].max())
        latest[partition] = max(newest, seen).isoformat() if seen else newest.isoformat()
    return requests, too_old


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
