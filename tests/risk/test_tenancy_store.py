"""Tenancy on SQLite (the embedded default): the tenant store and its audited refusals, and the
database's own rules (paper-only period, immutable created_at, append-only audit) with the
migration that installs them. The tenant scope's isolation is in test_tenancy_isolation.py.

The `check_*` functions take an engine and run here on SQLite and in tests/pg/test_tenancy_pg.py on
the real Postgres server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy import audit
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy
from quantsentinel.risk.tenancy.schema import PAPER_ONLY_DAYS, risk_audit, tenants
from quantsentinel.risk.tenancy.scope import system_scope
from quantsentinel.risk.tenancy.store import TenantStore, slugify

from .tenancy_helpers import all_audit, backdate_sqlite, db_now, raw_tenant_row

# -- the tenant store ------------------------------------------------------------------------------


def check_store_lifecycle(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    clock = db_now(engine)
    acme = store.add("Ācme Capital Ltd.", capital=1_000_000, actor="cli:alice")
    assert acme.tenant_id == "acme-capital-ltd"
    assert (acme.trading_mode, acme.capital, acme.policy) == ("paper", 1_000_000.0, RiskPolicy())
    assert abs(acme.created_at - clock) < timedelta(minutes=1)  # the database's clock
    assert (acme.paper_only_until - acme.created_at.date()).days == PAPER_ONLY_DAYS

    plan = BrokeragePlan(kind="percent", percent=0.0003, cap_per_order=20.0)
    beta = store.add(
        "Beta Fund",
        capital=250_000.0,
        brokerage=plan,
        policy={"max_open_positions": 4},
        tenant_id="beta-7",
        actor="cli:alice",
    )
    assert (beta.tenant_id, beta.brokerage, beta.policy.max_open_positions) == ("beta-7", plan, 4)
    assert store.get("beta-7") == beta
    assert [t.tenant_id for t in store.list()] == ["acme-capital-ltd", "beta-7"]

    changed = store.set_policy("beta-7", {"max_open_positions": "6", "max_cost_ratio": 0.3}, "bob")
    assert (changed.policy.max_open_positions, changed.policy.max_cost_ratio) == (6, 0.3)
    assert store.get("beta-7").policy == changed.policy
    assert store.set_capital("beta-7", 300_000, actor="bob").capital == 300_000.0
    assert store.get("beta-7").capital == 300_000.0
    before = len(all_audit(engine))
    assert store.set_trading_mode("beta-7", "paper", actor="bob").trading_mode == "paper"
    assert len(all_audit(engine)) == before  # no change, nothing to audit

    rows = [r for r in all_audit(engine) if r["tenant_id"] == "beta-7"]
    assert [r["event"] for r in rows] == ["tenant_added", "policy_changed", "policy_changed"]
    assert all(r["approved"] is True for r in rows)
    assert rows[1]["numbers"] == {
        "before": {"max_cost_ratio": 0.4, "max_open_positions": 4},
        "after": {"max_cost_ratio": 0.3, "max_open_positions": 6},
    }
    assert rows[1]["actor"] == "bob"
    assert rows[2]["numbers"] == {"before": {"capital": 250_000.0}, "after": {"capital": 300_000.0}}


def check_store_refusals_are_audited(engine: sa.Engine) -> None:
    store = TenantStore(engine)
    acme = store.add("Acme", capital=100_000, actor="op")

    def add(name: str, **overrides: Any) -> Any:
        return store.add(name, **{"capital": 1.0, "actor": "op", **overrides})

    added, other = "tenant_refused", "input_error"
    cases: list[tuple[Callable[[], Any], str, str, str | None]] = [
        (lambda: add("Neg", capital=-1.0), "negative_capital", added, "neg"),
        (lambda: add("Acme"), "duplicate_tenant", added, "acme"),
        (lambda: add("Other", tenant_id="acme"), "duplicate_tenant", added, "acme"),
        (lambda: add("Acme", tenant_id="acme-2"), "duplicate_tenant", added, "acme-2"),
        (lambda: add("P", policy={"max_daily_loss_pct": 2.0}), "bad_policy", added, "p"),
        (lambda: add("Q", policy={"leverage": 3}), "bad_policy", added, "q"),
        (lambda: add("R", capital=float("nan")), "bad_input", added, "r"),
        (lambda: add("S", capital="100"), "bad_input", added, "s"),
        (lambda: add("T", tenant_id="Bad Id!"), "bad_input", added, None),
        (lambda: add("!!!"), "bad_input", added, None),
        (lambda: add("U", actor=""), "bad_input", added, "u"),
        (lambda: store.get("ghost"), "unknown_tenant", other, "ghost"),
        (
            lambda: store.set_policy("ghost", {"max_leg_lots": 5}, "op"),
            "unknown_tenant",
            other,
            "ghost",
        ),
        (lambda: store.set_capital("ghost", 5.0, "op"), "unknown_tenant", other, "ghost"),
        (lambda: store.set_trading_mode("ghost", "paper", "op"), "unknown_tenant", other, "ghost"),
        (lambda: store.set_policy("acme", {"max_leg_lots": 0}, "op"), "bad_policy", other, "acme"),
        (lambda: store.set_policy("acme", {"no_such_limit": 1}, "op"), "bad_policy", other, "acme"),
        (lambda: store.set_policy("acme", {}, "op"), "bad_input", other, "acme"),
        (lambda: store.set_capital("acme", -5, "op"), "negative_capital", other, "acme"),
        (lambda: store.set_trading_mode("acme", "yolo", "op"), "bad_input", other, "acme"),
    ]
    for action, code, event, audited_tenant in cases:
        before = all_audit(engine)
        with pytest.raises(TenantError) as refused:
            action()
        assert refused.value.code == code
        new = all_audit(engine)[len(before) :]
        assert len(new) == 1, (code, new)  # the refusal's own row, not lost with its rollback
        row = new[0]
        assert (row["event"], row["approved"], row["tenant_id"]) == (event, False, audited_tenant)
        assert row["reason"].startswith(f"{code}: ")
    assert store.get("acme") == acme  # every refused change left the tenant as it was
    assert [t.tenant_id for t in store.list()] == ["acme"]
    unnamed = [r for r in all_audit(engine) if r["tenant_id"] is None]
    assert {r["inputs"]["tenant_id"] for r in unnamed} == {"Bad Id!", None}


def check_paper_only_period(engine: sa.Engine, backdate: Callable[[str, int], None]) -> None:
    store = TenantStore(engine)
    young = store.add("Newcomer", capital=100_000, actor="op")

    # The rule is the database's: raw SQL as the schema owner is refused just the same.
    with pytest.raises(sa.exc.IntegrityError, match="paper_only"), system_scope(engine) as conn:
        conn.execute(tenants.insert().values(**raw_tenant_row("born-live", trading_mode="live")))
    with pytest.raises(sa.exc.IntegrityError, match="paper_only"), system_scope(engine) as conn:
        conn.execute(
            tenants.update().where(tenants.c.tenant_id == "newcomer").values(trading_mode="live")
        )
    with pytest.raises(TenantError) as refused:
        store.set_trading_mode("newcomer", "live", actor="op")
    assert refused.value.code == "paper_only"
    assert "'newcomer'" in refused.value.message
    assert young.paper_only_until.isoformat() in refused.value.message

    # created_at is the database clock's: it cannot be changed, nor set in the past on insert.
    immutable = pytest.raises(sa.exc.IntegrityError, match="created_at_immutable")
    with immutable, system_scope(engine) as conn:
        conn.execute(
            tenants.update()
            .where(tenants.c.tenant_id == "newcomer")
            .values(created_at=young.created_at - timedelta(days=30))
        )
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    if engine.dialect.name == "sqlite":  # no BEFORE trigger can rewrite NEW: it refuses instead
        refused = pytest.raises(sa.exc.IntegrityError, match="created_at_immutable")
        with refused, system_scope(engine) as conn:
            conn.execute(tenants.insert().values(**raw_tenant_row("old", created_at=long_ago)))
    else:  # Postgres overwrites it with now()
        with system_scope(engine) as conn:
            conn.execute(tenants.insert().values(**raw_tenant_row("old", created_at=long_ago)))
        assert abs(store.get("old").created_at - db_now(engine)) < timedelta(minutes=1)
    assert store.get("newcomer").created_at == young.created_at

    # The positive path needs DDL rights (see `backdate`): one day short is still refused...
    backdate("newcomer", PAPER_ONLY_DAYS - 1)
    with pytest.raises(TenantError, match="paper_only"):
        store.set_trading_mode("newcomer", "live", actor="op")
    # ...one day past goes live.
    backdate("newcomer", PAPER_ONLY_DAYS + 1)
    assert store.set_trading_mode("newcomer", "live", actor="op").trading_mode == "live"
    assert store.get("newcomer").trading_mode == "live"
    rows = [r for r in all_audit(engine) if r["tenant_id"] == "newcomer"]
    assert [(r["event"], r["approved"]) for r in rows] == [
        ("tenant_added", True),
        ("input_error", False),
        ("input_error", False),
        ("mode_changed", True),
    ]
    assert rows[-1]["numbers"] == {
        "before": {"trading_mode": "paper"},
        "after": {"trading_mode": "live"},
    }


# -- the audit trail ------------------------------------------------------------------------------


def check_audit_is_append_only(engine: sa.Engine) -> None:
    with system_scope(engine) as conn:  # the owner: no role gets past the triggers
        audit.record(conn, event="verdict", actor="castle", tenant_id=None, reason="kept")
    for statement in (
        risk_audit.update().values(reason="rewritten"),
        risk_audit.delete(),
        risk_audit.delete().where(risk_audit.c.reason == "kept"),
    ):
        with pytest.raises(sa.exc.IntegrityError, match="append_only"), system_scope(engine) as c:
            c.execute(statement)
    assert [r["reason"] for r in all_audit(engine)] == ["kept"]


# -- SQLite runs of the shared checks --------------------------------------------------------------


def test_store_lifecycle(tenant_context_guard) -> None:
    check_store_lifecycle(tenant_context_guard)


def test_store_refusals_are_audited_with_their_code(tenant_context_guard) -> None:
    check_store_refusals_are_audited(tenant_context_guard)


def test_paper_only_period_is_the_databases_rule(tenant_context_guard) -> None:
    engine = tenant_context_guard
    check_paper_only_period(engine, lambda tenant, days: backdate_sqlite(engine, tenant, days))


def test_audit_is_append_only(tenant_context_guard) -> None:
    check_audit_is_append_only(tenant_context_guard)


# -- SQLite only -----------------------------------------------------------------------------------


def test_migration_downgrade_removes_the_triggers_and_upgrade_restores_them(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from quantsentinel.db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'updown.db'}"
    migrate(url, "0003")  # the revision under test
    engine = engine_for(url)
    names = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    with engine.connect() as conn:
        triggers = [r[0] for r in conn.exec_driver_sql(names)]
    assert len(triggers) == 7
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    with engine.connect() as conn:
        assert list(conn.exec_driver_sql(names)) == []
    migrate(url, "0003")  # the revision under test
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql(names)] == triggers
    engine.dispose()


def test_slugs_are_valid_explicit_ids() -> None:
    assert slugify("  Zeta  Fund (India) #2 ") == "zeta-fund-india-2"
    assert slugify("Ünïcödé Trading") == "unicode-trading"
    assert slugify("x" * 100) == "x" * 64
