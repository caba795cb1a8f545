"""What a decision batch shows in the Dagster UI: counts by wall, the approved trades, the payoff
of the best one, the shared signals and where the run's time went.

The payoff diagram is a hand-drawn SVG (a polyline and two axes), not matplotlib: importing
matplotlib costs a decide run ~0.5 s on every snapshot for one small picture.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import pandas as pd

import dagster as dg
from quantsentinel.assets.metadata import table_md

SVG_W, SVG_H, PAD = 480, 220, 28


def batch_metadata(outcome: Any) -> dict[str, Any]:
    batch, records = outcome.batch, outcome.records
    blocked = {}
    for r in records:
        if not r.approved:
            blocked[r.blocked_by] = blocked.get(r.blocked_by, 0) + 1
    meta: dict[str, Any] = {
        "batch_id": outcome.batch_id,
        "already_decided": outcome.already_decided,
        "regime": str(batch["regime"]),
        "tenants": len(records),
        "approved": sum(r.approved for r in records),
        "blocked_by_wall": dg.MetadataValue.json(dict(sorted(blocked.items()))),
        "approved_trades": _approved_table(records),
        "blocked": _blocked_table(records),
        "fills": len(outcome.fills),
    }
    top = best_trade(records)
    if top is not None and top.payoff:
        meta["top_trade_payoff"] = dg.MetadataValue.md(
            f"**{top.tenant_id}: {top.strategy}** ({top.units} units)\n\n"
            + payoff_svg_md(top.payoff, f"{top.structure} payoff at expiry")
        )
    if outcome.view is not None:
        market = outcome.view.market_record()
        signals = pd.DataFrame([{"signal": k, **v} for k, v in market["signals"].items()])
        meta["signals"] = table_md(signals)
        meta["combination"] = dg.MetadataValue.json(market["combinations"])
        meta["fallbacks"] = dg.MetadataValue.json(market["fallbacks"])
        meta["spot"] = float(market["spot"])
    if outcome.marked is not None:
        meta["positions_closed_on_mark"] = len(outcome.marked.closed)
    if outcome.published is not None:
        meta["published"] = len(outcome.published.published)
        meta["publish_failures"] = dg.MetadataValue.json(dict(outcome.published.failed))
    if outcome.learnt:
        meta["learnt"] = dg.MetadataValue.json(outcome.learnt)
    meta["timings_s"] = dg.MetadataValue.json(outcome.timings)
    return meta


def best_trade(records: list) -> Any | None:
    """The approved decision with the best expected edge per unit of max loss."""
    approved = [r for r in records if r.approved]
    if not approved:
        return None

    def score(r) -> float:
        edge = (r.numbers.get("verdict") or {}).get("edge_per_lot", 0.0)
        lots = max(1, min(leg["lots"] for leg in r.legs))
        loss = r.max_loss if r.max_loss and math.isfinite(r.max_loss) else math.inf
        return float(edge) * lots / loss

    return max(approved, key=score)


def _legs(r) -> str:
    return " ".join(
        f"{'+' if leg['side'] == 'BUY' else '-'}{leg['lots']}x{leg['kind']}"
        f"{'' if leg['strike'] is None else int(leg['strike'])}"
        for leg in r.legs
    )


def _approved_table(records: list) -> dg.MetadataValue:
    rows = [
        {
            "tenant": r.tenant_id, "strategy": r.strategy, "legs": _legs(r), "units": r.units,
            "max_profit": _money(r.max_profit), "max_loss": _money(r.max_loss),
            "target": _money(r.target), "stop": _money(r.stop), "cost": _money(r.expected_cost),
        }
        for r in records if r.approved
    ][:50]  # fmt: skip
    return table_md(pd.DataFrame(rows)) if rows else dg.MetadataValue.md("_no approved trade_")


def _blocked_table(records: list) -> dg.MetadataValue:
    rows = [{"tenant": r.tenant_id, "strategy": r.strategy, "blocked_by": r.blocked_by,
             "reason": r.reason[:160]} for r in records if not r.approved][:50]  # fmt: skip
    return table_md(pd.DataFrame(rows)) if rows else dg.MetadataValue.md("_none blocked_")


def _money(value: float | None) -> str:
    if value is None:
        return ""
    return "unbounded" if not math.isfinite(value) else f"{value:,.0f}"


def payoff_svg(points: list | tuple, title: str) -> str:
    """P&L at expiry against the index, as a small standalone SVG."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(min(ys), 0.0), max(max(ys), 0.0)
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def px(x: float) -> float:
        return PAD + (x - x0) / dx * (SVG_W - 2 * PAD)

    def py(y: float) -> float:
        return SVG_H - PAD - (y - y0) / dy * (SVG_H - 2 * PAD)

    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    zero = py(0.0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_W}" height="{SVG_H}" '
        f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{PAD}" y1="{zero:.1f}" x2="{SVG_W - PAD}" y2="{zero:.1f}" stroke="#999"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{line}"/>'
        f'<text x="{PAD}" y="14">{title}</text>'
        f'<text x="{PAD}" y="{SVG_H - 8}">{x0:,.0f}</text>'
        f'<text x="{SVG_W - PAD}" y="{SVG_H - 8}" text-anchor="end">{x1:,.0f}</text>'
        f'<text x="2" y="{py(y1) + 4:.1f}">{y1:,.0f}</text>'
        f'<text x="2" y="{py(y0):.1f}">{y0:,.0f}</text></svg>'
    )


def payoff_svg_md(points: list | tuple, title: str) -> str:
    encoded = base64.b64encode(payoff_svg(points, title).encode()).decode()
    return f"![payoff](data:image/svg+xml;base64,{encoded})"
