"""Sector of each underlying in the universe, for news scoping and sector-neutral signals.

Classification follows NSE's industry classification of the constituents (macro-economic sector
level), as published on the companies' NSE quote pages; the two indices map to the sector they
track (BANKNIFTY: banks) or to the whole market (NIFTY).
"""

from __future__ import annotations

from quantsentinel.market.contract_facts import UNDERLYINGS

MARKET_WIDE = "MARKET"

SECTORS: dict[str, str] = {
    "NIFTY": MARKET_WIDE,
    "BANKNIFTY": "FINANCIAL_SERVICES",
    "RELIANCE": "OIL_GAS",
    "TCS": "INFORMATION_TECHNOLOGY",
    "INFY": "INFORMATION_TECHNOLOGY",
    "HDFCBANK": "FINANCIAL_SERVICES",
    "ICICIBANK": "FINANCIAL_SERVICES",
    "SBIN": "FINANCIAL_SERVICES",
    "AXISBANK": "FINANCIAL_SERVICES",
    "HINDUNILVR": "FMCG",
    "ITC": "FMCG",
    "BHARTIARTL": "TELECOMMUNICATION",
    "LT": "CONSTRUCTION",
}
assert set(SECTORS) == set(UNDERLYINGS), "every underlying needs a sector"


def sector(underlying: str) -> str:
    try:
        return SECTORS[underlying]
    except KeyError:
        raise ValueError(f"unknown underlying {underlying!r}: no sector on file") from None


def peers(underlying: str) -> tuple[str, ...]:
    """Underlyings in the same sector (itself included); NIFTY's peers are everything."""
    own = sector(underlying)
    if own == MARKET_WIDE:
        return tuple(SECTORS)
    return tuple(u for u, s in SECTORS.items() if s == own)
