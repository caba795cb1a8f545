"""The kill-switch sweep as an operator sees it in the UI: switch state, tenants and the latest
verdicts in metadata, and a check that fails while a switch is tripped."""

from __future__ import annotations

import pytest

import dagster as dg
from quantsentinel.settings import Settings


@pytest.fixture
def defs(qs_home: Settings) -> dg.Definitions:
    from quantsentinel.orchestration.definitions import build_definitions

    return build_definitions()


def _sweep(defs: dg.Definitions):
    job = defs.resolve_job_def("risk_sweep_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
    (check,) = result.get_asset_check_evaluations()
    return meta, check


def test_sweep_reports_switches_and_fails_its_check_while_one_is_tripped(
    defs: dg.Definitions, qs_home: Settings
) -> None:
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.risk.kill_switches import KillSwitchStore
    from quantsentinel.risk.tenancy.store import TenantStore

    migrate(qs_home.database_url)
    engine = engine_for(qs_home.database_url)
    TenantStore(engine).add("Acme", capital=1_000_000, actor="test")
    # A tenant far below its capital floor: the sweep itself trips the capital-floor switch.
    TenantStore(engine).add("Tiny", capital=10_000, actor="test")

    meta, check = _sweep(defs)
    assert not check.passed
    assert meta["tripped"] == 1 and "capital_floor:tiny" in meta["tripped_now"]
    assert set(meta["paper_only_tenants"]) == {"acme", "tiny"}  # new tenants: dry-run lock
    assert "| capital_floor | tiny | TRIPPED |" in meta["switches"]
    assert "| acme |" in meta["tenants"]

    TenantStore(engine).set_capital("tiny", 200_000, actor="test")
    meta, check = _sweep(defs)
    assert check.passed and meta["tripped"] == 0
    assert "capital_floor:tiny" in meta["reset_now"]

    KillSwitchStore(engine).trip("master", "*", reason="drill", actor="test")
    meta, check = _sweep(defs)
    assert not check.passed and "master:*: drill" in check.metadata["tripped"].value[0]


def test_latest_verdicts_show_in_the_sweep_metadata(defs: dg.Definitions, qs_home: Settings):
    from dataclasses import replace

    from tests.risk import castle_fixtures as f

    from quantsentinel.db import engine_for, migrate
    from quantsentinel.risk.gatekeeper import RiskGatekeeper
    from quantsentinel.risk.tenancy.store import TenantStore

    migrate(qs_home.database_url)
    engine = engine_for(qs_home.database_url)
    TenantStore(engine).add("Acme", capital=2_000_000, actor="test")
    up = dict(direction="bullish", width=2)
    good = replace(
        f.candidate("vertical_debit", look=f.outlook(drift=0.02), **up), tenant_id="acme"
    )
    fair = replace(f.candidate("vertical_debit", look=f.outlook(), **up), tenant_id="acme")
    verdicts = RiskGatekeeper(engine).evaluate_many([good, fair], f.market())
    assert [v.approved for v in verdicts] == [True, False]

    meta, _ = _sweep(defs)
    table = meta["latest_verdicts"]
    assert "| acme | verdict | True |" in table  # the approved one
    assert "| acme | verdict | False | cost | net_ev_per_lot=" in table
