"""Volatility group: realized measures computed from our own 1-minute bars (seed 001 §5 pipeline
1: the project owns the realized-vol series end to end, so a vendor's definition change cannot
silently change what the models see)."""

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import table_md
from quantsentinel.assets.partitions import PARQUET, partition_parts, trading_day_by_underlying
from quantsentinel.resources.feed import MarketFeedResource
from quantsentinel.resources.registry import RegistryResource
from quantsentinel.resources.storage import DataDirResource

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


VOL_FORECAST_COLUMNS = [
    "underlying", "date", "horizon", "variance", "vol_annualised", "har_variance",
    "garch_variance", "weight_har", "weight_garch", "source", "model_version", "fallback_reason",
]  # fmt: skip


class VolForecastConfig(dg.Config):
    sampling_minutes: int = 5


@dg.asset(
    group_name=GROUP,
    partitions_def=trading_day_by_underlying,
    **PARQUET,
    deps=["underlying_bars", "realized_vol"],
    description="Average daily variance over the next 1, 5 and 22 trading days, made after the "
    "close: the vol_forecaster champion's HAR + GARCH ensemble with the day's weights, or the "
    "documented baseline (22-day mean RV) with the reason it answered. No row when neither can "
    "be computed (the reason is in the metadata and the check).",
    check_specs=[dg.AssetCheckSpec("forecast_published", asset="vol_forecasts")],
)
def vol_forecasts(
    context: dg.AssetExecutionContext,
    config: VolForecastConfig,
    feed: MarketFeedResource,
    registry: RegistryResource,
    data_dir: DataDirResource,
):
    from quantsentinel.assets.history import daily_history
    from quantsentinel.ml.models.vol_forecaster import TYPE_ID, serve_forecast
    from quantsentinel.ml.vol.forecaster import ForecastError

    day, underlying = partition_parts(context)
    champion = registry.registry().load_champion(TYPE_ID, None)

    def history(n_days: int):
        # One extra day: the first day of any span has no close-to-close return.
        return daily_history(data_dir.path, feed, underlying, day, n_days + 1,
                             sampling_minutes=config.sampling_minutes)  # fmt: skip

    try:
        forecast = serve_forecast(champion, underlying, day, history)
    except ForecastError as exc:
        context.log.warning(f"no volatility forecast for {underlying} {day}: {exc}")
        yield dg.Output(
            pd.DataFrame(columns=VOL_FORECAST_COLUMNS),
            metadata={"published": False, "reason": exc.reason, "detail": str(exc)},
        )
        yield dg.AssetCheckResult(
            check_name="forecast_published", passed=False,
            severity=dg.AssetCheckSeverity.WARN, metadata={"reason": exc.reason},
        )  # fmt: skip
        return
    frame = forecast.table.reset_index()
    frame.insert(0, "underlying", underlying)
    frame.insert(1, "date", pd.Timestamp(day))
    frame["source"] = forecast.source
    frame["model_version"] = forecast.model_version
    frame["fallback_reason"] = forecast.fallback_reason
    frame = frame.reindex(columns=VOL_FORECAST_COLUMNS)
    yield dg.Output(
        frame,
        metadata={
            "published": True,
            "source": forecast.source,
            "model_version": forecast.model_version or "",
            "fallback_reason": forecast.fallback_reason or "",
            "vol_1d_annualised": float(frame["vol_annualised"].iloc[0]),
            "forecast": table_md(frame.drop(columns=["underlying", "date"])),
        },
    )
    yield dg.AssetCheckResult(
        check_name="forecast_published", passed=True,
        metadata={"source": forecast.source, "fallback_reason": forecast.fallback_reason or ""},
    )  # fmt: skip
