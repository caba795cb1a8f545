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


def test_migration_0004_downgrades_and_upgrades_cleanly(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from quantsentinel.db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'updown.db'}"
    migrate(url)
    engine = engine_for(url)
    names = (
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') "
        "AND name LIKE 'decision%'"
    )
    with engine.connect() as conn:
        before = sorted(r[0] for r in conn.exec_driver_sql(names))
    assert "decisions_no_update" in before and "decision_batches" in before
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    with engine.connect() as conn:
        assert list(conn.exec_driver_sql(names)) == []
    migrate(url)
    with engine.connect() as conn:
        assert sorted(r[0] for r in conn.exec_driver_sql(names)) == before
    engine.dispose()
