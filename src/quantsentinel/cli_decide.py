"""`qs replay`: simulated trading days through the real sensor-and-decide path.

For each day: the market runs materialize the day's chains (and the rest of the market graph) for
the decided underlyings; then the real `snapshot_sensor` is ticked against the instance, exactly
as the daemon would, and each run it requests is executed in this process with the request's
run key, config and tags (a run key already launched is skipped, as the daemon skips it). The
decide runs fill approved paper decisions and mark open positions on later snapshots, so the
report at the end shows decisions, fills and P&L per tenant.

The one difference from production is who launches the run: here `execute_in_process`, there the
daemon's run launcher (`qs ui` runs the daemon; benchmarks/bench_decide.py times that path).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date, datetime, timedelta

DEMO_TENANTS = (
    # (id, name, capital, policy changes): three risk appetites on one platform.
    ("alpha-fund", "Alpha Fund", 5_000_000.0, {}),
    ("cautious-capital", "Cautious Capital", 2_000_000.0,
     {"target_daily_vol_pct": 0.003, "max_position_loss_pct": 0.01}),
    ("gamma-desk", "Gamma Desk", 10_000_000.0,
     {"target_daily_vol_pct": 0.008, "max_open_positions": 20}),
)  # fmt: skip

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def add_parser(sub: argparse._SubParsersAction) -> None:
    replay = sub.add_parser(
        "replay", help="simulated days of snapshots through the snapshot sensor and decide runs"
    )
    replay.add_argument("--days", type=int, default=5, help="trading days to decide (default 5)")
    replay.add_argument("--end", help="last day (YYYY-MM-DD; default: the last trading day)")
    replay.add_argument("--underlying", nargs="*", default=["NIFTY", "BANKNIFTY"])
    replay.add_argument(
        "--every", type=int, default=60,
        help="decide a snapshot every N session minutes (default 60; 5 = every snapshot)",
    )  # fmt: skip
    replay.add_argument(
        "--warmup", type=int, default=1,
        help="earlier days materialized first so forecasts exist (default 1)",
    )  # fmt: skip
    replay.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.days < 1 or args.warmup < 0:
        print("error: --days must be >= 1 and --warmup >= 0")
        return 2
    if not 1 <= args.every <= 375:
        print("error: --every must be a whole number of minutes in 1..375")
        return 2
    import warnings

    # Dagster's beta/deprecation notices about its own internals are not the user's business.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    os.environ["QS_DECIDE_EVERY_MINUTES"] = str(args.every)
    os.environ["QS_DECIDE_MAX_AGE_MINUTES"] = "0"  # simulated days are in the past by design
    os.environ["QS_DECIDE_UNDERLYINGS"] = ",".join(args.underlying)
    from quantsentinel.cli import _last_trading_days, _settings
    from quantsentinel.market.contracts import UNDERLYINGS
    from quantsentinel.market.schema import MARKET_TZ

    unknown = sorted(set(args.underlying) - set(UNDERLYINGS))
    if unknown:
        print(f"error: unknown underlying(s) {', '.join(unknown)}; known: {', '.join(UNDERLYINGS)}")
        return 2
    settings = _settings()
    import dagster as dg
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.orchestration.definitions import defs

    migrate(settings.database_url)
    engine = engine_for(settings.database_url)
    tenants = ensure_demo_tenants(engine)
    end = (
        date.fromisoformat(args.end) if args.end else datetime.now(MARKET_TZ).date() - timedelta(1)
    )
    days = _last_trading_days(end, args.days + args.warmup)
    print(f"qs replay: {args.days} day(s) {days[args.warmup]}..{days[-1]} "
          f"(+{args.warmup} warm-up), {', '.join(args.underlying)}, a decision every "
          f"{args.every} min, {len(tenants)} tenant(s), QS_HOME={settings.home}")  # fmt: skip
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        for day in days[: args.warmup]:
            _market(defs, instance, day, args.underlying)
        cursor = _start_cursor(instance)
        for day in days[args.warmup :]:
            t = time.perf_counter()
            _market(defs, instance, day, args.underlying)
            market_s = time.perf_counter() - t
            cursor, runs = tick_and_run(defs, instance, cursor)
            ok = sum(r.success for r in runs)
            seen = _run_counts(runs)
            print(f"  {day}: market {market_s:.1f} s; {len(runs)} decide run(s), {ok} ok in "
                  f"{time.perf_counter() - t - market_s:.1f} s: {seen['approved']} approved of "
                  f"{seen['tenants']} decisions, {seen['closed']} position(s) closed")  # fmt: skip
    print(f"\n{time.perf_counter() - started:.1f} s in all.\n")
    print_report(engine, [t.tenant_id for t in tenants])
    return 0


def _run_counts(runs: list) -> dict[str, int]:
    """Approved decisions, decisions and closed positions, from the runs' materializations."""
    counts = {"approved": 0, "tenants": 0, "closed": 0}
    for result in runs:
        if not result.success:
            continue
        for event in result.get_asset_materialization_events():
            meta = event.event_specific_data.materialization.metadata
            counts["approved"] += int(meta["approved"].value) if "approved" in meta else 0
            counts["tenants"] += int(meta["tenants"].value) if "tenants" in meta else 0
            if "positions_closed_on_mark" in meta:
                counts["closed"] += int(meta["positions_closed_on_mark"].value)
    return counts


def ensure_demo_tenants(engine) -> list:
    """The tenants to decide for: existing ones, or the three demo tenants on a fresh home."""
    from quantsentinel.risk.tenancy.store import TenantStore

    store = TenantStore(engine)
    found = store.list()
    if found:
        return found
    return [store.add(name, capital=capital, policy=policy, tenant_id=tid, actor="qs replay")
            for tid, name, capital, policy in DEMO_TENANTS]  # fmt: skip


def _market(defs, instance, day: date, underlyings: list[str]) -> None:
    from quantsentinel.assets.partitions import multi_key

    daily = defs.resolve_job_def("market_daily_job")
    daily.execute_in_process(instance=instance, partition_key=day.isoformat(), run_config=QUIET,
                             raise_on_error=False)  # fmt: skip
    job = defs.resolve_job_def("market_job")
    for u in underlyings:
        result = job.execute_in_process(instance=instance, partition_key=multi_key(day, u),
                                        run_config=QUIET, raise_on_error=False)  # fmt: skip
        if not result.success:
            print(f"  {day} {u}: market run FAILED (see the run in the UI)")


def _start_cursor(instance) -> str | None:
    """Start after every chain_snapshots materialization already recorded: the replay decides
    the days it materializes, not the warm-up or an earlier demo."""
    import json

    from quantsentinel.sensors.decide import SNAPSHOTS

    last = instance.fetch_materializations(SNAPSHOTS, limit=1, ascending=False).records
    return json.dumps({"after": last[0].storage_id, "latest": {}}) if last else None


def tick_and_run(defs, instance, cursor: str | None) -> tuple[str | None, list]:
    """One tick of the real snapshot sensor, then each requested run (run keys launched once)."""
    import dagster as dg
    from quantsentinel.orchestration.definitions import build_resources

    sensor = defs.resolve_sensor_def("snapshot_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources(),
                                 cursor=cursor) as context:  # fmt: skip
        tick = sensor.evaluate_tick(context)
    job = defs.resolve_job_def("decide_job")
    runs = []
    for request in tick.run_requests or []:
        launched = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/run_key": request.run_key}), limit=1
        )
        if launched:
            continue
        tags = {**request.tags, "dagster/run_key": request.run_key,
                "dagster/sensor_name": sensor.name, "qs/launched_by": "qs replay"}  # fmt: skip
        runs.append(job.execute_in_process(
            instance=instance, partition_key=request.partition_key,
            run_config={**request.run_config, **QUIET}, tags=tags, raise_on_error=False,
        ))  # fmt: skip
    return tick.cursor or cursor, runs


def print_report(engine, tenant_ids: list[str]) -> None:
    from quantsentinel.decide.paper import PaperExecutor
    from quantsentinel.decide.store import DecisionStore

    store, executor = DecisionStore(engine), PaperExecutor(engine)
    print(f"{'tenant':<18} {'decisions':>9} {'approved':>8} {'fills':>5} {'open':>4} "
          f"{'closed':>6} {'realised P&L':>13} {'unrealised':>11}  top blocks")  # fmt: skip
    for tenant_id in tenant_ids:
        rows = store.tenant_decisions(tenant_id, limit=100_000)
        approved = sum(bool(r["approved"]) for r in rows)
        blocks: dict[str, int] = {}
        for r in rows:
            if not r["approved"]:
                blocks[r["blocked_by"]] = blocks.get(r["blocked_by"], 0) + 1
        top = ", ".join(f"{k} {v}" for k, v in sorted(blocks.items(), key=lambda kv: -kv[1])[:3])
        s = executor.summary(tenant_id)
        print(f"{tenant_id:<18} {len(rows):>9} {approved:>8} {s['fills']:>5} {s['open']:>4} "
              f"{s['closed']:>6} {s['realised_pnl']:>13,.0f} {s['unrealised_pnl']:>11,.0f}  "
              f"{top}")  # fmt: skip
    print("\nEvery decision, with its reasons, is in the `decisions` table and on the "
          "`decision_batches` asset in the UI (qs ui).")  # fmt: skip
