"""Status transitions of model versions, each one all-or-nothing.

    staged --evaluate--> evaluated --start_shadow--> shadow --promote--> champion --> archived
       \\-> rejected                             \\-> rejected
    champion --rollback--> rolled_back (and the champion it replaced is restored)

Every transition runs in one transaction (`run_transaction`: SERIALIZABLE with retries on
Postgres) that moves the statuses, the production pointer (`model_champions`) and the audit row
together, then calls the alias hook (which moves the MLflow alias) before committing: if the hook
fails, nothing is committed. If the process dies after the hook but before the commit, the
database still names the old champion and `AliasHook` reconciliation (`sync`) repairs MLflow from
it: the database is the source of truth, MLflow follows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from quantsentinel.ml.registry import schema as t
from quantsentinel.ml.registry.schema import tenant_key
from quantsentinel.ml.registry.store import (
    RegistryError,
    RegistryStore,
    VersionRecord,
    audit,
    now,
)
from quantsentinel.ml.registry.transactions import run_transaction

# Called inside the transaction with (new champion, previous champion or None).
AliasHook = Callable[[VersionRecord, VersionRecord | None], None]


class InvalidTransition(RegistryError):
    pass


class NoChampion(RegistryError):
    pass


def _locked_version(conn: Connection, version_id: str) -> VersionRecord:
    query = sa.select(t.model_versions).where(t.model_versions.c.version_id == version_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise RegistryError(f"unknown model version {version_id!r}")
    return VersionRecord.from_row(row)


def _set_status(conn: Connection, version: VersionRecord, status: str, **stamps: datetime) -> None:
    updated = conn.execute(
        t.model_versions.update()
        .where(
            t.model_versions.c.version_id == version.version_id,
            t.model_versions.c.status == version.status,  # guards against a lost update
        )
        .values(status=status, **stamps)
    ).rowcount
    if updated != 1:
        raise InvalidTransition(
            f"{version.type_id} {version.semantic_version} changed status concurrently"
        )


def _require(version: VersionRecord, allowed: tuple[str, ...], action: str) -> None:
    if version.status not in allowed:
        raise InvalidTransition(
            f"cannot {action} {version.type_id} {version.semantic_version} ({version.scope}): "
            f"it is {version.status}, {action} needs {' or '.join(allowed)}"
        )


def _pointer(conn: Connection, type_id: str, scope: str) -> str | None:
    query = sa.select(t.model_champions.c.version_id).where(
        t.model_champions.c.type_id == type_id, t.model_champions.c.tenant_key == scope
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).scalar_one_or_none()


def _point(conn: Connection, type_id: str, scope: str, version_id: str, existed: bool) -> None:
    c = t.model_champions.c
    if existed:
        conn.execute(
            t.model_champions.update()
            .where(c.type_id == type_id, c.tenant_key == scope)
            .values(version_id=version_id, updated_at=now())
        )
    else:
        conn.execute(
            t.model_champions.insert().values(
                type_id=type_id, tenant_key=scope, version_id=version_id, updated_at=now()
            )
        )


class Transitions:
    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.engine = store.engine

    def record_evaluation(
        self,
        version_id: str,
        *,
        champion_version_id: str | None,
        slice_id: str,
        candidate_metrics: Mapping[str, float],
        champion_metrics: Mapping[str, float] | None,
        verdict: Mapping[str, Any],
        actor: str = "evaluation",
    ) -> VersionRecord:
        """Store a paired evaluation; staged -> evaluated when its verdict passed, else rejected."""

        def body(conn: Connection) -> VersionRecord:
            version = _locked_version(conn, version_id)
            _require(version, ("staged",), "evaluate")
            passed = bool(verdict["passed"])
            conn.execute(
                t.model_evaluations.insert().values(
                    candidate_version_id=version_id,
                    champion_version_id=champion_version_id,
                    slice_id=slice_id,
                    candidate_metrics=t.json_safe(candidate_metrics),
                    champion_metrics=t.json_safe(champion_metrics) if champion_metrics else None,
                    passed=passed,
                    verdict=t.json_safe(verdict),
                    evaluated_at=now(),
                )
            )
            target = "evaluated" if passed else "rejected"
            stamp = {"evaluated_at": now()} if passed else {"archived_at": now()}
            _set_status(conn, version, target, **stamp)
            audit(
                conn,
                version,
                from_status="staged",
                to_status=target,
                actor=actor,
                reason=str(verdict.get("reason") or "paired evaluation"),
                verdict=verdict,
            )
            return self.store._get(conn, version_id)

        return run_transaction(self.engine, body, scope=self._scope_of(version_id))

    def _scope_of(self, version_id: str) -> tuple[str, str]:
        version = self.store.get_version(version_id)
        return version.type_id, version.tenant_key

    def start_shadow(self, version_id: str, *, actor: str = "evaluation") -> VersionRecord:
        def body(conn: Connection) -> VersionRecord:
            version = _locked_version(conn, version_id)
            _require(version, ("evaluated",), "start the shadow window of")
            _set_status(conn, version, "shadow", shadow_started_at=now())
            audit(
                conn,
                version,
                from_status="evaluated",
                to_status="shadow",
                actor=actor,
                reason="passed the paired evaluation; predictions logged, not used",
            )
            return self.store._get(conn, version_id)

        return run_transaction(self.engine, body, scope=self._scope_of(version_id))

    def reject(
        self,
        version_id: str,
        *,
        actor: str,
        reason: str,
        verdict: Mapping[str, Any] | None = None,
    ) -> VersionRecord:
        def body(conn: Connection) -> VersionRecord:
            version = _locked_version(conn, version_id)
            _require(version, ("staged", "evaluated", "shadow"), "reject")
            _set_status(conn, version, "rejected", archived_at=now())
            audit(
                conn,
                version,
                from_status=version.status,
                to_status="rejected",
                actor=actor,
                reason=reason,
                verdict=verdict,
            )
            return self.store._get(conn, version_id)

        return run_transaction(self.engine, body, scope=self._scope_of(version_id))

    def promote(
        self,
        version_id: str,
        *,
        actor: str,
        reason: str,
        verdict: Mapping[str, Any] | None = None,
        allowed_from: tuple[str, ...] = ("shadow",),
        alias_hook: AliasHook | None = None,
    ) -> VersionRecord:
        """Make `version_id` the champion of its (type, tenant), archiving the current one."""

        def body(conn: Connection) -> VersionRecord:
            version = _locked_version(conn, version_id)
            _require(version, allowed_from, "promote")
            previous_id = _pointer(conn, version.type_id, version.tenant_key)
            _require_same_champion(conn, version, previous_id)
            previous = _locked_version(conn, previous_id) if previous_id else None
            if previous is not None:
                # Archive first: the partial unique index allows one 'champion' at a time.
                _set_status(conn, previous, "archived", archived_at=now())
                audit(
                    conn,
                    previous,
                    from_status="champion",
                    to_status="archived",
                    actor=actor,
                    reason=f"replaced by {version.semantic_version}",
                )
            conn.execute(
                t.model_versions.update()
                .where(t.model_versions.c.version_id == version_id)
                .values(status="champion", promoted_at=now(), replaced_version_id=previous_id)
            )
            _point(conn, version.type_id, version.tenant_key, version_id, previous is not None)
            audit(
                conn,
                version,
                from_status=version.status,
                to_status="champion",
                actor=actor,
                reason=reason,
                verdict=verdict,
            )
            promoted = self.store._get(conn, version_id)
            if alias_hook is not None:
                alias_hook(promoted, previous)
            return promoted

        return run_transaction(self.engine, body, scope=self._scope_of(version_id))

    def rollback(
        self,
        type_id: str,
        tenant_id: str | None,
        *,
        actor: str,
        reason: str,
        alias_hook: AliasHook | None = None,
    ) -> VersionRecord:
        """Restore the champion the current one replaced; the current one is rolled back.
        Rolling back again walks further down the chain of replaced champions."""
        scope = tenant_key(tenant_id)

        def body(conn: Connection) -> VersionRecord:
            current_id = _pointer(conn, type_id, scope)
            if current_id is None:
                raise NoChampion(f"{type_id} ({_scope_name(scope)}) has no champion to roll back")
            current = _locked_version(conn, current_id)
            if current.replaced_version_id is None:
                raise InvalidTransition(
                    f"{type_id} {current.semantic_version} ({_scope_name(scope)}) is the first "
                    "champion: there is no previous champion to roll back to"
                )
            target = _locked_version(conn, current.replaced_version_id)
            _set_status(conn, current, "rolled_back", archived_at=now())
            _set_status(conn, target, "champion", promoted_at=now())
            _point(conn, type_id, scope, target.version_id, existed=True)
            audit(
                conn,
                current,
                from_status="champion",
                to_status="rolled_back",
                actor=actor,
                reason=reason,
            )
            audit(
                conn,
                target,
                from_status=target.status,
                to_status="champion",
                actor=actor,
                reason=f"rollback from {current.semantic_version}: {reason}",
            )
            restored = self.store._get(conn, target.version_id)
            if alias_hook is not None:
                alias_hook(restored, current)
            return restored

        return run_transaction(self.engine, body, scope=(type_id, scope))

    def shadow_due(self, at: datetime | None = None) -> list[VersionRecord]:
        """Versions whose shadow window (their type's `shadow_window_hours`) has elapsed."""
        at = at or now()
        v, m = t.model_versions.c, t.model_types.c
        query = (
            sa.select(t.model_versions, m.shadow_window_hours)
            .join(t.model_types, v.type_id == m.type_id)
            .where(v.status == "shadow")
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        due = []
        for row in rows:
            version = VersionRecord.from_row(row)
            elapsed = (at - version.shadow_started_at).total_seconds() / 3600
            if elapsed >= float(row["shadow_window_hours"]):
                due.append(version)
        return due


class ChampionChanged(InvalidTransition):
    """The champion is no longer the one the candidate was evaluated (and shadowed) against."""


def _require_same_champion(conn: Connection, version: VersionRecord, current: str | None) -> None:
    """A candidate earns promotion by beating a specific champion; if an operator promoted or
    rolled back since, that evidence no longer applies and the candidate must be re-evaluated."""
    e = t.model_evaluations.c
    evaluated_against = conn.execute(
        sa.select(e.champion_version_id)
        .where(e.candidate_version_id == version.version_id, e.passed.is_(True))
        .order_by(e.id.desc())
        .limit(1)
    ).first()
    if evaluated_against is None:
        return  # never evaluated: only an operator's explicit promotion gets here
    if evaluated_against[0] != current:
        raise ChampionChanged(
            f"{version.type_id} {version.semantic_version} ({version.scope}) was evaluated "
            f"against champion {evaluated_against[0] or 'none'}, but the champion is now "
            f"{current or 'none'}: re-evaluate it against the current champion"
        )


def _scope_name(scope: str) -> str:
    return "global" if scope == t.GLOBAL else f"tenant {scope}"


def invariant_violations(store: RegistryStore) -> list[str]:
    """Every (type, scope) has at most one champion, and it is the one the pointer names."""
    v = t.model_versions.c
    problems = []
    with store.engine.connect() as raw:
        # One snapshot for all the reads: under READ COMMITTED a promotion committing between two
        # statements would show a state that never existed.
        pg = raw.dialect.name == "postgresql"
        conn = raw.execution_options(isolation_level="REPEATABLE READ") if pg else raw
        conn.begin()
        champions = conn.execute(
            sa.select(v.type_id, v.tenant_key, sa.func.count().label("n"))
            .where(v.status == "champion")
            .group_by(v.type_id, v.tenant_key)
        ).all()
        pointers = {
            (r.type_id, r.tenant_key): r.version_id
            for r in conn.execute(sa.select(t.model_champions))
        }
        for type_id, scope, n in champions:
            if n != 1:
                problems.append(f"{type_id}/{scope}: {n} champions")
        champion_ids = dict(
            ((r.type_id, r.tenant_key), r.version_id)
            for r in conn.execute(
                sa.select(v.type_id, v.tenant_key, v.version_id).where(v.status == "champion")
            )
        )
        for scope_key, version_id in pointers.items():
            if champion_ids.get(scope_key) != version_id:
                problems.append(f"{scope_key}: pointer {version_id} is not the champion version")
        for scope_key in champion_ids:
            if scope_key not in pointers:
                problems.append(f"{scope_key}: a champion without a pointer")
    return problems
