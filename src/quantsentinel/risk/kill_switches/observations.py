"""What one sweep sees: plain values, validated on construction so a trigger never reasons about
a NaN capital or a naive timestamp.

Each observation says only what was measured. Something not observed (a tenant absent from the
sweep, a broker never probed, a book whose history is too short) is not evaluated: its switch
keeps whatever state it had. A feed or a model that is named but has no timestamp is different:
it is expected and missing, which is exactly what the stale-data and model-staleness switches
exist to catch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from quantsentinel.risk.kill_switches.definitions import KillSwitchError, strategy_key


def _aware(value: datetime | None, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise KillSwitchError("naive_time", f"{what} must be a timezone-aware datetime: {value!r}")


def _finite(value: float, what: str, *, minimum: float | None = None) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise KillSwitchError(
            "bad_observation", f"{what} must be a finite number{bound}: {value!r}"
        )


def _name(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise KillSwitchError("bad_observation", f"{what} must be a non-empty name: {value!r}")


@dataclass(frozen=True)
class BookState:
    """A tenant's open positions for the correlation-cluster switch.

    `exposures[i]` is position i's signed rupee exposure (delta-equivalent notional: its P&L is
    about exposures[i] x the return of instrument i); `returns[:, i]` is instrument i's daily
    return history, oldest row first. An empty book has no exposures and no columns.
    """

    exposures: Sequence[float]
    returns: np.ndarray

    def __post_init__(self) -> None:
        exposures = np.asarray(self.exposures, dtype=float).reshape(-1)
        returns = np.asarray(self.returns, dtype=float)
        if returns.ndim != 2 or returns.shape[1] != exposures.size:
            raise KillSwitchError(
                "bad_observation",
                f"book returns must be (days, {exposures.size}) for {exposures.size} exposures, "
                f"got shape {returns.shape}",
            )
        if not (np.all(np.isfinite(exposures)) and np.all(np.isfinite(returns))):
            raise KillSwitchError("bad_observation", "book exposures and returns must be finite")
        object.__setattr__(self, "exposures", exposures)
        object.__setattr__(self, "returns", returns)


@dataclass(frozen=True)
class TenantState:
    """One tenant at sweep time.

    `capital` is the start-of-day capital the loss limits are fractions of. `available_capital` is
    what the account has now to back positions (the broker's figure when it reports one;
    otherwise capital + today's realised and unrealised P&L). `strategy_pnl` maps a strategy to
    its live per-period P&L in rupees since it went live or was last reset, oldest first.
    """

    tenant_id: str
    capital: float
    created_at: datetime
    realised_pnl: float = 0.0
    unrealised_pnl: float = 0.0
    available_capital: float | None = None
    margin_used: float = 0.0
    strategy_pnl: Mapping[str, Sequence[float]] = field(default_factory=dict)
    book: BookState | None = None

    def __post_init__(self) -> None:
        _name(self.tenant_id, "tenant_id")
        _finite(self.capital, f"{self.tenant_id} capital", minimum=0.0)
        _aware(self.created_at, f"{self.tenant_id} created_at")
        _finite(self.realised_pnl, f"{self.tenant_id} realised_pnl")
        _finite(self.unrealised_pnl, f"{self.tenant_id} unrealised_pnl")
        _finite(self.margin_used, f"{self.tenant_id} margin_used", minimum=0.0)
        if self.available_capital is not None:
            _finite(self.available_capital, f"{self.tenant_id} available_capital")
        for strategy, pnl in self.strategy_pnl.items():
            strategy_key(self.tenant_id, strategy)  # a name that can key its switch
            values = np.asarray(pnl, dtype=float)
            if values.ndim != 1 or not np.all(np.isfinite(values)):
                raise KillSwitchError(
                    "bad_observation",
                    f"{self.tenant_id}/{strategy} P&L must be a 1-d series of finite rupees",
                )

    @property
    def equity(self) -> float:
        """Capital now: the reported available capital, else capital plus today's P&L."""
        if self.available_capital is not None:
            return float(self.available_capital)
        return self.capital + self.realised_pnl + self.unrealised_pnl


@dataclass(frozen=True)
class ModelState:
    """A model decisions may use: its expected retrain cadence and when it last retrained."""

    name: str
    cadence: timedelta
    last_trained: datetime | None

    def __post_init__(self) -> None:
        _name(self.name, "model name")
        if not (isinstance(self.cadence, timedelta) and self.cadence > timedelta(0)):
            raise KillSwitchError(
                "bad_observation", f"model {self.name} cadence must be > 0: {self.cadence!r}"
            )
        _aware(self.last_trained, f"model {self.name} last_trained")


@dataclass(frozen=True)
class SymbolState:
    """One underlying: spot vs previous close, its ATM implied vol series (time, iv as a
    fraction), its circuit band (fraction of previous close; None where the symbol has none, as
    for the indices, which the market-wide breaker covers) and the exchange's circuit flag."""

    symbol: str
    spot: float
    previous_close: float
    atm_iv: Sequence[tuple[datetime, float]] = ()
    circuit_band: float | None = None
    circuit_event: bool = False

    def __post_init__(self) -> None:
        _name(self.symbol, "symbol")
        for what in ("spot", "previous_close"):
            _finite(getattr(self, what), f"{self.symbol} {what}", minimum=0.0)
            if getattr(self, what) <= 0:
                raise KillSwitchError("bad_observation", f"{self.symbol} {what} must be > 0")
        if self.circuit_band is not None and not 0 < self.circuit_band < 1:
            raise KillSwitchError(
                "bad_observation", f"{self.symbol} circuit_band must be in (0, 1)"
            )
        for at, iv in self.atm_iv:
            _aware(at, f"{self.symbol} ATM IV time")
            _finite(iv, f"{self.symbol} ATM IV", minimum=0.0)


@dataclass(frozen=True)
class BrokerState:
    """Health probes of one broker: (time, succeeded), any order."""

    broker: str
    probes: Sequence[tuple[datetime, bool]]

    def __post_init__(self) -> None:
        _name(self.broker, "broker")
        for at, ok in self.probes:
            _aware(at, f"broker {self.broker} probe time")
            if not isinstance(ok, bool | np.bool_):
                raise KillSwitchError("bad_observation", f"probe result must be a bool: {ok!r}")
        object.__setattr__(self, "probes", tuple(sorted(self.probes, key=lambda p: p[0])))


@dataclass(frozen=True)
class ExchangeState:
    """An exchange: its benchmark index now and at the previous close, and its own status flag
    (`halted`: the exchange reports trading halted or is unreachable)."""

    exchange: str
    index_level: float
    previous_close: float
    halted: bool = False
    index: str = "NIFTY 50"

    def __post_init__(self) -> None:
        _name(self.exchange, "exchange")
        for what in ("index_level", "previous_close"):
            _finite(getattr(self, what), f"{self.exchange} {what}", minimum=0.0)
            if getattr(self, what) <= 0:
                raise KillSwitchError("bad_observation", f"{self.exchange} {what} must be > 0")


@dataclass(frozen=True)
class Observations:
    """Everything one sweep sees at `now`. `feeds` maps a feed (an underlying, or '*' for the
    platform-wide market feed) to when it last delivered, None if never."""

    now: datetime
    tenants: Sequence[TenantState] = ()
    feeds: Mapping[str, datetime | None] = field(default_factory=dict)
    models: Sequence[ModelState] = ()
    symbols: Sequence[SymbolState] = ()
    brokers: Sequence[BrokerState] = ()
    exchanges: Sequence[ExchangeState] = ()

    def __post_init__(self) -> None:
        _aware(self.now, "observations.now")
        for feed, last in self.feeds.items():
            _name(feed, "feed")
            _aware(last, f"feed {feed} last received")
        for what, items, key in (
            ("tenant", self.tenants, "tenant_id"),
            ("model", self.models, "name"),
            ("symbol", self.symbols, "symbol"),
            ("broker", self.brokers, "broker"),
            ("exchange", self.exchanges, "exchange"),
        ):
            names = [getattr(item, key) for item in items]
            if len(names) != len(set(names)):
                raise KillSwitchError(
                    "bad_observation", f"a {what} appears twice in one sweep: {sorted(names)}"
                )
