"""Writing and reading decision batches.

`DecisionStore.write_batch` writes a batch and every tenant's decision in ONE transaction in the
system scope: a reader (any isolation level) sees the whole batch or none of it, never a part. A
batch id is the snapshot it decided; writing it twice is refused by name (`batch_exists`), since
the rows are durable records the database refuses to change. Tenants read their own decisions
through `tenant_scope` (row-level security on Postgres, the application filter everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from quantsentinel.decide.schema import decision_batches, decisions
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.audit import json_safe
from quantsentinel.risk.tenancy.scope import system_scope, tenant_scope


class BatchExists(RiskInputError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(
            "batch_exists",
            f"batch {batch_id!r} is already decided; a re-run is an explicit re-execution",
            batch_id=batch_id,
        )


@dataclass(frozen=True)
class DecisionRecord:
    """One tenant's answer for one snapshot, approved or blocked, with everything it rests on."""

    tenant_id: str
    approved: bool
    blocked_by: str | None = None
    reason: str = ""
    strategy: str | None = None
    structure: str | None = None
    legs: tuple[Mapping[str, Any], ...] = ()
    units: int = 0
    entry_zone: Mapping[str, float] | None = None
    target: float | None = None
    stop: float | None = None
    max_profit: float | None = None
    max_loss: float | None = None
    expected_cost: float | None = None
    payoff: tuple[tuple[float, float], ...] = ()
    contributions: Mapping[str, float] = field(default_factory=dict)
    fallbacks: Mapping[str, str] = field(default_factory=dict)
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.approved and (self.blocked_by or self.units < 1 or not self.legs):
            raise RiskInputError(
                "bad_decision",
                f"an approved decision for {self.tenant_id!r} needs legs, units >= 1 and no "
                f"blocking wall (got blocked_by={self.blocked_by!r}, units={self.units})",
            )
        if not self.approved and not self.blocked_by:
            raise RiskInputError(
                "bad_decision", f"a blocked decision for {self.tenant_id!r} must name its wall"
            )


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    underlying: str
    snapshot_ts: datetime
    decided_at: datetime
    regime: str
    market: Mapping[str, Any] = field(default_factory=dict)


def decision_id(batch_id: str, tenant_id: str) -> str:
    return f"{batch_id}/{tenant_id}"


class DecisionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write_batch(self, batch: BatchRecord, records: Sequence[DecisionRecord]) -> dict[str, Any]:
        """Write the batch and all its decisions atomically; returns the batch row written."""
        tenants = [r.tenant_id for r in records]
        if len(set(tenants)) != len(tenants):
            raise RiskInputError("bad_decision", f"batch {batch.batch_id}: a tenant twice")
        for stamp in (batch.snapshot_ts, batch.decided_at):
            if stamp.utcoffset() is None:
                raise RiskInputError("bad_input", f"batch times must be tz-aware, got {stamp!r}")
        now = datetime.now(UTC)
        blocked: dict[str, int] = {}
        for r in records:
            if not r.approved:
                blocked[r.blocked_by] = blocked.get(r.blocked_by, 0) + 1
        row = {
            "batch_id": batch.batch_id,
            "underlying": batch.underlying,
            "snapshot_ts": batch.snapshot_ts,
            "decided_at": batch.decided_at,
            "regime": batch.regime,
            "market": json_safe(dict(batch.market)),
            "tenants": len(records),
            "approved": sum(r.approved for r in records),
            "blocked_by": blocked,
            "created_at": now,
        }
        with system_scope(self.engine) as conn:
            exists = conn.execute(
                sa.select(decision_batches.c.batch_id).where(
                    decision_batches.c.batch_id == batch.batch_id
                )
            ).first()
            if exists is not None:
                raise BatchExists(batch.batch_id)
            try:
                conn.execute(decision_batches.insert().values(**row))
                if records:
                    conn.execute(
                        decisions.insert(),
                        [_decision_row(batch.batch_id, r, now) for r in records],
                    )
            except sa.exc.IntegrityError as exc:
                if "decision_batches" in str(exc.orig) and "batch_id" in str(exc.orig):
                    raise BatchExists(batch.batch_id) from exc
                raise RiskInputError(
                    "bad_decision", f"batch {batch.batch_id} refused by the database: {exc.orig}"
                ) from exc
        return row

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """The batch row (operator read, system scope)."""
        with system_scope(self.engine) as conn:
            found = conn.execute(
                sa.select(decision_batches).where(decision_batches.c.batch_id == batch_id)
            ).first()
        return dict(found._mapping) if found is not None else None

    def tenant_decisions(
        self, tenant_id: str, *, batch_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """A tenant's decisions, newest first, read in its own scope."""
        with tenant_scope(self.engine, tenant_id) as session:
            criteria = [decisions.c.batch_id == batch_id] if batch_id is not None else []
            rows = session.select(decisions, *criteria)
        rows.sort(key=lambda r: (r["created_at"], r["decision_id"]), reverse=True)
        return rows[:limit]


def _decision_row(batch_id: str, r: DecisionRecord, now: datetime) -> dict[str, Any]:
    # Shallow: asdict() deep-copies every payoff point and leg, a third of a large batch's time.
    values = {f.name: getattr(r, f.name) for f in fields(r)}
    values = {
        k: json_safe(v) if isinstance(v, Mapping | tuple | list) else v for k, v in values.items()
    }
    for name in ("max_profit", "max_loss"):
        value = getattr(r, name)
        if value is not None and value == float("inf"):
            values[name] = None
            values["numbers"] = {**values["numbers"], f"{name}_unbounded": True}
    return {
        **values,
        "decision_id": decision_id(batch_id, r.tenant_id),
        "batch_id": batch_id,
        "created_at": now,
    }


def stored_records(store: DecisionStore, batch_id: str) -> list[DecisionRecord]:
    """The decisions of a stored batch as records (operator read, system scope)."""
    names = {f.name for f in fields(DecisionRecord)}
    with system_scope(store.engine) as conn:
        rows = conn.execute(
            sa.select(decisions)
            .where(decisions.c.batch_id == batch_id)
            .order_by(decisions.c.tenant_id)
        ).all()
    out = []
    for row in rows:
        values = {k: v for k, v in row._mapping.items() if k in names}
        numbers = dict(values.get("numbers") or {})
        for name in ("max_profit", "max_loss"):
            if values.get(name) is None and numbers.get(f"{name}_unbounded"):
                values[name] = float("inf")
        values["legs"] = tuple(values.get("legs") or ())
        values["payoff"] = tuple(tuple(p) for p in values.get("payoff") or ())
        values["contributions"] = values.get("contributions") or {}
        values["fallbacks"] = values.get("fallbacks") or {}
        values["numbers"] = numbers
        values["reason"] = values.get("reason") or ""
        out.append(DecisionRecord(**values))
    return out
