"""The strategy bandit's arms: which structure each is, and the rule baseline for its strikes.

An arm is a structure kind with a premium side and a rule for its strikes and wings. Strikes are
placed by the snapshot's expected move to the chosen expiry, `spot x iv_atm x sqrt(T)`, counted in
listed strikes (the builders count strikes, not points): short strikes of a condor near 0.8 of the
move, wings half a move beyond, a debit spread three quarters of a move wide. These are the rule
baselines the issue asks for; seed 001's wing-selection model (pipeline 11) would replace
`strike_params` when one is promoted, and the rest of the path would not change.

`allowed_arms` applies what the castle's regime wall would refuse anyway (ALLOWED_REGIMES) before
the bandit draws, so the bandit never spends a decision on a structure the regime forbids, and a
directional arm needs a directional view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from quantsentinel.risk.castle.regime import ALLOWED_REGIMES, CREDIT, DEBIT
from quantsentinel.risk.structures.builders import BEARISH, BULLISH, LONG, SHORT, build
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.structures.structure import Structure

MIN_DAYS_TO_EXPIRY = 2.0  # expiry-day gamma and pinning are a different trade (pipeline 10)
DIRECTION_THRESHOLD = 0.10  # |combined direction score| below this is no directional view


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # the builder's structure kind
    premium: str  # credit | debit: the regime wall's key
    directional: bool


ARMS: tuple[Arm, ...] = (
    Arm("iron_condor", "iron_condor", CREDIT, False),
    Arm("iron_fly", "iron_fly", CREDIT, False),
    Arm("vertical_credit", "vertical_credit", CREDIT, True),
    Arm("vertical_debit", "vertical_debit", DEBIT, True),
    Arm("long_straddle", "straddle", DEBIT, False),
    Arm("long_butterfly", "butterfly", DEBIT, False),
)
ARM_NAMES = tuple(a.name for a in ARMS)
BY_NAME = {a.name: a for a in ARMS}


def allowed_arms(regime: str, direction_score: float) -> tuple[str, ...]:
    """Arms the regime admits and the views support, in ARMS order."""
    out = []
    for arm in ARMS:
        if regime not in ALLOWED_REGIMES[(arm.kind, arm.premium)]:
            continue
        if arm.directional and abs(direction_score) < DIRECTION_THRESHOLD:
            continue
        out.append(arm.name)
    return tuple(out)


def choose_expiry(chain: ChainView) -> date:
    """The nearest expiry with at least MIN_DAYS_TO_EXPIRY calendar days left (else the last)."""
    expiries = chain.expiries()
    for expiry in expiries:
        if chain.time_to_expiry(expiry) * 365.0 >= MIN_DAYS_TO_EXPIRY:
            return expiry
    return expiries[-1]


def strike_step(chain: ChainView, expiry: date) -> float:
    """Spacing of listed strikes around the money."""
    atm = chain.atm_strike(expiry)
    strikes = sorted(chain.strikes(expiry), key=lambda k: abs(k - atm))[:5]
    gaps = sorted({abs(a - b) for a in strikes for b in strikes if a != b})
    return float(gaps[0]) if gaps else 1.0


def expected_move(chain: ChainView, expiry: date) -> float:
    """One standard deviation of the index to `expiry` at the ATM implied vol, in points."""
    from quantsentinel.risk.orders import CALL

    t = max(chain.time_to_expiry(expiry), 1.0 / 365.0)
    atm = chain.atm_strike(expiry)
    iv = chain.iv(expiry, atm, CALL)
    if not (math.isfinite(iv) and iv > 0):
        iv = 0.15  # a chain without a usable ATM vol still gets sane strikes; sizing uses its own
    return chain.spot * iv * math.sqrt(t)


def strike_params(arm: Arm, chain: ChainView, expiry: date, direction: float) -> dict[str, Any]:
    """The rule baseline: builder parameters for `arm` on this snapshot."""
    steps = expected_move(chain, expiry) / strike_step(chain, expiry)

    def n(fraction: float) -> int:
        return max(1, round(fraction * steps))

    view = BULLISH if direction >= 0 else BEARISH
    params: dict[str, dict[str, Any]] = {
        "iron_condor": {"side": SHORT, "width": n(0.8), "wing": n(0.5)},
        "iron_fly": {"side": SHORT, "wing": n(1.0)},
        "vertical_credit": {"direction": view, "width": n(0.5)},
        "vertical_debit": {"direction": view, "width": n(0.75)},
        "long_straddle": {"side": LONG},
        "long_butterfly": {"side": LONG, "wing": n(0.5)},
    }
    return {"expiry": expiry, **params[arm.name]}


def build_arm(arm_name: str, chain: ChainView, expiry: date, direction: float) -> Structure:
    """One unit (one lot per leg, the butterfly's body two) of `arm_name` on this snapshot."""
    arm = BY_NAME[arm_name]
    return build(arm.kind, chain, **strike_params(arm, chain, expiry, direction))
