"""Triggers of the switches that are global to tenants: symbol anomaly, broker outage, exchange
halt, stale data and model staleness. Same contract as `triggers` (a `read_*` Reading, a public
Trip-or-None); the rows they trip carry no tenant, and every tenant's decisions see them.
"""

from __future__ import annotations

from datetime import datetime

from quantsentinel.risk.kill_switches import definitions as d
from quantsentinel.risk.kill_switches.observations import (
    BrokerState,
    ExchangeState,
    ModelState,
    SymbolState,
)
from quantsentinel.risk.kill_switches.triggers import Reading, Trip, trip_or_none

# --- global to tenants ----------------------------------------------------------------------------


def read_symbol_anomaly(symbol: SymbolState, now: datetime, limits: d.PlatformLimits) -> Reading:
    window = [iv for at, iv in symbol.atm_iv if now - limits.iv_window <= at <= now]
    # The range of ATM IV inside the window: a spike that already half-reverted is still a shock.
    iv_range = (max(window) - min(window)) if len(window) >= 2 else 0.0
    spot_move = abs(symbol.spot - symbol.previous_close) / symbol.previous_close
    causes = []
    if iv_range > limits.iv_move:
        causes.append(
            f"ATM IV moved {iv_range * 100:.2f} vol points within "
            f"{limits.iv_window.total_seconds() / 60:.0f} min (limit {limits.iv_move * 100:.2f})"
        )
    if symbol.circuit_band is not None and spot_move >= symbol.circuit_band:
        causes.append(
            f"spot moved {spot_move:.2%} from the previous close, reaching its "
            f"{symbol.circuit_band:.0%} circuit band"
        )
    if symbol.circuit_event:
        causes.append("the exchange reported a circuit event")
    return Reading(
        d.SYMBOL_ANOMALY,
        symbol.symbol,
        None,
        bool(causes),
        f"{symbol.symbol}: " + ("; ".join(causes) if causes else "no anomaly"),
        {
            "iv_range": iv_range,
            "iv_move_limit": limits.iv_move,
            "iv_points_in_window": len(window),
            "spot": symbol.spot,
            "previous_close": symbol.previous_close,
            "spot_move": spot_move,
            "circuit_band": symbol.circuit_band,
            "circuit_event": symbol.circuit_event,
        },
    )


def symbol_anomaly(symbol: SymbolState, now: datetime, limits: d.PlatformLimits) -> Trip | None:
    """Switch 3: |ATM IV change| within iv_window beyond iv_move, |spot move| reaching the
    symbol's circuit band, or the exchange's circuit flag."""
    return trip_or_none(read_symbol_anomaly(symbol, now, limits))


def read_broker_outage(
    broker: BrokerState, now: datetime, limits: d.PlatformLimits
) -> Reading | None:
    if not broker.probes:
        return None  # never probed: nothing says it is up or down
    consecutive = 0
    for _, ok in reversed(broker.probes):
        if ok:
            break
        consecutive += 1
    recent = [ok for at, ok in broker.probes if now - limits.broker_window <= at <= now]
    failures = sum(1 for ok in recent if not ok)
    error_rate = failures / len(recent) if len(recent) >= limits.broker_min_probes else None
    causes = []
    if consecutive >= limits.broker_consecutive_failures:
        causes.append(f"{consecutive} consecutive failed probes")
    if error_rate is not None and error_rate > limits.broker_error_rate:
        causes.append(
            f"error rate {error_rate:.0%} over {len(recent)} probes in "
            f"{limits.broker_window.total_seconds() / 60:.0f} min "
            f"(limit {limits.broker_error_rate:.0%})"
        )
    return Reading(
        d.BROKER_OUTAGE,
        broker.broker,
        None,
        bool(causes),
        f"broker {broker.broker}: " + ("; ".join(causes) if causes else "probes healthy"),
        {
            "consecutive_failures": consecutive,
            "consecutive_limit": limits.broker_consecutive_failures,
            "probes_in_window": len(recent),
            "failures_in_window": failures,
            "error_rate": error_rate,
            "error_rate_limit": limits.broker_error_rate,
        },
    )


def broker_outage(broker: BrokerState, now: datetime, limits: d.PlatformLimits) -> Trip | None:
    """Switch 4: broker_consecutive_failures failed probes in a row, or an error rate above
    broker_error_rate over broker_window (given at least broker_min_probes probes)."""
    return trip_or_none(read_broker_outage(broker, now, limits))


def read_exchange_halt(exchange: ExchangeState, limits: d.PlatformLimits) -> Reading:
    move = (exchange.index_level - exchange.previous_close) / exchange.previous_close
    reached = [level for level in limits.market_wide_levels if abs(move) >= level]
    level = max(reached) if reached else None
    causes = []
    if level is not None:
        causes.append(
            f"{exchange.index} moved {move:+.2%} from the previous close: market-wide circuit "
            f"breaker at {level:.0%}"
        )
    if exchange.halted:
        causes.append("the exchange reports trading halted")
    return Reading(
        d.EXCHANGE_HALT,
        exchange.exchange,
        None,
        bool(causes),
        f"{exchange.exchange}: " + ("; ".join(causes) if causes else "trading normally"),
        {
            "index": exchange.index,
            "index_level": exchange.index_level,
            "previous_close": exchange.previous_close,
            "index_move": move,
            "level_reached": level,
            "halted_flag": exchange.halted,
        },
    )


def exchange_halt(exchange: ExchangeState, limits: d.PlatformLimits) -> Trip | None:
    """Switch 5: the index moved by a market-wide circuit-breaker level from the previous close
    (|move| reaching 10%, 15% or 20%), or the exchange's status flag says halted."""
    return trip_or_none(read_exchange_halt(exchange, limits))


def read_stale_data(
    feed: str, last_received: datetime | None, now: datetime, limits: d.PlatformLimits
) -> Reading:
    age = None if last_received is None else (now - last_received).total_seconds()
    breached = age is None or age > limits.stale_after.total_seconds()
    if age is None:
        reason = f"feed {feed} has never delivered"
    else:
        reason = (
            f"feed {feed} last delivered {age:.1f} s ago "
            f"({'more than' if breached else 'within'} {limits.stale_after.total_seconds():.0f} s)"
        )
    return Reading(
        d.STALE_DATA,
        feed,
        None,
        breached,
        reason,
        {
            "age_s": age,
            "stale_after_s": limits.stale_after.total_seconds(),
            "last_received": last_received,
        },
    )


def stale_data(
    feed: str, last_received: datetime | None, now: datetime, limits: d.PlatformLimits
) -> Trip | None:
    """Switch 7: now - last received is more than stale_after; a feed never received is stale."""
    return trip_or_none(read_stale_data(feed, last_received, now, limits))


def read_model_staleness(model: ModelState, now: datetime, limits: d.PlatformLimits) -> Reading:
    allowed = model.cadence * limits.model_staleness_multiple
    age = None if model.last_trained is None else now - model.last_trained
    breached = age is None or age > allowed
    if age is None:
        reason = f"model {model.name} has never been trained"
    else:
        reason = (
            f"model {model.name} last retrained {age.total_seconds() / 3600:.1f} h ago, "
            f"{'more than' if breached else 'within'} {limits.model_staleness_multiple:g}x its "
            f"cadence ({allowed.total_seconds() / 3600:.1f} h)"
        )
    return Reading(
        d.MODEL_STALENESS,
        model.name,
        None,
        breached,
        reason,
        {
            "age_h": None if age is None else age.total_seconds() / 3600,
            "cadence_h": model.cadence.total_seconds() / 3600,
            "allowed_h": allowed.total_seconds() / 3600,
            "last_trained": model.last_trained,
        },
    )


def model_staleness(model: ModelState, now: datetime, limits: d.PlatformLimits) -> Trip | None:
    """Switch 8: now - last retrain is more than model_staleness_multiple x cadence; a model
    never trained is stale."""
    return trip_or_none(read_model_staleness(model, now, limits))
