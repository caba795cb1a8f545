"""A structure's legs as columns, and the vectorised valuations payoff, margin and hedge share.

Scoring thousands of candidates per snapshot is only cheap if no function loops over legs and
prices in Python. `LegBook` turns legs into arrays once (signed units, strikes, types, entry
prices); `Marks` adds the snapshot's market per leg (forward, time, vol); then

- `position_value` revalues the whole position under many (price, vol, time) scenarios in one
  Black-76 call: a (scenarios x legs) matrix;
- `terminal_pnl` gives P&L at the nearest expiry for any array of terminal prices: legs expiring
  then pay intrinsic value, later legs are Black-76 values at their own vol with the remaining
  time (the calendar case);
- `position_greeks` sums leg Greeks, signed by side and quantity.

Price moves are applied to every expiry's forward proportionally (F_e -> F_e * S'/S): the basis
between spot and each forward is held as a ratio, which is how a move in the index carries into
forwards when rates and dividend yields do not move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from quantsentinel.market.calendar import expiry_close, year_fraction
from quantsentinel.market.iv import implied_volatility
from quantsentinel.market.pricing import black76_greeks, black76_price
from quantsentinel.market.surface import DEFAULT_RATE
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import CALL, FUTURE, PUT, Leg
from quantsentinel.risk.structures.chain import ChainView

_CALENDAR_DAYS_PER_YEAR = 365.0  # theta is per calendar day, matching ACT/365 time


@dataclass(frozen=True, eq=False)
class LegBook:
    """Columns of a list of legs. `signed_qty` is units: + long, - short."""

    legs: tuple[Leg, ...]
    signed_qty: np.ndarray
    strike: np.ndarray  # a future's entry price stands in (never read as a strike)
    is_call: np.ndarray
    is_put: np.ndarray
    is_future: np.ndarray
    expiry: tuple[date, ...]
    entry: np.ndarray  # per-unit price the leg trades at (the quote's mid)

    @property
    def underlying(self) -> str:
        return self.legs[0].underlying

    @property
    def near_expiry(self) -> date:
        return min(self.expiry)

    @property
    def single_expiry(self) -> bool:
        return len(set(self.expiry)) == 1

    @property
    def net_premium(self) -> float:
        """Rupees received for the options (+ credit, - debit). Futures carry no premium."""
        options = ~self.is_future
        return float(-(self.signed_qty[options] * self.entry[options]).sum())

    def tail_slopes(self) -> tuple[float, float]:
        """(left, right): d(P&L)/dS below every strike and above every strike, units.

        Right of all strikes only calls and futures move; left of all strikes only puts (slope
        -1 per long unit) and futures. Later-expiry options count like expiring ones: at the tails
        their time value vanishes and they behave as their intrinsic value does.
        """
        right = float(self.signed_qty[self.is_call | self.is_future].sum())
        left = float(self.signed_qty[self.is_future].sum() - self.signed_qty[self.is_put].sum())
        return left, right


def leg_book(legs: tuple[Leg, ...] | list[Leg]) -> LegBook:
    """Validate and columnise legs (one underlying, known kinds, positive lots, a finite price)."""
    legs = tuple(legs)
    if not legs:
        raise OrderError("empty_order", "a structure needs at least one leg")
    for i, leg in enumerate(legs):
        if not isinstance(leg, Leg):
            raise OrderError("bad_input", f"leg {i} is a {type(leg).__name__}, not a Leg")
        if leg.kind not in (CALL, PUT, FUTURE):
            raise OrderError("bad_input", f"leg {i}: kind {leg.kind!r} is not CE, PE or FUT")
        if leg.lots <= 0 or leg.lot_size <= 0:
            raise OrderError("zero_lots", f"leg {i}: lots and lot size must be positive")
        if leg.kind != FUTURE and not (leg.strike is not None and leg.strike > 0):
            raise OrderError("bad_input", f"leg {i}: an option needs a positive strike")
        if not math.isfinite(leg.price):
            raise OrderError("missing_quote", f"leg {i}: {leg.label} has no finite price")
    underlyings = {leg.underlying for leg in legs}
    if len(underlyings) != 1:
        raise RiskInputError(
            "mixed_underlyings", f"a structure trades one underlying, got {sorted(underlyings)}"
        )
    kind = np.array([leg.kind for leg in legs])
    return LegBook(
        legs=legs,
        signed_qty=np.array([leg.sign * leg.quantity for leg in legs], dtype=float),
        # A positive stand-in keeps Black-76's log(F/K) finite for futures rows, which are then
        # overwritten by the futures formula.
        strike=np.array([leg.price if leg.strike is None else leg.strike for leg in legs]),
        is_call=kind == CALL,
        is_put=kind == PUT,
        is_future=kind == FUTURE,
        expiry=tuple(leg.expiry for leg in legs),
        entry=np.array([leg.price for leg in legs], dtype=float),
    )


@dataclass(frozen=True, eq=False)
class Marks:
    """The snapshot's market per leg: forward of its expiry, years to expiry, vol; and S, r."""

    forward: np.ndarray
    T: np.ndarray
    sigma: np.ndarray
    spot: float
    rate: float


def marks(book: LegBook, chain: ChainView) -> Marks:
    """Per-leg forward, time and vol from `chain`.

    Vol is the leg's own quote iv (what the leg was priced at); failing that, the vol implied by
    the leg's price; failing that (a price at or below intrinsic), zero, so the leg is valued at
    its discounted intrinsic value - the no-arbitrage floor its quote broke.
    """
    if book.underlying != chain.underlying:
        raise RiskInputError(
            "wrong_underlying",
            f"legs are on {book.underlying} but the chain is {chain.underlying}",
        )
    forward = np.array([chain.forward(e) for e in book.expiry])
    T = np.array([chain.time_to_expiry(e) for e in book.expiry])
    sigma = np.array(
        [leg.quote.iv if leg.quote.iv is not None else np.nan for leg in book.legs], dtype=float
    )
    sigma[book.is_future] = 0.0
    missing = ~np.isfinite(sigma) | (sigma < 0)
    if missing.any():
        solved = implied_volatility(
            book.entry[missing], forward[missing], book.strike[missing], T[missing],
            book.is_call[missing], chain.rate,
        ).iv  # fmt: skip
        sigma[missing] = np.where(np.isfinite(solved), solved, 0.0)
    return Marks(forward=forward, T=T, sigma=sigma, spot=chain.spot, rate=chain.rate)


def unit_values(
    book: LegBook, m: Marks, spot_factor: np.ndarray, vol_shift: np.ndarray, elapsed: float
) -> np.ndarray:
    """(scenarios x legs) per-unit values; a future is worth F - entry (futures-style)."""
    factor = np.asarray(spot_factor, float).reshape(-1, 1)
    shift = np.asarray(vol_shift, float).reshape(-1, 1)
    F = m.forward * factor
    T = np.maximum(m.T - elapsed, 0.0)
    sigma = np.maximum(m.sigma + shift, 0.0)
    value = black76_price(F, book.strike, T, sigma, book.is_call, m.rate)
    return np.where(book.is_future, F - book.entry, value)


def position_value(
    book: LegBook,
    m: Marks,
    *,
    spot_factor: float | np.ndarray = 1.0,
    vol_shift: float | np.ndarray = 0.0,
    elapsed_years: float = 0.0,
) -> np.ndarray:
    """Position value (rupees, long positive) per scenario; scenarios broadcast together."""
    factor, shift = np.broadcast_arrays(
        np.atleast_1d(np.asarray(spot_factor, float)), np.atleast_1d(np.asarray(vol_shift, float))
    )
    return unit_values(book, m, factor, shift, elapsed_years) @ book.signed_qty


@dataclass(frozen=True)
class PositionGreeks:
    """Greeks of the whole position, signed by side and quantity.

    delta: units of the underlying (dV/dS); gamma: units per index point; vega: rupees per 1 vol
    point (0.01); theta: rupees per calendar day (forwards held fixed).
    """

    delta: float
    gamma: float
    vega: float
    theta: float


def position_greeks(book: LegBook, m: Marks) -> PositionGreeks:
    g = black76_greeks(m.forward, book.strike, m.T, m.sigma, book.is_call, m.rate)
    # Black-76 Greeks are with respect to each expiry's forward; dF/dS = F/S under the
    # proportional move (see module docstring) turns them into spot Greeks.
    scale = m.forward / m.spot
    delta = np.where(book.is_future, 1.0, g.delta) * scale
    gamma = np.where(book.is_future, 0.0, g.gamma) * scale * scale
    vega = np.where(book.is_future, 0.0, g.vega) / 100.0
    theta = np.where(book.is_future, 0.0, g.theta) / _CALENDAR_DAYS_PER_YEAR
    q = book.signed_qty
    return PositionGreeks(
        delta=float(delta @ q), gamma=float(gamma @ q), vega=float(vega @ q), theta=float(theta @ q)
    )


@dataclass(frozen=True, eq=False)
class Horizon:
    """How legs expiring after the nearest expiry are valued at it (empty for one expiry).

    tau: years each leg has left at the near expiry's close; carry: its forward per unit of the
    index then (F_far / F_near); sigma: its vol; rate: discounting.
    """

    tau: np.ndarray
    carry: np.ndarray
    sigma: np.ndarray
    rate: float

    @property
    def has_later_legs(self) -> bool:
        return bool((self.tau > 0).any())


def horizon(
    book: LegBook,
    chain: ChainView | None = None,
    rate: float = DEFAULT_RATE,
    *,
    marked: Marks | None = None,
    near: date | None = None,
) -> Horizon:
    """The near-expiry horizon of `book`: from the chain when given, else carry at `rate`.

    Without a chain the forward grows at `rate` (no dividend yield) and a later leg must carry
    its own quote iv; with one, the chain's parity forwards and vols are used. `near` overrides
    the expiry the P&L is measured at (a hedge leg measured at the hedged structure's expiry).
    """
    near = book.near_expiry if near is None else near
    if near > book.near_expiry:
        raise RiskInputError(
            "bad_input", f"cannot measure legs expiring {book.near_expiry} at a later {near}"
        )
    n = len(book.legs)
    tau, carry, sigma = np.zeros(n), np.ones(n), np.zeros(n)
    later = [i for i, e in enumerate(book.expiry) if e > near]
    if not later:
        return Horizon(tau=tau, carry=carry, sigma=sigma, rate=rate)
    close = expiry_close(near)
    m = marked if marked is not None else (marks(book, chain) if chain is not None else None)
    if chain is not None:
        rate = chain.rate
    for i in later:
        e = book.expiry[i]
        tau[i] = float(year_fraction(close, e))
        if m is not None:
            carry[i] = m.forward[i] / chain.forward(near)  # type: ignore[union-attr]
            sigma[i] = m.sigma[i]
        else:
            carry[i] = math.exp(rate * tau[i])
            iv = book.legs[i].quote.iv
            if not book.is_future[i] and (iv is None or not math.isfinite(iv)):
                raise RiskInputError(
                    "missing_iv",
                    f"{book.legs[i].label} outlives the near expiry {near}; valuing it there "
                    "needs its quote iv or a chain",
                )
            sigma[i] = 0.0 if book.is_future[i] else float(iv)  # type: ignore[arg-type]
    return Horizon(tau=tau, carry=carry, sigma=sigma, rate=rate)


def terminal_unit_pnl(book: LegBook, prices: np.ndarray, h: Horizon) -> np.ndarray:
    """Per-leg P&L (rupees, signed by side and quantity) at the near expiry: (prices x legs)."""
    flat = np.asarray(prices, dtype=float).reshape(-1, 1)
    if not h.has_later_legs:
        intrinsic = np.where(
            book.is_call, np.maximum(flat - book.strike, 0.0), np.maximum(book.strike - flat, 0.0)
        )
        unit = np.where(book.is_future, flat, intrinsic)
    else:
        F = flat * h.carry
        value = black76_price(F, book.strike, h.tau, h.sigma, book.is_call, h.rate)
        unit = np.where(book.is_future, F, value)
    return (unit - book.entry) * book.signed_qty


def terminal_pnl(book: LegBook, prices: np.ndarray, h: Horizon) -> np.ndarray:
    """P&L (rupees, net of the entry prices) at the near expiry for each terminal index price."""
    S = np.asarray(prices, dtype=float)
    return terminal_unit_pnl(book, S, h).sum(axis=1).reshape(S.shape)
