"""`qs`: the operator CLI.

qs demo [--days N] [--end YYYY-MM-DD] [--underlying SYM ...]   materialize the market graph
qs ui [--port P]                                                 Dagster UI on the same instance
qs ingest FILE...                                                take files through the inbox now
qs inputs                                                        what came in and what was rejected
qs paths                                                         where every piece of state lives
qs models ...                                                    the model registry (cli_models)
qs tenants add|list|policy, qs kill status|trip|reset            tenants, kill switches (cli_risk)
qs replay [--days N] [--every MIN]                              days through sensor + decide runs
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from quantsentinel.cli_decide import add_parser as add_decide_parser
from quantsentinel.cli_models import add_parser as add_models_parser
from quantsentinel.cli_risk import add_parsers as add_risk_parsers
from quantsentinel.market.schema import MARKET_TZ
from quantsentinel.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    settings = load_settings().ensure()
    settings.export_env()
    return settings


def _last_trading_days(end: date, count: int) -> list[date]:
    from quantsentinel.market.calendar import is_trading_day, previous_trading_day

    day = end if is_trading_day(end) else previous_trading_day(end)
    days = [day]
    while len(days) < count:
        days.append(previous_trading_day(days[-1]))
    return sorted(days)


QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _run_partition(task: tuple[str, str, str | None]) -> tuple[str, str | None, bool, str]:
    """Run one partition in this (worker) process against the shared instance; picklable."""
    import dagster as dg
    from quantsentinel.assets.partitions import multi_key
    from quantsentinel.orchestration.definitions import defs

    job_name, day, underlying = task
    job = defs.resolve_job_def(job_name)
    key = multi_key(date.fromisoformat(day), underlying) if underlying else day
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=key, run_config=QUIET_RUN, raise_on_error=False
        )
    return day, underlying, result.success, _run_line(result)


def _warm_imports() -> None:
    """Import the heavy modules once in the parent: forked workers inherit them instead of each
    paying seconds for great_expectations, matplotlib and the definitions."""
    import matplotlib.pyplot  # noqa: F401

    from quantsentinel.market.validation import ValidationConfig, build_expectation_suite
    from quantsentinel.orchestration.definitions import defs  # noqa: F401

    build_expectation_suite(ValidationConfig())


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    import multiprocessing

    from quantsentinel.db import migrate
    from quantsentinel.market.contracts import UNDERLYINGS

    underlyings = args.underlying or list(UNDERLYINGS)
    unknown = sorted(set(underlyings) - set(UNDERLYINGS))
    if unknown:
        print(f"error: unknown underlying(s) {', '.join(unknown)}; known: {', '.join(UNDERLYINGS)}")
        return 2
    today = datetime.now(MARKET_TZ).date()  # the exchange's date, not the host's
    end = date.fromisoformat(args.end) if args.end else today - timedelta(days=1)
    days = _last_trading_days(end, args.days)
    tasks = [("market_daily_job", d.isoformat(), None) for d in days]
    tasks += [("market_job", d.isoformat(), u) for d in days for u in underlyings]
    workers = max(1, min(args.workers or os.cpu_count() or 1, len(tasks)))
    print(
        f"Quantsentinel demo: {len(days)} trading day(s) {days[0]}..{days[-1]}, "
        f"{len(underlyings)} underlying(s), {len(tasks)} runs on {workers} worker(s), "
        f"QS_HOME={settings.home}"
    )
    import dagster as dg

    # Create both schemas once, before workers race to (Dagster's SQLite storage stamps its own
    # Alembic version on first use; two processes doing it at once leave two heads).
    migrate(settings.database_url)
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
    _warm_imports()
    from quantsentinel.db import engine_for

    # Pooled connections must not cross a fork: children open their own.
    engine_for(settings.database_url).dispose()
    engine_for.cache_clear()
    started = time.perf_counter()
    if workers == 1:
        outcomes = [_run_partition(t) for t in tasks]
    else:
        # forkserver: workers fork from a fresh single-threaded server that has imported the
        # heavy modules once (so each worker starts warm) and has the exported environment.
        # Plain fork from this process is unsafe once it has threads (a caller that already
        # used MLflow or LightGBM's OpenMP pool): a child can inherit a held lock and hang.
        # Each worker opens its own connection to the instance (SQLite serialises writers).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["quantsentinel.cli_warm"])
        with context.Pool(workers) as pool:
            outcomes = pool.map(_run_partition, tasks, chunksize=1)
    elapsed = time.perf_counter() - started

    failures = sum(not ok for _, _, ok, _ in outcomes)
    for day, underlying, _, line in outcomes:
        if underlying:
            print(f"  {day} {underlying:<11} {line}")
    print(f"\n{len(outcomes)} runs in {elapsed:.1f} s, {failures} failed.")
    print("Where to look:")
    print(f"  data (Parquet):        {settings.data_dir}")
    print(f"  raw inputs (landing):  {settings.data_dir / 'landing'}")
    print(f"  project database:      {settings.database_url}")
    print(f"  Dagster instance:      {settings.dagster_home}")
    print(f"  drop files here:       {settings.inbox_dir}")
    print("  open the UI:           qs ui   (then http://127.0.0.1:3000)")
    return 1 if failures else 0


def _run_line(result) -> str:
    if not result.success:
        return "FAILED (see the run in the UI)"
    parts = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        name = mat.asset_key.to_user_string()
        meta = mat.metadata
        if name == "chain_snapshots":
            count = meta["snapshots"].value if "snapshots" in meta else 0
            parts.append(f"{count} snapshots ok")
        elif name == "quarantined_snapshots":
            count = meta["quarantined"].value if "quarantined" in meta else 0
            parts.append(f"{count} quarantined")
        elif name == "realized_vol" and meta.get("realized_vol_annualised"):
            value = meta["realized_vol_annualised"].value
            parts.append(f"RV {100 * value:.1f}%" if value is not None else "RV n/a")
    return ", ".join(parts)


def cmd_ui(args: argparse.Namespace) -> int:
    _settings()
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    argv = [
        dagster,
        "dev",
        "-m",
        "quantsentinel.orchestration.definitions",
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    print("starting:", " ".join(argv))
    os.execv(argv[0], argv)
    return 0  # not reached


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings()

    import dagster as dg
    from quantsentinel.assets.partitions import multi_key, partition_exists
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.market.inbox import take_inbox
    from quantsentinel.market.landing import LandingZone

    sources = [Path(name) for name in args.files]
    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        print(f"error: not a file: {', '.join(missing)}")
        return 2
    for source in sources:
        target = _copy_into_inbox(source, settings.inbox_dir)
        settled = time.time() - 5  # the copy is complete: settled now, not in a second
        os.utime(target, (settled, settled))
    migrate(settings.database_url)
    outcome = take_inbox(
        settings.inbox_dir,
        LandingZone(settings.data_dir),
        engine_for(settings.database_url),
        accepts=partition_exists,
        judge_staleness=not args.historical,
    )
    for item in outcome.rejected:
        print(f"REJECTED {item.file_name}: {item.reason} - {item.detail.splitlines()[0]}")
    for name in outcome.duplicates:
        print(f"duplicate {name}: already ingested, ignored")
    partitions = sorted({p for item in outcome.accepted for p in item.partitions})
    for item in outcome.accepted:
        touched = ", ".join(f"{d}|{u}" for d, u in item.partitions)
        print(f"accepted {item.file_name} ({item.fmt}, {item.rows} rows) -> {touched}")
        if item.ignored:
            print(f"  {item.ignored}")
    if partitions:
        from quantsentinel.orchestration.definitions import defs

        job = defs.resolve_job_def("chain_ingest_job")
        config = {**QUIET_RUN, "ops": {"raw_chain_snapshots": {"config": {"pull_feed": False}}}}
        with dg.DagsterInstance.get() as instance:
            for day, underlying in partitions:
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=multi_key(day, underlying),
                    run_config=config,
                    raise_on_error=False,
                )
                print(f"validated {day}|{underlying}: {_run_line(result)}")
    return 1 if outcome.rejected else 0


def _copy_into_inbox(source: Path, inbox: Path) -> Path:
    """Copy (never move: the operator's file stays put) under the original name, created
    exclusively so a waiting file of the same name is never overwritten; on a clash, a unique
    suffix."""
    import uuid

    for name in (source.name, f"{source.stem}.{uuid.uuid4().hex[:8]}{source.suffix}"):
        try:
            with (inbox / name).open("xb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out)
            return inbox / name
        except FileExistsError:
            continue
    raise FileExistsError(f"could not place {source.name} in {inbox}")


def cmd_inputs(args: argparse.Namespace) -> int:
    settings = _settings()
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.market.records import list_inputs

    migrate(settings.database_url)
    rows = list_inputs(engine_for(settings.database_url), limit=args.limit)
    if not rows:
        print("no inputs recorded yet")
    for r in rows:
        why = f" {r['reason']}: {(r['detail'] or '').splitlines()[0][:90]}" if r["reason"] else ""
        print(f"{r['received_at']:%Y-%m-%d %H:%M:%S}  {r['status']:<8} {r['file_name']}{why}")
    return 0


def cmd_paths(_: argparse.Namespace) -> int:
    s = _settings()
    for label, value in [
        ("QS_HOME", s.home),
        ("profile", s.profile),
        ("DAGSTER_HOME", s.dagster_home),
        ("data", s.data_dir),
        ("inbox", s.inbox_dir),
        ("database", s.database_url),
        ("mlflow", s.mlflow_tracking_uri),
        ("feed", s.feed_source),
    ]:
        print(f"{label:<13} {value}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from quantsentinel.cli_models import run

    return run(_settings(), args)


def cmd_risk(args: argparse.Namespace) -> int:
    from quantsentinel.cli_risk import run

    return run(_settings(), args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qs", description="Quantsentinel operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the market graph for a few simulated days")
    demo.add_argument("--days", type=int, default=3, help="trading days (default 3)")
    demo.add_argument("--end", help="last day, YYYY-MM-DD (default: yesterday)")
    demo.add_argument("--underlying", action="append", help="repeatable; default: all")
    demo.add_argument("--workers", type=int, help="parallel processes (default: CPU count)")
    demo.set_defaults(func=cmd_demo)
    ui = sub.add_parser("ui", help="open the Dagster UI on this QS_HOME")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    ingest = sub.add_parser("ingest", help="copy files into the inbox and take them now")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument(
        "--historical",
        action="store_true",
        help="backfill: do not judge staleness by arrival time (old files are not stale)",
    )
    ingest.set_defaults(func=cmd_ingest)
    inputs = sub.add_parser("inputs", help="list received inputs")
    inputs.add_argument("--limit", type=int, default=50)
    inputs.set_defaults(func=cmd_inputs)
    sub.add_parser("paths", help="where state lives").set_defaults(func=cmd_paths)
    add_models_parser(sub)
    sub.choices["models"].set_defaults(func=cmd_models)
    add_risk_parsers(sub)
    add_decide_parser(sub)
    for name in ("tenants", "kill"):
        sub.choices[name].set_defaults(func=cmd_risk)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "days", 1) is not None and getattr(args, "days", 1) < 1:
        print("error: --days must be at least 1")
        return 2
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
