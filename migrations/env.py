"""Alembic environment: runs on a connection handed in by quantsentinel.db.migrate, or on the URL
in the config when invoked as `alembic -x url=...` from the command line."""

from alembic import context
from sqlalchemy import create_engine

import quantsentinel.decide.paper.schema  # its tables join the tenancy metadata too
import quantsentinel.decide.schema  # noqa: F401  (its tables join the tenancy metadata)
from quantsentinel.market.records import metadata as market_metadata
from quantsentinel.ml.registry.schema import metadata as registry_metadata
from quantsentinel.risk.tenancy.schema import metadata as tenancy_metadata

config = context.config
target_metadata = [market_metadata, registry_metadata, tenancy_metadata]


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
