"""The paper executor and learning-state store on SQLite (the Postgres twin, with row-level
security: tests/pg/test_paper_pg.py). Shared checks live in paper_cases.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from quantsentinel.decide.paper import REWARD_CLIP, reward_for
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.scope import tenant_context_leaks
from tests.decide import paper_cases as cases


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    """A migrated SQLite database; no tenant scope may be left open by the test."""
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    migrate(url)
    engine = engine_for(url)
    yield engine
    assert tenant_context_leaks(engine) == []
    engine.dispose()


def test_fills_cross_the_spread_and_book_costs(engine: sa.Engine) -> None:
    cases.check_fills_cross_the_spread_and_book_costs(engine)


def test_open_is_idempotent_and_refuses_bad_input(engine: sa.Engine) -> None:
    cases.check_open_is_idempotent_and_refuses_bad_input(engine)


def test_fills_use_the_chain_quote_else_the_decisions(engine: sa.Engine) -> None:
    cases.check_fills_use_the_chain_quote_else_the_decisions(engine)


def test_marks_value_a_known_move_and_exit_at_target(engine: sa.Engine) -> None:
    cases.check_marks_value_a_known_move_and_exit_at_target(engine)


def test_stop_exit_and_stale_marks(engine: sa.Engine) -> None:
    cases.check_stop_exit_and_stale_marks(engine)


def test_expiry_settles_at_intrinsic(engine: sa.Engine) -> None:
    cases.check_expiry_settles_at_intrinsic(engine)


def test_books_in_one_query(engine: sa.Engine) -> None:
    cases.check_books_in_one_query(engine)


def test_tenants_see_only_their_own(engine: sa.Engine) -> None:
    cases.check_tenants_see_only_their_own(engine)


def test_fills_and_closed_positions_are_durable(engine: sa.Engine) -> None:
    cases.check_fills_and_closed_positions_are_durable(engine)


def test_learning_state_compare_and_set(engine: sa.Engine) -> None:
    cases.check_learning_state_compare_and_set(engine)


def test_reward_is_pnl_per_unit_of_risk_clipped() -> None:
    assert reward_for(500.0, 1_000.0, 50_000.0) == 0.5
    assert reward_for(10_000.0, 1_000.0, 0.0) == REWARD_CLIP == 3.0
    assert reward_for(-10_000.0, 1_000.0, 0.0) == -3.0
    assert reward_for(-500.0, None, 2_000.0) == -0.25  # unbounded: per rupee of margin
    assert reward_for(-500.0, float("inf"), 2_000.0) == -0.25
    with pytest.raises(RiskInputError, match="bad_decision"):
        reward_for(1.0, 0.0, 0.0)


def test_expiry_seen_later_settles_at_that_days_close(engine: sa.Engine) -> None:
    cases.check_expiry_seen_later_settles_at_that_days_close(engine)


def test_unpriceable_positions_still_refresh_delta(engine: sa.Engine) -> None:
    cases.check_unpriceable_positions_still_refresh_delta(engine)
