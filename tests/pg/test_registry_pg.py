"""The registry on the real Postgres server: the shared lifecycle cases, plus what only a real
server shows - 20 concurrent promoters, and a promoter killed mid-transaction."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.ml.registry.store import RegistryStore
from quantsentinel.ml.registry.transitions import Transitions, invariant_violations

from ..ml.registry.test_lifecycle import (  # noqa: F401  (collected here against Postgres)
    PASSED,
    TYPE,
    registry,
    stage,
    test_a_failed_evaluation_rejects_and_out_of_order_transitions_name_the_status,
    test_a_failing_alias_hook_commits_nothing,
    test_registration_errors_are_clear,
    test_rollback_after_rollback_walks_down_the_champion_chain,
    test_shadow_predictions_and_the_shadow_window,
    test_tenant_scoped_lookups_never_return_another_tenants_model,
    test_the_full_path_from_staged_to_champion_is_audited,
    to_champion,
)

pytestmark = pytest.mark.pg


@pytest.fixture
def engine(pg_url: str) -> sa.Engine:
    migrate(pg_url)
    return engine_for(pg_url)


def _shadow_candidates(store: RegistryStore, transitions: Transitions, n: int) -> list[str]:
    """n candidates, each evaluated against the current champion and now in shadow."""
    ids = []
    champion = store.champion(TYPE, None)
    for _ in range(n):
        version = stage(store)
        transitions.record_evaluation(version.version_id,
                                      champion_version_id=champion.version_id if champion else None,
                                      slice_id="h",
                                      candidate_metrics={"auc": 0.6}, champion_metrics=None,
                                      verdict=PASSED)  # fmt: skip
        transitions.start_shadow(version.version_id)
        ids.append(version.version_id)
    return ids


def _promote_in_child(url: str, version_id: str, results) -> None:
    engine = sa.create_engine(url)
    transitions = Transitions(RegistryStore(engine))
    started = time.perf_counter()
    try:
        transitions.promote(version_id, actor=f"pid{os.getpid()}", reason="race")
        results.put(("ok", version_id, time.perf_counter() - started))
    except Exception as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}", time.perf_counter() - started))
    finally:
        engine.dispose()


def test_twenty_concurrent_promoters_keep_exactly_one_champion(registry, pg_url: str) -> None:  # noqa: F811
    store, transitions = registry
    to_champion(store, transitions)
    candidates = _shadow_candidates(store, transitions, 20)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    procs = [
        context.Process(target=_promote_in_child, args=(pg_url, vid, results)) for vid in candidates
    ]
    for proc in procs:
        proc.start()
    violations_seen = []
    while any(p.is_alive() for p in procs):  # the invariant, checked while they race
        violations_seen += invariant_violations(store)
        time.sleep(0.02)
    for proc in procs:
        proc.join()
    outcomes = [results.get(timeout=10) for _ in procs]
    assert violations_seen == []
    # All twenty were judged against the same champion: the first to commit replaces it, and
    # every other one is refused by name - its evidence is against a champion that is gone.
    winners = [o for o in outcomes if o[0] == "ok"]
    assert len(winners) == 1
    assert all("ChampionChanged" in o[1] for o in outcomes if o[0] != "ok")
    assert invariant_violations(store) == []
    champion = store.champion(TYPE, None)
    assert champion.version_id == winners[0][1]
    statuses = [v.status for v in store.versions(TYPE, tenant_id=None)]
    assert statuses.count("champion") == 1
    assert statuses.count("archived") == 1 and statuses.count("shadow") == 19


def _promote_then_hang(url: str, version_id: str, ready) -> None:
    engine = sa.create_engine(url)
    transitions = Transitions(RegistryStore(engine))

    def slow_alias(new, old):  # inside the open transaction, after every write
        ready.set()
        time.sleep(60)

    transitions.promote(version_id, actor="doomed", reason="r", alias_hook=slow_alias)


def test_a_promoter_killed_mid_transaction_leaves_a_consistent_state(registry, pg_url) -> None:  # noqa: F811
    store, transitions = registry
    champion = to_champion(store, transitions)
    (candidate,) = _shadow_candidates(store, transitions, 1)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    proc = context.Process(target=_promote_then_hang, args=(pg_url, candidate, ready))
    proc.start()
    assert ready.wait(30), "the promoter never reached the middle of its transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()

    deadline = time.monotonic() + 10  # the server rolls back when it notices the dead backend
    while time.monotonic() < deadline:
        try:
            after = store.champion(TYPE, None)
            break
        except sa.exc.OperationalError:
            time.sleep(0.1)
    assert after.version_id == champion.version_id
    assert store.get_version(candidate).status == "shadow"
    assert invariant_violations(store) == []
    # And the candidate can still be promoted once the dead transaction is gone.
    deadline = time.monotonic() + 10
    while True:
        try:
            transitions.promote(candidate, actor="op", reason="retry after crash")
            break
        except sa.exc.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert store.champion(TYPE, None).version_id == candidate
