"""Option structures on one chain snapshot: legs, payoffs, Greeks, margin and tail hedges.

- `chain.ChainView`: one snapshot of one underlying, indexed once for fast look-ups;
- `structure.Structure` (legs + hedge legs); `builders`: one builder per kind in
  `STRUCTURE_KINDS`, plus `build`;
- `payoff.analyse`: net premium, max profit/loss (exact, `math.inf` when unbounded), breakevens,
  the expiry payoff, Black-76 value and Greeks, and the margin estimate; `expiry_pnl` and
  `expected_outcome` for scoring against a forecast distribution;
- `margin.estimate_margin`: a documented SPAN-like approximation with NSE's exposure margin;
- `hedge`: `needs_tail_hedge`, `stress_loss`, `select_tail_hedge` (the castle's tail wall).

Pure: no dagster here.
"""

from quantsentinel.risk.structures.builders import (
    BEARISH,
    BUILDERS,
    BULLISH,
    LONG,
    SHORT,
    build,
    butterfly,
    calendar,
    futures,
    iron_condor,
    iron_fly,
    single_leg,
    straddle,
    strangle,
    vertical_credit,
    vertical_debit,
)
from quantsentinel.risk.structures.chain import ChainError, ChainView
from quantsentinel.risk.structures.hedge import (
    HedgeChoice,
    NakedExposure,
    NoHedgeAvailable,
    naked_exposures,
    needs_tail_hedge,
    select_tail_hedge,
    stress_loss,
)
from quantsentinel.risk.structures.margin import (
    MARGIN_RATES,
    MarginEstimate,
    MarginRates,
    SpanScenario,
    estimate_margin,
    margin_rates,
)
from quantsentinel.risk.structures.payoff import (
    StructureAnalysis,
    analyse,
    expected_outcome,
    expiry_pnl,
)
from quantsentinel.risk.structures.structure import STRUCTURE_KINDS, Structure
from quantsentinel.risk.structures.valuation import PositionGreeks

__all__ = [
    "BEARISH",
    "BUILDERS",
    "BULLISH",
    "LONG",
    "MARGIN_RATES",
    "SHORT",
    "STRUCTURE_KINDS",
    "ChainError",
    "ChainView",
    "HedgeChoice",
    "MarginEstimate",
    "MarginRates",
    "NakedExposure",
    "NoHedgeAvailable",
    "PositionGreeks",
    "SpanScenario",
    "Structure",
    "StructureAnalysis",
    "analyse",
    "build",
    "butterfly",
    "calendar",
    "estimate_margin",
    "expected_outcome",
    "expiry_pnl",
    "futures",
    "iron_condor",
    "iron_fly",
    "margin_rates",
    "naked_exposures",
    "needs_tail_hedge",
    "select_tail_hedge",
    "single_leg",
    "straddle",
    "strangle",
    "stress_loss",
    "vertical_credit",
    "vertical_debit",
]
