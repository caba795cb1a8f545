"""`qs models ...`: the registry from the operator's terminal.

    qs models list     [--tenant T | --all-tenants]       types, champions, versions by status
    qs models show     TYPE [VERSION] [--tenant T]        a type's versions, or one version in full
    qs models promote  TYPE VERSION [--tenant T] --reason "..."
    qs models rollback TYPE [--tenant T] --reason "..."
    qs models history  TYPE [--tenant T]                  every transition, oldest first
    qs models retrain  TYPE [--tenant T] [--end-date D]   train through the lock, stage a version

Tenant in every command: without --tenant a command addresses the global scope, and a tenant
sees its own versions plus the global ones, never another tenant's.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterable, Sequence

from quantsentinel.settings import Settings


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = [[_fmt(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _scope(tenant: str | None) -> str:
    return "global" if tenant is None else f"tenant {tenant}"


def _primary(version, contract) -> str:
    metrics = version.validation_metrics or {}
    name = contract.primary.name
    return f"{name}={metrics[name]:.4f}" if name in metrics else "-"


def cmd_list(registry, args: argparse.Namespace) -> int:
    from quantsentinel.ml.registry import schema as t

    types = registry.store.list_types()
    if not types:
        print("no model types registered yet (a retrain job registers its type)")
        return 0
    rows = []
    for model_type in types:
        scopes = _scopes(registry, model_type.type_id, args)
        for scope in scopes:
            tenant = None if scope == t.GLOBAL else scope
            versions = registry.store.versions(
                model_type.type_id, tenant_id=tenant, include_global=False
            )
            champion = registry.store.champion(model_type.type_id, tenant, fallback_to_global=False)
            counts = {}
            for v in versions:
                counts[v.status] = counts.get(v.status, 0) + 1
            stale = champion is not None and registry.is_stale(champion)
            rows.append([
                model_type.type_id, _scope(tenant),
                champion.semantic_version if champion else "-",
                "STALE" if stale else ("ok" if champion else "-"),
                ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "-",
                f"{model_type.retrain_cadence_hours:g} h",
            ])  # fmt: skip
    print(_table(["type", "scope", "champion", "fresh", "versions", "cadence"], rows))
    return 0


def _scopes(registry, type_id: str, args: argparse.Namespace) -> list[str]:
    import sqlalchemy as sa

    from quantsentinel.ml.registry import schema as t

    if not args.all_tenants:
        return [t.GLOBAL] if args.tenant is None else [args.tenant, t.GLOBAL]
    with registry.engine.connect() as conn:  # the operator asked for every tenant explicitly
        found = conn.execute(
            sa.select(t.model_versions.c.tenant_key)
            .where(t.model_versions.c.type_id == type_id)
            .distinct()
        ).scalars()
        return sorted(set(found) | {t.GLOBAL})


def cmd_show(registry, args: argparse.Namespace) -> int:
    contract = registry.contract(args.type)
    if args.version:
        version = registry.store.find_version(args.type, args.tenant, args.version)
        print(f"{version.type_id} {version.semantic_version} ({version.scope}): {version.status}")
        for label, value in [
            ("version id", version.version_id), ("created", version.created_at),
            ("promoted", version.promoted_at), ("code", f"{version.code_git_commit} "
             f"({version.code_git_branch})"), ("training data", version.training_data_version),
            ("artifact", f"{version.artifact_path} sha256 {version.artifact_sha256[:16]}… "
             f"{version.artifact_size_bytes} bytes"),
            ("mlflow", f"{version.mlflow_model_name} v{version.mlflow_version} "
             f"run {version.mlflow_run_id}"), ("hyperparameters", version.hyperparameters),
            ("validation metrics", version.validation_metrics),
        ]:  # fmt: skip
            print(f"  {label:<19} {_fmt(value)}")
        for evaluation in registry.store.evaluations(version.version_id):
            verdict = evaluation["verdict"]
            outcome = "passed" if evaluation["passed"] else "FAILED"
            print(f"  evaluation on {evaluation['slice_id']}: {outcome} - {verdict['reason']}")
        return 0
    versions = registry.store.versions(args.type, tenant_id=args.tenant)
    rows = [
        [v.semantic_version, v.scope, v.status, _primary(v, contract), v.created_at,
         v.mlflow_version, v.version_id[:8]]
        for v in versions
    ]  # fmt: skip
    print(_table(["version", "scope", "status", "primary", "created", "mlflow", "id"], rows))
    return 0


def cmd_promote(registry, args: argparse.Namespace) -> int:
    from quantsentinel.ml.registry.transitions import InvalidTransition

    version = registry.store.find_version(args.type, args.tenant, args.version)
    try:
        promoted = registry.promote_now(version.version_id, actor=args.actor, reason=args.reason)
    except InvalidTransition as exc:
        print(f"error: {exc}")
        for evaluation in registry.store.evaluations(version.version_id):
            if not evaluation["passed"]:
                verdict = evaluation["verdict"]
                print(f"  contract failed on {verdict.get('blocked_by')}: {verdict['reason']}")
        return 1
    print(f"{promoted.type_id} {promoted.semantic_version} is now the champion ({promoted.scope})")
    return 0


def cmd_rollback(registry, args: argparse.Namespace) -> int:
    current = registry.store.champion(args.type, args.tenant, fallback_to_global=False)
    restored = registry.rollback(args.type, args.tenant, actor=args.actor, reason=args.reason)
    print(
        f"{args.type} ({_scope(args.tenant)}): rolled back "
        f"{current.semantic_version} -> {restored.semantic_version}"
    )
    return 0


def cmd_retrain(registry, args: argparse.Namespace) -> int:
    """Train in this process through the (type, tenant) lock and stage a version; the running
    Dagster sensors take it from there (evaluation, shadow, promotion)."""
    import json
    import os
    import socket
    from datetime import date, datetime, timedelta

    from quantsentinel.market.schema import MARKET_TZ
    from quantsentinel.ml.models.catalog import model_specs
    from quantsentinel.ml.registry.locks import LockHeld

    specs = model_specs()
    if args.type not in specs:
        print(f"error: no training recipe for {args.type!r} (known: {', '.join(specs)})")
        return 1
    spec = specs[args.type]
    registry.define_type(spec.model_type)
    yesterday = datetime.now(MARKET_TZ).date() - timedelta(days=1)
    window = spec.window_ending(date.fromisoformat(args.end_date) if args.end_date else yesterday)
    registry.store.record_training_data(
        window.data_version, args.type, start_date=window.train_start,
        end_date=window.holdout_start,
    )  # fmt: skip
    holder = {"run_id": f"cli:{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}"}
    params = json.loads(args.params)
    try:
        version = registry.train(
            args.type, args.tenant, lambda: spec.train(window, params, args.seed),
            data_version=window.data_version, data_end=window.holdout_start,
            wait=args.wait, holder=holder,
        )  # fmt: skip
    except LockHeld as exc:
        print(f"error: {exc}")
        return 1
    print(f"staged {version.type_id} {version.semantic_version} ({version.scope}), "
          f"MLflow {version.mlflow_model_name} v{version.mlflow_version}")  # fmt: skip
    return 0


def cmd_history(registry, args: argparse.Namespace) -> int:
    rows = [
        [h["at"], h["semantic_version"], h["from_status"], h["to_status"], h["actor"], h["reason"]]
        for h in registry.store.history(args.type, args.tenant)
    ]
    if not rows:
        print(f"no transitions for {args.type} ({_scope(args.tenant)})")
        return 0
    print(_table(["at", "version", "from", "to", "actor", "reason"], rows))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the model registry: list, show, promote, rollback")
    verbs = models.add_subparsers(dest="verb", required=True)

    def verb(name: str, func, help_text: str, *, type_arg: bool = True) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        if type_arg:
            parser.add_argument("type", help="model type id, e.g. direction_lgbm")
        parser.add_argument("--tenant", help="tenant id (default: the global scope)")
        parser.set_defaults(models_func=func)
        return parser

    listing = verb("list", cmd_list, "types, champions and versions", type_arg=False)
    listing.add_argument("--all-tenants", action="store_true", help="every tenant's scope")
    verb("show", cmd_show, "versions of a type, or one version").add_argument(
        "version", nargs="?", help="semantic version, e.g. 1.2.0"
    )
    promote = verb("promote", cmd_promote, "make an evaluated/shadow version the champion")
    promote.add_argument("version")
    for parser in (promote, verb("rollback", cmd_rollback, "restore the previous champion")):
        parser.add_argument("--reason", required=True, help="recorded in the audit log")
        parser.add_argument("--actor", default=getpass.getuser(), help="default: your user")
    verb("history", cmd_history, "every transition of a type's scope")
    retrain = verb("retrain", cmd_retrain, "train now through the lock and stage a version")
    retrain.add_argument("--end-date", help="last day of the held-out slice (default: yesterday)")
    retrain.add_argument("--seed", type=int, default=7)
    retrain.add_argument("--params", default="{}", help="hyperparameter overrides, as JSON")
    retrain.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the lock")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from quantsentinel.ml.registry.registry import open_registry
    from quantsentinel.ml.registry.store import RegistryError

    registry = open_registry(settings.database_url, settings.mlflow_tracking_uri, settings.home)
    try:
        return args.models_func(registry, args)
    except RegistryError as exc:
        print(f"error: {exc}")
        return 1
