"""The model registry's three costs that matter in production, on the real Postgres server.

    .venv/bin/python benchmarks/bench_registry.py [--rounds 5] [--promoters 20]

1. Promotion latency under contention: N forked processes released together by a barrier, each
   promoting its own shadow version of one (type, global) scope, so every transaction fights for
   the same champion pointer (SERIALIZABLE, retried on conflict). R rounds, fresh candidates each;
   the invariant (one champion, and it is the one the pointer names) is checked after each round.
   The uncontended figure (sequential promotions in one process) is printed beside it.
2. Loading and verifying the champion by (type, tenant): cold (fresh ModelRegistry: file read,
   sha256, deserialize, fingerprint), warm (cached model, lookups only) and the lookup alone, on
   Postgres and SQLite side by side, for a real LightGBM artifact.
3. retrain -> staged -> evaluated -> shadow -> champion end to end, shadow window 0 h, with a real
   MLflow store (SQLite, under the temp dir) and the real direction model on simulated data; first
   a model with no champion, then one paired against it.

Everything lives in a throwaway database (qs_bench_<random>, dropped at the end) and a temporary
directory. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate, scratch_postgres_database
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.ml.models import direction
from quantsentinel.ml.registry import transactions
from quantsentinel.ml.registry.adapters import load_artifact
from quantsentinel.ml.registry.registry import ModelRegistry
from quantsentinel.ml.registry.store import ModelType, RegistryStore, VersionRecord
from quantsentinel.ml.registry.tracking import ModelTracker
from quantsentinel.ml.registry.transitions import Transitions, invariant_violations

ADMIN_URL = os.environ.get("QS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
RACE_TYPE = "bench_promote"  # its own type, so the race never touches the LightGBM champion
PASSED = {"passed": True, "reason": "benchmark candidate", "checks": []}
DATA_VERSION = "sim-2024-06-2025-06"
TENANT = "acme"  # has no champion of its own: the lookup falls back to the global one


def scratch_database():
    """A fresh Postgres database for this run, dropped after (see quantsentinel.db)."""
    return scratch_postgres_database(ADMIN_URL, prefix="qs_bench")


# --- small helpers ---------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f}"


def p50(samples: list[float]) -> float:
    return float(np.percentile(samples, 50))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def sample(fn: Callable[[], Any], n: int) -> list[float]:
    return [timed(fn)[0] for _ in range(n)]


# --- 1. promotion latency under contention ---------------------------------------------------
_SEMVER = count(1)  # unique per scope without next_semantic_version's scan of every version


def shadow_candidate(store: RegistryStore, transitions: Transitions) -> str:
    """A version in status `shadow` (registered, passed evaluation, shadow started)."""
    version = store.register_version(
        type_id=RACE_TYPE, tenant_id=None, semantic_version=f"1.{next(_SEMVER)}.0",
        artifact_path="/bench/none", artifact_sha256="0" * 64, artifact_size_bytes=1,
        artifact_fingerprint="f" * 64, hyperparameters={}, code_git_commit="bench",
        code_git_branch="bench",
    )  # fmt: skip
    champion = store.champion(RACE_TYPE, None)  # evaluated against the champion of the moment
    transitions.record_evaluation(
        version.version_id, champion_version_id=champion.version_id if champion else None,
        slice_id="bench", candidate_metrics={"auc": 0.6}, champion_metrics=None, verdict=PASSED,
    )  # fmt: skip
    transitions.start_shadow(version.version_id)
    return version.version_id


def _promote_in_child(url: str, version_id: str, barrier: Any, results: Any) -> None:
    """One racer: connect first (so the connection setup is not timed), wait for the others,
    then time the promote call alone."""
    engine = sa.create_engine(url)
    retries = 0
    original = transactions._retryable

    def counting(exc: BaseException) -> bool:
        # run_transaction reports no attempt count; every retryable conflict passes through here.
        # Patched in this forked child only, so the parent and the other racers are unaffected.
        nonlocal retries
        hit = original(exc)
        retries += int(hit)
        return hit

    transactions._retryable = counting
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))  # leaves a warm connection in the pool
        transitions = Transitions(RegistryStore(engine))
        barrier.wait(timeout=60)
        started = time.perf_counter()
        try:
            transitions.promote(version_id, actor=f"pid{os.getpid()}", reason="bench race")
            outcome = "ok"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finished = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on Linux
        results.put((outcome, started, finished, retries))
    except Exception as exc:  # e.g. a broken barrier: report it rather than hang the parent
        results.put((f"{type(exc).__name__}: {exc}", 0.0, 0.0, retries))
    finally:
        engine.dispose()


@dataclass
class RaceRound:
    latencies: list[float]  # every attempt: the winner's promotion and the refusals alike
    won: int
    refused: int  # ChampionChanged: evaluated against a champion the winner just replaced
    errors: list[str]
    retries: int
    makespan: float
    violations: int


def race_round(url: str, engine: sa.Engine, promoters: int) -> RaceRound:
    store = RegistryStore(engine)
    transitions = Transitions(store)
    candidates = [shadow_candidate(store, transitions) for _ in range(promoters)]
    # Forked children must not share the parent's pooled sockets (SQLAlchemy's rule for fork).
    engine.dispose()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(promoters), ctx.Queue()
    procs = [
        ctx.Process(target=_promote_in_child, args=(url, vid, barrier, results))
        for vid in candidates
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join()
    timed = [o for o in outcomes if o[1]]
    refused = [o for o in outcomes if o[0].startswith("ChampionChanged")]
    return RaceRound(
        latencies=[o[2] - o[1] for o in timed],
        won=sum(o[0] == "ok" for o in outcomes),
        refused=len(refused),
        errors=[o[0] for o in outcomes if o[0] != "ok" and o not in refused],
        retries=sum(o[3] for o in outcomes),
        makespan=max(o[2] for o in timed) - min(o[1] for o in timed) if timed else float("nan"),
        violations=len(invariant_violations(store)),
    )


def bench_promotion(url: str, engine: sa.Engine, rounds: int, promoters: int) -> None:
    store = RegistryStore(engine)
    transitions = Transitions(store)
    store.upsert_type(
        ModelType(RACE_TYPE, "lightgbm", retrain_cadence_hours=168, contract={"primary": "auc"})
    )
    # A champion in place, so every promotion also archives one (the production shape).
    transitions.promote(shadow_candidate(store, transitions), actor="bench", reason="first")

    print(f"\n1. Promotion transaction on Postgres, {promoters} concurrent promoters, one scope")
    print("   All promoters were evaluated against the same champion: one may replace it, the")
    print("   rest must be refused by name (ChampionChanged). Latency covers every attempt.")
    print("   round  won  refused  errors  retries  makespan ms  p50 ms  max ms  violations")
    latencies: list[float] = []
    for i in range(1, rounds + 1):
        r = race_round(url, engine, promoters)
        latencies += r.latencies
        lat = r.latencies or [float("nan")]
        print(
            f"   {i:5d} {r.won:4d} {r.refused:8d} {len(r.errors):7d} {r.retries:8d} "
            f"{r.makespan * 1e3:12.1f} {p50(lat) * 1e3:7.1f} {max(lat) * 1e3:7.1f} "
            f"{r.violations:11d}"
        )
        for err in r.errors[:3]:
            print(f"         error: {err[:150]}")
    q = np.percentile(latencies, [50, 90, 99]) if latencies else [float("nan")] * 3
    print(
        f"   contended ({len(latencies)} attempts): p50 {q[0] * 1e3:.1f} ms  "
        f"p90 {q[1] * 1e3:.1f} ms  p99 {q[2] * 1e3:.1f} ms  max {max(latencies) * 1e3:.1f} ms"
    )

    solo = []
    for _ in range(50):  # each candidate evaluated against the champion it then replaces
        vid = shadow_candidate(store, transitions)
        solo.append(
            timed(lambda vid=vid: transitions.promote(vid, actor="bench", reason="solo"))[0]
        )
    print(
        f"   uncontended (50 sequential, one process): p50 {p50(solo) * 1e3:.2f} ms  "
        f"max {max(solo) * 1e3:.2f} ms  invariant violations {len(invariant_violations(store))}"
    )


# --- 3. the retrain path end to end (run before 2: it produces the champion 2 loads) ---------
LENIENT_OVERRIDES: dict[str, Any] = {
    # As in tests/ml/registry/test_registry_e2e.py: next-day direction of a simulated random walk
    # is rightly near a coin flip, and the production floors would (correctly) refuse it. The
    # benchmark times the path, so the gates are relaxed enough for it to go through.
    "floors": {"auc": 0.30, "brier": 0.40},
    "validator_params": {"calibration": {"max_ece": 0.5}},
    "max_shadow_divergence": 0.5,
}


@dataclass
class PathTiming:
    label: str
    stages: dict[str, float]
    outcome: str


def bench_path(
    engine: sa.Engine, tmp: Path
) -> tuple[ModelRegistry, list[PathTiming], dict[str, float]]:
    once: dict[str, float] = {}
    sim = MarketSimulator()
    once["dataset build (train 2024-06..2025-06, holdout 2025-07..09)"], (train, holdout) = timed(
        lambda: (
            direction.direction_dataset(sim, date(2024, 6, 1), date(2025, 7, 1)),
            direction.direction_dataset(sim, date(2025, 7, 1), date(2025, 9, 15)),
        )
    )
    tracker = ModelTracker(f"sqlite:///{tmp / 'mlflow.db'}", str(tmp / "mlartifacts"))
    # One-off per process (import mlflow, create its SQLite schema): measured apart so the
    # per-retrain figures below are what a long-running deployment pays each time.

    # MLflow's "Creating initial MLflow database tables..." lines would break up the table; its
    # own variable is the switch that holds (setting the logger's level after import does not).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    def start_mlflow() -> None:
        tracker._client.search_experiments(max_results=1)

    once["MLflow start (import + store schema, once per process)"], _ = timed(start_mlflow)
    registry = ModelRegistry(
        engine, tracker=tracker, artifact_root=tmp / "models", lock_dir=tmp / "locks"
    )
    registry.define_type(
        ModelType(direction.TYPE_ID, "lightgbm", retrain_cadence_hours=168,
                  contract={**direction.CONTRACT, **LENIENT_OVERRIDES}, shadow_window_hours=0.0)
    )  # fmt: skip
    # Postgres enforces the foreign key from a version to its training data (SQLite does not).
    registry.store.record_training_data(
        DATA_VERSION, direction.TYPE_ID, start_date=date(2024, 6, 1), end_date=date(2025, 7, 1),
        row_count=len(train), description="simulated NIFTY, benchmark",
    )  # fmt: skip
    live = holdout.tail(20)  # the "live" inputs the shadow window sees
    refs = [f"NIFTY-{d}" for d in live.index]

    timings = []
    # Seeds 1 then 2: on this simulated data seed 2's AUC beats seed 1's, so the second model
    # passes the beats-champion gate and the paired path runs to the end.
    for label, seed in (("first (no champion)", 1), ("second (vs champion)", 2)):
        stages: dict[str, float] = {}

        def train_and_stage(seed: int = seed) -> VersionRecord:
            return registry.train(
                direction.TYPE_ID, None, lambda: direction.train_direction(train, seed=seed),
                data_version=DATA_VERSION, holder={"run_id": f"bench-{seed}"},
            )  # fmt: skip

        stages["train + stage (LightGBM, artifact, MLflow run)"], version = timed(train_and_stage)
        stages["evaluate (paired) -> shadow"], shadow = timed(
            lambda version=version: registry.evaluate(
                version.version_id,
                lambda m: direction.evaluate_direction(m, holdout),
                slice_id="2025Q3",
            )
        )
        if shadow.status != "shadow":
            timings.append(PathTiming(label, stages, f"stopped at {shadow.status}"))
            continue

        def log_shadow(version: VersionRecord = version) -> int:
            champion = registry.store.champion(direction.TYPE_ID, None, fallback_to_global=False)
            cand = direction.predict_up_probability(registry._load(version), live)
            champ = (
                direction.predict_up_probability(registry._load(champion), live)
                if champion
                else [None] * len(live)
            )
            return registry.log_shadow(
                version.version_id, dict(zip(refs, zip(cand, champ, strict=True), strict=True))
            )

        stages["shadow: predict + log 20 live rows"], _ = timed(log_shadow)
        stages["conclude shadow -> promote (+ MLflow aliases)"], decided = timed(
            lambda version=version: registry.conclude_shadow(version.version_id)
        )
        timings.append(PathTiming(label, stages, decided.status))
    return registry, timings, once


# --- 2. loading and verifying the champion ----------------------------------------------------
def sqlite_copy_of_champion(champion: VersionRecord, contract: dict, tmp: Path) -> sa.Engine:
    """The same artifact registered as champion in a SQLite registry, for the side-by-side."""
    url = f"sqlite:///{tmp / 'registry.db'}"
    migrate(url)
    engine = engine_for(url)
    store = RegistryStore(engine)
    transitions = Transitions(store)
    store.upsert_type(
        ModelType(champion.type_id, "lightgbm", retrain_cadence_hours=168, contract=contract)
    )
    version = store.register_version(
        type_id=champion.type_id, tenant_id=None, semantic_version=champion.semantic_version,
        artifact_path=champion.artifact_path, artifact_sha256=champion.artifact_sha256,
        artifact_size_bytes=champion.artifact_size_bytes,
        artifact_fingerprint=champion.artifact_fingerprint,
        hyperparameters=champion.hyperparameters, code_git_commit=champion.code_git_commit,
        code_git_branch=champion.code_git_branch,
    )  # fmt: skip
    transitions.record_evaluation(
        version.version_id, champion_version_id=None, slice_id="bench",
        candidate_metrics={"auc": 0.6}, champion_metrics=None, verdict=PASSED,
    )  # fmt: skip
    transitions.start_shadow(version.version_id)
    transitions.promote(version.version_id, actor="bench", reason="side-by-side copy")
    return engine


def bench_load(engines: dict[str, sa.Engine], type_id: str, tmp: Path) -> None:
    rows: dict[str, dict[str, float]] = {}
    for name, engine in engines.items():

        def fresh(engine: sa.Engine = engine) -> ModelRegistry:
            return ModelRegistry(engine, artifact_root=tmp / "models", lock_dir=tmp / "locks")

        warm = fresh()
        store = warm.store
        version = warm.load_champion(type_id, TENANT).version  # also fills the cache

        def verify(v: VersionRecord = version) -> Any:
            return load_artifact(
                Path(v.artifact_path), framework="lightgbm", expected_sha256=v.artifact_sha256,
                expected_fingerprint=v.artifact_fingerprint,
            )  # fmt: skip

        rows[name] = {
            # The verification alone, no database: what a cold load adds to a warm one.
            "load_artifact (read, sha256, deserialize, fprint), x30": p50(sample(verify, 30)),
            "store.champion(type, None)          lookup, x1000": p50(
                sample(lambda s=store: s.champion(type_id, None), 1000)
            ),
            f"store.champion(type, {TENANT!r})  -> global, x1000": p50(
                sample(lambda s=store: s.champion(type_id, TENANT), 1000)
            ),
            # A new ModelRegistry has an empty cache: read, sha256, deserialize, fingerprint.
            f"load_champion(type, {TENANT!r}) cold,       x30": p50(
                sample(lambda f=fresh: f().load_champion(type_id, TENANT), 30)
            ),
            f"load_champion(type, {TENANT!r}) warm,     x1000": p50(
                sample(lambda w=warm: w.load_champion(type_id, TENANT), 1000)
            ),
        }
    champion = RegistryStore(engines["Postgres"]).champion(type_id, None)
    print(
        f"\n2. Load and verify the champion ({type_id} {champion.semantic_version}, LightGBM, "
        f"{champion.artifact_size_bytes / 1024:.1f} KiB artifact; file in page cache), p50 ms"
    )
    print(f"   {'':56s} {'Postgres':>9s} {'SQLite':>9s}")
    for key in rows["Postgres"]:
        print(f"   {key:56s} {ms(rows['Postgres'][key])} {ms(rows['SQLite'][key])}")


def print_path(timings: list[PathTiming], once: dict[str, float]) -> None:
    print("\n3. retrain -> staged -> evaluated -> shadow -> champion (shadow window 0 h), seconds")
    for what, seconds in once.items():
        print(f"   {what:60s} {seconds:6.2f}")
    labels = [t.label for t in timings]
    print(f"   {'':46s}" + "".join(f"{lab:>22s}" for lab in labels))
    stage_names = list(dict.fromkeys(s for t in timings for s in t.stages))
    for stage in stage_names:
        cells = "".join(
            f"{t.stages[stage]:22.3f}" if stage in t.stages else f"{'-':>22s}" for t in timings
        )
        print(f"   {stage:46s}{cells}")
    print(f"   {'total':46s}" + "".join(f"{sum(t.stages.values()):22.3f}" for t in timings))
    print(f"   {'outcome':46s}" + "".join(f"{t.outcome:>22s}" for t in timings))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--promoters", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    with scratch_database() as url, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        migrate(url)
        engine = engine_for(url)
        with engine.connect() as conn:
            pg_version = conn.execute(sa.text("SELECT version()")).scalar_one()
        print(f"CPUs: {os.cpu_count()}  Python {platform.python_version()}  ({sys.platform})")
        print(f"Server: {pg_version}")
        try:
            bench_promotion(url, engine, args.rounds, args.promoters)
            registry, timings, once = bench_path(engine, tmp)
            champion = registry.store.champion(direction.TYPE_ID, None)
            contract = registry.store.get_type(champion.type_id).contract
            sqlite_engine = sqlite_copy_of_champion(champion, contract, tmp)
            try:
                engines = {"Postgres": engine, "SQLite": sqlite_engine}
                bench_load(engines, champion.type_id, tmp)
            finally:
                sqlite_engine.dispose()
            print_path(timings, once)
        finally:
            engine.dispose()  # before the DROP (which also ends whatever is left)
    print(f"\nwhole benchmark: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
