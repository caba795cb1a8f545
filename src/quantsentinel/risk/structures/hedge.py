"""Tail hedges: which structures need one, and the cheapest one that meets a protection level.

Wall 7 of the castle (seed 001 §8): naked premium selling is never approved alone; the composite
(structure + hedge) is what gets evaluated.

Naked exposure is counted in units, per side of the market:
- upside: short calls and short futures are exposures; long calls and long futures cover them;
- downside: short puts and long futures are exposures; long puts and short futures cover them.
A cover must expire no earlier than the exposure it covers (a long that expires first leaves the
short naked afterwards). The brief's rule - a short is covered by a long of the same type and
expiry further out of the money, with at least its lots - is the common case of this count; the
count also accepts a long closer to the money (a debit spread, a butterfly: the loss is capped at
the strike distance) and a later-expiry long (a calendar), because those cap the tail loss too and
must not be sent to the hedge wall. Lot sizes can differ between expiries, hence units, not lots.

`select_tail_hedge` buys long OTM options on each naked side, at the naked exposure's expiry, in
the lots that cover its units (rounded up), and searches every combination of strikes for the
cheapest (premium at mid) whose composite is bounded and whose stress loss - the worse of the P&L
at spot x (1 - m) and spot x (1 + m) at the near expiry - is within the limit. A candidate is out
of the money AND beyond every short option of its type and expiry (above the highest short call,
below the lowest short put): a tail hedge protects the tail; a long at or inside the short strike
would buy the trade back or turn it into a different (debit) trade. Candidates that
another candidate on the same side beats on cost and on both stress P&Ls cannot be part of the
cheapest answer and are dropped before the combinations are formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import BUY, CALL, PUT, SELL, Leg
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.structures.structure import Structure
from quantsentinel.risk.structures.valuation import (
    horizon,
    leg_book,
    terminal_pnl,
    terminal_unit_pnl,
)

UP, DOWN = "up", "down"
_NAKED_BY_KIND = ("single_leg", "straddle", "strangle")
_TOLERANCE = 1e-6  # rupees: stress losses equal to the limit up to rounding qualify


class NoHedgeAvailable(RiskInputError):
    """No set of long OTM options brings the composite within the requested protection level."""


@dataclass(frozen=True)
class NakedExposure:
    """Units on one side of the market with no long option/future covering them."""

    side: str  # "up" | "down"
    expiry: date
    units: int

    @property
    def hedge_type(self) -> str:
        """The option that covers this side: calls for the upside, puts for the downside."""
        return CALL if self.side == UP else PUT


@dataclass(frozen=True)
class HedgeChoice:
    """The cheapest qualifying hedge; `composite` is what the castle evaluates."""

    composite: Structure
    hedge_cost: float  # rupees paid for the hedge legs, at mid
    stress_loss_before: float
    stress_loss_after: float
    candidates_considered: int  # strike combinations (1 when nothing was naked: the structure)

    @property
    def hedge(self) -> tuple[Leg, ...]:
        return self.composite.hedge


def _roles(leg: Leg) -> tuple[str | None, str | None]:
    """(side this leg exposes, side this leg covers)."""
    if leg.kind == CALL:
        return (UP, None) if leg.side == SELL else (None, UP)
    if leg.kind == PUT:
        return (DOWN, None) if leg.side == SELL else (None, DOWN)
    # A future is an exposure on the side that hurts it and a cover on the side that pays it.
    return (DOWN, UP) if leg.side == BUY else (UP, DOWN)


def naked_exposures(legs: tuple[Leg, ...] | list[Leg]) -> tuple[NakedExposure, ...]:
    """Uncovered units per (side, expiry), as described in the module docstring."""
    out: list[NakedExposure] = []
    for side in (UP, DOWN):
        exposures: dict[date, int] = {}
        covers: dict[date, int] = {}
        for leg in legs:
            exposes, covers_side = _roles(leg)
            if exposes == side:
                exposures[leg.expiry] = exposures.get(leg.expiry, 0) + leg.quantity
            if covers_side == side:
                covers[leg.expiry] = covers.get(leg.expiry, 0) + leg.quantity
        # Latest exposures first: they can use only the latest covers, which every earlier
        # exposure could use as well, so taking from the pool in this order is optimal.
        pool = 0
        cover_dates = sorted(covers, reverse=True)
        for expiry in sorted(exposures, reverse=True):
            while cover_dates and cover_dates[0] >= expiry:
                pool += covers[cover_dates.pop(0)]
            used = min(pool, exposures[expiry])
            pool -= used
            if exposures[expiry] > used:
                out.append(NakedExposure(side, expiry, exposures[expiry] - used))
    return tuple(out)


def needs_tail_hedge(structure: Structure) -> bool:
    """True for naked short premium or an unbounded loss.

    Three triggers: a short single leg / short straddle / short strangle with no hedge attached
    yet; any naked exposure (module docstring); a payoff whose loss grows without bound beyond the
    outermost strikes. A composite whose hedge covers everything needs none.
    """
    sells_premium = any(leg.side == SELL and leg.is_option for leg in structure.legs)
    if not structure.is_composite and structure.kind in _NAKED_BY_KIND and sells_premium:
        return True
    if naked_exposures(structure.all_legs):
        return True
    left, right = leg_book(structure.all_legs).tail_slopes()
    return right < 0 or left > 0


def _check_move(stress_move: float) -> float:
    if not (isinstance(stress_move, int | float) and 0 < stress_move < 1):
        raise RiskInputError(
            "bad_input", f"stress_move is a fraction of spot in (0, 1), got {stress_move!r}"
        )
    return float(stress_move)


def _stress_prices(chain: ChainView, move: float) -> np.ndarray:
    return np.array([chain.spot * (1.0 - move), chain.spot * (1.0 + move)])


def stress_loss(structure: Structure, chain: ChainView, stress_move: float) -> float:
    """Loss (rupees, >= 0) at spot x (1 -/+ stress_move) at the near expiry, the worse side."""
    prices = _stress_prices(chain, _check_move(stress_move))
    book = leg_book(structure.all_legs)
    pnl = terminal_pnl(book, prices, horizon(book, chain))
    return max(0.0, -float(pnl.min()))


@dataclass(frozen=True, eq=False)
class _Group:
    """Hedge candidates for one naked exposure: legs, their costs and stress P&Ls (2 x n)."""

    need: NakedExposure
    legs: list[Leg]
    cost: np.ndarray
    pnl: np.ndarray
    quoted: int  # candidates before the dominated ones were dropped


def _candidates(
    need: NakedExposure, base: Structure, chain: ChainView, near: date, prices: np.ndarray
) -> _Group:
    forward = chain.forward(need.expiry)
    lots = math.ceil(need.units / chain.lot_size(need.expiry))
    shorts = [
        float(leg.strike)
        for leg in base.legs
        if leg.kind == need.hedge_type and leg.side == SELL and leg.expiry == need.expiry
    ]
    if need.hedge_type == CALL:
        floor = max([forward, *shorts])
        in_tail = [k for k in chain.strikes(need.expiry) if k > floor]
    else:
        ceiling = min([forward, *shorts])
        in_tail = [k for k in chain.strikes(need.expiry) if k < ceiling]
    legs = []
    for strike in in_tail:
        try:
            legs.append(chain.leg(need.hedge_type, need.expiry, strike, BUY, lots))
        except OrderError:
            continue  # no two-sided quote: not buyable
    if not legs:
        return _Group(need, [], np.empty(0), np.empty((2, 0)), 0)
    book = leg_book(legs)
    pnl = terminal_unit_pnl(book, prices, horizon(book, chain, near=near)).T  # legs x prices
    cost = book.entry * np.abs(book.signed_qty)
    keep = _undominated(cost, pnl)
    return _Group(need, [legs[i] for i in keep], cost[keep], pnl[keep].T, len(legs))


def _undominated(cost: np.ndarray, pnl: np.ndarray) -> np.ndarray:
    """Indices of candidates no other candidate beats on cost and on every stress P&L."""
    no_dearer = cost[None, :] <= cost[:, None]  # [i, j]: j costs no more than i
    no_worse = (pnl[None, :, :] >= pnl[:, None, :]).all(axis=2)
    strictly = (cost[None, :] < cost[:, None]) | (pnl[None, :, :] > pnl[:, None, :]).any(axis=2)
    # Exact duplicates: keep the first of them only.
    earlier = np.arange(len(cost))[None, :] < np.arange(len(cost))[:, None]
    beaten = no_dearer & no_worse & (strictly | earlier)
    return np.flatnonzero(~beaten.any(axis=1))


def select_tail_hedge(
    structure: Structure,
    chain: ChainView,
    *,
    max_stress_loss: float,
    stress_move: float = 0.10,
) -> HedgeChoice:
    """The cheapest set of long OTM options making the composite bounded and within the limit.

    Any hedge already on `structure` is replaced. Raises `NoHedgeAvailable` (with the numbers)
    when no combination qualifies, including when nothing is naked but the structure alone
    breaches the limit (the wall does not over-hedge a covered structure; it refuses it).
    """
    if not (isinstance(max_stress_loss, int | float) and max_stress_loss >= 0):
        raise RiskInputError(
            "bad_input", f"max_stress_loss must be rupees >= 0, got {max_stress_loss!r}"
        )
    move = _check_move(stress_move)
    base = Structure(structure.kind, structure.legs)
    before = stress_loss(base, chain, move)
    naked = naked_exposures(base.legs)
    if not naked:
        if before <= max_stress_loss + _TOLERANCE:
            return HedgeChoice(base, 0.0, before, before, 1)
        raise NoHedgeAvailable(
            "no_hedge_available",
            f"{base.describe()} has no naked exposure to hedge, and its stress loss "
            f"{before:,.0f} at a {move:.0%} move exceeds the limit {max_stress_loss:,.0f}",
            stress_loss=before,
            max_stress_loss=max_stress_loss,
            stress_move=move,
        )

    prices = _stress_prices(chain, move)
    book = leg_book(base.legs)
    near = book.near_expiry
    base_pnl = terminal_pnl(book, prices, horizon(book, chain))
    groups = [_candidates(need, base, chain, near, prices) for need in naked]
    for g in groups:
        if not g.legs:
            raise NoHedgeAvailable(
                "no_hedge_available",
                f"no quoted OTM {g.need.hedge_type} beyond the short strikes on "
                f"{g.need.expiry} to cover {g.need.units} naked {g.need.side}side units of "
                f"{base.describe()}",
                side=g.need.side,
                expiry=g.need.expiry.isoformat(),
                units=g.need.units,
            )
    cost = np.zeros(1)
    pnl = base_pnl.reshape(2, 1)
    for g in groups:
        cost = (cost[:, None] + g.cost[None, :]).ravel()
        pnl = (pnl[:, :, None] + g.pnl[:, None, :]).reshape(2, -1)
    loss = np.maximum(-pnl.min(axis=0), 0.0)
    considered = math.prod(g.quoted for g in groups)
    ok = np.flatnonzero(loss <= max_stress_loss + _TOLERANCE)
    if ok.size == 0:
        best = int(np.argmin(loss))
        raise NoHedgeAvailable(
            "no_hedge_available",
            f"no hedge of {base.describe()} gets the stress loss at a {move:.0%} move within "
            f"{max_stress_loss:,.0f}: the best of {len(loss)} undominated combinations leaves "
            f"{loss[best]:,.0f} at a cost of {cost[best]:,.0f}",
            max_stress_loss=max_stress_loss,
            best_stress_loss=float(loss[best]),
            best_cost=float(cost[best]),
            stress_loss_before=before,
            stress_move=move,
        )
    # Cheapest first; among equal costs the smaller stress loss; then the first found.
    pick = int(ok[np.lexsort((loss[ok], cost[ok]))[0]])
    indices = np.unravel_index(pick, tuple(len(g.legs) for g in groups))
    hedge = tuple(g.legs[int(i)] for g, i in zip(groups, indices, strict=True))
    composite = base.with_hedge(hedge)
    if needs_tail_hedge(composite):  # matching units on every naked side cannot leave one
        raise RuntimeError(f"hedged composite still naked: {composite.describe()}")
    return HedgeChoice(
        composite=composite,
        hedge_cost=float(cost[pick]),
        stress_loss_before=before,
        stress_loss_after=float(loss[pick]),
        candidates_considered=considered,
    )
