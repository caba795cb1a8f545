"""Decision-batch storage checks shared by SQLite (tests/decide/test_decision_store.py) and
Postgres (tests/pg/test_decision_store_pg.py): whole batches or nothing, durable rows, tenants
reading only their own decisions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from quantsentinel.decide.schema import decision_batches, decisions
from quantsentinel.decide.store import BatchExists, BatchRecord, DecisionRecord, DecisionStore
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.scope import system_scope
from quantsentinel.risk.tenancy.store import TenantStore

AT = datetime(2025, 3, 4, 5, 25, tzinfo=UTC)
LEGS = ({"kind": "CE", "strike": 23050.0, "expiry": "2025-03-13", "side": "BUY", "lots": 1},)


def batch(batch_id: str = "NIFTY-20250304T052500Z") -> BatchRecord:
    return BatchRecord(batch_id, "NIFTY", AT, AT, "NORMAL", {"spot": 23041.0, "iv": 0.14})


def approved(tenant_id: str) -> DecisionRecord:
    return DecisionRecord(
        tenant_id, True, strategy="trend", structure="vertical_debit", legs=LEGS, units=1,
        entry_zone={"low": 40.0, "high": 44.0}, target=80.0, stop=20.0, max_profit=3_500.0,
        max_loss=float("inf"), expected_cost=120.0,
        payoff=((22_900.0, -3_000.0), (23_200.0, 3_500.0)),
        contributions={"multi_timeframe": 0.4}, fallbacks={"direction": "rule_baseline"},
    )  # fmt: skip


def blocked(tenant_id: str, wall: str = "cost") -> DecisionRecord:
    return DecisionRecord(tenant_id, False, blocked_by=wall, reason="net_ev_per_lot=-3.00 <= 0.00")


def _tenants(engine: sa.Engine, *names: str) -> None:
    for name in names:
        TenantStore(engine).add(name, capital=1_000_000, actor="test")


def check_a_batch_is_written_whole_and_read_per_tenant(engine: sa.Engine) -> None:
    _tenants(engine, "Acme", "Beta")
    store = DecisionStore(engine)
    row = store.write_batch(batch(), [approved("acme"), blocked("beta")])
    assert (row["tenants"], row["approved"], row["blocked_by"]) == (2, 1, {"cost": 1})
    mine = store.tenant_decisions("acme")
    assert [(d["tenant_id"], d["approved"], d["structure"]) for d in mine] == [
        ("acme", True, "vertical_debit")
    ]
    assert mine[0]["max_loss"] is None and mine[0]["numbers"]["max_loss_unbounded"] is True
    assert mine[0]["payoff"] == [[22_900.0, -3_000.0], [23_200.0, 3_500.0]]
    assert [d["blocked_by"] for d in store.tenant_decisions("beta")] == ["cost"]
    assert store.batch(batch().batch_id)["market"] == {"spot": 23041.0, "iv": 0.14}
    with pytest.raises(BatchExists):
        store.write_batch(batch(), [approved("acme")])


def check_no_partial_batch_is_ever_visible(engine: sa.Engine) -> None:
    _tenants(engine, "Acme")
    store = DecisionStore(engine)
    # The second decision names a tenant that does not exist: the whole batch is refused.
    with pytest.raises(RiskInputError) as err:
        store.write_batch(batch(), [approved("acme"), blocked("ghost")])
    assert err.value.code == "bad_decision"
    with system_scope(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(decision_batches)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar() == 0
    assert store.tenant_decisions("acme") == []


def check_decisions_are_durable(engine: sa.Engine) -> None:
    _tenants(engine, "Acme")
    DecisionStore(engine).write_batch(batch(), [approved("acme")])
    for statement in (
        decisions.update().values(approved=False),
        decisions.delete(),
        decision_batches.update().values(regime="CRISIS"),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append_only"), system_scope(engine) as conn:
            conn.execute(statement)


def check_concurrent_reader_sees_all_or_nothing(engine: sa.Engine, tenants: int = 30) -> None:
    names = [f"T{i:02d}" for i in range(tenants)]
    _tenants(engine, *names)
    store = DecisionStore(engine)
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            with system_scope(engine) as conn:
                seen.append(
                    conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar()
                )

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        store.write_batch(batch(), [blocked(n.lower()) for n in names])
    finally:
        done.set()
        thread.join()
    assert set(seen) <= {0, tenants}
