"""`qs`: the operator CLI.

qs demo [--days N] [--end YYYY-MM-DD] [--underlying SYM ...]   materialize the market graph
qs ui [--port P]                                                 Dagster UI on the same instance
qs ingest FILE...                                                take files through the inbox now
qs inputs                                                        what came in and what was rejected
qs paths                                                         where every piece of state lives
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

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


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    import dagster as dg
    from quantsentinel.assets.partitions import multi_key
    from quantsentinel.market.contracts import UNDERLYINGS
    from quantsentinel.orchestration.definitions import build_definitions

    underlyings = args.underlying or list(UNDERLYINGS)
    unknown = sorted(set(underlyings) - set(UNDERLYINGS))
    if unknown:
        print(f"error: unknown underlying(s) {', '.join(unknown)}; known: {', '.join(UNDERLYINGS)}")
        return 2
    end = date.fromisoformat(args.end) if args.end else date.today() - timedelta(days=1)
    days = _last_trading_days(end, args.days)
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    market_job = defs.resolve_job_def("market_job")
    daily_job = defs.resolve_job_def("market_daily_job")

    print(
        f"Quantsentinel demo: {len(days)} trading day(s) {days[0]}..{days[-1]}, "
        f"{len(underlyings)} underlying(s), QS_HOME={settings.home}"
    )
    started = time.perf_counter()
    failures = 0
    summary: list[tuple[str, str, str]] = []
    for day in days:
        result = daily_job.execute_in_process(
            instance=instance, partition_key=day.isoformat(), raise_on_error=False
        )
        failures += not result.success
        for underlying in underlyings:
            result = market_job.execute_in_process(
                instance=instance, partition_key=multi_key(day, underlying), raise_on_error=False
            )
            failures += not result.success
            summary.append((day.isoformat(), underlying, _run_line(result)))
    elapsed = time.perf_counter() - started

    for day_str, underlying, line in summary:
        print(f"  {day_str} {underlying:<11} {line}")
    print(f"\n{len(summary) + len(days)} runs in {elapsed:.1f} s, {failures} failed.")
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
            parts.append(f"{meta['snapshots'].value} snapshots ok")
        elif name == "quarantined_snapshots":
            parts.append(f"{meta['quarantined'].value} quarantined")
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
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.market.inbox import take_inbox
    from quantsentinel.market.landing import LandingZone

    for name in args.files:
        source = Path(name)
        if not source.is_file():
            print(f"error: {source} is not a file")
            return 2
        shutil.copy2(source, settings.inbox_dir / source.name)
        # Backdate so the inbox treats the copy as settled now, not in a second.
        old = time.time() - 5
        os.utime(settings.inbox_dir / source.name, (old, old))
    migrate(settings.database_url)
    outcome = take_inbox(
        settings.inbox_dir, LandingZone(settings.data_dir), engine_for(settings.database_url)
    )
    for item in outcome.accepted:
        parts = ", ".join(f"{d}|{u}" for d, u in item.partitions)
        print(f"accepted {item.file_name} ({item.fmt}, {item.rows} rows) -> {parts}")
    for item in outcome.rejected:
        print(f"REJECTED {item.file_name}: {item.reason} - {item.detail.splitlines()[0]}")
    for name in outcome.duplicates:
        print(f"duplicate {name}: already ingested, ignored")
    print("validate the landed partitions with `qs demo` days or from the UI (chain_ingest_job).")
    return 1 if outcome.rejected else 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qs", description="Quantsentinel operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the market graph for a few simulated days")
    demo.add_argument("--days", type=int, default=3, help="trading days (default 3)")
    demo.add_argument("--end", help="last day, YYYY-MM-DD (default: yesterday)")
    demo.add_argument("--underlying", action="append", help="repeatable; default: all")
    demo.set_defaults(func=cmd_demo)
    ui = sub.add_parser("ui", help="open the Dagster UI on this QS_HOME")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    ingest = sub.add_parser("ingest", help="copy files into the inbox and take them now")
    ingest.add_argument("files", nargs="+")
    ingest.set_defaults(func=cmd_ingest)
    inputs = sub.add_parser("inputs", help="list received inputs")
    inputs.add_argument("--limit", type=int, default=50)
    inputs.set_defaults(func=cmd_inputs)
    sub.add_parser("paths", help="where state lives").set_defaults(func=cmd_paths)
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
