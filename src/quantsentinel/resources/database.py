"""The project's own database (SQLite embedded, Postgres in production), as a Dagster resource."""

from __future__ import annotations

from sqlalchemy.engine import Engine

import dagster as dg
from quantsentinel.db import engine_for, migrate


class DatabaseResource(dg.ConfigurableResource):
    """SQLAlchemy URL of the project's tables; migrated to head on first use in a process."""

    url: str

    def engine(self) -> Engine:
        engine = engine_for(self.url)
        if self.url not in _MIGRATED:
            migrate(self.url)
            _MIGRATED.add(self.url)
        return engine


_MIGRATED: set[str] = set()
