"""Paper execution (seed 004's paper_executor) and the learners' stored state.

- `PaperExecutor`: approved decisions -> paper positions filled at the side they cross (cost engine
  charges and slippage booked), marked on later chains, closed at target, stop or expiry; tenants'
  open books for the castle in one query;
- `LearningStateStore`: versioned JSON state rows with compare-and-set saves (`StateConflict`).

Pure of dagster: the decide and mark assets call these.
"""

from quantsentinel.decide.paper.executor import PaperExecutor
from quantsentinel.decide.paper.pricing import PricedFill
from quantsentinel.decide.paper.schema import (
    TENANT_SCOPED,
    learning_states,
    paper_fills,
    paper_positions,
)
from quantsentinel.decide.paper.state import LearningStateStore, StateConflict, StateWrite
from quantsentinel.decide.paper.store import (
    REWARD_CLIP,
    ClosedPosition,
    Fill,
    MarkReport,
    reward_for,
)

__all__ = [
    "REWARD_CLIP",
    "TENANT_SCOPED",
    "ClosedPosition",
    "Fill",
    "LearningStateStore",
    "MarkReport",
    "PaperExecutor",
    "PricedFill",
    "StateConflict",
    "StateWrite",
    "learning_states",
    "paper_fills",
    "paper_positions",
    "reward_for",
]
