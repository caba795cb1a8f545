"""Payoff, risk numbers, Greeks and margin of a structure on one snapshot.

Single-expiry structures pay a piecewise-linear function of the index at expiry, with kinks only
at the strikes. So everything is exact from a handful of numbers: the P&L at 0 and at each strike,
and the slopes beyond the outermost strikes (`LegBook.tail_slopes`):
- max profit is unbounded iff the right slope is positive, else the best knot value;
- max loss is unbounded iff the right slope is negative OR the left slope is positive (the P&L
  keeps falling as the index falls). A loss that only stops at an index of zero (a naked short
  put, a long future) is treated as unbounded on purpose: no risk limit should be sized against
  the index going to zero, brokers label such positions "unlimited risk", and the tail-hedge wall
  must see them as naked. Profit on the way down is still capped at the index-at-zero value;
- breakevens are the exact roots of the linear pieces.

Calendars (legs on two expiries) are measured at the NEAR expiry, with later legs valued by
Black-76 at their own iv and remaining time; that P&L is smooth, so max profit/loss and the
breakevens come from a dense grid and `approximate` is True. Boundedness is still decided from
the tail slopes, where a later-expiry option behaves like its intrinsic value.

`value_today` is the position's Black-76 mark at each leg's iv (long positive); at entry it is
about -net_premium, so value_today + net_premium is the mark-to-model P&L. A future is marked
futures-style, F - entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from quantsentinel.market.surface import DEFAULT_RATE
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.structures.margin import MarginEstimate, margin_for
from quantsentinel.risk.structures.structure import Structure
from quantsentinel.risk.structures.valuation import (
    LegBook,
    PositionGreeks,
    horizon,
    leg_book,
    marks,
    position_greeks,
    position_value,
    terminal_pnl,
)

_DENSE_POINTS = 4001  # calendar grid over +-50% of the forward
_TAIL_POINTS = 200  # plus a geometric sweep from 5% to 5x for the tails


@dataclass(frozen=True, eq=False)
class StructureAnalysis:
    """Rupees throughout. max_profit / max_loss are >= 0 and `math.inf` when unbounded."""

    structure: Structure
    payoff_expiry: date  # where the payoff is measured (the nearest expiry)
    net_premium: float  # + = credit received
    max_profit: float
    max_loss: float
    breakevens: tuple[float, ...]
    approximate: bool  # True when max/min/breakevens come from a grid (calendars)
    grid: np.ndarray  # index prices at payoff_expiry, ascending
    pnl: np.ndarray  # P&L net of premium at each grid price
    value_today: float
    greeks: PositionGreeks
    margin: MarginEstimate

    @property
    def bounded(self) -> bool:
        """Whether the worst case is a finite number of rupees."""
        return math.isfinite(self.max_loss)

    def payoff_points(self) -> list[tuple[float, float]]:
        """(index price, P&L) pairs for a chart; every kink and breakeven is a point."""
        return [(float(x), float(y)) for x, y in zip(self.grid, self.pnl, strict=True)]


def analyse(structure: Structure, chain: ChainView, *, grid_points: int = 401) -> StructureAnalysis:
    """Everything the castle asks about one structure (or composite) on `chain`'s snapshot."""
    if not isinstance(grid_points, int) or isinstance(grid_points, bool) or grid_points < 3:
        raise RiskInputError("bad_input", f"grid_points must be an integer >= 3, got {grid_points}")
    book = leg_book(structure.all_legs)
    m = marks(book, chain)
    h = horizon(book, chain, marked=m)
    left, right = book.tail_slopes()
    strikes = np.unique(book.strike[~book.is_future])
    if not h.has_later_legs:
        knots = np.union1d([0.0], strikes)
        values = terminal_pnl(book, knots, h)
        breakevens = _linear_roots(knots, values, right)
    else:
        reference = float(m.forward[np.argmin(m.T)])
        knots = np.union1d(
            np.union1d(
                np.linspace(0.5 * reference, 1.5 * reference, _DENSE_POINTS),
                np.geomspace(0.05 * reference, 5.0 * reference, _TAIL_POINTS),
            ),
            strikes,
        )
        values = terminal_pnl(book, knots, h)
        breakevens = _grid_roots(knots, values)
    max_profit = math.inf if right > 0 else max(float(values.max()), 0.0)
    max_loss = math.inf if (right < 0 or left > 0) else max(-float(values.min()), 0.0)

    grid = _chart_grid(chain.spot, strikes, breakevens, grid_points)
    return StructureAnalysis(
        structure=structure,
        payoff_expiry=book.near_expiry,
        net_premium=book.net_premium,
        max_profit=max_profit,
        max_loss=max_loss,
        breakevens=breakevens,
        approximate=h.has_later_legs,
        grid=grid,
        pnl=terminal_pnl(book, grid, h),
        value_today=float(position_value(book, m)[0]),
        greeks=position_greeks(book, m),
        margin=margin_for(book, m, chain),
    )


def _linear_roots(knots: np.ndarray, values: np.ndarray, right_slope: float) -> tuple[float, ...]:
    """Exact zeros of the piecewise-linear P&L through (knots, values), right tail included."""
    tol = 1e-9 * max(1.0, float(np.abs(values).max()))
    zero = np.abs(values) <= tol
    roots = list(knots[zero & (knots > 0)])
    a, b = values[:-1], values[1:]
    cross = (a * b < 0) & ~zero[:-1] & ~zero[1:]
    x0, x1 = knots[:-1][cross], knots[1:][cross]
    roots.extend(x0 + (x1 - x0) * a[cross] / (a[cross] - b[cross]))
    last = values[-1]
    if right_slope != 0 and not zero[-1] and last * right_slope < 0:
        roots.append(knots[-1] - last / right_slope)
    return tuple(sorted(float(r) for r in roots))


def _grid_roots(x: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """Sign changes of a sampled P&L, located by linear interpolation (calendar breakevens)."""
    a, b = y[:-1], y[1:]
    cross = (a * b < 0) | ((a == 0) & (b != 0))
    x0, x1 = x[:-1][cross], x[1:][cross]
    return tuple(float(r) for r in x0 + (x1 - x0) * a[cross] / (a[cross] - b[cross]))


def _chart_grid(
    spot: float, strikes: np.ndarray, breakevens: tuple[float, ...], points: int
) -> np.ndarray:
    """Even prices spanning spot, strikes and breakevens with a margin, plus those kinks."""
    marks_ = np.concatenate([[spot], strikes, breakevens])
    lo, hi = float(marks_.min()), float(marks_.max())
    pad = max(0.05 * spot, 0.25 * (hi - lo))
    lo, hi = max(lo - pad, 0.0), hi + pad
    grid = np.linspace(lo, hi, points)
    extra = marks_[(marks_ >= lo) & (marks_ <= hi)]
    return np.union1d(grid, extra)


def _prices(terminal_prices: np.ndarray | list[float] | float) -> np.ndarray:
    prices = np.asarray(terminal_prices, dtype=float)
    if prices.size == 0 or not np.isfinite(prices).all() or (prices < 0).any():
        raise RiskInputError(
            "bad_prices", "terminal prices must be a non-empty array of finite prices >= 0"
        )
    return prices


def _book_horizon(structure: Structure, chain: ChainView | None, rate: float):
    book: LegBook = leg_book(structure.all_legs)
    return book, horizon(book, chain, rate)


def expiry_pnl(
    structure: Structure,
    terminal_prices: np.ndarray | list[float] | float,
    *,
    chain: ChainView | None = None,
    rate: float = DEFAULT_RATE,
) -> np.ndarray:
    """P&L in rupees, net of premium, at the nearest expiry for each terminal index price.

    Same shape as `terminal_prices`. Later-expiry legs (calendars) are valued by Black-76 at
    their quote iv; with `chain`, on its forwards and rate, else carried at `rate`.
    """
    prices = _prices(terminal_prices)
    book, h = _book_horizon(structure, chain, rate)
    return terminal_pnl(book, prices, h)


def expected_outcome(
    structure: Structure,
    terminal_prices: np.ndarray | list[float],
    weights: np.ndarray | list[float] | None = None,
    *,
    chain: ChainView | None = None,
    rate: float = DEFAULT_RATE,
) -> tuple[float, float]:
    """(expected P&L in rupees, probability P&L > 0) under a forecast of the terminal price.

    `terminal_prices` are samples (weights None: equally likely) or grid points with `weights`
    (any non-negative scale, e.g. a density times the grid spacing; normalised here).
    """
    prices = _prices(terminal_prices)
    if weights is None:
        w = np.full(prices.shape, 1.0)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != prices.shape:
            raise RiskInputError(
                "bad_weights", f"weights shape {w.shape} != terminal prices shape {prices.shape}"
            )
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise RiskInputError("bad_weights", "weights must be finite, >= 0 and not all zero")
    book, h = _book_horizon(structure, chain, rate)
    pnl = terminal_pnl(book, prices, h)
    total = float(w.sum())
    return float((w * pnl).sum() / total), float(w[pnl > 0].sum() / total)
