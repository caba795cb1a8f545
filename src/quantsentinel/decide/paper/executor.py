"""The paper executor (seed 004's paper_executor): approved decisions become paper positions that
are filled, marked and closed on later chain snapshots, so every tenant has a track record (and
every learner a reward) before any live order exists.

Money (see pricing.py for the conventions): per position

    entry_premium  = -sum(sign x qty x mid at entry)           signed, + = received
    entry_costs    = entry charges + entry slippage            (CostEngine.entry)
    mark value     = sum(sign x qty x mid at the chain)        long +, short -
    unrealised_pnl = mark value + entry_premium - entry_costs
                   = what closing at the mids would make, net of the entry's costs but before the
                     exit's (they are not known until the exit: its size, quotes and date)
    exit_premium   = +sum(sign x qty x exit price)             mids, or settlement values
    realised_pnl   = entry_premium + exit_premium - entry_costs - exit_costs
    reward         = realised_pnl / max_loss, clipped to [-3, 3] (margin when max loss is unbounded)

So a position closed at the mids it was last marked at realises its unrealised P&L minus the
exit's costs. Target and stop compare `unrealised_pnl` with the decision's rupee levels (target
positive, stop negative); a position whose nearest leg has expired on the chain's trade date is
closed as "expiry" (cash settlement at intrinsic against the chain's spot, `price_expiry`). A fresh
mark that hits target or stop exits at the chain's quotes even on the expiry day.

Writes: a position and its entry fill in one tenant-scope transaction per tenant; a close (the
position's final row and its exit fill) in one tenant-scope transaction; marks of positions that
stay open in one system-scope transaction per call. Marks never move backwards: a chain at or
before a position's last mark leaves it alone, so replaying a chain is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.decide.legs import legs_from_records
from quantsentinel.decide.paper import store
from quantsentinel.decide.paper.checks import decision_numbers
from quantsentinel.decide.paper.marking import delta_notional, exit_reason, settles
from quantsentinel.decide.paper.pricing import (
    PricedFill,
    mark_value,
    price_entry,
    price_exit,
    price_expiry,
)
from quantsentinel.decide.paper.schema import paper_fills, paper_positions
from quantsentinel.decide.paper.store import ClosedPosition, Fill, MarkReport, reward_for
from quantsentinel.decide.schema import decisions as decisions_table
from quantsentinel.decide.store import DecisionRecord, decision_id
from quantsentinel.risk.castle.types import Book
from quantsentinel.risk.costs import CostEngine
from quantsentinel.risk.errors import RiskInputError, TenantError
from quantsentinel.risk.orders import Leg
from quantsentinel.risk.structures.chain import ChainView
from quantsentinel.risk.tenancy.scope import system_scope, tenant_scope
from quantsentinel.risk.tenancy.store import Tenant

_P = paper_positions.c


class PaperExecutor:
    """Opens, marks and closes paper positions; reads tenants' books. One instance serves every
    tenant (it holds no per-tenant state); `cost_engine` defaults to the published NSE schedule."""

    def __init__(self, engine: Engine, cost_engine: CostEngine | None = None) -> None:
        self.engine = engine
        self.costs = cost_engine if cost_engine is not None else CostEngine()

    # --- open ---------------------------------------------------------------------------------

    def open(
        self,
        batch_id: str,
        decisions: Sequence[DecisionRecord],
        chain: ChainView,
        tenants: Mapping[str, Tenant],
    ) -> list[Fill]:
        """Fill every decision of `batch_id` on `chain`; returns the entry fills written now.

        Every decision is checked and priced before anything is written: a blocked one
        (`not_approved`), one that is not stored (`unknown_decision`), an unknown tenant, bad
        numbers (`bad_decision`), malformed legs (OrderError) all raise, and nothing is written.
        A decision already opened is skipped (also when a concurrent run opens it first).
        """
        decisions = list(decisions)
        ids = [decision_id(batch_id, d.tenant_id) for d in decisions]
        if len(set(ids)) != len(ids):
            raise RiskInputError("bad_decision", f"batch {batch_id}: a tenant twice")
        for d in decisions:
            if not d.approved:
                raise RiskInputError(
                    "not_approved",
                    f"{d.tenant_id}'s decision in {batch_id} is blocked by {d.blocked_by!r}; only "
                    "approved decisions are executed",
                    tenant_id=d.tenant_id,
                    blocked_by=d.blocked_by,
                )
        existing, stored = self._known(ids)
        plans = []
        for d, pid in zip(decisions, ids, strict=True):
            if pid in existing:
                continue
            if pid not in stored:
                raise RiskInputError(
                    "unknown_decision",
                    f"no approved decision {pid!r} is stored; write the batch first",
                    decision_id=pid,
                )
            plans.append(self._plan(batch_id, pid, d, chain, tenants))
        if not plans:
            return []
        try:
            # The common case, a decide run filling its batch: one transaction for every tenant
            # (the system scope writes each row with its own tenant_id).
            with system_scope(self.engine) as conn:
                conn.execute(paper_positions.insert(), [position for position, _ in plans])
                conn.execute(paper_fills.insert(), [fill for _, fill in plans])
            return [store.fill_from_row(fill) for _, fill in plans]
        except sa.exc.IntegrityError:
            pass  # a concurrent run opened some of them: one transaction per position instead
        fills = []
        for position, fill in plans:
            try:
                with tenant_scope(self.engine, position["tenant_id"]) as session:
                    session.insert(paper_positions, **position)
                    session.insert(paper_fills, **fill)
            except sa.exc.IntegrityError as exc:
                if self._known([position["position_id"]])[0]:
                    continue  # a concurrent run opened it first: idempotent
                raise RiskInputError(
                    "bad_decision",
                    f"position {position['position_id']} refused by the database: {exc.orig}",
                ) from exc
            fills.append(store.fill_from_row(fill))
        return fills

    def _known(self, ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """(ids already opened, ids stored as approved decisions)."""
        if not ids:
            return set(), set()
        d = decisions_table.c
        with system_scope(self.engine) as conn:
            opened = conn.execute(sa.select(_P.position_id).where(_P.position_id.in_(ids)))
            existing = set(opened.scalars())
            found = conn.execute(
                sa.select(d.decision_id).where(d.decision_id.in_(ids), d.approved.is_(True))
            )
            stored = set(found.scalars())
        return existing, stored

    def _plan(
        self,
        batch_id: str,
        pid: str,
        d: DecisionRecord,
        chain: ChainView,
        tenants: Mapping[str, Tenant],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        tenant = tenants.get(d.tenant_id)
        if tenant is None:
            raise TenantError(
                "unknown_tenant", f"{pid}: tenant {d.tenant_id!r} is not among the tenants given"
            )
        numbers = decision_numbers(pid, d)
        legs = legs_from_records(d.legs)
        wrong = sorted({leg.underlying for leg in legs} - {chain.underlying})
        if wrong:
            raise RiskInputError(
                "wrong_underlying",
                f"{pid}: legs on {', '.join(wrong)} cannot fill on a {chain.underlying} chain",
            )
        filled, priced = price_entry(legs, chain, tenant.brokerage, self.costs)
        ts = chain.ts.to_pydatetime().astimezone(UTC)
        position = {
            "position_id": pid,
            "tenant_id": d.tenant_id,
            "batch_id": batch_id,
            "underlying": chain.underlying,
            "strategy": d.strategy,
            "structure": d.structure,
            "arm": numbers["arm"],
            "regime": numbers["regime"],
            "legs": list(priced.legs),
            "units": d.units,
            "opened_at": ts,
            "entry_spot": chain.spot,
            "entry_premium": priced.premium,
            "entry_costs": priced.costs,
            "max_loss": numbers["max_loss"],
            "max_profit": numbers["max_profit"],
            "margin": numbers["margin"],
            "delta_notional": numbers["delta"] * chain.spot,
            "target": d.target,
            "stop": d.stop,
            "expiry": min(leg.expiry for leg in filled),
            "status": "open",
        }
        return position, _fill_row(position, "entry", ts, priced)

    # --- mark ---------------------------------------------------------------------------------

    def mark(
        self,
        chain: ChainView,
        tenants: Mapping[str, Tenant],
        settlement: Mapping[tuple[str, date], float] | None = None,
    ) -> MarkReport:
        """Value every open position on `chain.underlying` opened before `chain.ts` (and not yet
        marked at or after it) at the chain's mids, refresh its delta exposure, and close those
        at target, stop or expiry.

        Expiry settles at the close, as the exchange does: on the expiry day a position is marked
        (and may hit target or stop) until the last minutes of the session (SETTLE_FROM, IST),
        when it settles at the chain's spot; seen on a later day, it settles at `settlement`'s
        close of its expiry day, (underlying, expiry) -> price, else at the chain's spot and the
        position is listed as stale. Closes are priced before anything is written; a tenant with
        an open position that is not in `tenants` raises TenantError('unknown_tenant') first.
        """
        ts = chain.ts.to_pydatetime().astimezone(UTC)
        query = sa.select(paper_positions).where(
            _P.status == "open",
            _P.underlying == chain.underlying,
            _P.opened_at < ts,
            sa.or_(_P.last_mark_at.is_(None), _P.last_mark_at < ts),
        )
        with system_scope(self.engine) as conn:
            rows = [store.row_dict(r) for r in conn.execute(query.order_by(_P.position_id))]
        unknown = sorted({r["tenant_id"] for r in rows} - set(tenants))
        if unknown:
            raise TenantError(
                "unknown_tenant",
                f"open positions of tenant(s) {', '.join(unknown)} but no Tenant given for them",
                tenants=unknown,
            )
        marks: list[dict[str, Any]] = []
        deltas: list[dict[str, Any]] = []
        closes: list[tuple[dict[str, Any], str, PricedFill, float]] = []
        stale: list[str] = []
        marked = 0
        for row in rows:
            legs = legs_from_records(row["legs"])
            value, _missing = mark_value(legs, chain)
            reason = None
            if value is not None:
                marked += 1
                pnl = value + row["entry_premium"] - row["entry_costs"]
                reason = exit_reason(row, pnl)
            prices: dict[date, float] = {}
            if reason is None and settles(chain, row["expiry"]):
                reason = "expiry"
                # Seen after its expiry day: each expired leg settles at its own day's close.
                for expiry in {leg.expiry for leg in legs if leg.expiry < chain.trade_date}:
                    close = (settlement or {}).get((chain.underlying, expiry))
                    if close is None:
                        stale.append(row["position_id"])
                    else:
                        prices[expiry] = close
            delta = delta_notional(legs, chain, row)
            if reason is None:
                if value is None:  # no value without every quote, but the exposure is known
                    stale.append(row["position_id"])
                    deltas.append({"pid": row["position_id"], "delta": delta})
                else:
                    marks.append({"pid": row["position_id"], "at": ts, "value": value, "pnl": pnl,
                                  "delta": delta})  # fmt: skip
                continue
            plan = tenants[row["tenant_id"]].brokerage
            priced = self._exit(reason, legs, chain, plan, prices)
            if priced.fallback:
                stale.append(row["position_id"])
            exit_spot = prices[min(prices)] if prices else chain.spot
            closes.append((row, reason, priced, exit_spot))
        if marks:
            self._write_marks(marks)
        if deltas:
            self._write_deltas(deltas)
        closed = [self._close(r, why, p, chain, ts, spot) for r, why, p, spot in closes]
        closed = [c for c in closed if c]
        return MarkReport(marked=marked, closed=closed, stale=stale)

    def _exit(
        self, reason: str, legs: Sequence[Leg], chain: ChainView, plan, prices: dict[date, float]
    ) -> PricedFill:
        if reason == "expiry":
            return price_expiry(legs, chain, plan, self.costs, settle_at=prices)
        return price_exit(legs, chain, plan, self.costs)

    def _write_marks(self, marks: list[dict[str, Any]]) -> None:
        at = sa.bindparam("at")
        statement = (
            paper_positions.update()
            .where(
                _P.position_id == sa.bindparam("pid"),
                _P.status == "open",
                sa.or_(_P.last_mark_at.is_(None), _P.last_mark_at < at),
            )
            .values(
                last_mark_at=at,
                last_mark_value=sa.bindparam("value"),
                unrealised_pnl=sa.bindparam("pnl"),
                delta_notional=sa.bindparam("delta"),
            )
        )
        with system_scope(self.engine) as conn:
            conn.execute(statement, marks)

    def _write_deltas(self, deltas: list[dict[str, Any]]) -> None:
        statement = (
            paper_positions.update()
            .where(_P.position_id == sa.bindparam("pid"), _P.status == "open")
            .values(delta_notional=sa.bindparam("delta"))
        )
        with system_scope(self.engine) as conn:
            conn.execute(statement, deltas)

    def _close(
        self,
        row: dict[str, Any],
        reason: str,
        priced: PricedFill,
        chain: ChainView,
        ts: datetime,
        exit_spot: float,
    ) -> ClosedPosition | None:
        """Write the exit fill and the position's final row in one tenant-scope transaction; None
        when another run closed it first (its UPDATE then matches no open row)."""
        realised = row["entry_premium"] + priced.premium - row["entry_costs"] - priced.costs
        reward = reward_for(realised, row["max_loss"], row["margin"])
        values = {
            "status": "closed",
            "closed_at": ts,
            "exit_reason": reason,
            "exit_spot": exit_spot,
            "exit_premium": priced.premium,
            "exit_costs": priced.costs,
            "realised_pnl": realised,
            "reward": reward,
            "last_mark_at": ts,
            "last_mark_value": priced.premium,
            "unrealised_pnl": 0.0,
        }
        with tenant_scope(self.engine, row["tenant_id"]) as session:
            result = session.conn.execute(
                paper_positions.update()
                .where(
                    _P.position_id == row["position_id"],
                    _P.tenant_id == session.tenant_id,
                    _P.status == "open",
                )
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            session.insert(paper_fills, **_fill_row(row, "exit", ts, priced))
        return ClosedPosition(
            position_id=row["position_id"],
            tenant_id=row["tenant_id"],
            batch_id=row["batch_id"],
            underlying=row["underlying"],
            arm=row["arm"],
            regime=row["regime"],
            opened_at=store.utc(row["opened_at"]),
            closed_at=ts,
            reason=reason,
            realised_pnl=realised,
            max_loss=row["max_loss"],
            reward=reward,
            entry_spot=row["entry_spot"],
            exit_spot=exit_spot,
        )

    # --- reads --------------------------------------------------------------------------------

    def books(self, tenant_ids: Iterable[str]) -> dict[str, Book]:
        """Open positions as castle Books, every asked tenant present, in one query."""
        return store.books(self.engine, tenant_ids)

    def summary(self, tenant_id: str) -> dict[str, Any]:
        """open, closed, realised_pnl, unrealised_pnl, fills of one tenant (its own scope)."""
        return store.summary(self.engine, tenant_id)

    def positions(self, tenant_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """One tenant's positions (its own scope), oldest first; `status` 'open' or 'closed'."""
        return store.positions(self.engine, tenant_id, status)

    def fills(self, tenant_id: str, position_id: str | None = None) -> list[Fill]:
        """One tenant's fills (its own scope), in time order."""
        return store.fills(self.engine, tenant_id, position_id)


# --- helpers ---------------------------------------------------------------------------------


def _fill_row(
    position: Mapping[str, Any], phase: str, ts: datetime, priced: PricedFill
) -> dict[str, Any]:
    return {
        "fill_id": f"{position['position_id']}/{phase}",
        "position_id": position["position_id"],
        "tenant_id": position["tenant_id"],
        "batch_id": position["batch_id"],
        "ts": ts,
        "phase": phase,
        "legs": list(priced.legs),
        "premium": priced.premium,
        "charges": priced.charges,
        "slippage": priced.slippage,
        "created_at": datetime.now(UTC),
    }
