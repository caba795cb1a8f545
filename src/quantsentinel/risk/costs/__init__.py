"""The cost engine (seed 001 §8, wall 6): every charge of a multi-leg NSE F&O order, line by line.

- `rates`: statutory and exchange charges as effective-dated rows with their sources, held by a
  `RateSchedule` looked up by trade date;
- `slippage`: expected fill cost from the quoted spread and the order's size (not a fee);
- `engine`: `CostEngine` pricing entry, exit, cash settlement and round trips for a tenant's
  `BrokeragePlan`, returning `OrderCosts` / `RoundTripCosts` made of `CostLine`s.
"""

from quantsentinel.risk.costs.engine import CostEngine
from quantsentinel.risk.costs.rates import (
    BROKERAGE,
    DEFAULT_GST_BASE,
    DEFAULT_ROWS,
    EXCHANGE_TXN,
    FUTURE,
    GST,
    INSTRUMENTS,
    IPFT,
    OPTION,
    RATE_CHARGES,
    SEBI_FEE,
    SLIPPAGE,
    STAMP_DUTY,
    STT,
    STT_EXERCISE,
    RateCoverageError,
    RateRow,
    RateSchedule,
    RatesOn,
)
from quantsentinel.risk.costs.results import (
    ENTRY,
    EXIT,
    PHASES,
    SETTLEMENT,
    CostLine,
    OrderCosts,
    RoundTripCosts,
    unit_lots,
)
from quantsentinel.risk.costs.slippage import SlippageModel

__all__ = [
    "BROKERAGE",
    "DEFAULT_GST_BASE",
    "DEFAULT_ROWS",
    "ENTRY",
    "EXCHANGE_TXN",
    "EXIT",
    "FUTURE",
    "GST",
    "INSTRUMENTS",
    "IPFT",
    "OPTION",
    "PHASES",
    "RATE_CHARGES",
    "SEBI_FEE",
    "SETTLEMENT",
    "SLIPPAGE",
    "STAMP_DUTY",
    "STT",
    "STT_EXERCISE",
    "CostEngine",
    "CostLine",
    "OrderCosts",
    "RateCoverageError",
    "RateRow",
    "RateSchedule",
    "RatesOn",
    "RoundTripCosts",
    "SlippageModel",
    "unit_lots",
]
