"""Dagster resources: thin wrappers that hand the core what it needs (URLs, paths, feeds)."""

from quantsentinel.resources.database import DatabaseResource
from quantsentinel.resources.feed import MarketFeedResource
from quantsentinel.resources.storage import DataDirResource, ParquetIOManager

__all__ = ["DataDirResource", "DatabaseResource", "MarketFeedResource", "ParquetIOManager"]
