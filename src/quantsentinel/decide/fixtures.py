"""A stored market for decide runs without the Dagster graph: the asset partitions one day of one
underlying would have, written straight from the simulator and the same pure functions the
assets call. Tests and benchmarks use it to exercise the decide path on real files in seconds;
the Dagster tests run the real assets instead.

Vol forecasts are written as the baseline the `vol_forecasts` asset publishes without a champion
(22-day mean RV, source "baseline"), taken from the simulator's own realised variance so the
regime and the volatility signal see plausible numbers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from quantsentinel.decide.inputs import partition_path, sessions_before
from quantsentinel.market.schema import CHAIN_COLUMNS, conform


def write_partition(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def write_day(
    sim, data_dir: Path, day: date, underlying: str, *, forecast_scale: float | None = 1.0
) -> list:
    """Partitions of (day, underlying) as the market assets would store them; returns the
    snapshot ids, in time order. `forecast_scale` multiplies the forecast variance (below 1: the
    forecaster expects a calmer market than recent history; None: no forecast stored)."""
    from quantsentinel.market.analytics import chain_analytics
    from quantsentinel.market.surface import iv_surface
    from quantsentinel.ml.density.chain import chain_densities

    chain = conform(sim.chain_snapshots(day, underlying), CHAIN_COLUMNS)
    surface = iv_surface(chain)
    write_partition(chain, partition_path(data_dir, "chain_snapshots", day, underlying))
    write_partition(surface, partition_path(data_dir, "iv_surface", day, underlying))
    write_partition(
        chain_analytics(chain, surface),
        partition_path(data_dir, "chain_analytics", day, underlying),
    )
    densities = chain_densities(chain, rate=0.065, crash_move=-0.05, snapshots="last").summary
    write_partition(densities, partition_path(data_dir, "implied_distribution", day, underlying))
    write_partition(sim.bars(day, underlying),
                    partition_path(data_dir, "underlying_bars", day, underlying))  # fmt: skip
    write_partition(sim.news(day), partition_path(data_dir, "news_events", day, None))
    if forecast_scale is not None:
        write_forecast(sim, data_dir, sessions_before(day, 1)[0], underlying, scale=forecast_scale)
    return list(dict.fromkeys(chain.sort_values("ts")["snapshot_id"]))


def write_forecast(
    sim, data_dir: Path, day: date, underlying: str, sessions: int = 22, scale: float = 1.0
) -> None:
    """The baseline forecast made after `day`'s close: mean session RV of the last sessions (the
    asset's baseline; session-only, as the project's RV is)."""
    from quantsentinel.ml.vol.realized import realized_measures

    days = [*sessions_before(day, sessions - 1), day]
    bars = pd.concat([sim.bars(d, underlying) for d in days], ignore_index=True)
    variance = scale * float(realized_measures(bars)["realized_variance"].mean())
    frame = pd.DataFrame(
        {
            "underlying": underlying,
            "date": pd.Timestamp(day),
            "horizon": [1, 5, 22],
            "variance": variance,
            "vol_annualised": np.sqrt(variance * 252.0),
            "source": "baseline",
            "model_version": None,
            "fallback_reason": "no_champion",
        }
    )
    write_partition(frame, partition_path(data_dir, "vol_forecasts", day, underlying))
