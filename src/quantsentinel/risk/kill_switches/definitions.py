"""The twelve kill switches (seed 001 §8) as data: what each watches, the scope it halts, what it
halts, which thresholds it reads and who may clear it.

A kill switch is not a gate. The castle's walls judge one candidate trade; a kill switch is a
standing state ("this tenant lost too much today", "the NIFTY feed is 90 s old") that refuses every
new decision in its scope until it is cleared. Existing positions can always still be managed
(closed, hedged, rolled): a switch that also froze exits would turn a loss limit into a trap.

Two reset rules, chosen per kind:
- automatic: the switch mirrors a condition that is measured afresh on every sweep and means the
  same thing each time (a feed is fresh or not). When a sweep sees the condition clear, the switch
  clears, with an audit row; keeping it tripped would only add a human to a loop that has nothing
  to decide.
- operator: the switch marks an event whose cause a person has to look at before trading resumes
  (a strategy lost more than it should, a broker fell over). The condition "clearing" (prices came
  back, a probe succeeded) says nothing about whether the cause is understood, so only an operator
  resets it. A reset does not override a live breach: if the condition still holds, the next sweep
  trips the switch again.

Scope keys: 'strategy' is "<tenant>/<strategy>"; 'tenant' is the tenant id; 'symbol', 'feed'
(the feed of one underlying) and 'model' are their names; 'broker' and 'exchange' their names;
'global' is "*". The feed "*" is the platform-wide market feed that every decision reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.policy import RiskPolicy
from quantsentinel.risk.tenancy.schema import PAPER_ONLY_DAYS


class KillSwitchError(RiskInputError):
    """A kill-switch request names an unknown kind or scope, or asks for a change the rules refuse
    (resetting the dry-run lock by hand, tripping a tenant switch without its tenant)."""


# The twelve kinds, by the names stored in kill_switches.kind (at most 32 characters).
STRATEGY_DRAWDOWN = "strategy_drawdown"
TENANT_DAILY_LOSS = "tenant_daily_loss"
SYMBOL_ANOMALY = "symbol_anomaly"
BROKER_OUTAGE = "broker_outage"
EXCHANGE_HALT = "exchange_halt"
CAPITAL_FLOOR = "capital_floor"
STALE_DATA = "stale_data"
MODEL_STALENESS = "model_staleness"
MARGIN_UTILIZATION = "margin_utilization"
CORRELATION_CLUSTER = "correlation_cluster"
DRY_RUN_LOCK = "dry_run_lock"
MASTER = "master"

SCOPES = ("strategy", "tenant", "symbol", "broker", "exchange", "feed", "model", "global")
TENANT_SCOPES = ("strategy", "tenant")
GLOBAL_KEY = "*"  # scope key of the master switch, and the platform-wide feed
MAX_SWITCH_KEY = 200  # kill_switches.switch_key is String(200): "<kind>:<scope_key>"

NEW_DECISIONS = "new decisions in its scope; existing positions can still be managed"


@dataclass(frozen=True)
class SwitchKind:
    """One of the twelve. `policy_field` names the per-tenant RiskPolicy threshold it reads;
    `limit_fields` the platform-wide PlatformLimits it reads."""

    number: int
    name: str
    scope: str
    auto_reset: bool
    trips_when: str
    halts: str
    reset_because: str
    policy_field: str | None = None
    limit_fields: tuple[str, ...] = ()
    live_only: bool = False  # blocks live execution requests only (paper decisions go on)

    @property
    def tenant_scoped(self) -> bool:
        return self.scope in TENANT_SCOPES


KINDS: tuple[SwitchKind, ...] = (
    SwitchKind(
        1,
        STRATEGY_DRAWDOWN,
        "strategy",
        auto_reset=False,
        trips_when="the strategy's live peak-to-trough drawdown of cumulative P&L is beyond "
        "capital x strategy_drawdown_pct",
        halts="new decisions of that strategy for that tenant",
        reset_because="a drawdown beyond the limit means the strategy behaved outside what it was "
        "approved for; recovering P&L does not explain why, so a person decides when it resumes",
        policy_field="strategy_drawdown_pct",
    ),
    SwitchKind(
        2,
        TENANT_DAILY_LOSS,
        "tenant",
        auto_reset=False,
        trips_when="today's realised + unrealised loss is beyond capital x max_daily_loss_pct",
        halts="all new decisions of the tenant",
        reset_because="a daily loss limit that lifts itself when prices bounce is no limit: the "
        "tenant stays halted for the day until an operator has looked",
        policy_field="max_daily_loss_pct",
    ),
    SwitchKind(
        3,
        SYMBOL_ANOMALY,
        "symbol",
        auto_reset=False,
        trips_when="the symbol's ATM implied vol moved more than iv_move within iv_window, its "
        "spot move from the previous close reached its circuit band, or the exchange reported "
        "a circuit event on it",
        halts="new decisions on that symbol, for every tenant",
        reset_because="after a circuit event or a vol shock the quotes may be stale, one-sided or "
        "re-based; a person confirms the market is orderly again",
        limit_fields=("iv_move", "iv_window"),
    ),
    SwitchKind(
        4,
        BROKER_OUTAGE,
        "broker",
        auto_reset=False,
        trips_when="broker_consecutive_failures failed probes in a row, or an error rate above "
        "broker_error_rate over broker_window (with at least broker_min_probes probes)",
        halts="order routing through that broker (its tenants get no new decisions)",
        reset_because="one good probe after an outage does not mean orders are safe to route "
        "(partial outages, stuck order books); the operator returns it to the pool",
        limit_fields=(
            "broker_consecutive_failures",
            "broker_error_rate",
            "broker_window",
            "broker_min_probes",
        ),
    ),
    SwitchKind(
        5,
        EXCHANGE_HALT,
        "exchange",
        auto_reset=False,
        trips_when="the index moved by a market-wide circuit-breaker level (10/15/20%) from the "
        "previous close, or the exchange's status says trading is halted",
        halts="every new decision routed to that exchange",
        reset_because="after a market-wide halt the exchange re-opens with a pre-open call "
        "auction; resuming is a deliberate act, not a side effect of the index bouncing",
        limit_fields=("market_wide_levels",),
    ),
    SwitchKind(
        6,
        CAPITAL_FLOOR,
        "tenant",
        auto_reset=True,
        trips_when="the tenant's available capital is below capital_floor",
        halts="new positions of the tenant",
        reset_because="the floor is a level, measured afresh each sweep: capital added or "
        "recovered above it is the whole remedy",
        policy_field="capital_floor",
    ),
    SwitchKind(
        7,
        STALE_DATA,
        "feed",
        auto_reset=True,
        trips_when="now - last received is more than stale_after (60 s) for a feed; a feed never "
        "received is stale",
        halts="new decisions that read that feed (the feed '*' is read by every decision)",
        reset_because="a fresh tick is exactly the remedy; decisions made from it are sound",
        limit_fields=("stale_after",),
    ),
    SwitchKind(
        8,
        MODEL_STALENESS,
        "model",
        auto_reset=True,
        trips_when="now - last retrain is more than model_staleness_multiple (2x) the model's "
        "retrain cadence; a model never trained is stale",
        halts="use of that model in new decisions (the rule-based baseline answers instead)",
        reset_because="a retrain that passed the promotion gate is the remedy and has its own "
        "audit trail in the registry",
        limit_fields=("model_staleness_multiple",),
    ),
    SwitchKind(
        9,
        MARGIN_UTILIZATION,
        "tenant",
        auto_reset=True,
        trips_when="margin used / available capital is above max_margin_utilization",
        halts="new positions of the tenant",
        reset_because="utilization is a level: closing positions or adding capital brings it "
        "down, and that is the intended way out",
        policy_field="max_margin_utilization",
    ),
    SwitchKind(
        10,
        CORRELATION_CLUSTER,
        "tenant",
        auto_reset=True,
        trips_when="the book's effective correlation (see triggers.effective_correlation) over "
        "correlation_lookback_days of returns is above max_cluster_correlation",
        halts="new positions of the tenant until existing positions are reduced",
        reset_because="the seed's remedy is reducing the existing positions; once the measured "
        "correlation is back under the limit the remedy has happened",
        policy_field="max_cluster_correlation",
        limit_fields=("correlation_lookback_days", "correlation_min_days"),
    ),
    SwitchKind(
        11,
        DRY_RUN_LOCK,
        "tenant",
        auto_reset=True,
        trips_when="the tenant was created less than dry_run_days (14) days ago",
        halts="live execution requests (paper decisions go on)",
        reset_because="the database enforces paper-only trading from the row's immutable "
        "created_at; this switch mirrors that rule so it is visible, and it clears when the "
        "database rule does. Nobody can reset it by hand, as nobody can flip the database rule",
        limit_fields=("dry_run_days",),
        live_only=True,
    ),
    SwitchKind(
        12,
        MASTER,
        "global",
        auto_reset=False,
        trips_when="an operator trips it (emergencies: a bad deployment, a data incident)",
        halts="every new decision of every tenant",
        reset_because="an operator switch is cleared by an operator, never by a sweep",
    ),
)

BY_NAME: dict[str, SwitchKind] = {k.name: k for k in KINDS}
AUTO_RESET_KINDS = frozenset(k.name for k in KINDS if k.auto_reset)


def kind(name: str) -> SwitchKind:
    """The kind called `name`; KillSwitchError `unknown_kind` otherwise."""
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise KillSwitchError(
            "unknown_kind",
            f"no kill switch kind {name!r}; known: {', '.join(BY_NAME)}",
            kind=name,
        ) from None


def strategy_key(tenant_id: str, strategy: str) -> str:
    """Scope key of a strategy switch: "<tenant>/<strategy>"."""
    for what, value in (("tenant_id", tenant_id), ("strategy", strategy)):
        if not isinstance(value, str) or not value or "/" in value:
            raise KillSwitchError(
                "bad_scope", f"{what} must be a non-empty name without '/', got {value!r}"
            )
    return f"{tenant_id}/{strategy}"


def switch_key(kind_name: str, scope_key: str) -> str:
    return f"{kind_name}:{scope_key}"


def validate_scope(kind_name: str, scope_key: str, tenant_id: str | None) -> SwitchKind:
    """Check that `scope_key` (and `tenant_id`) fit the kind's scope; returns the kind.

    Tenant-scoped kinds need the tenant named explicitly and consistent with the key (a strategy
    key must start with "<tenant>/"); the others must not name a tenant (their row is global and
    every tenant sees it).
    """
    spec = kind(kind_name)
    if not isinstance(scope_key, str) or not scope_key.strip() or scope_key != scope_key.strip():
        raise KillSwitchError(
            "bad_scope", f"{spec.name}: scope key must be a non-empty name, got {scope_key!r}"
        )
    if len(switch_key(spec.name, scope_key)) > MAX_SWITCH_KEY:
        raise KillSwitchError(
            "bad_scope", f"{spec.name}: scope key {scope_key[:40]!r}... is too long"
        )
    if spec.tenant_scoped:
        if not tenant_id:
            raise KillSwitchError(
                "missing_tenant", f"{spec.name} is tenant-scoped: name the tenant", kind=spec.name
            )
        if spec.scope == "tenant" and scope_key != tenant_id:
            raise KillSwitchError(
                "bad_scope",
                f"{spec.name}: scope key {scope_key!r} is not the tenant {tenant_id!r}",
            )
        if spec.scope == "strategy":
            owner, _, strategy = scope_key.partition("/")
            if owner != tenant_id or not strategy or "/" in strategy:
                raise KillSwitchError(
                    "bad_scope",
                    f"{spec.name}: scope key {scope_key!r} is not '{tenant_id}/<strategy>'",
                )
    else:
        if tenant_id is not None:
            raise KillSwitchError(
                "bad_scope",
                f"{spec.name} is {spec.scope}-scoped, global to tenants; got tenant {tenant_id!r}",
            )
        if spec.scope == "global" and scope_key != GLOBAL_KEY:
            raise KillSwitchError(
                "bad_scope", f"{spec.name}: the only scope key is {GLOBAL_KEY!r}, got {scope_key!r}"
            )
    return spec


@dataclass(frozen=True)
class PlatformLimits:
    """Thresholds of the switches that are not per tenant (symbol, broker, exchange, feed, model,
    dry-run). Per-tenant thresholds live in RiskPolicy so a tenant can see and change them."""

    stale_after: timedelta = timedelta(seconds=60)  # seed §8 switch 7
    model_staleness_multiple: float = 2.0  # seed §8 switch 8
    # ATM implied vol, in vol points (0.05 = 5 points): a move this large inside 15 minutes is far
    # outside NIFTY's ordinary intraday range and marks a shock the quotes may not have absorbed.
    iv_move: float = 0.05
    iv_window: timedelta = timedelta(minutes=15)
    broker_consecutive_failures: int = 3
    broker_error_rate: float = 0.5
    broker_window: timedelta = timedelta(minutes=5)
    broker_min_probes: int = 10  # an error rate from fewer probes is noise
    # Market-wide index circuit breakers (SEBI, 2013: NIFTY 50 or Sensex, whichever moves first),
    # as fractions of the previous close. Unchanged since 2013; a change is a new circular.
    market_wide_levels: tuple[float, ...] = (0.10, 0.15, 0.20)
    correlation_lookback_days: int = 60  # seed §8 wall 5: covariance over 60 days of returns
    correlation_min_days: int = 20  # fewer rows: the covariance is not worth a verdict
    dry_run_days: int = PAPER_ONLY_DAYS  # seed §8 switch 11, the database's rule

    def __post_init__(self) -> None:
        for name in ("stale_after", "iv_window", "broker_window"):
            if not getattr(self, name) > timedelta(0):
                raise KillSwitchError("bad_limits", f"{name} must be a positive duration")
        for name in ("model_staleness_multiple", "iv_move"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise KillSwitchError("bad_limits", f"{name} must be > 0, got {value!r}")
        if not 0.0 < self.broker_error_rate <= 1.0:
            raise KillSwitchError("bad_limits", "broker_error_rate must be in (0, 1]")
        levels = self.market_wide_levels
        if not levels or list(levels) != sorted(levels) or not all(0 < x < 1 for x in levels):
            raise KillSwitchError("bad_limits", f"market_wide_levels must rise in (0, 1): {levels}")
        for name in (
            "broker_consecutive_failures",
            "broker_min_probes",
            "correlation_lookback_days",
            "dry_run_days",
        ):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise KillSwitchError("bad_limits", f"{name} must be an integer >= 1")
        if not 2 <= self.correlation_min_days <= self.correlation_lookback_days:
            raise KillSwitchError(
                "bad_limits", "correlation_min_days must be in [2, correlation_lookback_days]"
            )


def thresholds(
    kind_name: str, policy: RiskPolicy | None = None, limits: PlatformLimits | None = None
) -> dict[str, Any]:
    """The numbers a kind compares against: its RiskPolicy field (from `policy`, the tenant's,
    or the default policy) and its PlatformLimits fields. The master switch has none."""
    spec = kind(kind_name)
    policy = policy or RiskPolicy()
    limits = limits or PlatformLimits()
    found = {name: getattr(limits, name) for name in spec.limit_fields}
    if spec.policy_field is not None:
        found[spec.policy_field] = getattr(policy, spec.policy_field)
    return found
