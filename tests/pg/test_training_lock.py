"""Training locks on the real Postgres server: session-level advisory locks, released by the
server when the holding connection or process goes away. The backend-agnostic scenarios are the
ones the SQLite suite runs; the Postgres-only checks look at the server's own view (pg_locks,
pg_stat_activity)."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.ml.registry.locks import LockHeld, lock_key, training_lock

from ..ml.registry.test_locks import (
    TYPE,
    LockEnv,
    check_concurrent_retrains_never_overlap,
    check_fail_fast_names_holder_and_scopes_are_independent,
    check_holder_row_lifecycle,
    check_process_death_releases_the_lock,
    check_stale_row_never_blocks,
    check_unattributable_holder_is_reported_as_unknown,
    check_wait_times_out_with_lock_held,
    check_waiter_gets_the_lock_once_released,
)

pytestmark = pytest.mark.pg

# pg_locks shows a bigint advisory key split into classid (high 32 bits) and objid (low 32 bits).
ADVISORY_HOLDERS = sa.text(
    "SELECT l.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid = :hi AND l.objid = :lo"
)


@pytest.fixture
def pg_env(pg_url: str) -> LockEnv:
    migrate(pg_url)
    return LockEnv(pg_url, None)  # no lock_dir: Postgres needs none


def _holders(url: str, key: int) -> list[tuple[int, str]]:
    """(backend pid, session state) of every session holding advisory lock `key`."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    with engine_for(url).connect() as conn:
        rows = conn.execute(ADVISORY_HOLDERS, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF})
        return [(row.pid, row.state) for row in rows]


def test_fail_fast_names_holder_and_scopes_are_independent(pg_env: LockEnv) -> None:
    check_fail_fast_names_holder_and_scopes_are_independent(pg_env)


def test_holder_row_lifecycle(pg_env: LockEnv) -> None:
    check_holder_row_lifecycle(pg_env)


def test_unattributable_holder_is_reported_as_unknown(pg_env: LockEnv) -> None:
    check_unattributable_holder_is_reported_as_unknown(pg_env)


def test_stale_row_never_blocks(pg_env: LockEnv) -> None:
    check_stale_row_never_blocks(pg_env)


@pytest.mark.parametrize("wait", [10.0, math.inf])
def test_waiter_gets_the_lock_once_released(pg_env: LockEnv, wait: float) -> None:
    check_waiter_gets_the_lock_once_released(pg_env, wait)


def test_wait_times_out_with_lock_held(pg_env: LockEnv) -> None:
    check_wait_times_out_with_lock_held(pg_env)


def test_concurrent_retrains_never_overlap(pg_env: LockEnv) -> None:
    check_concurrent_retrains_never_overlap(pg_env)


def test_process_death_releases_the_lock(pg_env: LockEnv) -> None:
    # The server frees the lock once its backend sees the client socket close: allow it seconds.
    check_process_death_releases_the_lock(pg_env, wait=5.0)


def test_lock_is_a_session_advisory_lock_on_an_idle_connection(pg_env: LockEnv) -> None:
    key = lock_key(TYPE, "t1")
    with pg_env.lock(TYPE, "t1", holder={"run_id": "r"}):
        row = pg_env.holder_row(TYPE, "t1")
        assert row is not None
        # Held by the session the row names, which is not left "idle in transaction" for the
        # length of a training run (that would pin a snapshot and hold back vacuum).
        assert _holders(pg_env.url, key) == [(row["backend_pid"], "idle")]
    assert _holders(pg_env.url, key) == []  # and not kept by the pooled connection afterwards


def test_advisory_lock_taken_elsewhere_is_respected(pg_env: LockEnv) -> None:
    # The documented key in its one-bigint form is the lock: any session holding it excludes
    # training, and training_lock cannot name a holder that wrote no row.
    with engine_for(pg_env.url).connect() as other:
        other.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(TYPE, None)})
        other.commit()
        with (
            pytest.raises(LockHeld, match=r"\(global\) is held by another process"),
            training_lock(pg_env.engine, TYPE, None, wait=0.2),
        ):
            pass
        other.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        other.commit()
    with training_lock(pg_env.engine, TYPE, None):
        pass


def test_lost_holder_session_frees_the_lock_and_exit_does_not_raise(pg_env: LockEnv) -> None:
    with pg_env.lock(TYPE, "t1", holder={"run_id": "cut-off"}):
        row = pg_env.holder_row(TYPE, "t1")
        assert row is not None
        with engine_for(pg_env.url).connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": row["backend_pid"]})
        with pg_env.lock(TYPE, "t1", wait=5.0, holder={"run_id": "next"}):
            pass
    # Leaving the block on a dead connection only logs; the connection is discarded, not pooled.
    with pg_env.lock(TYPE, "t1"):
        assert len(_holders(pg_env.url, lock_key(TYPE, "t1"))) == 1
