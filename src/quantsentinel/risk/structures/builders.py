"""Option structures as concrete legs: one builder per kind, each on one chain snapshot.

Every builder takes a `ChainView` and explicit, named parameters and returns a `Structure` whose
legs have strikes that the snapshot lists and a whole number of lots at the exchange lot size.
Nothing is left symbolic ("ATM + 2"): what is built is what would be sent.

Strike distances (`width`, `wing`) count *listed strikes* of the expiry, outward from the centre:
`width=2` on NIFTY is two grid steps (100 points near the money, where the grid is 50 points;
200 points where the exchange only lists every 100). Counting listed strikes keeps every candidate
on the grid the exchange actually quotes, which a fixed point distance would not.

Direction/side conventions:
- vertical_debit: bullish = bull call spread (buy K, sell K+width), bearish = bear put spread
  (buy K, sell K-width); K (default ATM) is the long strike;
- vertical_credit: bullish = bull put spread (sell K, buy K-width), bearish = bear call spread
  (sell K, buy K+width); K (default ATM) is the short strike;
- straddle / strangle / single_leg / futures: side "long" buys, "short" sells;
- iron_condor / iron_fly: side "short" (the default) sells the body and buys the wings (a credit);
  "long" is the reverse;
- butterfly: side "long" buys the wings (1 lot each per `lots`) and sells 2 bodies;
- calendar: side "long" sells the near expiry and buys the far one at the same strike, in equal
  *units* (lot sizes can differ between expiries listed before and after a lot-size revision).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np

from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import BUY, CALL, FUTURE, PUT, SELL
from quantsentinel.risk.structures.chain import ChainView, as_expiry
from quantsentinel.risk.structures.structure import STRUCTURE_KINDS, Structure

LONG, SHORT = "long", "short"
BULLISH, BEARISH = "bullish", "bearish"


# --- parameter checks -----------------------------------------------------------------------------


def _whole(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _lots(lots: Any) -> int:
    if not _whole(lots) or lots <= 0:
        raise OrderError("zero_lots", f"lots must be a positive whole number, got {lots!r}")
    return int(lots)


def _steps(name: str, value: Any, minimum: int = 1) -> int:
    if not _whole(value) or value < minimum:
        raise RiskInputError(
            f"bad_{name}",
            f"{name} counts listed strikes and must be a whole number >= {minimum}, got {value!r}",
            **{name: value},
        )
    return int(value)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise RiskInputError(
            "bad_input", f"{name} must be one of {', '.join(allowed)}, got {value!r}"
        )
    return value


def _buy_if(side: str) -> tuple[str, str]:
    """(side of the 'long' role, side of the 'short' role) for a structure's side."""
    return (BUY, SELL) if side == LONG else (SELL, BUY)


def _center(chain: ChainView, expiry: date, strike: float | None) -> float:
    if strike is None:
        return chain.atm_strike(expiry)
    if not chain.has_strike(expiry, strike):
        listed = chain.strikes(expiry)
        raise OrderError(
            "strike_not_listed",
            f"strike {float(strike):g} is not listed for {chain.underlying} {as_expiry(expiry)} "
            f"(listed {listed[0]:g}..{listed[-1]:g})",
            strike=float(strike),
        )
    return float(strike)


def _offset(chain: ChainView, expiry: date, center: float, steps: int) -> float:
    """The listed strike `steps` places from `center` (negative = lower)."""
    listed = chain.strikes(expiry)
    i = listed.index(center) + steps
    if not 0 <= i < len(listed):
        raise OrderError(
            "strike_not_listed",
            f"{steps:+d} listed strikes from {center:g} is beyond the {as_expiry(expiry)} "
            f"strikes ({listed[0]:g}..{listed[-1]:g})",
            center=center,
            steps=steps,
        )
    return listed[i]


# --- builders -------------------------------------------------------------------------------------


def single_leg(
    chain: ChainView,
    *,
    expiry: date,
    option_type: str,
    side: str = LONG,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """One option; `strike` defaults to the ATM strike."""
    _choice("option_type", option_type, (CALL, PUT))
    buy, _ = _buy_if(_choice("side", side, (LONG, SHORT)))
    k = _center(chain, expiry, strike)
    return Structure("single_leg", (chain.leg(option_type, expiry, k, buy, _lots(lots)),))


def _vertical(
    chain: ChainView, kind: str, expiry: date, direction: str, width: int, strike, lots: int
) -> Structure:
    _choice("direction", direction, (BULLISH, BEARISH))
    w, n = _steps("width", width), _lots(lots)
    k = _center(chain, expiry, strike)
    debit = kind == "vertical_debit"
    # Debit: the anchor is bought and the spread sold further out in the direction of the view.
    # Credit: the anchor is sold and the protection bought further out against the view.
    option_type = (
        (CALL if direction == BULLISH else PUT)
        if debit
        else (PUT if direction == BULLISH else CALL)
    )
    away = w if option_type == CALL else -w
    anchor_side, other_side = (BUY, SELL) if debit else (SELL, BUY)
    other = _offset(chain, expiry, k, away)
    legs = (
        chain.leg(option_type, expiry, k, anchor_side, n),
        chain.leg(option_type, expiry, other, other_side, n),
    )
    return Structure(kind, legs)


def vertical_debit(
    chain: ChainView,
    *,
    expiry: date,
    direction: str,
    width: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Bull call (bullish) or bear put (bearish) spread; `strike` is the long leg."""
    return _vertical(chain, "vertical_debit", expiry, direction, width, strike, lots)


def vertical_credit(
    chain: ChainView,
    *,
    expiry: date,
    direction: str,
    width: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Bull put (bullish) or bear call (bearish) spread; `strike` is the short leg."""
    return _vertical(chain, "vertical_credit", expiry, direction, width, strike, lots)


def straddle(
    chain: ChainView,
    *,
    expiry: date,
    side: str = LONG,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Call and put at one strike (default ATM), both bought (long) or both sold (short)."""
    buy, _ = _buy_if(_choice("side", side, (LONG, SHORT)))
    k, n = _center(chain, expiry, strike), _lots(lots)
    legs = (chain.leg(PUT, expiry, k, buy, n), chain.leg(CALL, expiry, k, buy, n))
    return Structure("straddle", legs)


def strangle(
    chain: ChainView,
    *,
    expiry: date,
    side: str = LONG,
    width: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Put `width` strikes below and call `width` strikes above the centre (default ATM)."""
    buy, _ = _buy_if(_choice("side", side, (LONG, SHORT)))
    w, n = _steps("width", width), _lots(lots)
    k = _center(chain, expiry, strike)
    legs = (
        chain.leg(PUT, expiry, _offset(chain, expiry, k, -w), buy, n),
        chain.leg(CALL, expiry, _offset(chain, expiry, k, w), buy, n),
    )
    return Structure("strangle", legs)


def iron_condor(
    chain: ChainView,
    *,
    expiry: date,
    side: str = SHORT,
    width: int = 1,
    wing: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Short strangle `width` strikes either side of the centre, wings `wing` strikes further.

    side "short" sells the inner strikes and buys the wings (credit); "long" reverses it.
    """
    return _iron("iron_condor", chain, expiry, side, _steps("width", width), wing, strike, lots)


def iron_fly(
    chain: ChainView,
    *,
    expiry: date,
    side: str = SHORT,
    wing: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Straddle at the centre (default ATM) with wings `wing` strikes either side."""
    return _iron("iron_fly", chain, expiry, side, 0, wing, strike, lots)


def _iron(
    kind: str,
    chain: ChainView,
    expiry: date,
    side: str,
    inner: int,
    wing: int,
    strike: float | None,
    lots: int,
) -> Structure:
    """Body `inner` strikes either side of the centre (0: a straddle body), wings `wing` strikes
    further out; the iron condor and the iron fly differ only in `inner`."""
    body, protect = _buy_if(_choice("side", side, (LONG, SHORT)))
    g, n = _steps("wing", wing), _lots(lots)
    k = _center(chain, expiry, strike)
    legs = (
        chain.leg(PUT, expiry, _offset(chain, expiry, k, -inner - g), protect, n),
        chain.leg(PUT, expiry, _offset(chain, expiry, k, -inner), body, n),
        chain.leg(CALL, expiry, _offset(chain, expiry, k, inner), body, n),
        chain.leg(CALL, expiry, _offset(chain, expiry, k, inner + g), protect, n),
    )
    return Structure(kind, legs)


def butterfly(
    chain: ChainView,
    *,
    expiry: date,
    option_type: str = CALL,
    side: str = LONG,
    wing: int = 1,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Wings `wing` strikes either side of the body (default ATM), 1:2:1 in lots."""
    _choice("option_type", option_type, (CALL, PUT))
    wings, body = _buy_if(_choice("side", side, (LONG, SHORT)))
    g, n = _steps("wing", wing), _lots(lots)
    k = _center(chain, expiry, strike)
    legs = (
        chain.leg(option_type, expiry, _offset(chain, expiry, k, -g), wings, n),
        chain.leg(option_type, expiry, k, body, 2 * n),
        chain.leg(option_type, expiry, _offset(chain, expiry, k, g), wings, n),
    )
    return Structure("butterfly", legs)


def calendar(
    chain: ChainView,
    *,
    expiry: date,
    far_expiry: date,
    option_type: str = CALL,
    side: str = LONG,
    strike: float | None = None,
    lots: int = 1,
) -> Structure:
    """Same strike (default: the near expiry's ATM), near and far expiry, equal units.

    `lots` are near-expiry lots; the far leg gets the lots that match its units. Raises when the
    far expiry is not after the near one, the strike is not listed in both, or the two lot sizes
    cannot match at this many lots (the error names the smallest `lots` that can).
    """
    _choice("option_type", option_type, (CALL, PUT))
    near_side, far_side = _buy_if(_choice("side", side, (LONG, SHORT)))[::-1]
    near, far = as_expiry(expiry), as_expiry(far_expiry)
    if far <= near:
        raise RiskInputError(
            "bad_calendar",
            f"a calendar's far expiry must be after its near one; got near {near}, far {far}",
            expiry=near.isoformat(),
            far_expiry=far.isoformat(),
        )
    n = _lots(lots)
    k = _center(chain, near, strike)
    _center(chain, far, k)
    near_lot, far_lot = chain.lot_size(near), chain.lot_size(far)
    units = n * near_lot
    if units % far_lot:
        smallest = math.lcm(near_lot, far_lot) // near_lot
        raise OrderError(
            "unbalanced_lots",
            f"{n} lot(s) of {near_lot} ({units} units) is not a whole number of {far} lots of "
            f"{far_lot}; use a multiple of {smallest} lots",
            lots=n,
            near_lot_size=near_lot,
            far_lot_size=far_lot,
        )
    legs = (
        chain.leg(option_type, near, k, near_side, n),
        chain.leg(option_type, far, k, far_side, units // far_lot),
    )
    return Structure("calendar", legs)


def futures(chain: ChainView, *, expiry: date, side: str = LONG, lots: int = 1) -> Structure:
    """A (synthetic, see `ChainView.quote`) future bought (long) or sold (short)."""
    buy, _ = _buy_if(_choice("side", side, (LONG, SHORT)))
    return Structure("futures", (chain.leg(FUTURE, expiry, None, buy, _lots(lots)),))


BUILDERS: dict[str, Callable[..., Structure]] = {
    "single_leg": single_leg,
    "vertical_debit": vertical_debit,
    "vertical_credit": vertical_credit,
    "straddle": straddle,
    "strangle": strangle,
    "iron_condor": iron_condor,
    "iron_fly": iron_fly,
    "butterfly": butterfly,
    "calendar": calendar,
    "futures": futures,
}


def build(kind: str, chain: ChainView, **params: Any) -> Structure:
    """Dispatch to the builder of `kind`; unknown kinds and parameters are named in the error."""
    builder = BUILDERS.get(kind)
    if builder is None:
        raise RiskInputError(
            "unknown_structure",
            f"structure kind {kind!r} is not one of {', '.join(STRUCTURE_KINDS)}",
        )
    signature = inspect.signature(builder)
    accepted = [name for name in signature.parameters if name != "chain"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise RiskInputError(
            "bad_input",
            f"{kind} does not take {', '.join(unknown)}; it takes {', '.join(accepted)}",
        )
    required = [
        name
        for name, p in signature.parameters.items()
        if name != "chain" and p.default is inspect.Parameter.empty
    ]
    missing = [name for name in required if name not in params]
    if missing:
        raise RiskInputError("bad_input", f"{kind} needs {', '.join(missing)}")
    return builder(chain, **params)
