"""Surface group: implied volatilities per contract, and the chain's positioning analytics."""

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import smile_plot_md, table_md
from quantsentinel.assets.partitions import PARQUET, partition_parts, trading_day_by_underlying

GROUP = "surface"


class SurfaceConfig(dg.Config):
    risk_free_rate: float = 0.065


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="Implied vol per snapshot, expiry and strike (OTM side), forward from put-call "
    "parity, log-moneyness, delta and total variance.",
)
def iv_surface(
    context: dg.AssetExecutionContext, config: SurfaceConfig, chain_snapshots: pd.DataFrame
) -> pd.DataFrame:
    from quantsentinel.market.surface import atm_iv, smile
    from quantsentinel.market.surface import iv_surface as build_surface

    day, underlying = partition_parts(context)
    surface = build_surface(chain_snapshots, rate=config.risk_free_rate)
    metadata: dict = {"rows": len(surface)}
    if len(surface):
        nearest = smile(surface)
        latest = surface["snapshot_id"].iloc[-1] if "snapshot_id" in surface else ""
        metadata["smile_nearest_expiry"] = smile_plot_md(
            nearest, f"{underlying} {day} nearest-expiry smile ({latest})"
        )
        metadata["unsolved_share"] = float(surface["iv"].isna().mean())
        metadata["atm_iv"] = table_md(atm_iv(surface).tail(6))
    context.add_output_metadata(metadata)
    return surface


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="Per snapshot: GEX and its flip level, OI change flow, PCR, max pain, OI walls.",
)
def chain_analytics(
    context: dg.AssetExecutionContext,
    config: SurfaceConfig,
    chain_snapshots: pd.DataFrame,
    iv_surface: pd.DataFrame,
) -> pd.DataFrame:
    from quantsentinel.market.analytics import chain_analytics as analyse

    analytics = analyse(chain_snapshots, iv_surface, rate=config.risk_free_rate)
    metadata: dict = {"rows": len(analytics)}
    if len(analytics):
        last = analytics.iloc[-1]
        for column in ("pcr_oi", "max_pain", "gex", "gex_flip_level"):
            if column in analytics:
                metadata[f"last_{column}"] = float(last[column])
        metadata["latest"] = table_md(analytics.tail(5))
    context.add_output_metadata(metadata)
    return analytics


EXPECTED_REFUSALS = ("too_few_strikes", "expired")


class ImpliedDistributionConfig(dg.Config):
    risk_free_rate: float = 0.065
    crash_move: float = -0.05  # "crash probability" = P(S_T <= (1 + crash_move) * F)
    snapshots: str = "last"  # "last" snapshot of the day, or "all"


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="Risk-neutral density per snapshot and expiry (Breeden-Litzenberger on a "
    "smoothed smile): truncated moments, crash probability, implied move and the density grid. "
    "An expiry failing the vertical, butterfly or calendar arbitrage check is not published; "
    "its row carries the reason and no grid.",
    check_specs=[dg.AssetCheckSpec("densities_published", asset="implied_distribution")],
)
def implied_distribution(
    context: dg.AssetExecutionContext,
    config: ImpliedDistributionConfig,
    chain_snapshots: pd.DataFrame,
):
    from quantsentinel.assets.metadata import figure_md
    from quantsentinel.ml.density.chain import chain_densities
    from quantsentinel.ml.density.plots import density_plot

    if config.snapshots not in ("last", "all"):
        raise ValueError(f"snapshots must be 'last' or 'all', not {config.snapshots!r}")
    day, underlying = partition_parts(context)
    batch = chain_densities(
        chain_snapshots, rate=config.risk_free_rate, crash_move=config.crash_move,
        snapshots=config.snapshots,
    )  # fmt: skip
    frame = _with_grids(batch.summary, batch.grid)
    published = frame[frame["published"]] if len(frame) else frame
    rejected = frame[~frame["published"]] if len(frame) else frame
    metadata: dict = {
        "expiries": len(frame),
        "published": len(published),
        "rejected_by_reason": dg.MetadataValue.json(
            rejected["reason"].value_counts().to_dict() if len(rejected) else {}
        ),
        "summary": table_md(frame.drop(columns=["grid_strike", "grid_density"], errors="ignore")),
    }
    if len(published):
        latest = published[published["ts"] == published["ts"].max()]
        nearest = latest.sort_values("expiry").iloc[0]
        density = batch.densities[(nearest["snapshot_id"], nearest["expiry"])]
        title = f"{underlying} {day} density, expiry {pd.Timestamp(nearest['expiry']).date()}"
        metadata["density_nearest_expiry"] = figure_md(
            density_plot(density, title=title), "density"
        )
    yield dg.Output(frame, metadata=metadata)
    # An expiring contract with a handful of live strikes is refused every expiry day; that is
    # information, not a data problem. Arbitrage, bad quotes or a missing forward are problems.
    problems = rejected[~rejected["reason"].isin(EXPECTED_REFUSALS)] if len(rejected) else rejected
    yield dg.AssetCheckResult(
        check_name="densities_published",
        passed=len(problems) == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected": len(rejected),
            "problems": len(problems),
            "reasons": table_md(rejected[["snapshot_id", "expiry", "reason", "detail"]])
            if len(rejected)
            else "none",
        },
    )


def _with_grids(summary: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """One row per snapshot x expiry, the density grid of a published one as list columns."""
    keys = ["snapshot_id", "expiry"]
    if summary.empty:
        return summary.assign(
            grid_strike=pd.Series(dtype=object), grid_density=pd.Series(dtype=object)
        )
    if grid.empty:
        lists = pd.DataFrame(columns=[*keys, "grid_strike", "grid_density"])
    else:
        lists = (
            grid.groupby(keys, sort=False)
            .agg(grid_strike=("strike", list), grid_density=("density", list))
            .reset_index()
        )
    return summary.merge(lists, on=keys, how="left")
