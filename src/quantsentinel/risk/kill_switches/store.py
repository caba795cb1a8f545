"""`KillSwitchStore`: the twelve switches over one database: trip and reset by hand, sweep
observations into trips and automatic resets, read the state.

A sweep is one transaction and applies its changes in switch_key order, so two sweepers lock rows
in the same order and cannot deadlock each other; the row-level race (two sweepers tripping the
same switch) is settled in `state.trip_in`, which audits exactly one trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from quantsentinel.risk.kill_switches import definitions as d
from quantsentinel.risk.kill_switches.blocking import blocking
from quantsentinel.risk.kill_switches.definitions import KillSwitchError, PlatformLimits
from quantsentinel.risk.kill_switches.evaluation import evaluate
from quantsentinel.risk.kill_switches.observations import Observations
from quantsentinel.risk.kill_switches.state import (
    SwitchState,
    require_text,
    reset_in,
    to_state,
    trip_in,
)
from quantsentinel.risk.tenancy.policy import RiskPolicy
from quantsentinel.risk.tenancy.schema import kill_switches
from quantsentinel.risk.tenancy.scope import system_scope


@dataclass(frozen=True)
class SweepResult:
    """What one sweep changed: switches it tripped, switches it reset, and every other switch
    tripped after it (refreshed by this sweep, or left for an operator)."""

    tripped: list[SwitchState]
    reset: list[SwitchState]
    still_tripped: list[SwitchState]


class KillSwitchStore:
    """The twelve switches over one database. Trips, resets, sweeps and the operator reads
    (`status`, `tripped`) run in the system scope (no tenant, the schema owner's role: they
    write global rows and every tenant's rows); decisions ask `blocking` on their own
    tenant-scoped connection."""

    def __init__(self, engine: Engine, limits: PlatformLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or PlatformLimits()

    def trip(
        self,
        kind: str,
        scope_key: str,
        *,
        tenant_id: str | None = None,
        reason: str,
        numbers: Mapping[str, Any] | None = None,
        actor: str,
    ) -> SwitchState:
        """Trip a switch by hand (the master switch's only way in). The dry-run lock is refused:
        it mirrors the database's 14-day rule and only a sweep sets or clears it."""
        spec = d.validate_scope(kind, scope_key, tenant_id)
        if spec.name == d.DRY_RUN_LOCK:
            raise KillSwitchError(
                "not_by_hand",
                "the dry-run lock follows the tenant's created_at; a sweep sets it",
                kind=spec.name,
            )
        with system_scope(self.engine) as conn:
            trip_in(
                conn,
                spec,
                scope_key,
                tenant_id,
                require_text(reason, "reason"),
                numbers,
                require_text(actor, "actor"),
            )
            return self._get(conn, spec.name, scope_key)

    def reset(self, kind: str, scope_key: str, *, actor: str, reason: str) -> SwitchState:
        """Clear a switch by hand, audited. Resetting a switch that is not tripped changes
        nothing; one that never tripped, an unknown kind, or the dry-run lock are refused."""
        spec = d.kind(kind)
        if spec.name == d.DRY_RUN_LOCK:
            raise KillSwitchError(
                "not_by_hand",
                "the dry-run lock cannot be reset by hand: the database keeps a tenant "
                "paper-only for its first 14 days and the lock lifts when that rule does",
                kind=spec.name,
                scope_key=scope_key,
            )
        with system_scope(self.engine) as conn:
            reset_in(
                conn,
                spec,
                scope_key,
                require_text(reason, "reason"),
                None,
                require_text(actor, "actor"),
            )
            return self._get(conn, spec.name, scope_key)

    def sweep(
        self,
        observations: Observations,
        policies: Mapping[str, RiskPolicy],
        actor: str = "sweeper",
    ) -> SweepResult:
        """Evaluate the observations, trip every breach, reset every automatic switch found
        clear, and leave operator switches as they are; one transaction."""
        actor = require_text(actor, "actor")
        evaluation = evaluate(observations, policies, self.limits)
        trips = {d.switch_key(t.kind, t.scope_key): t for t in evaluation.trips}
        clears = {
            d.switch_key(r.kind, r.scope_key): r
            for r in evaluation.readings
            if not r.breached and d.kind(r.kind).auto_reset
        }
        with system_scope(self.engine) as conn:
            was_tripped = {s.switch_key for s in self._select(conn, tripped_only=True)}
            tripped_now, reset_now = set(), set()
            for key in sorted(trips.keys() | (clears.keys() & was_tripped)):
                if key in trips:
                    trip = trips[key]
                    spec = d.validate_scope(trip.kind, trip.scope_key, trip.tenant_id)
                    changed = trip_in(
                        conn, spec, trip.scope_key, trip.tenant_id, trip.reason, trip.numbers, actor
                    )
                    if changed:
                        tripped_now.add(key)
                else:
                    clear = clears[key]
                    reason = f"condition clear: {clear.reason}"
                    spec = d.kind(clear.kind)
                    if reset_in(conn, spec, clear.scope_key, reason, clear.numbers, actor):
                        reset_now.add(key)
            states = self._select(conn, tripped_only=False)
        return SweepResult(
            tripped=[s for s in states if s.switch_key in tripped_now],
            reset=[s for s in states if s.switch_key in reset_now],
            still_tripped=[s for s in states if s.tripped and s.switch_key not in tripped_now],
        )

    def status(self) -> list[SwitchState]:
        """Every switch that ever tripped, tripped or not, in switch-number order."""
        with system_scope(self.engine) as conn:
            return self._select(conn, tripped_only=False)

    def tripped(self) -> list[SwitchState]:
        """Every switch tripped now, in switch-number order."""
        with system_scope(self.engine) as conn:
            return self._select(conn, tripped_only=True)

    def state(self, kind: str, scope_key: str) -> SwitchState | None:
        """One switch's row, None if it never tripped."""
        spec = d.kind(kind)
        with system_scope(self.engine) as conn:
            row = conn.execute(
                sa.select(kill_switches).where(
                    kill_switches.c.switch_key == d.switch_key(spec.name, scope_key)
                )
            ).first()
        return None if row is None else to_state(row)

    def blocking(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        strategy: str | None = None,
        symbol: str | None = None,
        broker: str | None = None,
        exchange: str | None = "NSE",
        models: Iterable[str] = (),
        live: bool = False,
    ) -> list[SwitchState]:
        """See the module-level `blocking`."""
        return blocking(
            conn,
            tenant_id=tenant_id,
            strategy=strategy,
            symbol=symbol,
            broker=broker,
            exchange=exchange,
            models=models,
            live=live,
        )

    @staticmethod
    def _get(conn: Connection, kind: str, scope_key: str) -> SwitchState:
        query = sa.select(kill_switches).where(
            kill_switches.c.switch_key == d.switch_key(kind, scope_key)
        )
        return to_state(conn.execute(query).one())

    @staticmethod
    def _select(conn: Connection, *, tripped_only: bool) -> list[SwitchState]:
        query = sa.select(kill_switches)
        if tripped_only:
            query = query.where(kill_switches.c.tripped == sa.true())
        states = [to_state(row) for row in conn.execute(query)]
        return sorted(states, key=lambda s: (s.number, s.scope_key))
