"""`qs tenants ...` and `qs kill ...`: tenants, their policies and the kill switches from the
operator's terminal.

    qs tenants add NAME --capital RUPEES [--id ID] [--brokerage flat:20|percent:F[:CAP]]
                        [--set FIELD=VALUE ...]          new tenant, paper-only for 14 days
    qs tenants list                                      every tenant, mode, capital, plan
    qs tenants policy ID [--set FIELD=VALUE ...]         show (and change) a tenant's policy
    qs tenants mode ID paper|live                        the database refuses live within 14 days
    qs kill status [--all]                               tripped switches (--all: every row)
    qs kill trip KIND SCOPE --reason "..." [--tenant T]  trip by hand (master: SCOPE '*')
    qs kill reset KIND SCOPE --reason "..."              reset by hand (audited)

Every change and every refusal is written to the risk audit log with the actor.
"""

from __future__ import annotations

import argparse
import getpass

from quantsentinel.cli_models import _table
from quantsentinel.settings import Settings


def _engine(settings: Settings):
    from quantsentinel.db import engine_for, migrate

    migrate(settings.database_url)
    return engine_for(settings.database_url)


def _pairs(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            from quantsentinel.risk.errors import TenantError

            raise TenantError("bad_policy", f"--set expects FIELD=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def cmd_tenants_add(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.tenancy.policy import BrokeragePlan
    from quantsentinel.risk.tenancy.store import TenantStore

    tenant = TenantStore(engine).add(
        args.name,
        capital=args.capital,
        brokerage=BrokeragePlan.parse(args.brokerage),
        policy=_pairs(args.set),
        tenant_id=args.id,
        actor=args.actor,
    )
    print(
        f"added tenant {tenant.tenant_id} ({tenant.name}), capital {tenant.capital:,.0f}, "
        f"{tenant.trading_mode}; paper-only until {tenant.paper_only_until}"
    )
    return 0


def cmd_tenants_list(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.tenancy.store import TenantStore

    tenants = TenantStore(engine).list()
    if not tenants:
        print("no tenants yet: qs tenants add NAME --capital RUPEES")
        return 0
    rows = [
        [
            t.tenant_id,
            t.name,
            f"{t.capital:,.0f}",
            t.trading_mode,
            t.created_at,
            t.paper_only_until.isoformat(),
            _plan(t.brokerage),
        ]
        for t in tenants
    ]
    headers = ["id", "name", "capital", "mode", "created (UTC)", "paper until", "brokerage"]
    print(_table(headers, rows))
    return 0


def _plan(plan) -> str:
    if plan.kind == "flat":
        return f"flat {plan.flat_per_order:g}/order"
    cap = f", cap {plan.cap_per_order:g}" if plan.cap_per_order is not None else ""
    return f"{plan.percent:.4%} of turnover{cap}"


def cmd_tenants_policy(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.tenancy.store import TenantStore

    store = TenantStore(engine)
    changes = _pairs(args.set)
    tenant = (
        store.set_policy(args.tenant_id, changes, args.actor)
        if changes
        else store.get(args.tenant_id)
    )
    if changes:
        print(f"updated {', '.join(sorted(changes))} for {tenant.tenant_id}")
    print(
        _table(
            ["field", "value"], [(k, str(v)) for k, v in sorted(tenant.policy.to_json().items())]
        )
    )
    return 0


def cmd_tenants_mode(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.tenancy.store import TenantStore

    tenant = TenantStore(engine).set_trading_mode(args.tenant_id, args.mode, args.actor)
    print(f"{tenant.tenant_id} is now {tenant.trading_mode}")
    return 0


def cmd_kill_status(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.kill_switches import KillSwitchStore

    store = KillSwitchStore(engine)
    states = store.status() if args.all else store.tripped()
    if not states:
        print("no kill switch is tripped" if not args.all else "no kill switch has ever tripped")
        return 0
    rows = [
        [
            s.number,
            s.kind,
            s.scope_key,
            "TRIPPED" if s.tripped else "clear",
            s.changed_at,
            s.changed_by,
            s.reason,
        ]
        for s in states
    ]
    print(_table(["#", "kind", "scope", "state", "since (UTC)", "by", "reason"], rows))
    return 0


def cmd_kill_trip(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.kill_switches import KillSwitchStore

    state = KillSwitchStore(engine).trip(
        args.kind, args.scope, tenant_id=args.tenant, reason=args.reason, actor=args.actor
    )
    print(f"tripped {state.kind} ({state.scope_key}): {state.reason}")
    return 0


def cmd_kill_reset(engine, args: argparse.Namespace) -> int:
    from quantsentinel.risk.kill_switches import KillSwitchStore

    state = KillSwitchStore(engine).reset(
        args.kind, args.scope, actor=args.actor, reason=args.reason
    )
    print(f"{state.kind} ({state.scope_key}) is {'TRIPPED' if state.tripped else 'clear'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from quantsentinel.risk.kill_switches.definitions import KINDS

    tenants = sub.add_parser("tenants", help="tenants and their risk policies")
    verbs = tenants.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="a new tenant (paper-only for 14 days)")
    add.add_argument("name")
    add.add_argument("--capital", type=float, required=True, help="rupees")
    add.add_argument("--id", help="tenant id (default: a slug of the name)")
    add.add_argument("--brokerage", default="flat:20", help="flat:RUPEES or percent:F[:CAP]")
    add.add_argument("--set", action="append", help="policy FIELD=VALUE (repeatable)")
    add.set_defaults(risk_func=cmd_tenants_add)
    verbs.add_parser("list", help="every tenant").set_defaults(risk_func=cmd_tenants_list)
    policy = verbs.add_parser("policy", help="show or change a tenant's risk policy")
    policy.add_argument("tenant_id")
    policy.add_argument("--set", action="append", help="FIELD=VALUE (repeatable)")
    policy.set_defaults(risk_func=cmd_tenants_policy)
    mode = verbs.add_parser("mode", help="paper or live (live refused for 14 days by the DB)")
    mode.add_argument("tenant_id")
    mode.add_argument("mode", choices=["paper", "live"])
    mode.set_defaults(risk_func=cmd_tenants_mode)

    kill = sub.add_parser("kill", help="the twelve kill switches")
    kverbs = kill.add_subparsers(dest="verb", required=True)
    status = kverbs.add_parser("status", help="tripped switches")
    status.add_argument("--all", action="store_true", help="every switch that ever tripped")
    status.set_defaults(risk_func=cmd_kill_status)
    names = [k.name for k in KINDS]
    for verb, func in (("trip", cmd_kill_trip), ("reset", cmd_kill_reset)):
        parser = kverbs.add_parser(verb, help=f"{verb} a switch by hand (audited)")
        parser.add_argument("kind", choices=names)
        parser.add_argument("scope", help="scope key: tenant id, symbol, broker, '*' for master")
        parser.add_argument("--reason", required=True, help="recorded in the audit log")
        if verb == "trip":
            parser.add_argument("--tenant", help="owning tenant of a tenant-scoped switch")
        parser.set_defaults(risk_func=func)
    for parser in (add, policy, mode, *kverbs.choices.values()):
        parser.add_argument("--actor", default=getpass.getuser(), help="default: your user")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from quantsentinel.risk.errors import RiskInputError

    try:
        return args.risk_func(_engine(settings), args)
    except RiskInputError as exc:
        print(f"error: {exc}")
        return 1
