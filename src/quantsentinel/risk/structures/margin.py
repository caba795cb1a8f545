"""A SPAN-like margin estimate for one structure on one underlying.

What it computes (after the SPAN method NSE Clearing uses, with NSE's published parameters):

1. Scan risk. The whole position is revalued by Black-76 under the 16 standard SPAN risk
   scenarios: the index moves 0, +-1/3, +-2/3 and +-1 price scan range (PSR), each with the
   implied vols up and down by the volatility scan range (VSR) - 14 scenarios - plus the two
   extreme moves of +-`extreme_multiple` x PSR at unchanged vol, of which only `extreme_cover`
   (35%) of the loss counts. Every leg moves together (one forward per expiry, scaled with the
   index), so a hedged spread's wings offset its body: an iron condor's scan risk is at most its
   wing width, a short strangle's is the full move. The worst scenario loss is the scan risk.
2. Short option minimum charge: SOMC rate x spot x max(short call units, short put units) - the
   SPAN convention that a short call and a short put cannot both finish in the money. NSE
   Clearing's parameter set published in July 2024 (PSR 6 sqrt(2) sigma, floor 9.3% for
   indices; VSR 25% of annualised vol, minimum 4%) lists no minimum charge, so its rows carry 0.
3. SPAN-like requirement = max(scan risk, SOMC) when the position has a short option or a future.
   A position of long options only is charged no SPAN: NSE collects its premium up front (net buy
   premium) and a long option cannot lose more than that.
4. Exposure (extreme loss) margin: a % of notional on short options (spot x units) and futures
   (futures price x units), plus the additional expiry-day ELM on short index options expiring
   on the snapshot's trade date.
5. Net premium: a net debit is paid up front and counts in `total`; a net credit is reported as
   `premium_credit` and NOT deducted (the buyer's premium reaches the seller only after
   settlement, and brokers do not let it fund the trade's own margin).

`total = span_like + exposure + premium_debit`.

PSR = max(sigmas x daily sigma, floor) of the index. NSE's sigma is an EWMA of daily index returns
that a chain snapshot does not carry; the ATM implied vol / sqrt(252) of the nearest expiry with a
day or more to run stands in for it (implied usually exceeds realised, so this errs high). In
normal markets the floor binds anyway. The VSR scales with the same annualised vol where the
row says so (`volatility_scan_fraction`).

What this is NOT:
- not the broker's or the exchange's number: NSE publishes risk arrays (per contract, 6 times a
  day) from its own vols and prices; brokers add their own buffers and peak-margin rules;
- no inter-commodity spread credit (NIFTY vs BANKNIFTY offsets are ignored: each structure is one
  underlying, margined alone);
- no NSCCL calendar-spread charge: expiries offset fully inside the scan, whereas NSE charges a
  delta-based calendar spread margin and, since 2025-02-01, gives no calendar benefit on the
  expiry day to contracts expiring that day (SEBI/HO/MRD/TPD-1/P/CIR/2024/132);
- no look-ahead time decay in the scenarios (revaluation is instantaneous: conservative for
  short premium), no per-strike vol shifts (the VSR is parallel);
- no delivery margin (index options are cash-settled; stock options' physical-settlement margins
  in expiry week are not modelled), no additional/ad-hoc surveillance margins, no MTM;
- stocks use the stock parameters below but the 1.5 sigma arm of their ELM is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from quantsentinel.market.contracts import INDICES
from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import CALL, PUT, Leg
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.structures.valuation import (
    LegBook,
    Marks,
    leg_book,
    marks,
    position_value,
)

_DAYS_PER_YEAR_FOR_SIGMA = 252.0

_SRC_SPAN = (
    "NSE Clearing, Equity derivatives > Margins > SPAN parameters: index options PSR 3 sigma, "
    "VSR 4%, short option minimum 3% of the notional of short index options; stock options "
    "PSR 3.5 sigma, VSR 10%, SOMC 7.5%. SPAN scenarios 15/16: +-2 x PSR, 35% of the loss."
)
_SRC_PSR_2018 = (
    "NSE Clearing circular NCL/CMPT/38768 (2018-09-01) and the PSR schedule that followed: index "
    "options PSR = higher of 3 sigma or 7% of the underlying from 2018-11-30; stocks higher of "
    "3.5 sigma or 12.5%."
)
_SRC_ELM = (
    "Exposure (extreme loss) margin: index futures and short index options 2% of notional "
    "(NSE Clearing, Margins > Exposure margin); single-stock derivatives higher of 5% or "
    "1.5 sigma (exchange risk-management pages; verify the current NSE figure)."
)
_SRC_EXPIRY_ELM = (
    "NSE Clearing circular NCL/CMPT/64639 (2024-10-21), implementing SEBI/HO/MRD/TPD-1/P/CIR/"
    "2024/132 (2024-10-01): additional 2% ELM on short index options on their expiry day, "
    "hedged or not, from 2024-11-20."
)


_SRC_SPAN_2024 = (
    "NSE Clearing, Risk management > Equity derivatives > SPAN risk parameters (page updated "
    "04/07/2024; the row applies from that date): index derivatives PSR six standard deviations "
    "scaled up by sqrt(2), subject to a minimum of 9.3% of the underlying (stocks 14.2%); VSR 25% "
    "of annualised EWMA volatility, minimum 4% (stocks 10%). The page lists no short option "
    "minimum charge, so this row has none (the earlier parameter set charged 3%)."
)


@dataclass(frozen=True)
class MarginRates:
    """One effective-dated row of SPAN/ELM parameters for index or stock derivatives."""

    underlying_class: str  # "index" | "stock"
    effective_from: date
    effective_until: date | None
    price_scan_floor: float  # fraction of the underlying
    price_scan_sigmas: float  # multiple of the daily sigma
    volatility_scan: float  # absolute change in implied vol (0.04 = 4 vol points)
    extreme_multiple: float  # scenarios 15/16 move this many PSRs
    extreme_cover: float  # fraction of the extreme scenarios' loss that counts
    short_option_minimum: float  # fraction of notional per short option (SOMC)
    exposure: float  # ELM: fraction of notional, short options and futures
    expiry_day_exposure: float  # extra ELM on short options expiring on the trade date
    source: str
    # VSR = max(volatility_scan, this x annualised vol): the 2024 parameters scale with vol
    volatility_scan_fraction: float = 0.0


MARGIN_RATES: tuple[MarginRates, ...] = (
    MarginRates(
        "index", date(2018, 11, 30), date(2024, 7, 3), 0.07, 3.0, 0.04, 2.0, 0.35, 0.03, 0.02,
        0.0, f"{_SRC_SPAN} {_SRC_PSR_2018} {_SRC_ELM}",
    ),
    MarginRates(
        "index", date(2024, 7, 4), date(2024, 11, 19), 0.093, 6.0 * math.sqrt(2.0), 0.04, 2.0,
        0.35, 0.0, 0.02, 0.0, f"{_SRC_SPAN_2024} {_SRC_ELM}", volatility_scan_fraction=0.25,
    ),
    MarginRates(
        "index", date(2024, 11, 20), None, 0.093, 6.0 * math.sqrt(2.0), 0.04, 2.0, 0.35, 0.0,
        0.02, 0.02, f"{_SRC_SPAN_2024} {_SRC_ELM} {_SRC_EXPIRY_ELM}",
        volatility_scan_fraction=0.25,
    ),
    MarginRates(
        "stock", date(2018, 11, 30), date(2024, 7, 3), 0.125, 3.5, 0.10, 2.0, 0.35, 0.075, 0.05,
        0.0, f"{_SRC_SPAN} {_SRC_PSR_2018} {_SRC_ELM}",
    ),
    MarginRates(
        "stock", date(2024, 7, 4), None, 0.142, 6.0 * math.sqrt(2.0), 0.10, 2.0, 0.35, 0.0,
        0.05, 0.0, f"{_SRC_SPAN_2024} {_SRC_ELM}", volatility_scan_fraction=0.25,
    ),
)  # fmt: skip


def margin_rates(underlying: str, on: date) -> MarginRates:
    """The parameters in force for `underlying`'s class on trade date `on`."""
    cls = "index" if underlying in INDICES else "stock"
    for row in MARGIN_RATES:
        in_force = row.effective_from <= on and (
            row.effective_until is None or on <= row.effective_until
        )
        if row.underlying_class == cls and in_force:
            return row
    raise RiskInputError(
        "no_margin_rates", f"no {cls} margin parameters for {on}", underlying=underlying
    )


@dataclass(frozen=True)
class SpanScenario:
    """One SPAN risk scenario: index move in PSRs, vol move in VSRs (+1 up, -1 down, 0 none)."""

    number: int
    price_move: float
    vol_move: int
    cover: float


def span_scenarios(extreme_multiple: float = 2.0, extreme_cover: float = 0.35):
    """The 16 standard scenarios, in SPAN's order."""
    moves = (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0)
    out = [
        SpanScenario(2 * i + j + 1, move, vol, 1.0)
        for i, move in enumerate(moves)
        for j, vol in enumerate((1, -1))
    ]
    out.append(SpanScenario(15, extreme_multiple, 0, extreme_cover))
    out.append(SpanScenario(16, -extreme_multiple, 0, extreme_cover))
    return tuple(out)


@dataclass(frozen=True)
class MarginEstimate:
    """Rupees. `total = span_like + exposure + premium_debit` (see the module docstring)."""

    span_like: float
    exposure: float
    premium_credit: float  # net premium received; reported, not deducted
    premium_debit: float  # net premium paid up front
    total: float
    scan_risk: float
    short_option_minimum: float
    worst_scenario: SpanScenario
    worst_loss: float  # of the worst scenario, after its cover fraction
    scenario_losses: tuple[float, ...]  # per scenario 1..16, after cover; + = loss
    price_scan_range: float  # index points
    volatility_scan_range: float
    rates: MarginRates
    note: str


def _daily_sigma(chain: ChainView) -> float:
    """ATM implied vol of the nearest expiry with a day or more left, per trading day."""
    live = chain.expiries()
    candidates = [e for e in live if chain.time_to_expiry(e) >= 1 / 365] or list(live)
    for expiry in candidates:
        k = chain.atm_strike(expiry)
        for kind in (CALL, PUT):
            try:
                vol = chain.iv(expiry, k, kind)
            except OrderError:
                continue
            if math.isfinite(vol) and vol > 0:
                return vol / math.sqrt(_DAYS_PER_YEAR_FOR_SIGMA)
    return 0.0  # no vol anywhere: the PSR floor alone applies


def estimate_margin(
    legs: tuple[Leg, ...] | list[Leg], chain: ChainView, *, rates: MarginRates | None = None
) -> MarginEstimate:
    """SPAN-like margin of `legs` (one underlying) at `chain`'s snapshot."""
    book = leg_book(legs)
    return margin_for(book, marks(book, chain), chain, rates)


def margin_for(
    book: LegBook, m: Marks, chain: ChainView, rates: MarginRates | None = None
) -> MarginEstimate:
    """`estimate_margin` on legs already columnised and marked (saves the work in `analyse`)."""
    r = rates if rates is not None else margin_rates(chain.underlying, chain.trade_date)
    daily_sigma = _daily_sigma(chain)
    psr = max(r.price_scan_sigmas * daily_sigma, r.price_scan_floor)
    vsr = max(
        r.volatility_scan,
        r.volatility_scan_fraction * daily_sigma * math.sqrt(_DAYS_PER_YEAR_FOR_SIGMA),
    )
    scenarios = span_scenarios(r.extreme_multiple, r.extreme_cover)
    factor = np.array([1.0 + s.price_move * psr for s in scenarios])
    shift = np.array([s.vol_move * vsr for s in scenarios])
    cover = np.array([s.cover for s in scenarios])
    base = float(position_value(book, m)[0])
    losses = (base - position_value(book, m, spot_factor=factor, vol_shift=shift)) * cover
    worst = int(np.argmax(losses))
    scan_risk = max(float(losses[worst]), 0.0)

    short = book.signed_qty < 0
    short_calls = float(-book.signed_qty[short & book.is_call].sum())
    short_puts = float(-book.signed_qty[short & book.is_put].sum())
    somc = r.short_option_minimum * chain.spot * max(short_calls, short_puts)
    carries_risk = bool((short & ~book.is_future).any() or book.is_future.any())
    span_like = max(scan_risk, somc) if carries_risk else 0.0

    units = np.abs(book.signed_qty)
    short_options = short & ~book.is_future
    notional_options = chain.spot * float(units[short_options].sum())
    notional_futures = float((units * book.entry)[book.is_future].sum())
    expiring = np.array([e == chain.trade_date for e in book.expiry])
    notional_expiring = chain.spot * float(units[short_options & expiring].sum())
    exposure = (
        r.exposure * (notional_options + notional_futures)
        + r.expiry_day_exposure * notional_expiring
    )

    net = book.net_premium
    premium_credit, premium_debit = max(net, 0.0), max(-net, 0.0)
    s = scenarios[worst]
    if carries_risk:
        binds = "the short option minimum binds" if somc > scan_risk else "scan risk binds"
        note = (
            f"SPAN-like estimate, not the broker's figure: PSR {psr:.2%} "
            f"({psr * chain.spot:,.0f} pts), VSR {vsr:.1%} vol; worst scenario "
            f"{s.number} (move {s.price_move:+.2f} PSR, vol {s.vol_move:+d}); {binds}"
        )
    else:
        note = "SPAN-like estimate: long options only, premium paid up front, no SPAN charged"
    return MarginEstimate(
        span_like=span_like,
        exposure=exposure,
        premium_credit=premium_credit,
        premium_debit=premium_debit,
        total=span_like + exposure + premium_debit,
        scan_risk=scan_risk,
        short_option_minimum=somc,
        worst_scenario=s,
        worst_loss=float(losses[worst]),
        scenario_losses=tuple(float(x) for x in losses),
        price_scan_range=psr * chain.spot,
        volatility_scan_range=vsr,
        rates=r,
        note=note,
    )
