"""Volatility group: realized measures computed from our own 1-minute bars (seed 001 §5 pipeline
1: the project owns the realized-vol series end to end, so a vendor's definition change cannot
silently change what the models see)."""

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import table_md
from quantsentinel.assets.partitions import PARQUET, trading_day_by_underlying

GROUP = "volatility"


class RealizedVolConfig(dg.Config):
    sampling_minutes: int = 5


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    description="Realized variance, bipower variation, jump variation and share, jump test.",
)
def realized_vol(
    context: dg.AssetExecutionContext, config: RealizedVolConfig, underlying_bars: pd.DataFrame
) -> pd.DataFrame:
    from quantsentinel.ml.vol.realized import realized_measures

    measures = realized_measures(underlying_bars, sampling_minutes=config.sampling_minutes)
    row = measures.iloc[0] if len(measures) else None
    context.add_output_metadata(
        {
            "rows": len(measures),
            "realized_vol_annualised": None
            if row is None
            else float(row["realized_vol_annualised"]),
            "jump_share": None if row is None else float(row["jump_share"]),
            "measures": table_md(measures),
        }
    )
    return measures
