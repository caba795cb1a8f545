"""Legs as they are stored in a decision row and read back by the paper executor.

A decision's `legs` column is plain JSON, one mapping per leg, with everything needed to send or
replay the order without the snapshot it came from:

    {"underlying": "NIFTY", "kind": "CE" | "PE" | "FUT", "expiry": "YYYY-MM-DD",
     "strike": float | None, "side": "BUY" | "SELL", "lots": int, "lot_size": int,
     "bid": float, "ask": float, "mid": float, "iv": float | None}

`lots` is the decision's total lots of that leg (already sized), not one unit's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from quantsentinel.risk.errors import OrderError
from quantsentinel.risk.orders import Leg, Quote

LEG_FIELDS = ("underlying", "kind", "expiry", "strike", "side", "lots", "lot_size", "bid", "ask")


def leg_record(leg: Leg) -> dict[str, Any]:
    """One leg as the JSON mapping a decision row stores."""
    iv = leg.quote.iv
    return {
        "underlying": leg.underlying,
        "kind": leg.kind,
        "expiry": leg.expiry.isoformat(),
        "strike": None if leg.strike is None else float(leg.strike),
        "side": leg.side,
        "lots": int(leg.lots),
        "lot_size": int(leg.lot_size),
        "bid": float(leg.quote.bid),
        "ask": float(leg.quote.ask),
        "mid": float(leg.quote.mid),
        "iv": None if iv is None or not math.isfinite(iv) else float(iv),
    }


def leg_from_record(record: Mapping[str, Any], index: int = 0) -> Leg:
    """The `Leg` a stored mapping describes; a missing or malformed field is named."""
    missing = [f for f in LEG_FIELDS if f not in record]
    if missing:
        raise OrderError("bad_leg", f"leg {index}: missing {', '.join(missing)}", leg=index)
    try:
        strike = record["strike"]
        return Leg(
            underlying=str(record["underlying"]),
            kind=str(record["kind"]),
            expiry=date.fromisoformat(str(record["expiry"])),
            strike=None if strike is None else float(strike),
            side=str(record["side"]),
            lots=int(record["lots"]),
            lot_size=int(record["lot_size"]),
            quote=Quote(float(record["bid"]), float(record["ask"]), record.get("iv")),
        )
    except (TypeError, ValueError) as exc:
        raise OrderError("bad_leg", f"leg {index}: {exc}", leg=index) from exc


def legs_from_records(records: Iterable[Mapping[str, Any]]) -> tuple[Leg, ...]:
    return tuple(leg_from_record(r, i) for i, r in enumerate(records))
