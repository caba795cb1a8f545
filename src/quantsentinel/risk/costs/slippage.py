"""Expected slippage of a marketable order: a cost line of its own, never a fee.

A leg is valued at its quote's mid; filling it means crossing to the ask (buy) or the bid (sell).
The model, per executed order of `q` units against a quote with half-spread `h`:

    touch depth     D = touch_lots x lot_size          units plausibly resting at the best quote
    level spacing   s = max(2h, tick_size)             price gap between successive book levels
    excess          x = max(q - D, 0)                  units that must walk past the touch
    slippage(q)     = q*h + impact * s * x * sqrt(x / D)

Up to the touch depth every unit pays the half-spread (the quoted cost of immediacy). Beyond it
the extra cost per excess unit grows like the square root of the excess relative to the displayed
depth: the "square-root law" of market impact, measured across markets and sizes (Almgren,
Thum, Hauptmann & Li 2005, "Direct estimation of equity market impact"; Toth et al. 2011,
"Anomalous price impact and the critical nature of liquidity in financial markets"; Bouchaud,
Bonart, Donier & Gould 2018, "Trades, Quotes and Prices", ch. 12). Those papers scale impact by
daily volatility and volume; a chain snapshot has neither for each strike, so the quoted spread
stands in for the volatility scale (a wide market is a thin, jumpy one) and the touch depth for the
volume scale. With `impact=0.5`, filling twice the touch depth pays on the second half an extra
half level-spacing per unit on average: roughly what walking one level deeper costs.

Parameters (`SlippageModel`, all per tenant/engine configurable):
- `touch_lots` (10): lots assumed at the best bid/ask. NSE chain snapshots carry no depth, so this
  is a judgement: liquid NIFTY/BANKNIFTY strikes near the money show far more, far strikes and stock
  options often less. Lower it to be more conservative.
- `impact` (0.5): square-root-law coefficient, in level spacings.
- `tick_size` (0.05): NSE's tick for index and stock options and futures; the minimum gap
  between book levels, so size beyond the touch costs something even on a locked (bid == ask) quote.

The cost is monotone: more units never cost less in total, and a wider spread never costs less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quantsentinel.risk.errors import OrderError, RiskInputError
from quantsentinel.risk.orders import Quote


@dataclass(frozen=True)
class SlippageModel:
    """Half-spread at the touch, square-root impact beyond it (see the module docstring)."""

    touch_lots: float = 10.0
    impact: float = 0.5
    tick_size: float = 0.05

    def __post_init__(self) -> None:
        checks = (
            ("touch_lots", self.touch_lots, lambda v: v > 0),
            ("impact", self.impact, lambda v: v >= 0),
            ("tick_size", self.tick_size, lambda v: v >= 0),
        )
        for name, value, ok in checks:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and ok(value)):
                raise RiskInputError(
                    "bad_input", f"SlippageModel.{name} is out of range: {value!r}", **{name: value}
                )

    def cost(self, quote: Quote, units: int, lot_size: int, *, leg: int | None = None) -> float:
        """Expected slippage in rupees for one order of `units` against `quote`.

        Raises OrderError('missing_quote') when the quote is not a usable two-sided market: the
        spread is the only evidence of liquidity there is, and without it no fill cost is known.
        """
        if not quote.usable:
            raise OrderError(
                "missing_quote",
                f"leg {leg}: no usable two-sided quote (bid={quote.bid}, ask={quote.ask}) "
                "to estimate slippage from",
                leg=leg,
                bid=quote.bid,
                ask=quote.ask,
            )
        return self.cost_for_spread(0.5 * (quote.ask - quote.bid), units, lot_size)

    def cost_for_spread(self, half_spread: float, units: float, lot_size: int) -> float:
        """The model on plain numbers (rupees per unit, units, units per lot)."""
        if units <= 0:
            return 0.0
        cost = units * half_spread
        depth = self.touch_lots * lot_size
        excess = units - depth
        if excess > 0.0 and self.impact > 0.0:
            spacing = max(2.0 * half_spread, self.tick_size)
            cost += self.impact * spacing * excess * math.sqrt(excess / depth)
        return cost

    def describe(self) -> str:
        return (
            f"SlippageModel(touch_lots={self.touch_lots:g}, impact={self.impact:g}, "
            f"tick_size={self.tick_size:g}): half-spread at the touch, square-root impact beyond"
        )
