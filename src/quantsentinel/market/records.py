"""Durable audit records of market inputs, in the project's own database.

Parquet holds the data; these rows hold the decisions about it: every inbound file (accepted or
rejected, with its reason) and every quarantined snapshot (with every reason). They survive a
wiped data directory and are what an operator queries to answer "what happened to that file?".
Schema changes go through Alembic (migrations/); `metadata` here is the source of truth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

ingested_inputs = sa.Table(
    "ingested_inputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("file_name", sa.String(512), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),  # accepted | rejected
    sa.Column("reason", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Column("stored_at", sa.Text, nullable=False),
    sa.Column("partitions", sa.Text),  # JSON list of "YYYY-MM-DD|SYMBOL"
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

quarantine_events = sa.Table(
    "quarantine_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.String(128), nullable=False),
    sa.Column("partition_key", sa.String(64), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),  # JSON list of reason names
    sa.Column("details", sa.Text, nullable=False),  # JSON list of human-readable details
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64)),  # the run that last reached this verdict
    sa.Column("times_seen", sa.Integer, nullable=False, server_default="1"),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # One verdict per snapshot per partition: a re-run updates it instead of piling up copies.
    sa.UniqueConstraint("snapshot_id", "partition_key", name="uq_quarantine_snapshot_partition"),
)


def record_input(
    engine: Engine,
    *,
    sha256: str,
    file_name: str,
    size_bytes: int,
    fmt: str | None,
    status: str,
    stored_at: str,
    received_at: datetime,
    reason: str | None = None,
    detail: str | None = None,
    partitions: Iterable[str] = (),
) -> bool:
    """Insert one inbound-file record; False if that content was already recorded (also when a
    concurrent taker recorded it a moment earlier: the unique sha256 decides, not a pre-check)."""
    values = {
        "sha256": sha256,
        "file_name": file_name,
        "size_bytes": size_bytes,
        "format": fmt,
        "status": status,
        "reason": reason,
        "detail": detail,
        "stored_at": stored_at,
        "partitions": json.dumps(sorted(partitions)),
        "received_at": received_at,
    }
    try:
        with engine.begin() as conn:
            conn.execute(ingested_inputs.insert().values(**values))
    except sa.exc.IntegrityError:
        return False
    return True


def input_status(engine: Engine, sha256: str) -> str | None:
    """'accepted' / 'rejected' for content seen before, None for new content."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ingested_inputs.c.status).where(ingested_inputs.c.sha256 == sha256)
        ).scalar_one_or_none()


def inputs_since(engine: Engine, after_id: int, limit: int = 500) -> list[dict]:
    """Records with id > after_id, oldest first: the ledger the inbox sensor's cursor walks, so a
    tick that died after landing files still launches their runs on the next tick."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ingested_inputs)
            .where(ingested_inputs.c.id > after_id)
            .order_by(ingested_inputs.c.id)
            .limit(limit)
        ).mappings()
        return [dict(r) for r in rows]


def record_quarantine(
    engine: Engine, rows: Iterable[dict], *, partition_key: str, run_id: str | None
) -> int:
    """Upsert the verdicts on quarantined snapshots (dicts with snapshot_id, reasons, details,
    n_rows): one row per (snapshot, partition), updated when a re-run reaches it again."""
    now = datetime.now(UTC)
    values = [
        {
            "snapshot_id": r["snapshot_id"],
            "partition_key": partition_key,
            "reasons": json.dumps(list(r["reasons"])),
            "details": json.dumps(list(r["details"])),
            "n_rows": int(r["n_rows"]),
            "run_id": run_id,
            "recorded_at": now,
        }
        for r in rows
    ]
    if not values:
        return 0
    insert = _dialect_insert(engine)(quarantine_events)
    upsert = insert.on_conflict_do_update(
        index_elements=["snapshot_id", "partition_key"],
        set_={
            "reasons": insert.excluded.reasons,
            "details": insert.excluded.details,
            "n_rows": insert.excluded.n_rows,
            "run_id": insert.excluded.run_id,
            "recorded_at": insert.excluded.recorded_at,
            "times_seen": quarantine_events.c.times_seen + 1,
        },
    )
    with engine.begin() as conn:
        conn.execute(upsert, values)
    return len(values)


def _dialect_insert(engine: Engine):
    # ON CONFLICT is spelled the same on both backends, but lives in each dialect's module.
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def list_inputs(engine: Engine, limit: int = 50) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ingested_inputs).order_by(ingested_inputs.c.id.desc()).limit(limit)
        ).mappings()
        return [dict(r) for r in rows]


def list_quarantine(engine: Engine, limit: int = 50) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(quarantine_events).order_by(quarantine_events.c.id.desc()).limit(limit)
        ).mappings()
        return [dict(r) for r in rows]
