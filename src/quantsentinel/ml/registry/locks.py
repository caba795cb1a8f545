"""Training locks: one training job per (model type, tenant scope) at a time (seed 001 §7 point 1).

Two retrains of the same model (a scheduled run and an operator's manual launch, say) would race
on the next semantic version, the MLflow run and the staged row. `training_lock` serialises them.

The lock primitive is always one the operating system or the database server releases when the
holding process dies, so a crashed trainer can never wedge its model:
- Postgres: a session-level advisory lock held by a dedicated connection for the whole block. The
  server drops it when that connection closes, including when the process is SIGKILLed.
- anything else (the embedded SQLite footprint): `flock` on a file under `lock_dir`. The kernel
  drops it when the last descriptor of the open file closes, i.e. when the holder exits. flock
  does not coordinate across machines: multi-host deployments use Postgres.

The `model_locks` row only says who holds the lock, for the "held by run …" message. It is written
after the lock is taken and deleted before it is released; a row left by a dead process is
overwritten by the next holder and is never consulted to decide whether the lock is free.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from quantsentinel.ml.registry.schema import model_locks, tenant_key

log = logging.getLogger(__name__)

KEY_NAMESPACE = "qs.train"
_POLL_FIRST_S = 0.05  # first re-try comes quickly: most contention is a short overlap
_POLL_MAX_S = 0.5  # cap, so a freed lock is noticed within half a second
_TYPE_ID_MAX = 100  # model_locks.type_id is VARCHAR(100)


class LockHeld(RuntimeError):
    """The training lock of (type_id, tenant_id) is held by someone else.

    `holder` is the holder's `model_locks` row (pid, host, acquired_at, run_id, …) when it could be
    attributed to the live holder, else None.
    """

    def __init__(self, type_id: str, tenant_id: str | None, holder: dict[str, Any] | None) -> None:
        self.type_id = type_id
        self.tenant_id = tenant_id
        self.holder = holder
        super().__init__(_describe(type_id, tenant_id, holder))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling would call LockHeld(message); runs report errors across processes.
        return (type(self), (self.type_id, self.tenant_id, self.holder))


def _describe(type_id: str, tenant_id: str | None, holder: Mapping[str, Any] | None) -> str:
    scope = "global" if tenant_id is None else f"tenant {tenant_id}"
    head = f"training lock for {type_id} ({scope}) is held by"
    if holder is None:
        return f"{head} another process (holder unknown)"
    run_id = holder.get("run_id")
    who = f"run {run_id}" if run_id else "a process with no run id"
    pid, host, since = (holder.get(k, "?") for k in ("pid", "host", "acquired_at"))
    return f"{head} {who} (pid {pid} on {host}, since {since})"


def _check_type_id(type_id: str) -> str:
    if not isinstance(type_id, str) or not type_id.strip() or len(type_id) > _TYPE_ID_MAX:
        raise ValueError(f"invalid model type id {type_id!r}: 1-{_TYPE_ID_MAX} characters")
    return type_id


def lock_key(type_id: str, tenant_id: str | None) -> int:
    """The advisory-lock key of (type_id, tenant scope): a signed 64-bit integer.

    The first 8 bytes (big-endian, two's complement) of sha256("qs.train|<type_id>|<tenant_key>"),
    used with the one-bigint form of pg_*advisory_lock. A hash of text rather than a counter so
    every process and every code version derives the same key with no shared state; the namespace
    keeps other advisory-lock users of the database from colliding with training locks. Changing
    this derivation would let old and new code train the same model at once during a deploy.
    """
    scope = tenant_key(tenant_id)
    digest = hashlib.sha256(f"{KEY_NAMESPACE}|{_check_type_id(type_id)}|{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def training_lock(
    engine: sa.Engine,
    type_id: str,
    tenant_id: str | None,
    *,
    wait: float = 0.0,
    holder: Mapping[str, Any] | None = None,
    lock_dir: Path | None = None,
) -> Iterator[None]:
    """Hold the training lock of (type_id, tenant_id; None = global) for the `with` block.

    wait: 0 fails fast with LockHeld; > 0 re-tries for up to `wait` seconds, then raises LockHeld;
    math.inf waits for as long as it takes. Waiting polls (no FIFO fairness, which a handful of
    retrain jobs do not need) and can be interrupted (KeyboardInterrupt, a run's termination).
    holder: what to record about this holder, e.g. {"run_id": dagster_run_id}; pid, host and
    acquired_at are added (and win over same-named keys). Values that are not JSON become strings.
    lock_dir: where lock files live; required unless the engine is Postgres.

    Needs the `model_locks` table (migrations). Raises ValueError on invalid arguments.
    """
    key = lock_key(type_id, tenant_id)  # validates type_id and tenant_id first
    if not isinstance(wait, int | float) or math.isnan(wait) or wait < 0:
        raise ValueError(f"wait must be seconds >= 0 (or math.inf), got {wait!r}")
    scope = tenant_key(tenant_id)
    deadline = time.monotonic() + wait
    info = _holder_info(holder)
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, key, type_id, tenant_id, scope, deadline, info):
            yield
        return
    if lock_dir is None:
        raise ValueError(
            f"lock_dir is required for training locks on {engine.dialect.name} engines "
            "(only Postgres has advisory locks); pass a local directory for the lock files"
        )
    path = Path(lock_dir) / f"{_file_part(type_id)}__{_file_part(scope)}.lock"
    with _file_lock(engine, path, type_id, tenant_id, scope, deadline, info):
        yield


def _holder_info(holder: Mapping[str, Any] | None) -> dict[str, Any]:
    info = {
        **(holder or {}),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "acquired_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Round-trip through JSON now, so an odd value cannot fail the insert after the lock is taken.
    return json.loads(json.dumps(info, default=str))


def _poll(attempt: Callable[[], bool], deadline: float) -> bool:
    """Call `attempt` until it returns True (-> True) or `deadline` passes (-> False)."""
    delay = _POLL_FIRST_S
    while True:
        if attempt():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, _POLL_MAX_S)


# --- the holder row (informational) --------------------------------------------------------------


def _row_filter(type_id: str, scope: str) -> sa.ColumnElement[bool]:
    return sa.and_(model_locks.c.type_id == type_id, model_locks.c.tenant_key == scope)


def _write_holder(conn: sa.Connection, type_id: str, scope: str, info: dict[str, Any]) -> None:
    # Delete + insert in the caller's transaction: portable across dialects, and it overwrites a
    # row a dead holder left behind. Only the lock holder writes this row, so nothing races it.
    conn.execute(sa.delete(model_locks).where(_row_filter(type_id, scope)))
    conn.execute(
        sa.insert(model_locks).values(
            type_id=type_id, tenant_key=scope, holder=info, acquired_at=datetime.now(UTC)
        )
    )


def _read_holder(conn: sa.Connection, type_id: str, scope: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(model_locks.c.holder).where(_row_filter(type_id, scope))).first()
    return dict(row.holder) if row is not None and isinstance(row.holder, dict) else None


# --- Postgres: session-level advisory lock on a dedicated connection ----------------------------


@contextmanager
def _advisory_lock(
    engine: sa.Engine,
    key: int,
    type_id: str,
    tenant_id: str | None,
    scope: str,
    deadline: float,
    info: dict[str, Any],
) -> Iterator[None]:
    conn = engine.connect()
    # A pooled connection must never go back to the pool still holding the lock (the pool's reset
    # is a ROLLBACK, which keeps session locks); whenever that is in doubt, the connection is
    # discarded instead, which makes the server release everything it held.
    reusable = False
    try:

        def attempt() -> bool:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(CAST(:k AS bigint))"), {"k": key}
            ).scalar()
            conn.commit()  # never sit "idle in transaction" while waiting or training
            return bool(got)

        if not _poll(attempt, deadline):
            live = _pg_live_holder(conn, key, type_id, scope)
            conn.rollback()
            reusable = True  # every attempt said no, so this connection holds nothing
            raise LockHeld(type_id, tenant_id, live)
        try:
            backend_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            _write_holder(conn, type_id, scope, {**info, "backend_pid": backend_pid})
            conn.commit()
            yield
        finally:
            reusable = _pg_release(conn, key, type_id, scope)
    finally:
        if not reusable:
            conn.invalidate()
        conn.close()


def _pg_live_holder(
    conn: sa.Connection, key: int, type_id: str, scope: str
) -> dict[str, Any] | None:
    """The holder row, if it was written by the backend that holds the lock right now."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    # pg_locks shows a bigint advisory key as classid = high 32 bits, objid = low 32 bits,
    # objsubid = 1 (the two-int4 form would show objsubid = 2).
    holder_pid = conn.execute(
        sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = :hi AND objid = :lo AND objsubid = 1"
        ),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
    ).scalar()
    row = _read_holder(conn, type_id, scope)
    if row is None or holder_pid is None or row.get("backend_pid") != holder_pid:
        return None  # a stale row (its holder died) or the holder has not written its row yet
    return row


def _pg_release(conn: sa.Connection, key: int, type_id: str, scope: str) -> bool:
    """Forget the holder row, then unlock. True when the connection is clean and reusable."""
    try:
        conn.rollback()  # the block may have left this connection in a failed transaction
        conn.execute(sa.delete(model_locks).where(_row_filter(type_id, scope)))
        conn.commit()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not delete the model_locks row of %s/%s: %s", type_id, scope, exc)
    try:
        conn.rollback()
        released = conn.execute(
            sa.text("SELECT pg_advisory_unlock(CAST(:k AS bigint))"), {"k": key}
        ).scalar()
        conn.commit()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not unlock %s/%s, dropping the connection: %s", type_id, scope, exc)
        return False
    return bool(released)


# --- everything else: flock on a file ------------------------------------------------------------


def _file_part(text: str) -> str:
    # Percent-encode so any type or tenant id is one safe file name ("/" or ".." cannot escape
    # lock_dir). "_" stays literal, so "a__b"+"c" and "a"+"b__c" share a file: that only ever
    # makes two scopes wait for each other, never lets one scope train twice.
    return quote(text, safe="")


@contextmanager
def _file_lock(
    engine: sa.Engine,
    path: Path,
    type_id: str,
    tenant_id: str | None,
    scope: str,
    deadline: float,
    info: dict[str, Any],
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file is never deleted: unlinking a lock file lets a waiter lock an orphaned inode while
    # a newcomer locks a new file of the same name. flock belongs to the open file description,
    # so two opens conflict even within one process; a child forked while the lock is held
    # shares it and keeps it until that child exits too.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not _poll(attempt, deadline):
            with engine.connect() as conn:
                row = _read_holder(conn, type_id, scope)
            raise LockHeld(type_id, tenant_id, row if _file_row_is_live(row) else None)
        try:
            with engine.begin() as conn:
                _write_holder(conn, type_id, scope, info)
            yield
        finally:
            try:
                with engine.begin() as conn:
                    conn.execute(sa.delete(model_locks).where(_row_filter(type_id, scope)))
            except sa.exc.SQLAlchemyError as exc:
                log.warning(
                    "could not delete the model_locks row of %s/%s: %s", type_id, scope, exc
                )
    finally:
        os.close(fd)  # releases the flock (the row is already gone)


def _file_row_is_live(row: Mapping[str, Any] | None) -> bool:
    """False when the row names a process on this host that no longer exists."""
    if row is None:
        return False
    pid = row.get("pid")
    if row.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True  # cannot check another machine's processes: trust the row
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # exists, owned by another user
    return True
