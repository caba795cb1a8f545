"""What the castle reads (candidate, market, tenant book) and what it answers (Block, Verdict)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantsentinel.risk.errors import RiskInputError

if TYPE_CHECKING:
    from quantsentinel.risk.structures.builders import Structure
    from quantsentinel.risk.structures.chain import ChainView
    from quantsentinel.risk.tenancy.store import Tenant


@dataclass(frozen=True)
class Block:
    """A wall's refusal: which wall, why in words, and the numbers behind it."""

    wall: str
    reason: str
    numbers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outlook:
    """A forecast distribution of the underlying at the structure's (near) expiry: price points
    and their probabilities (weights sum to one), e.g. the vol forecast's lognormal or an implied
    density re-centred on a directional view. Expected P&L and win probability of the structure
    actually evaluated (the hedged composite included) come from here."""

    prices: np.ndarray
    weights: np.ndarray
    source: str = "forecast"

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices, dtype=float)
        weights = np.asarray(self.weights, dtype=float)
        if prices.shape != weights.shape or prices.ndim != 1 or prices.size < 2:
            raise ValueError("outlook prices and weights must be 1-d arrays of the same length")
        if not (np.all(np.isfinite(prices)) and np.all(prices > 0) and np.all(weights >= 0)):
            raise ValueError("outlook prices must be positive and weights non-negative")
        total = weights.sum()
        if not np.isfinite(total) or abs(total - 1.0) > 1e-6:
            raise ValueError(f"outlook weights must sum to 1, got {total}")


@dataclass(frozen=True)
class Candidate:
    """One proposed trade for one tenant, before any tail hedge.

    `edge_per_lot` and `win_probability` are the alpha engine's gross view for one unit of the
    structure; when an `outlook` is given the castle recomputes both for the structure it actually
    evaluates (a hedge costs premium and changes both).
    """

    tenant_id: str
    strategy: str
    structure: Structure
    decided_at: datetime
    edge_per_lot: float = 0.0
    win_probability: float = 0.0
    outlook: Outlook | None = None
    models: tuple[str, ...] = ()  # model types whose answers produced it (kill switch 8)
    broker: str | None = None
    live: bool = False  # a live (not paper) execution request: the dry-run lock applies


@dataclass(frozen=True)
class Position:
    """An open position in a tenant's book, as the walls need it."""

    position_id: str
    underlying: str
    strategy: str
    margin: float  # rupees blocked
    max_loss: float  # rupees (math.inf when unbounded)
    delta_notional: float  # rupees of underlying exposure: delta (units) x spot, signed

    def __post_init__(self) -> None:
        # A NaN here would make every comparison False and let a wall pass: refuse it by name.
        for name in ("margin", "delta_notional"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise RiskInputError(
                    "bad_book", f"position {self.position_id}: {name} must be finite, got {value!r}"
                )
        if self.margin < 0 or not (self.max_loss >= 0):
            raise RiskInputError(
                "bad_book",
                f"position {self.position_id}: margin and max_loss must be >= 0 "
                f"(got {self.margin!r}, {self.max_loss!r})",
            )


@dataclass(frozen=True)
class Book:
    positions: tuple[Position, ...] = ()

    @property
    def margin_used(self) -> float:
        return float(sum(p.margin for p in self.positions))

    def exposure_by_underlying(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.positions:
            out[p.underlying] = out.get(p.underlying, 0.0) + p.delta_notional
        return out


@dataclass(frozen=True)
class NewsItem:
    """A news event as the castle sees it (market/schema.py NEWS_COLUMNS, without ground truth)."""

    event_id: str
    ts: pd.Timestamp  # UTC publication or scheduled release time
    kind: str  # RBI_POLICY | UNION_BUDGET | CPI | FED | SURPRISE
    scheduled: bool
    scope: str  # MARKET or a stock symbol


@dataclass
class MarketContext:
    """Shared market state for one snapshot: built once, read by every tenant's candidates."""

    chain: ChainView
    regime: str
    news: tuple[NewsItem, ...] = ()
    covariance: pd.DataFrame | None = None  # daily return covariance, 60 days, by underlying
    # Structure analyses on this chain, shared by every candidate of the snapshot: tenants who
    # drew the same arm at the same size are analysed once (see Assessment.analysis).
    analyses: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        from quantsentinel.risk.castle.regime import REGIMES

        if self.regime not in REGIMES:
            raise RiskInputError(
                "bad_market", f"regime {self.regime!r} is not one of {', '.join(REGIMES)}"
            )
        for event in self.news:
            if not isinstance(event.ts, pd.Timestamp) or event.ts.tz is None:
                raise RiskInputError(
                    "bad_market", f"news {event.event_id}: ts must be a tz-aware Timestamp"
                )
        if self.covariance is not None:
            values = self.covariance.to_numpy(dtype=float)
            square = values.ndim == 2 and values.shape[0] == values.shape[1]
            if not (square and list(self.covariance.index) == list(self.covariance.columns)):
                raise RiskInputError("bad_market", "covariance must be square, rows = columns")
            if not np.all(np.isfinite(values)):
                raise RiskInputError("bad_market", "covariance has non-finite entries")

    @cached_property
    def covariance_lookup(self) -> tuple[dict[str, int], np.ndarray]:
        """(position of each underlying, the matrix as an array): indexed once per snapshot, not
        by pandas label lookups once per candidate (those dominated the castle's time)."""
        if self.covariance is None:
            return {}, np.zeros((0, 0))
        names = [str(n) for n in self.covariance.index]
        return {n: i for i, n in enumerate(names)}, self.covariance.loc[names, names].to_numpy()


@dataclass(frozen=True)
class Verdict:
    """The castle's answer. `blocked_by` is a wall name, 'kill_switch', or 'input'."""

    tenant_id: str
    approved: bool
    blocked_by: str | None
    reason: str
    numbers: Mapping[str, Any]
    walls_passed: tuple[str, ...]
    structure: Structure | None = None  # what was evaluated (the hedged composite when required)
    details: Mapping[str, Any] = field(default_factory=dict)  # analysis, costs, hedge, score

    @property
    def label(self) -> str:
        return "approved" if self.approved else f"blocked by {self.blocked_by}: {self.reason}"


@dataclass(frozen=True)
class TenantContext:
    tenant: Tenant
    book: Book = Book()
