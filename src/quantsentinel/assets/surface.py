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
