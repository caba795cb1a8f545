"""The production profile on the real server: Dagster storage in Postgres (dagster-postgres) and
the project's tables migrated by Alembic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import dagster as dg
from quantsentinel.db import current_revision, migrate
from quantsentinel.market import records

from ..conftest import isolated_settings

pytestmark = pytest.mark.pg


def test_prod_profile_stores_dagster_runs_in_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    settings = isolated_settings(
        monkeypatch,
        tmp_path / "home",
        QS_PROFILE="prod",
        QS_DATABASE_URL=pg_url,
        QS_FEED_SOURCE="simulator",
    )
    assert settings.dagster_pg_url == pg_url.replace("postgresql://", "postgresql+psycopg2://")

    from quantsentinel.orchestration.definitions import build_definitions

    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = defs.resolve_job_def("market_daily_job").execute_in_process(
            instance=instance, partition_key="2026-01-06"
        )
        assert result.success
        run_id = result.run_id

    # The run and its materializations are rows in Postgres, visible to a fresh connection.
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
        materialized = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT asset_key FROM event_logs "
                    "WHERE run_id = :r AND asset_key IS NOT NULL"
                ),
                {"r": run_id},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert run_id in runs
    assert any("news_events" in key for key in materialized)
    assert any("india_vix" in key for key in materialized)


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from quantsentinel.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_project_tables_migrate_on_postgres(pg_url: str) -> None:
    migrate(pg_url)
    migrate(pg_url)  # idempotent
    assert current_revision(pg_url) == _head_revision()
    from quantsentinel.db import engine_for

    engine = engine_for(pg_url)
    now = datetime.now(UTC)
    assert records.record_input(
        engine,
        sha256="a" * 64,
        file_name="x.json",
        size_bytes=10,
        fmt="nse_option_chain",
        status="accepted",
        stored_at="/tmp/x",
        received_at=now,
    )
    # The same content is recorded once, even though Postgres is a separate server.
    assert not records.record_input(
        engine,
        sha256="a" * 64,
        file_name="again.json",
        size_bytes=10,
        fmt=None,
        status="accepted",
        stored_at="/tmp/y",
        received_at=now,
    )
    assert [r["file_name"] for r in records.list_inputs(engine)] == ["x.json"]
    # The quarantine upsert runs Postgres' ON CONFLICT path.
    verdict = {"snapshot_id": "N-1", "reasons": ["crossed_quote"], "details": ["d"], "n_rows": 2}
    for run in ("r1", "r2"):
        records.record_quarantine(engine, [verdict], partition_key="2026-01-06|NIFTY", run_id=run)
    (row,) = records.list_quarantine(engine)
    assert (row["run_id"], row["times_seen"]) == ("r2", 2)
