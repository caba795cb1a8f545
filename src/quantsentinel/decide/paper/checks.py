"""The numbers a paper position needs from its decision, checked before anything is written."""

from __future__ import annotations

import math
from typing import Any

from quantsentinel.decide.store import DecisionRecord
from quantsentinel.risk.errors import RiskInputError


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def decision_numbers(pid: str, d: DecisionRecord) -> dict[str, Any]:
    """The numbers a position needs from its decision, checked: margin >= 0, delta finite, arm
    and regime named, max loss >= 0 (inf/None = unbounded), target > 0, stop < 0."""
    numbers = d.numbers or {}

    def bad(message: str) -> RiskInputError:
        return RiskInputError("bad_decision", f"{pid}: {message}", decision_id=pid)

    margin, delta = numbers.get("margin"), numbers.get("delta")
    if not (_finite(margin) and margin >= 0):
        raise bad(f"numbers['margin'] must be rupees >= 0, got {margin!r}")
    if not _finite(delta):
        raise bad(f"numbers['delta'] must be a finite delta in units, got {delta!r}")
    for name in ("arm", "regime"):
        value = numbers.get(name)
        if not isinstance(value, str) or not value.strip():
            raise bad(f"numbers[{name!r}] must name the {name}, got {value!r}")
    bounds: dict[str, float | None] = {}
    for name in ("max_loss", "max_profit"):
        value = getattr(d, name)
        if value is None or (isinstance(value, float) and value == math.inf):
            bounds[name] = None
        elif _finite(value) and value >= 0:
            bounds[name] = float(value)
        else:
            raise bad(f"{name} must be rupees >= 0 (inf or None when unbounded), got {value!r}")
    if d.target is not None and not (_finite(d.target) and d.target > 0):
        raise bad(f"target is rupees of profit and must be > 0, got {d.target!r}")
    if d.stop is not None and not (_finite(d.stop) and d.stop < 0):
        raise bad(f"stop is rupees of P&L and must be < 0, got {d.stop!r}")
    if bounds["max_loss"] in (None, 0.0) and margin <= 0:
        raise bad("a position needs a positive max_loss or margin to measure its reward against")
    return {
        "margin": float(margin),
        "delta": float(delta),
        "arm": numbers["arm"],
        "regime": numbers["regime"],
        **bounds,
    }
