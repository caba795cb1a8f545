"""The paper executor and learning-state store on Postgres: the shared checks of
tests/decide/paper_cases.py, plus row-level security (a tenant sees and writes only its own
positions and fills, whatever SQL it runs) and the durable-record triggers for every role."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.decide.paper import (
    LearningStateStore,
    PaperExecutor,
    StateConflict,
    learning_states,
    paper_fills,
    paper_positions,
)
from tests.decide import paper_cases as cases
from tests.decide.test_paper_migration import downgrade


def test_fills_cross_the_spread_and_book_costs(tenant_context_guard: sa.Engine) -> None:
    cases.check_fills_cross_the_spread_and_book_costs(tenant_context_guard)


def test_open_is_idempotent_and_refuses_bad_input(tenant_context_guard: sa.Engine) -> None:
    cases.check_open_is_idempotent_and_refuses_bad_input(tenant_context_guard)


def test_marks_value_a_known_move_and_exit_at_target(tenant_context_guard: sa.Engine) -> None:
    cases.check_marks_value_a_known_move_and_exit_at_target(tenant_context_guard)


def test_expiry_settles_at_intrinsic(tenant_context_guard: sa.Engine) -> None:
    cases.check_expiry_settles_at_intrinsic(tenant_context_guard)


def test_books_in_one_query(tenant_context_guard: sa.Engine) -> None:
    cases.check_books_in_one_query(tenant_context_guard)


def test_tenants_see_only_their_own(tenant_context_guard: sa.Engine) -> None:
    cases.check_tenants_see_only_their_own(tenant_context_guard)


def test_fills_and_closed_positions_are_durable(tenant_context_guard: sa.Engine) -> None:
    cases.check_fills_and_closed_positions_are_durable(tenant_context_guard)


def test_learning_state_compare_and_set(tenant_context_guard: sa.Engine) -> None:
    cases.check_learning_state_compare_and_set(tenant_context_guard)


def _open_two(engine: sa.Engine) -> None:
    known = cases.tenants(engine, "Acme", "Beta")
    records = [
        cases.decision("acme", cases.structure()),
        cases.decision("beta", cases.structure(option_type="PE")),
    ]
    cases.write(engine, "b1", records)
    PaperExecutor(engine).open("b1", records, cases.view(), known)


def test_row_level_security_isolates_positions_and_fills(tenant_context_guard) -> None:
    engine = tenant_context_guard
    _open_two(engine)
    with engine.begin() as conn:  # raw SQL as the application role, bypassing the app filter
        conn.execute(sa.text("SET LOCAL ROLE qs_app"))
        for table in (paper_positions, paper_fills):  # no tenant set: nothing visible
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
        conn.execute(sa.text("SELECT set_tenant_id('acme')"))
        assert conn.execute(sa.select(paper_positions.c.tenant_id)).scalars().all() == ["acme"]
        assert conn.execute(sa.select(paper_fills.c.tenant_id)).scalars().all() == ["acme"]
        # Another tenant's open position cannot be touched: the UPDATE matches no row it may see.
        moved = conn.execute(
            paper_positions.update()
            .where(paper_positions.c.tenant_id == "beta")
            .values(unrealised_pnl=1e9)
        )
        assert moved.rowcount == 0
    with pytest.raises(sa.exc.DBAPIError, match="row-level security"), engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE qs_app"))
        conn.execute(sa.text("SELECT set_tenant_id('acme')"))
        conn.execute(  # acme re-labelling its own position as beta's is refused (WITH CHECK)
            paper_positions.update()
            .where(paper_positions.c.tenant_id == "acme")
            .values(tenant_id="beta")
        )
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"), engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE qs_app"))
        conn.execute(sa.text("SELECT set_tenant_id('acme')"))
        conn.execute(sa.select(learning_states))  # system-scoped: no grant to the tenant role
    with engine.begin() as conn:
        rows = conn.execute(sa.select(paper_positions.c.unrealised_pnl)).scalars().all()
    assert rows == [None, None]


def test_fills_refuse_update_and_delete_for_the_application_role(tenant_context_guard) -> None:
    engine = tenant_context_guard
    _open_two(engine)
    for statement in (paper_fills.update().values(premium=0.0), paper_fills.delete()):
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"permission denied|append_only"),
            engine.begin() as conn,
        ):
            conn.execute(sa.text("SET LOCAL ROLE qs_app"))
            conn.execute(sa.text("SELECT set_tenant_id('acme')"))
            conn.execute(statement)
    with pytest.raises(sa.exc.DBAPIError, match="append_only"), engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE paper_fills CASCADE"))
    assert cases.counts(engine) == (2, 2)


def test_concurrent_state_savers_one_wins(tenant_context_guard: sa.Engine) -> None:
    engine = tenant_context_guard
    states = LearningStateStore(engine)
    states.save("combiner:NIFTY:direction", "combiner", "[0]", expected_version=None)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def save(i: int) -> None:
        barrier.wait()
        try:
            states.save("combiner:NIFTY:direction", "combiner", f"[{i}]", expected_version=1)
            outcomes.append("saved")
        except StateConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["saved"]
    assert states.load("combiner:NIFTY:direction")[1] == 2


def test_migration_0005_downgrades_and_upgrades_cleanly(pg_url: str) -> None:
    objects = (
        "SELECT (SELECT count(*) FROM pg_tables WHERE tablename IN "
        "('paper_positions', 'paper_fills', 'learning_states')), "
        "(SELECT count(*) FROM pg_policies WHERE tablename LIKE 'paper%'), "
        "(SELECT count(*) FROM pg_proc WHERE proname IN "
        "('paper_fills_durable', 'paper_positions_final'))"
    )
    migrate(pg_url)
    engine = engine_for(pg_url)
    try:
        with engine.connect() as conn:
            assert tuple(conn.execute(sa.text(objects)).one()) == (3, 7, 2)
        downgrade(pg_url, "0004")
        with engine.connect() as conn:
            assert tuple(conn.execute(sa.text(objects)).one()) == (0, 0, 0)
            grants = conn.execute(
                sa.text("SELECT has_table_privilege('qs_app', 'decisions', 'SELECT')")
            ).scalar()
        assert grants is True  # 0004's grants survive 0005's downgrade
        migrate(pg_url)
        with engine.connect() as conn:
            assert tuple(conn.execute(sa.text(objects)).one()) == (3, 7, 2)
    finally:
        engine.dispose()


def test_expiry_seen_later_settles_at_that_days_close(tenant_context_guard: sa.Engine) -> None:
    cases.check_expiry_seen_later_settles_at_that_days_close(tenant_context_guard)


def test_unpriceable_positions_still_refresh_delta(tenant_context_guard: sa.Engine) -> None:
    cases.check_unpriceable_positions_still_refresh_delta(tenant_context_guard)
