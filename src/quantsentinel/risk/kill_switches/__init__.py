"""The twelve kill switches of seed 001 §8: standing states that halt new decisions at a scope
(a strategy, a tenant, a symbol, a broker, an exchange, a feed, a model, everything) until they
are cleared. Existing positions can always still be managed.

- `definitions`: the twelve kinds as data (scope, reset rule and why, what they halt, thresholds);
- `observations`: what one sweep sees; `triggers`/`market_triggers`: pure trigger logic, one
  function per kind, observation -> Trip or None; `measures`: drawdown, effective correlation;
- `evaluation.evaluate`: every reading of a sweep (trips, and what was measured clear);
- `state`: rows and their audited, race-safe transitions; `store.KillSwitchStore`: trip, reset,
  sweep, read; `blocking`: which tripped switches halt one decision.
"""

from quantsentinel.risk.kill_switches.blocking import blocking
from quantsentinel.risk.kill_switches.definitions import (
    AUTO_RESET_KINDS,
    BROKER_OUTAGE,
    BY_NAME,
    CAPITAL_FLOOR,
    CORRELATION_CLUSTER,
    DRY_RUN_LOCK,
    EXCHANGE_HALT,
    GLOBAL_KEY,
    KINDS,
    MARGIN_UTILIZATION,
    MASTER,
    MODEL_STALENESS,
    SCOPES,
    STALE_DATA,
    STRATEGY_DRAWDOWN,
    SYMBOL_ANOMALY,
    TENANT_DAILY_LOSS,
    KillSwitchError,
    PlatformLimits,
    SwitchKind,
    kind,
    strategy_key,
    switch_key,
    thresholds,
    validate_scope,
)
from quantsentinel.risk.kill_switches.evaluation import Evaluation, evaluate
from quantsentinel.risk.kill_switches.market_triggers import (
    broker_outage,
    exchange_halt,
    model_staleness,
    stale_data,
    symbol_anomaly,
)
from quantsentinel.risk.kill_switches.measures import (
    Drawdown,
    effective_correlation,
    max_drawdown,
    sample_covariance,
)
from quantsentinel.risk.kill_switches.observations import (
    BookState,
    BrokerState,
    ExchangeState,
    ModelState,
    Observations,
    SymbolState,
    TenantState,
)
from quantsentinel.risk.kill_switches.state import SwitchState
from quantsentinel.risk.kill_switches.store import KillSwitchStore, SweepResult
from quantsentinel.risk.kill_switches.triggers import (
    Reading,
    Trip,
    capital_floor,
    correlation_cluster,
    dry_run_lock,
    margin_utilization,
    strategy_drawdown,
    tenant_daily_loss,
)

__all__ = [
    "AUTO_RESET_KINDS",
    "BROKER_OUTAGE",
    "BY_NAME",
    "CAPITAL_FLOOR",
    "CORRELATION_CLUSTER",
    "DRY_RUN_LOCK",
    "EXCHANGE_HALT",
    "GLOBAL_KEY",
    "KINDS",
    "MARGIN_UTILIZATION",
    "MASTER",
    "MODEL_STALENESS",
    "SCOPES",
    "STALE_DATA",
    "STRATEGY_DRAWDOWN",
    "SYMBOL_ANOMALY",
    "TENANT_DAILY_LOSS",
    "BookState",
    "BrokerState",
    "Drawdown",
    "Evaluation",
    "ExchangeState",
    "KillSwitchError",
    "KillSwitchStore",
    "ModelState",
    "Observations",
    "PlatformLimits",
    "Reading",
    "SweepResult",
    "SwitchKind",
    "SwitchState",
    "SymbolState",
    "TenantState",
    "Trip",
    "blocking",
    "broker_outage",
    "capital_floor",
    "correlation_cluster",
    "dry_run_lock",
    "effective_correlation",
    "evaluate",
    "exchange_halt",
    "kind",
    "margin_utilization",
    "max_drawdown",
    "model_staleness",
    "sample_covariance",
    "stale_data",
    "strategy_drawdown",
    "strategy_key",
    "switch_key",
    "symbol_anomaly",
    "tenant_daily_loss",
    "thresholds",
    "validate_scope",
]
