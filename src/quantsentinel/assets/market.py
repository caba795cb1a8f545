"""Market group: raw inputs land, are validated, and split into clean snapshots and quarantine.

    feed / inbox files -> raw_chain_snapshots -> chain_snapshots  (+ blocking checks)
                                              -> quarantined_snapshots
    feed -> underlying_bars, india_vix, news_events

A snapshot with any violation is quarantined whole, with every reason, and never reaches
`chain_snapshots`; the blocking checks re-validate what was published, so a bug in the split
stops `iv_surface` / `chain_analytics` in the same run instead of leaking.
"""

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import table_md
from quantsentinel.assets.partitions import (
    PARQUET,
    partition_parts,
    trading_day_by_underlying,
    trading_days,
)
from quantsentinel.market import records
from quantsentinel.market.schema import CHAIN_COLUMNS, conform, empty_frame
from quantsentinel.resources import DatabaseResource, DataDirResource, MarketFeedResource

GROUP = "market"

QUARANTINE_COLUMNS = ["snapshot_id", "underlying", "ts", "reasons", "details", "n_rows"]


class RawChainConfig(dg.Config):
    """Inbox-triggered runs set pull_feed=False: they re-read what landed, nothing more."""

    pull_feed: bool = True


class ChainValidationConfig(dg.Config):
    """Run-time knobs of snapshot validation (shown in the launchpad)."""

    max_staleness_seconds: float | None = 60.0
    iv_lower: float = 0.01
    iv_upper: float = 3.0


def _validation_config(config: ChainValidationConfig):
    from quantsentinel.market.validation import ValidationConfig

    staleness = config.max_staleness_seconds
    return ValidationConfig(
        max_staleness=None if staleness is None else pd.Timedelta(seconds=staleness),
        iv_bounds=(config.iv_lower, config.iv_upper),
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="Every option-chain row received for the partition, before validation: the "
    "feed's snapshots plus any inbox files that landed for this day and underlying.",
)
def raw_chain_snapshots(
    context: dg.AssetExecutionContext,
    config: RawChainConfig,
    feed: MarketFeedResource,
    data_dir: DataDirResource,
) -> pd.DataFrame:
    day, underlying = partition_parts(context)
    landing = data_dir.landing()
    if config.pull_feed:
        fed = feed.chain_snapshots(day, underlying)
        # Stored before validating: the feed's output is an input like any file. The key names
        # the seed, so a differently seeded feed lands beside it instead of over it.
        landing.put_chain(fed, key=f"feed-{feed.source}-seed{feed.seed}-{day}-{underlying}")
    landed = landing.chain_for(day, underlying)
    frame = landed.frame
    context.add_output_metadata(
        {
            "rows": len(frame),
            "snapshots": int(frame["snapshot_id"].nunique()),
            "sources": ", ".join(sorted(frame["source"].unique())) or "none",
            "landed_inputs": dg.MetadataValue.json(landed.keys),
            "superseded": dg.MetadataValue.json(landed.superseded),
        }
    )
    return frame


@dg.multi_asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    ins={"raw": dg.AssetIn("raw_chain_snapshots")},
    outs={
        "chain_snapshots": dg.AssetOut(
            **PARQUET,
            description="Validated option-chain snapshots: only snapshots with no violation.",
        ),
        "quarantined_snapshots": dg.AssetOut(
            **PARQUET,
            description="Rejected snapshots with every reason; raw rows stay in the landing zone.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "tabular_expectations",
            asset="chain_snapshots",
            blocking=True,
            description="Great Expectations suite (schema, nulls, quotes, prices, IV bounds, "
            "unique contracts) over the published rows.",
        ),
        dg.AssetCheckSpec(
            "no_static_arbitrage",
            asset="chain_snapshots",
            blocking=True,
            description="Monotone and convex call/put prices, vertical bounds, put-call parity.",
        ),
    ],
)
def validated_chain_snapshots(
    context: dg.AssetExecutionContext,
    config: ChainValidationConfig,
    database: DatabaseResource,
    raw: pd.DataFrame,
):
    from quantsentinel.market.validation import (
        arbitrage_violations,
        tabular_violations,
        validate_snapshots,
    )

    if raw.empty:  # nothing arrived for this partition: nothing to accept or to quarantine
        yield from _empty_partition_outputs()
        return
    cfg = _validation_config(config)
    report = validate_snapshots(raw, cfg)
    passed = (
        conform(report.passed, CHAIN_COLUMNS) if len(report.passed) else empty_frame(CHAIN_COLUMNS)
    )
    rejected = report.rejected.reindex(columns=QUARANTINE_COLUMNS)

    records.record_quarantine(
        database.engine(),
        rejected.to_dict("records"),
        partition_key=str(context.partition_key),
        run_id=context.run.run_id,
    )
    reason_counts = (
        rejected.explode("reasons")["reasons"].value_counts().rename_axis("reason").reset_index()
        if len(rejected)
        else pd.DataFrame(columns=["reason", "count"])
    )
    yield dg.Output(
        passed,
        output_name="chain_snapshots",
        metadata={
            "rows": len(passed),
            "snapshots": int(passed["snapshot_id"].nunique()),
            "quarantined_snapshots": len(rejected),
        },
    )
    yield dg.Output(
        rejected,
        output_name="quarantined_snapshots",
        metadata={
            "quarantined": len(rejected),
            "reasons": table_md(reason_counts),
            "snapshots": table_md(rejected[["snapshot_id", "reasons", "details"]]),
        },
    )

    # Post-conditions on what was actually published (not on the report's own bookkeeping).
    tabular = tabular_violations(passed, cfg) if len(passed) else []
    arbitrage = arbitrage_violations(passed, cfg) if len(passed) else []
    for name, found in (("tabular_expectations", tabular), ("no_static_arbitrage", arbitrage)):
        yield dg.AssetCheckResult(
            asset_key="chain_snapshots",
            check_name=name,
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "violations": len(found),
                "first": dg.MetadataValue.md(
                    "\n".join(f"- `{v.reason}` {v.snapshot_id}: {v.detail}" for v in found[:10])
                    or "_none_"
                ),
            },
        )


def _empty_partition_outputs():
    note = {"note": "no input landed for this partition"}
    yield dg.Output(empty_frame(CHAIN_COLUMNS), output_name="chain_snapshots", metadata=note)
    yield dg.Output(
        pd.DataFrame(columns=QUARANTINE_COLUMNS), output_name="quarantined_snapshots", metadata=note
    )
    for name in ("tabular_expectations", "no_static_arbitrage"):
        yield dg.AssetCheckResult(
            asset_key="chain_snapshots", check_name=name, passed=True, metadata=note
        )


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="1-minute OHLCV bars of the underlying for the trading day.",
)
def underlying_bars(context: dg.AssetExecutionContext, feed: MarketFeedResource) -> pd.DataFrame:
    day, underlying = partition_parts(context)
    bars = feed.bars(day, underlying)
    context.add_output_metadata(
        {
            "rows": len(bars),
            "open": float(bars["open"].iloc[0]) if len(bars) else None,
            "close": float(bars["close"].iloc[-1]) if len(bars) else None,
        }
    )
    return bars


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_days,
    **PARQUET,
    description="India-VIX-like volatility index, 1-minute bars (percent).",
)
def india_vix(context: dg.AssetExecutionContext, feed: MarketFeedResource) -> pd.DataFrame:
    from datetime import date

    bars = feed.vix_bars(date.fromisoformat(context.partition_key))
    context.add_output_metadata(
        {"rows": len(bars), "close": float(bars["close"].iloc[-1]) if len(bars) else None}
    )
    return bars


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_days,
    **PARQUET,
    description="Scheduled and surprise news events of the day. Partitioned by day only: an RBI "
    "or Budget event moves every underlying, so `scope` says which it concerns.",
)
def news_events(context: dg.AssetExecutionContext, feed: MarketFeedResource) -> pd.DataFrame:
    from datetime import date

    events = feed.news(date.fromisoformat(context.partition_key))
    context.add_output_metadata(
        {
            "events": len(events),
            "scheduled": int(events["scheduled"].sum()) if len(events) else 0,
            "table": table_md(events[["ts", "kind", "scope", "headline"]]),
        }
    )
    return events
