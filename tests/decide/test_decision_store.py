"""Decision batches on SQLite (the Postgres twin: tests/pg/test_decision_store_pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantsentinel.db import engine_for, migrate
from tests.decide import decision_store_cases as cases


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'qs.db'}"
    migrate(url)
    yield engine_for(url)


def test_a_batch_is_written_whole_and_read_per_tenant(engine: sa.Engine) -> None:
    cases.check_a_batch_is_written_whole_and_read_per_tenant(engine)


def test_no_partial_batch_is_ever_visible(engine: sa.Engine) -> None:
    cases.check_no_partial_batch_is_ever_visible(engine)


def test_decisions_are_durable(engine: sa.Engine) -> None:
    cases.check_decisions_are_durable(engine)


def test_concurrent_reader_sees_all_or_nothing(engine: sa.Engine) -> None:
    cases.check_concurrent_reader_sees_all_or_nothing(engine)


def test_a_decision_must_say_why(engine: sa.Engine) -> None:
    from quantsentinel.decide.store import DecisionRecord
    from quantsentinel.risk.errors import RiskInputError

    with pytest.raises(RiskInputError, match="must name its wall"):
        DecisionRecord("acme", False)
    with pytest.raises(RiskInputError, match="needs legs"):
        DecisionRecord("acme", True, units=0)
