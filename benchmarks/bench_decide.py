"""Time the decide computation for 1, 10, 100 and 1,000 tenants on one snapshot.

Run: .venv/bin/python benchmarks/bench_decide.py [--tenants 1 10 100 1000] [--snapshots 8]
     [--database sqlite|postgres]

What is timed is `decide.run.decide_snapshot` end to end, as a decide run calls it: read the
snapshot and its (cached) history, mark the open paper positions, learn, build the shared view
(signals, combination, regime, outlook, unit structures), draw, size and judge every tenant
through the audited castle, save the learning state, commit the batch, fill the approved paper
decisions. Publication goes to the in-process publisher. Each tenant count gets a fresh
database; the first decision in the process is reported apart (cold: imports, history build),
then p50/p99 over `--snapshots` later snapshots of the same day, with the per-stage split of the
median one. Also: the cold import of the decide path and of the Dagster definitions a run
process loads, in fresh interpreters, and which heavy libraries they pull in.

Market data: one simulated NIFTY day written as the assets would store it (decide.fixtures),
the forecast at 0.6x recent variance so some structures have an edge and trades are approved.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

DAY = date(2025, 3, 5)
HEAVY = ("torch", "mlflow", "great_expectations", "matplotlib", "lightgbm", "xgboost", "arch",
         "statsmodels", "scipy", "dagster")  # fmt: skip


def _engine(kind: str, folder: Path):
    import sqlalchemy as sa

    from quantsentinel.db import engine_for, migrate

    if kind == "sqlite":
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        admin = sa.create_engine("postgresql://postgres@127.0.0.1:5432/postgres",
                                 isolation_level="AUTOCOMMIT")  # fmt: skip
        name = f"bench_decide_{int(time.time() * 1000) % 10**9}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    migrate(url)
    return engine_for(url)


def _tenants(engine, n: int) -> None:
    from quantsentinel.risk.tenancy.store import TenantStore

    store = TenantStore(engine)
    rng = np.random.default_rng(n)
    for i in range(n):
        store.add(f"Tenant {i}", capital=float(rng.choice([1e6, 3e6, 5e6, 1e7])),
                  tenant_id=f"t{i:04d}", actor="bench")  # fmt: skip


def run(counts: list[int], snapshots: int, database: str) -> None:
    from quantsentinel.decide.fixtures import write_day
    from quantsentinel.decide.publish import InProcessPublisher
    from quantsentinel.decide.run import decide_snapshot
    from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig

    sim = MarketSimulator(SimulatorConfig(seed=3))
    root = Path(tempfile.mkdtemp(prefix="bench_decide_"))
    t = time.perf_counter()
    ids = write_day(sim, root / "data", DAY, "NIFTY", forecast_scale=0.6)
    print(f"market day written in {time.perf_counter() - t:.1f} s ({len(ids)} snapshots)")
    step = max(1, (len(ids) - 1) // (snapshots + 1))
    print(f"\ndecide_snapshot on {database}: cold = first decision in this process for that count; "
          f"p50/p99 over {snapshots} later snapshots\n")  # fmt: skip
    print(f"{'tenants':>7} {'cold s':>7} {'p50 ms':>8} {'p99 ms':>8} {'ms/tenant':>9} "
          f"{'approved':>8}  median split (ms)")  # fmt: skip
    for n in counts:
        folder = root / f"n{n}"
        folder.mkdir()
        engine = _engine(database, folder)
        _tenants(engine, n)
        publisher = InProcessPublisher()

        def decide(i: int, engine=engine, publisher=publisher):
            return decide_snapshot(
                engine, root / "data", ids[i], DAY, "NIFTY",
                bars_fallback=sim.bars, publisher=publisher,
            )  # fmt: skip

        t = time.perf_counter()
        decide(0)
        cold = time.perf_counter() - t
        times, outs = [], []
        for k in range(1, snapshots + 1):
            t = time.perf_counter()
            outs.append(decide(k * step))
            times.append(time.perf_counter() - t)
        ms = np.asarray(times) * 1e3
        median = outs[int(np.argsort(times)[len(times) // 2])]
        split = " ".join(f"{k} {v * 1e3:.0f}" for k, v in median.timings.items())
        approved = statistics.fmean(len(o.approved) for o in outs)
        print(f"{n:>7} {cold:>7.2f} {np.percentile(ms, 50):>8.1f} {np.percentile(ms, 99):>8.1f} "
              f"{np.percentile(ms, 50) / n:>9.2f} {approved:>8.1f}  {split}")  # fmt: skip
        engine.dispose()


def imports() -> None:
    probes = {
        "quantsentinel.decide.run": "import quantsentinel.decide.run",
        "orchestration.definitions (a run process)":
            "import quantsentinel.orchestration.definitions",
    }  # fmt: skip
    print("\ncold imports (fresh interpreter, min of 3):")
    for label, statement in probes.items():
        code = (f"import sys, time; t=time.perf_counter(); {statement}; "
                f"print(time.perf_counter()-t); "
                f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")  # fmt: skip
        runs = [subprocess.check_output([sys.executable, "-c", code], text=True).split("\n")
                for _ in range(3)]  # fmt: skip
        best = min(float(r[0]) for r in runs)
        print(f"  {label:<45} {best * 1e3:6.0f} ms   heavy modules loaded: {runs[0][1] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="*", default=[1, 10, 100, 1000])
    parser.add_argument("--snapshots", type=int, default=8)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    run(args.tenants, args.snapshots, args.database)
    imports()


if __name__ == "__main__":
    main()
