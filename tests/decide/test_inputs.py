"""The decide path's inputs: the overnight share of variance measured from stored partitions."""

from __future__ import annotations

from datetime import date

import pandas as pd

from quantsentinel.decide.fixtures import write_partition
from quantsentinel.decide.inputs import (
    DEFAULT_OVERNIGHT_SHARE,
    overnight_share,
    partition_path,
    sessions_before,
)
from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig
from quantsentinel.ml.signals import daily_closes_from_bars
from quantsentinel.ml.vol.realized import realized_measures


def test_overnight_share_is_measured_from_session_rv_and_close_to_close_returns(tmp_path):
    sim = MarketSimulator(SimulatorConfig(seed=5))
    sessions = sessions_before(date(2025, 4, 1), 40)
    bars = pd.concat([sim.bars(d, "NIFTY") for d in sessions], ignore_index=True)
    measures = realized_measures(bars)
    for d in sessions:  # what the realized_vol asset stores: one day, no overnight return
        day_bars = bars[bars["ts"].dt.tz_convert("Asia/Kolkata").dt.date == d]
        frame = realized_measures(day_bars).assign(underlying="NIFTY")
        write_partition(frame, partition_path(tmp_path, "realized_vol", d, "NIFTY"))
    closes = daily_closes_from_bars(bars)
    share, source = overnight_share(tmp_path, sessions, "NIFTY", closes)
    r = (measures["session_return"] + measures["overnight_return"]).dropna()
    expected = 1 - measures["realized_variance"][r.index].sum() / (r**2).sum()
    assert source.startswith("measured over 39 sessions")
    assert abs(share - expected) < 1e-9 and 0.05 < share < 0.5
    # Too little stored history: the documented prior, and it says so.
    share, source = overnight_share(tmp_path, sessions[:15], "NIFTY", closes)
    assert share == DEFAULT_OVERNIGHT_SHARE and source.startswith("prior")
