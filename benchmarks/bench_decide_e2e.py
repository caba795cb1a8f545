"""Wall time from a snapshot file arriving to its committed decision batch, through the real
daemon: inbox sensor -> chain_ingest_job run -> snapshot sensor -> decide_job run -> batch.

Run: .venv/bin/python benchmarks/bench_decide_e2e.py [--files 4] [--tenants 3]

A fresh QS_HOME, a `dagster-daemon run` process on it (the same daemon `qs ui` starts), and then,
one at a time, a simulated NIFTY snapshot written into the inbox as a Parquet file (atomically,
with `received_at` 5 s after its `ts` so validation judges it fresh). For each file the script
polls the project database until the batch row for that snapshot exists, and splits the time
with the run records the daemon wrote:

  inbox wait     file written -> ingest run created (inbox sensor interval)
  ingest         ingest run created -> finished (queue, launch of a run process, validation)
  sensor wait    ingest finished -> decide run created (snapshot sensor interval)
  decide         decide run created -> finished (queue, run process start, decide, commit)
  visible        file written -> batch row readable

Every run is a fresh process (Dagster's default run launcher), so each pays the interpreter,
Dagster and the definitions' imports: that, and the two sensor intervals, are the floor here.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

DAY = date(2025, 3, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    os.environ.update(
        {"QS_HOME": str(home), "QS_DECIDE_EVERY_MINUTES": "5", "QS_DECIDE_MAX_AGE_MINUTES": "0"}
    )
    import sqlalchemy as sa

    import dagster as dg
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.market.schema import CHAIN_COLUMNS, conform
    from quantsentinel.market.simulator import MarketSimulator, SimulatorConfig
    from quantsentinel.risk.tenancy.store import TenantStore
    from quantsentinel.settings import load_settings

    settings = load_settings().ensure()
    settings.export_env()
    migrate(settings.database_url)
    engine = engine_for(settings.database_url)
    for i in range(args.tenants):
        TenantStore(engine).add(f"T{i}", capital=3e6, tenant_id=f"t{i}", actor="bench")
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)  # create the instance's storage before the daemon races to

    daemon_bin = shutil.which("dagster-daemon") or str(
        Path(sys.executable).parent / "dagster-daemon"
    )
    log = (home / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [daemon_bin, "run", "-m", "quantsentinel.orchestration.definitions"],
        env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, cwd=home,
    )  # fmt: skip
    try:
        t = time.perf_counter()
        _wait_for_daemon(dg, args.timeout)
        print(f"daemon up in {time.perf_counter() - t:.1f} s (QS_HOME={home})")
        sim = MarketSimulator(SimulatorConfig(seed=7))
        times = sim.snapshot_times(DAY)
        rows = []
        for k in range(args.files):
            ts = times[10 + k]
            frame = conform(sim.chain_snapshot(ts, "NIFTY"), CHAIN_COLUMNS)
            frame["received_at"] = ts + pd.Timedelta(seconds=5)
            snapshot = str(frame["snapshot_id"].iloc[0])
            tmp = home / f".{snapshot}.parquet"
            frame.to_parquet(tmp, index=False)
            t0 = time.time()
            tmp.replace(settings.inbox_dir / f"{snapshot}.parquet")
            visible = _wait_for_batch(sa, engine, snapshot, t0, args.timeout)
            rows.append(_split(dg, snapshot, t0, visible))
            print(f"  {snapshot}: batch visible after {visible - t0:.1f} s")
        table = pd.DataFrame(rows).set_index("snapshot")
        print("\nseconds per stage:")
        print(table.round(2).to_string())
        print("\nmedian:", ", ".join(f"{c} {table[c].median():.2f} s" for c in table.columns))
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()


def _wait_for_daemon(dg, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with dg.DagsterInstance.get() as instance:
            beats = instance.get_daemon_heartbeats()
        if "SENSOR" in beats and "QUEUED_RUN_COORDINATOR" in beats:
            return
        time.sleep(0.5)
    raise SystemExit("the daemon did not start (see daemon.log in QS_HOME)")


def _wait_for_batch(sa, engine, snapshot: str, t0: float, timeout: float) -> float:
    from quantsentinel.decide.schema import decision_batches

    query = sa.select(decision_batches.c.batch_id).where(decision_batches.c.batch_id == snapshot)
    while time.time() - t0 < timeout:
        with engine.connect() as conn:
            if conn.execute(query).first() is not None:
                return time.time()
        time.sleep(0.1)
    raise SystemExit(f"no batch for {snapshot} after {timeout} s (see daemon.log in QS_HOME)")


def _split(dg, snapshot: str, t0: float, visible: float) -> dict:
    with dg.DagsterInstance.get() as instance:
        ingest = [r for r in instance.get_run_records(
            filters=dg.RunsFilter(job_name="chain_ingest_job")) if snapshot in
            r.dagster_run.tags.get("qs/inputs", "")]  # fmt: skip
        decide = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/run_key": snapshot}))
    out = {"snapshot": snapshot}
    if ingest and decide:
        i, d = ingest[0], decide[0]
        out.update(
            inbox_wait=i.create_timestamp.timestamp() - t0,
            ingest=(i.end_time or visible) - i.create_timestamp.timestamp(),
            sensor_wait=d.create_timestamp.timestamp() - (i.end_time or visible),
            decide=(d.end_time or visible) - d.create_timestamp.timestamp(),
        )
    out["visible"] = visible - t0
    return out


if __name__ == "__main__":
    main()
