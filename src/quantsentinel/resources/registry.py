"""The model registry as a Dagster resource: the project database + MLflow + artifact folders."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import dagster as dg


class RegistryResource(dg.ConfigurableResource):
    """Where the registry keeps its state; one `ModelRegistry` per process per configuration."""

    database_url: str
    mlflow_tracking_uri: str
    home: str  # artifacts under <home>/models, training locks under <home>/locks

    def registry(self):
        return _registry(self.database_url, self.mlflow_tracking_uri, self.home)

    def store(self):
        """The production tables alone: what sensors read, without MLflow or model libraries."""
        return _store(self.database_url)


@lru_cache(maxsize=4)
def _store(database_url: str):
    # Migrated once per process, not on every sensor tick.
    from quantsentinel.db import engine_for, migrate
    from quantsentinel.ml.registry.store import RegistryStore

    migrate(database_url)
    return RegistryStore(engine_for(database_url))


@lru_cache(maxsize=4)
def _registry(database_url: str, tracking_uri: str, home: str):
    # Imported lazily: the sensors that only read the production tables must not pay for MLflow.
    from quantsentinel.ml.registry.registry import open_registry

    return open_registry(database_url, tracking_uri, Path(home))
