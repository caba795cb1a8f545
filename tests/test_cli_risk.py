"""`qs tenants` and `qs kill` as an operator uses them: every change shows up, every bad input is
a one-line error with exit code 1, and every action lands in the risk audit log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from quantsentinel.cli import main
from quantsentinel.settings import Settings


def _audit_events(settings: Settings) -> list[tuple[str, str | None]]:
    from quantsentinel.db import engine_for
    from quantsentinel.risk.tenancy.schema import risk_audit

    with engine_for(settings.database_url).connect() as conn:
        rows = conn.execute(sa.select(risk_audit.c.event, risk_audit.c.tenant_id)).all()
    return [(r.event, r.tenant_id) for r in rows]


def test_tenants_add_list_and_policy(qs_home: Settings, capsys: pytest.CaptureFixture[str]):
    add = ["tenants", "add", "Acme Capital", "--capital", "2500000"]
    plan = ["--brokerage", "percent:0.0003:20", "--set", "max_open_positions=4"]
    assert main(add + plan) == 0
    out = capsys.readouterr().out
    assert "added tenant acme-capital" in out and "paper-only until" in out
    assert main(["tenants", "list"]) == 0
    out = capsys.readouterr().out
    assert "acme-capital" in out and "paper" in out and "0.0300% of turnover, cap 20" in out
    assert main(["tenants", "policy", "acme-capital", "--set", "margin_buffer=0.5"]) == 0
    out = capsys.readouterr().out
    assert "margin_buffer" in out and "0.5" in out and "max_open_positions       4" in out

    # A new tenant is paper-only: the database refuses live mode, and says until when.
    assert main(["tenants", "mode", "acme-capital", "live"]) == 1
    out = capsys.readouterr().out
    assert "paper_only" in out and "acme-capital" in out
    assert main(["tenants", "mode", "acme-capital", "paper"]) == 0
    assert "acme-capital is now paper" in capsys.readouterr().out

    assert main(["tenants", "add", "Broke", "--capital", "-1"]) == 1
    assert "negative_capital" in capsys.readouterr().out
    assert main(["tenants", "policy", "ghost"]) == 1
    assert "unknown_tenant" in capsys.readouterr().out
    assert main(["tenants", "policy", "acme-capital", "--set", "max_cost_ratio=2"]) == 1
    assert "max_cost_ratio must be in (0, 1]" in capsys.readouterr().out
    assert main(["tenants", "add", "Odd", "--capital", "1", "--brokerage", "flat"]) == 1
    assert "bad_plan" in capsys.readouterr().out
    events = _audit_events(qs_home)
    assert ("tenant_added", "acme-capital") in events and (
        "policy_changed",
        "acme-capital",
    ) in events
    assert any(e == "tenant_refused" for e, _ in events)


def test_kill_trip_status_reset(qs_home: Settings, capsys: pytest.CaptureFixture[str]):
    assert main(["kill", "status"]) == 0
    assert "no kill switch is tripped" in capsys.readouterr().out
    assert main(["kill", "trip", "master", "*", "--reason", "deploy"]) == 0
    assert main(["kill", "status"]) == 0
    out = capsys.readouterr().out
    assert "master" in out and "TRIPPED" in out and "deploy" in out
    assert main(["kill", "reset", "master", "*", "--reason", "done"]) == 0
    assert "is clear" in capsys.readouterr().out
    assert main(["kill", "trip", "capital_floor", "nobody", "--reason", "x"]) == 1
    assert "error:" in capsys.readouterr().out
    assert [e for e, _ in _audit_events(qs_home)] == ["kill_trip", "kill_reset"]
