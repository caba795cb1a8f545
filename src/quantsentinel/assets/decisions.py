"""Decisions group: one decision batch per validated snapshot, launched by `snapshot_sensor`.

A thin shell over `decide.run.decide_snapshot`: the run's config names the snapshot, the
partition names its (day, underlying). The database rows are the record; the materialization
carries what a person wants to see (counts by wall, the approved trades, the payoff of the best
one, the shared signals) and the `batch_complete` check re-reads the committed batch.
"""

import dagster as dg
from quantsentinel.assets.decision_metadata import batch_metadata
from quantsentinel.assets.partitions import partition_parts, trading_day_by_underlying
from quantsentinel.ml.models.direction import TYPE_ID as DIRECTION
from quantsentinel.resources import DatabaseResource, DataDirResource, MarketFeedResource
from quantsentinel.resources.decide import DecideResource
from quantsentinel.resources.publish import PublisherResource
from quantsentinel.resources.registry import RegistryResource

GROUP = "decisions"


class DecideConfig(dg.Config):
    """The validated snapshot to decide (the sensor sets it; its run key is the same id)."""

    snapshot_id: str


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    deps=["chain_snapshots"],
    kinds={"sql"},
    description="Every tenant's decision on one snapshot (approved, or blocked by which wall), "
    "written in one transaction; approved paper decisions are filled and every approved one is "
    "published on its tenant's channel after the commit.",
    check_specs=[
        dg.AssetCheckSpec(
            "batch_complete",
            asset="decision_batches",
            description="The committed batch holds exactly one decision per tenant it counted, "
            "and every approved decision has legs, units and a bounded loss.",
        )
    ],
)
def decision_batches(
    context: dg.AssetExecutionContext,
    config: DecideConfig,
    database: DatabaseResource,
    data_dir: DataDirResource,
    feed: MarketFeedResource,
    decide: DecideResource,
    publisher: PublisherResource,
    registry: RegistryResource,
) -> dg.MaterializeResult:
    from quantsentinel.decide.run import decide_snapshot
    from quantsentinel.decide.store import DecisionStore, stored_records

    day, underlying = partition_parts(context)
    engine = database.engine()
    outcome = decide_snapshot(
        engine,
        data_dir.path,
        config.snapshot_id,
        day,
        underlying,
        settings=decide.learning(),
        bars_fallback=feed.bars if feed.simulated else None,
        vix_fallback=feed.vix_bars if feed.simulated else None,
        load_direction_champion=lambda: registry.registry().load_champion(DIRECTION, None),
        publisher=publisher.publisher(),
    )
    if outcome.already_decided:
        context.log.info(f"{outcome.batch_id} was already decided; nothing re-decided")
    stored = stored_records(DecisionStore(engine), outcome.batch_id)
    problems = [
        r.tenant_id
        for r in stored
        if r.approved and (not r.legs or r.units < 1 or r.max_loss == float("inf"))
    ]
    complete = len(stored) == outcome.batch["tenants"] and not problems
    check = dg.AssetCheckResult(
        check_name="batch_complete",
        passed=complete,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "stored_decisions": len(stored),
            "batch_tenants": int(outcome.batch["tenants"]),
            "bad_approvals": dg.MetadataValue.json(problems),
        },
    )
    return dg.MaterializeResult(metadata=batch_metadata(outcome), check_results=[check])
