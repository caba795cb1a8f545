"""Training locks on the embedded footprint (SQLite + flock), with real threads and processes.

The `check_*` scenarios take a `LockEnv` and hold for any backend: tests/pg/test_training_lock.py
runs the same ones against the real Postgres server. Child processes are forked (a spawned child
could not import this test module, which pytest loads by path) and build their own engine pool,
never using a connection inherited from the parent.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
import pickle
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.ml.registry.locks import LockHeld, lock_key, training_lock
from quantsentinel.ml.registry.schema import model_locks, tenant_key

FORK = mp.get_context("fork")
TYPE = "direction_ensemble"


@dataclass(frozen=True)
class LockEnv:
    """A migrated database plus where its lock files go (None: the backend needs none)."""

    url: str
    lock_dir: Path | None

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    def lock(self, type_id: str, tenant_id: str | None, **kwargs: Any) -> Any:
        return training_lock(self.engine, type_id, tenant_id, lock_dir=self.lock_dir, **kwargs)

    def holder_row(self, type_id: str, tenant_id: str | None) -> dict[str, Any] | None:
        query = sa.select(model_locks.c.holder).where(
            model_locks.c.type_id == type_id, model_locks.c.tenant_key == tenant_key(tenant_id)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def put_holder_row(self, type_id: str, tenant_id: str | None, holder: dict[str, Any]) -> None:
        """Write a row the way a holder that then died would have left it."""
        where = (model_locks.c.type_id == type_id) & (
            model_locks.c.tenant_key == tenant_key(tenant_id)
        )
        with self.engine.begin() as conn:
            conn.execute(sa.delete(model_locks).where(where))
            conn.execute(
                sa.insert(model_locks).values(
                    type_id=type_id,
                    tenant_key=tenant_key(tenant_id),
                    holder=holder,
                    acquired_at=sa.func.now(),
                )
            )


@pytest.fixture
def sqlite_env(tmp_path: Path) -> LockEnv:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    return LockEnv(url, tmp_path / "locks")


# --- child processes ------------------------------------------------------------------------------


def _child_env(env: LockEnv) -> LockEnv:
    # The forked child shares the parent's pooled sockets; drop them without closing (closing
    # would end the parent's sessions) so this process opens its own.
    env.engine.dispose(close=False)
    return env


def _retrain(env: LockEnv, go: Any, spans: Any) -> None:
    env = _child_env(env)
    go.wait(10)
    with env.lock(TYPE, "t1", wait=30, holder={"run_id": f"retrain-{os.getpid()}"}):
        start = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable across processes
        time.sleep(0.3)
        end = time.monotonic()
    spans.put((start, end))


def _hold_until_killed(env: LockEnv, held: Any) -> None:
    env = _child_env(env)
    with env.lock(TYPE, "t1", holder={"run_id": "doomed-run"}):
        held.set()
        time.sleep(120)


def _dead_pid() -> int:
    child = FORK.Process(target=int)
    child.start()
    child.join()
    assert child.pid is not None
    return child.pid


# --- scenarios, shared with the Postgres suite ---------------------------------------------------


def check_fail_fast_names_holder_and_scopes_are_independent(env: LockEnv) -> None:
    with env.lock(TYPE, "t1", holder={"run_id": "run-first"}):
        with pytest.raises(LockHeld) as caught, env.lock(TYPE, "t1", holder={"run_id": "second"}):
            pytest.fail("the second acquirer must not enter")
        err = caught.value
        assert (err.type_id, err.tenant_id) == (TYPE, "t1")
        assert err.holder is not None and err.holder["run_id"] == "run-first"
        assert str(err) == (
            f"training lock for {TYPE} (tenant t1) is held by run run-first "
            f"(pid {os.getpid()} on {socket.gethostname()}, since {err.holder['acquired_at']})"
        )
        # Other tenants, the global scope and other types are separate locks, all held at once.
        global_held = rf"^training lock for {TYPE} \(global\) is held"
        with (
            env.lock(TYPE, "t2"),
            env.lock(TYPE, None),
            env.lock("regime_classifier", "t1"),
            pytest.raises(LockHeld, match=global_held),
            env.lock(TYPE, None),
        ):
            pytest.fail("the global scope is held")
    with env.lock(TYPE, "t1"):  # released on exit
        pass


def check_holder_row_lifecycle(env: LockEnv) -> None:
    assert env.holder_row(TYPE, "t1") is None
    with env.lock(TYPE, "t1", holder={"run_id": "r-1", "attempt": 2, "odd": object()}):
        row = env.holder_row(TYPE, "t1")
        assert row is not None
        assert (row["run_id"], row["attempt"]) == ("r-1", 2)
        assert (row["pid"], row["host"]) == (os.getpid(), socket.gethostname())
        assert row["odd"].startswith("<object object")  # non-JSON values become strings
    assert env.holder_row(TYPE, "t1") is None
    # A failing training body still releases the lock and its row, and its error propagates.
    with pytest.raises(ZeroDivisionError), env.lock(TYPE, "t1", holder={"run_id": "r-2"}):
        _ = 1 / 0
    assert env.holder_row(TYPE, "t1") is None
    with env.lock(TYPE, "t1"):
        pass


def check_unattributable_holder_is_reported_as_unknown(env: LockEnv) -> None:
    with env.lock(TYPE, "t1", holder={"run_id": "real-holder"}):
        # A row left by a dead process must not be named as the holder...
        env.put_holder_row(
            TYPE,
            "t1",
            {
                "run_id": "ghost",
                "pid": _dead_pid(),
                "host": socket.gethostname(),
                "backend_pid": -1,
            },
        )
        with pytest.raises(LockHeld) as caught, env.lock(TYPE, "t1"):
            pass
        assert caught.value.holder is None
        assert str(caught.value) == (
            f"training lock for {TYPE} (tenant t1) is held by another process (holder unknown)"
        )
        # ...and neither is a missing row.
        with env.engine.begin() as conn:
            conn.execute(sa.delete(model_locks))
        with pytest.raises(LockHeld, match=r"holder unknown\)$"), env.lock(TYPE, "t1"):
            pass


def check_stale_row_never_blocks(env: LockEnv) -> None:
    ghost = {"run_id": "ghost", "pid": _dead_pid(), "host": socket.gethostname(), "backend_pid": -1}
    env.put_holder_row(TYPE, "t1", ghost)
    with env.lock(TYPE, "t1", holder={"run_id": "fresh"}):
        row = env.holder_row(TYPE, "t1")
        assert row is not None and row["run_id"] == "fresh"  # overwritten
    assert env.holder_row(TYPE, "t1") is None


def check_waiter_gets_the_lock_once_released(env: LockEnv, wait: float) -> None:
    held = threading.Event()
    seen: dict[str, Any] = {}

    def first() -> None:
        with env.lock(TYPE, "t1", holder={"run_id": "first"}):
            held.set()
            time.sleep(0.4)
            seen["releasing"] = time.monotonic()

    def second() -> None:
        assert held.wait(10)
        started = time.monotonic()
        with env.lock(TYPE, "t1", wait=wait, holder={"run_id": "second"}):
            seen["acquired"] = time.monotonic()
            seen["waited"] = seen["acquired"] - started
            seen["row"] = env.holder_row(TYPE, "t1")

    # Daemon threads joined with a timeout: a lock that never frees fails the test (even with
    # wait=inf) instead of hanging the suite.
    threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert "acquired" in seen, "the waiter never got the lock"
    assert seen["acquired"] >= seen["releasing"]
    assert 0.2 < seen["waited"] < 8
    assert seen["row"] is not None and seen["row"]["run_id"] == "second"


def check_wait_times_out_with_lock_held(env: LockEnv) -> None:
    with env.lock(TYPE, "t1", holder={"run_id": "long-run"}):
        started = time.monotonic()
        with pytest.raises(LockHeld, match="held by run long-run"), env.lock(TYPE, "t1", wait=0.6):
            pass
        waited = time.monotonic() - started
    assert 0.55 <= waited < 5


def check_concurrent_retrains_never_overlap(env: LockEnv) -> None:
    go, spans = FORK.Event(), FORK.Queue()
    children = [FORK.Process(target=_retrain, args=(env, go, spans)) for _ in range(3)]
    for child in children:
        child.start()
    try:
        go.set()
        results = sorted(spans.get(timeout=30) for _ in children)
        for child in children:
            child.join(10)
            assert child.exitcode == 0
    finally:
        for child in children:
            child.kill()
    for (_, end), (next_start, _) in itertools.pairwise(results):
        assert next_start >= end, f"retrains overlapped: {results}"


def check_process_death_releases_the_lock(env: LockEnv, *, wait: float) -> None:
    held = FORK.Event()
    child = FORK.Process(target=_hold_until_killed, args=(env, held))
    child.start()
    try:
        assert held.wait(15)
        with pytest.raises(LockHeld, match="held by run doomed-run"), env.lock(TYPE, "t1"):
            pass
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        stale = env.holder_row(TYPE, "t1")
        assert stale is not None and stale["run_id"] == "doomed-run"  # nobody cleaned up...
        # ...yet the lock is free (`wait` covers a server noticing the dropped connection).
        with env.lock(TYPE, "t1", wait=wait, holder={"run_id": "survivor"}):
            row = env.holder_row(TYPE, "t1")
            assert row is not None and row["run_id"] == "survivor"
        assert env.holder_row(TYPE, "t1") is None
    finally:
        child.kill()


# --- SQLite / flock -------------------------------------------------------------------------------


def test_fail_fast_names_holder_and_scopes_are_independent(sqlite_env: LockEnv) -> None:
    check_fail_fast_names_holder_and_scopes_are_independent(sqlite_env)


def test_holder_row_lifecycle(sqlite_env: LockEnv) -> None:
    check_holder_row_lifecycle(sqlite_env)


def test_unattributable_holder_is_reported_as_unknown(sqlite_env: LockEnv) -> None:
    check_unattributable_holder_is_reported_as_unknown(sqlite_env)


def test_stale_row_never_blocks(sqlite_env: LockEnv) -> None:
    check_stale_row_never_blocks(sqlite_env)


@pytest.mark.parametrize("wait", [10.0, math.inf])
def test_waiter_gets_the_lock_once_released(sqlite_env: LockEnv, wait: float) -> None:
    check_waiter_gets_the_lock_once_released(sqlite_env, wait)


def test_wait_times_out_with_lock_held(sqlite_env: LockEnv) -> None:
    check_wait_times_out_with_lock_held(sqlite_env)


def test_concurrent_retrains_never_overlap(sqlite_env: LockEnv) -> None:
    check_concurrent_retrains_never_overlap(sqlite_env)


def test_process_death_releases_the_lock(sqlite_env: LockEnv) -> None:
    check_process_death_releases_the_lock(sqlite_env, wait=0.0)  # the kernel frees it at once


def test_lock_files_stay_inside_lock_dir(sqlite_env: LockEnv) -> None:
    assert sqlite_env.lock_dir is not None
    with sqlite_env.lock("../escape", "a/b"), sqlite_env.lock(TYPE, None):
        pass
    assert sorted(p.name for p in sqlite_env.lock_dir.iterdir()) == [
        "..%2Fescape__a%2Fb.lock",
        f"{TYPE}__%2A.lock",
    ]


def test_non_postgres_engine_needs_lock_dir(sqlite_env: LockEnv) -> None:
    with pytest.raises(ValueError, match="lock_dir"), training_lock(sqlite_env.engine, TYPE, None):
        pass


@pytest.mark.parametrize(
    ("type_id", "tenant_id", "wait"),
    [
        ("", "t1", 0.0),
        ("   ", "t1", 0.0),
        ("x" * 101, None, 0.0),
        (TYPE, "", 0.0),
        (TYPE, "*", 0.0),
        (TYPE, "t1", -1.0),
        (TYPE, "t1", math.nan),
    ],
)
def test_invalid_inputs(sqlite_env: LockEnv, type_id: str, tenant_id: str, wait: float) -> None:
    with pytest.raises(ValueError), sqlite_env.lock(type_id, tenant_id, wait=wait):
        pass
    if wait == 0.0:
        with pytest.raises(ValueError):
            lock_key(type_id, tenant_id)


def test_lock_key_is_stable_signed_64_bit_and_scoped() -> None:
    # Pinned: a changed derivation would let old and new code train one model at once.
    assert lock_key(TYPE, None) == -6647002206066451138
    keys = {lock_key(t, tenant) for t in (TYPE, "regime_classifier") for tenant in (None, "t1")}
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)


def test_lock_held_survives_pickling() -> None:
    err = LockHeld(TYPE, "t1", {"run_id": "r", "pid": 1, "host": "h", "acquired_at": "now"})
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.holder, again.tenant_id) == (str(err), err.holder, "t1")
