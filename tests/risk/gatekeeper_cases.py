"""Gatekeeper checks shared by SQLite (tests/risk/test_gatekeeper.py) and Postgres
(tests/pg/test_gatekeeper_pg.py, row-level security on): every answer is audited, bad input is
named and never approved, a tripped kill switch blocks with its reason."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from quantsentinel.risk.castle.castle import INPUT, KILL_SWITCH
from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.gatekeeper import RiskGatekeeper
from quantsentinel.risk.kill_switches import KillSwitchStore
from quantsentinel.risk.orders import Quote
from quantsentinel.risk.tenancy.schema import risk_audit
from quantsentinel.risk.tenancy.scope import system_scope, tenant_scope
from quantsentinel.risk.tenancy.store import TenantStore
from tests.risk import castle_fixtures as f

UP = dict(direction="bullish", width=2)


def _audit(engine: sa.Engine) -> list[dict]:
    with system_scope(engine) as conn:
        rows = conn.execute(sa.select(risk_audit).order_by(risk_audit.c.audit_id))
        return [dict(r._mapping) for r in rows]


def _good(tenant_id: str):
    from dataclasses import replace

    return replace(
        f.candidate("vertical_debit", look=f.outlook(drift=0.02), **UP), tenant_id=tenant_id
    )


def check_verdicts_are_audited(engine: sa.Engine) -> None:
    TenantStore(engine).add("Acme", capital=2_000_000, actor="test")
    TenantStore(engine).add("Beta", capital=2_000_000, actor="test")
    gate = RiskGatekeeper(engine)
    v = gate.evaluate(_good("acme"), f.market())
    assert v.approved
    row = _audit(engine)[-1]
    assert (row["event"], row["tenant_id"], row["approved"], row["wall"]) == (
        "verdict", "acme", True, None,
    )  # fmt: skip
    assert row["inputs"]["structure"] == "vertical_debit" and len(row["inputs"]["legs"]) == 2
    assert row["numbers"]["edge_per_lot"] == v.numbers["edge_per_lot"]
    # The tenant reads its own verdicts through its scope, never another tenant's.
    with tenant_scope(engine, "beta") as session:
        assert session.audit_rows(event="verdict") == []
    with tenant_scope(engine, "acme") as session:
        assert [r["approved"] for r in session.audit_rows(event="verdict")] == [True]


def check_kill_switches_block_with_their_reason(engine: sa.Engine) -> None:
    TenantStore(engine).add("Acme", capital=2_000_000, actor="test")
    TenantStore(engine).add("Beta", capital=2_000_000, actor="test")
    switches = KillSwitchStore(engine)
    switches.trip("tenant_daily_loss", "acme", tenant_id="acme", reason="lost 4%", actor="test")
    gate = RiskGatekeeper(engine)
    blocked, other = gate.evaluate_many([_good("acme"), _good("beta")], f.market())
    assert blocked.blocked_by == KILL_SWITCH and "lost 4%" in blocked.reason
    assert other.approved
    switches.trip("symbol_anomaly", "NIFTY", reason="IV jump", actor="test")
    assert gate.evaluate(_good("beta"), f.market()).blocked_by == KILL_SWITCH
    verdicts = [r for r in _audit(engine) if r["event"] == "verdict"]
    assert [(r["tenant_id"], r["wall"]) for r in verdicts] == [
        ("acme", KILL_SWITCH), ("beta", None), ("beta", KILL_SWITCH),
    ]  # fmt: skip


def check_bad_input_is_named_audited_and_never_approved(engine: sa.Engine) -> None:
    TenantStore(engine).add("Acme", capital=2_000_000, actor="test")
    gate = RiskGatekeeper(engine)
    good = _good("acme")
    leg = good.structure.legs[0]
    cases = {
        "zero_lots": f.with_legs(good, lots=0),
        "off_step_strike": f.with_legs(good, strike=leg.strike + 25),
        "expired_contract": f.with_legs(good, expiry=date(2025, 2, 27)),
        "missing_quote": f.with_legs(good, quote=Quote(float("nan"), 12.0)),
        "unknown_tenant": _good("ghost"),
    }
    for code, candidate in cases.items():
        before = len(_audit(engine))
        v = gate.evaluate(candidate, f.market())
        assert (v.approved, v.blocked_by, v.numbers["code"]) == (False, INPUT, code), code
        assert code.replace("_", " ") in v.reason.replace("_", " ")
        rows = _audit(engine)[before:]
        assert [(r["event"], r["tenant_id"], r["approved"]) for r in rows] == [
            ("input_error", candidate.tenant_id, False)
        ], code
        assert rows[0]["numbers"]["code"] == code
    # A negative capital never makes a tenant; the refusal is audited all the same.
    before = len(_audit(engine))
    try:
        TenantStore(engine).add("Broke", capital=-1, actor="test")
    except TenantError as exc:
        assert exc.code == "negative_capital"
    else:
        raise AssertionError("a negative capital was accepted")
    (row,) = _audit(engine)[before:]
    assert row["event"] == "tenant_refused" and "negative" in row["reason"]
    assert [t.tenant_id for t in TenantStore(engine).list()] == ["acme"]


def check_one_bad_candidate_does_not_cost_the_batch_its_audit(engine: sa.Engine) -> None:
    TenantStore(engine).add("Acme", capital=2_000_000, actor="test")
    gate = RiskGatekeeper(engine)
    good = _good("acme")
    bad = f.with_legs(good, lots=0)
    long_id = _good("x" * 80)  # longer than the column: refused by name, audited, no crash
    verdicts = gate.evaluate_many([good, bad, long_id], f.market())
    assert [(v.approved, v.blocked_by) for v in verdicts] == [
        (True, None), (False, INPUT), (False, INPUT),
    ]  # fmt: skip
    assert verdicts[2].numbers["code"] == "bad_input"
    rows = _audit(engine)
    assert [(r["event"], r["tenant_id"]) for r in rows] == [
        ("tenant_added", "acme"), ("verdict", "acme"), ("input_error", "acme"),
        ("input_error", "x" * 64),
    ]  # fmt: skip
