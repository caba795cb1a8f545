"""Reads and plain writes of the registry's production layer (transitions are in transitions.py).

Tenant in every signature: a lookup names its tenant (None means the global scope, explicitly).
A tenant sees its own versions and the global ones, never another tenant's; the champion lookup
falls back to the global champion when the tenant has none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from quantsentinel.ml.registry import schema as t
from quantsentinel.ml.registry.evidence import EvidenceMixin
from quantsentinel.ml.registry.schema import GLOBAL, tenant_key


class RegistryError(ValueError):
    """A registry request that cannot be honoured; the message says what and why."""


class UnknownModelType(RegistryError):
    pass


class UnknownVersion(RegistryError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ModelType:
    type_id: str
    framework: str
    retrain_cadence_hours: float
    contract: dict
    shadow_window_hours: float = 48.0
    description: str = ""


@dataclass(frozen=True)
class VersionRecord:
    version_id: str
    type_id: str
    tenant_id: str | None
    tenant_key: str
    semantic_version: str
    parent_version_id: str | None
    code_git_commit: str
    code_git_branch: str
    training_data_version: str | None
    training_data_end: date | None
    hyperparameters: dict
    feature_set: Any
    train_metrics: dict | None
    validation_metrics: dict | None
    status: str
    artifact_path: str
    artifact_sha256: str
    artifact_size_bytes: int
    artifact_fingerprint: str
    mlflow_model_name: str | None
    mlflow_version: str | None
    mlflow_run_id: str | None
    replaced_version_id: str | None
    created_at: datetime
    evaluated_at: datetime | None
    shadow_started_at: datetime | None
    promoted_at: datetime | None
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VersionRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        for stamp in (
            "created_at",
            "evaluated_at",
            "shadow_started_at",
            "promoted_at",
            "archived_at",
        ):
            values[stamp] = _aware(values[stamp])
        return cls(**values)

    @property
    def scope(self) -> str:
        return "global" if self.tenant_key == GLOBAL else f"tenant {self.tenant_key}"


_STAMPS = ("created_at", "evaluated_at", "shadow_started_at", "promoted_at", "archived_at")


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive (in UTC, as written); make them aware again.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def audit(
    conn: Connection,
    version: VersionRecord,
    *,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str,
    verdict: Mapping[str, Any] | None = None,
) -> None:
    """One row per transition: who moved which version from what to what, and why."""
    conn.execute(
        t.model_promotions.insert().values(
            type_id=version.type_id,
            tenant_key=version.tenant_key,
            version_id=version.version_id,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            reason=reason,
            verdict=t.json_safe(verdict) if verdict is not None else None,
            at=now(),
        )
    )


def _dialect_insert(engine: Engine):
    # ON CONFLICT is spelled the same on both backends but lives in each dialect's module.
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class RegistryStore(EvidenceMixin):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- model types -------------------------------------------------------------------
    def upsert_type(self, model_type: ModelType) -> None:
        values = {
            "framework": model_type.framework,
            "description": model_type.description,
            "retrain_cadence_hours": model_type.retrain_cadence_hours,
            "shadow_window_hours": model_type.shadow_window_hours,
            "contract": t.json_safe(model_type.contract),
        }
        with self.engine.begin() as conn:
            updated = conn.execute(
                t.model_types.update()
                .where(t.model_types.c.type_id == model_type.type_id)
                .values(**values)
            ).rowcount
            if not updated:
                conn.execute(
                    t.model_types.insert().values(
                        type_id=model_type.type_id, created_at=now(), **values
                    )
                )

    def get_type(self, type_id: str) -> ModelType:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(t.model_types).where(t.model_types.c.type_id == type_id))
                .mappings()
                .first()
            )
        if row is None:
            known = ", ".join(m.type_id for m in self.list_types()) or "none registered"
            raise UnknownModelType(f"unknown model type {type_id!r} (known: {known})")
        return ModelType(**{f.name: row[f.name] for f in fields(ModelType)})

    def list_types(self) -> list[ModelType]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.model_types).order_by("type_id")).mappings().all()
        return [ModelType(**{f.name: r[f.name] for f in fields(ModelType)}) for r in rows]

    # --- training data ------------------------------------------------------------------
    def record_training_data(
        self,
        data_version: str,
        type_id: str,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        row_count: int | None = None,
        sha256: str | None = None,
        location: str | None = None,
        description: str = "",
    ) -> None:
        """Idempotent, also under concurrent retrains: the same data version is one row."""
        insert = _dialect_insert(self.engine)(t.training_data_versions).values(
            data_version=data_version,
            type_id=type_id,
            start_date=start_date,
            end_date=end_date,
            row_count=row_count,
            sha256=sha256,
            location=location,
            description=description,
            created_at=now(),
        )
        with self.engine.begin() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["data_version"]))

    # --- versions -------------------------------------------------------------------------
    def register_version(
        self,
        *,
        type_id: str,
        tenant_id: str | None,
        semantic_version: str,
        artifact_path: str,
        artifact_sha256: str,
        artifact_size_bytes: int,
        artifact_fingerprint: str,
        hyperparameters: Mapping[str, Any],
        code_git_commit: str,
        code_git_branch: str,
        training_data_version: str | None = None,
        training_data_end: date | None = None,
        feature_set: Any = None,
        train_metrics: Mapping[str, float] | None = None,
        validation_metrics: Mapping[str, float] | None = None,
        parent_version_id: str | None = None,
        mlflow_model_name: str | None = None,
        mlflow_version: str | None = None,
        mlflow_run_id: str | None = None,
        actor: str = "training",
    ) -> VersionRecord:
        """A new version in status `staged`, with its audit row and lineage edge."""
        self.get_type(type_id)  # a clear error for an unknown type, before any write
        scope = tenant_key(tenant_id)
        version_id = str(uuid.uuid4())
        row = {
            "version_id": version_id,
            "type_id": type_id,
            "tenant_id": tenant_id,
            "tenant_key": scope,
            "semantic_version": semantic_version,
            "parent_version_id": parent_version_id,
            "code_git_commit": code_git_commit,
            "code_git_branch": code_git_branch,
            "training_data_version": training_data_version,
            "training_data_end": training_data_end,
            "hyperparameters": t.json_safe(hyperparameters),
            "feature_set": t.json_safe(feature_set),
            "train_metrics": t.json_safe(train_metrics) if train_metrics else None,
            "validation_metrics": t.json_safe(validation_metrics) if validation_metrics else None,
            "status": "staged",
            "artifact_path": artifact_path,
            "artifact_sha256": artifact_sha256,
            "artifact_size_bytes": artifact_size_bytes,
            "artifact_fingerprint": artifact_fingerprint,
            "mlflow_model_name": mlflow_model_name,
            "mlflow_version": mlflow_version,
            "mlflow_run_id": mlflow_run_id,
            "created_at": now(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(t.model_versions.insert().values(**row))
                if parent_version_id:
                    conn.execute(
                        t.model_lineage.insert().values(
                            parent_version_id=parent_version_id,
                            child_version_id=version_id,
                            relation="retrain",
                            created_at=now(),
                        )
                    )
                record = self._get(conn, version_id)
                audit(
                    conn,
                    record,
                    from_status=None,
                    to_status="staged",
                    actor=actor,
                    reason="trained and registered",
                )
        except sa.exc.IntegrityError as exc:
            if "semver" in str(exc.orig) or "semantic_version" in str(exc.orig):
                raise RegistryError(
                    f"{type_id} ({'global' if tenant_id is None else 'tenant ' + tenant_id}) "
                    f"already has version {semantic_version}"
                ) from exc
            raise
        return record

    @staticmethod
    def _get(conn: Connection, version_id: str) -> VersionRecord:
        row = (
            conn.execute(
                sa.select(t.model_versions).where(t.model_versions.c.version_id == version_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise UnknownVersion(f"unknown model version {version_id!r}")
        return VersionRecord.from_row(row)

    def get_version(self, version_id: str) -> VersionRecord:
        with self.engine.connect() as conn:
            return self._get(conn, version_id)

    def find_version(
        self, type_id: str, tenant_id: str | None, semantic_version: str
    ) -> VersionRecord:
        """A version by its human name; another tenant's version is not found, by design."""
        c = t.model_versions.c
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(t.model_versions).where(
                        c.type_id == type_id,
                        c.tenant_key == tenant_key(tenant_id),
                        c.semantic_version == semantic_version,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            scope = "global" if tenant_id is None else f"tenant {tenant_id}"
            raise UnknownVersion(f"{type_id} has no version {semantic_version} ({scope})")
        return VersionRecord.from_row(row)

    def versions(
        self,
        type_id: str,
        *,
        tenant_id: str | None,
        include_global: bool = True,
        statuses: Iterable[str] | None = None,
    ) -> list[VersionRecord]:
        """The versions a tenant may see (its own, plus global ones), newest first."""
        c = t.model_versions.c
        scopes = {tenant_key(tenant_id)} | ({GLOBAL} if include_global else set())
        query = sa.select(t.model_versions).where(c.type_id == type_id, c.tenant_key.in_(scopes))
        if statuses is not None:
            query = query.where(c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.created_at.desc())).mappings().all()
        return [VersionRecord.from_row(r) for r in rows]

    def next_semantic_version(self, type_id: str, tenant_id: str | None) -> str:
        """One minor step past the highest version in this scope ("1.0.0" for the first)."""
        existing = self.versions(type_id, tenant_id=tenant_id, include_global=False)
        scope = tenant_key(tenant_id)
        parsed = [
            tuple(int(p) for p in v.semantic_version.split("."))
            for v in existing
            if v.tenant_key == scope
        ]
        if not parsed:
            return "1.0.0"
        major, minor, _ = max(parsed)
        return f"{major}.{minor + 1}.0"

    def champion(
        self, type_id: str, tenant_id: str | None, *, fallback_to_global: bool = True
    ) -> VersionRecord | None:
        """The version serving (type, tenant): the tenant's champion, else the global one."""
        scopes = [tenant_key(tenant_id)]
        if fallback_to_global and scopes[0] != GLOBAL:
            scopes.append(GLOBAL)
        with self.engine.connect() as conn:
            for scope in scopes:
                pointer = conn.execute(
                    sa.select(t.model_champions.c.version_id).where(
                        t.model_champions.c.type_id == type_id,
                        t.model_champions.c.tenant_key == scope,
                    )
                ).scalar_one_or_none()
                if pointer is not None:
                    return self._get(conn, pointer)
        return None

    def history(self, type_id: str, tenant_id: str | None) -> list[dict]:
        """Every transition in this scope, oldest first."""
        p, v = t.model_promotions.c, t.model_versions.c
        query = (
            sa.select(t.model_promotions, v.semantic_version)
            .select_from(t.model_promotions.outerjoin(t.model_versions))
            .where(p.type_id == type_id, p.tenant_key == tenant_key(tenant_id))
            .order_by(p.id)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def versions_in_status(self, status: str, limit: int = 200) -> list[VersionRecord]:
        """Every scope's versions in `status`, oldest first. A system view for the registry's own
        sensors, never for a tenant-facing answer."""
        c = t.model_versions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_versions)
                .where(c.status == status)
                .order_by(c.created_at)
                .limit(limit)
            ).mappings()
            return [VersionRecord.from_row(r) for r in rows]

    def transitions_since(self, after_id: int, to_status: str, limit: int = 200) -> list[dict]:
        """Audit rows entering `to_status` with id > after_id: the cursor sensors walk."""
        p = t.model_promotions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_promotions)
                .where(p.id > after_id, p.to_status == to_status)
                .order_by(p.id)
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]
