"""Where market data comes from: the seeded simulator (embedded default) or nothing but files.

`source="simulator"` makes the assets pull a simulated day; `source="files"` means inputs only
arrive through the inbox sensor (the production shape until a live feed adapter exists).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pandas as pd

import dagster as dg
from quantsentinel.market.schema import BAR_COLUMNS, CHAIN_COLUMNS, NEWS_COLUMNS, empty_frame


@lru_cache(maxsize=4)
def _simulator_for(seed: int):
    """One simulator per seed per process: its daily path is built once, not once per run.
    Imported lazily so a sensor process that never simulates does not pay for it."""
    from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig

    return MarketSimulator(SimulatorConfig(seed=seed))


class MarketFeedResource(dg.ConfigurableResource):
    # A plain str (not Literal) so it can come from EnvVar("QS_FEED_SOURCE"); checked on use.
    source: str = "simulator"
    seed: int = 7

    @property
    def _sim(self):
        return _simulator_for(self.seed)

    @property
    def simulated(self) -> bool:
        if self.source not in ("simulator", "files"):
            raise ValueError(f"feed source {self.source!r} is not one of simulator, files")
        return self.source == "simulator"

    def chain_snapshots(self, day: date, underlying: str) -> pd.DataFrame:
        if not self.simulated:
            return empty_frame(CHAIN_COLUMNS)
        return self._sim.chain_snapshots(day, underlying)

    def bars(self, day: date, underlying: str) -> pd.DataFrame:
        if not self.simulated:
            return empty_frame(BAR_COLUMNS)
        return self._sim.bars(day, underlying)

    def vix_bars(self, day: date) -> pd.DataFrame:
        if not self.simulated:
            return empty_frame(BAR_COLUMNS)
        return self._sim.vix_bars(day)

    def news(self, day: date) -> pd.DataFrame:
        if not self.simulated:
            return empty_frame(NEWS_COLUMNS)
        return self._sim.news(day)
