"""Migration 0005 (paper execution) downgrades to 0004 and upgrades again cleanly on SQLite; the
Postgres twin is in tests/pg/test_paper_pg.py."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from quantsentinel.db import MIGRATIONS_DIR, current_revision, engine_for, migrate

NAMES = (
    "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger', 'index') "
    "AND (name LIKE 'paper%' OR name LIKE 'ix_paper%' OR name LIKE 'learning%')"
)


def downgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine_for(url).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_migration_0005_downgrades_and_upgrades_cleanly(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'updown.db'}"
    migrate(url)
    engine = engine_for(url)
    with engine.connect() as conn:
        before = sorted(r[0] for r in conn.exec_driver_sql(NAMES))
    for name in (
        "paper_positions", "paper_fills", "learning_states", "paper_fills_no_update",
        "paper_fills_no_delete", "paper_positions_closed_no_update", "ix_paper_positions_open",
    ):  # fmt: skip
        assert name in before
    downgrade(url, "0004")
    assert current_revision(url) == "0004"
    with engine.connect() as conn:
        assert list(conn.exec_driver_sql(NAMES)) == []
        tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert {"decisions", "decision_batches", "tenants"} <= tables  # 0004 and below untouched
    migrate(url)
    assert current_revision(url) == "0005"
    with engine.connect() as conn:
        assert sorted(r[0] for r in conn.exec_driver_sql(NAMES)) == before
    engine.dispose()
