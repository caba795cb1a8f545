"""The data directory: the landing zone for raw inputs and Parquet storage for asset outputs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

import dagster as dg
from quantsentinel.market.landing import LandingZone


class DataDirResource(dg.ConfigurableResource):
    """Root of the bulk data (QS_DATA_DIR); the landing zone lives under it."""

    path: str

    def landing(self) -> LandingZone:
        return LandingZone(Path(self.path))


class ParquetIOManager(dg.ConfigurableIOManager):
    """One Parquet file per asset partition:

        <base_dir>/<asset key path>/<date>/<underlying>.parquet   (date x underlying)
        <base_dir>/<asset key path>/<date>.parquet                 (date only)
        <base_dir>/<asset key path>.parquet                        (unpartitioned)

    Loading several partitions (a downstream asset reading a range) concatenates them.
    """

    base_dir: str

    def _path(
        self, asset_key: dg.AssetKey, partition_key: str | dg.MultiPartitionKey | None
    ) -> Path:
        base = Path(self.base_dir).joinpath(*asset_key.path)
        if partition_key is None:
            return base.with_suffix(".parquet")
        if isinstance(partition_key, dg.MultiPartitionKey):
            dims = partition_key.keys_by_dimension
            return base / dims["date"] / f"{dims['underlying']}.parquet"
        return base / f"{partition_key}.parquet"

    def _keys(self, context) -> list:
        if not context.has_asset_partitions:
            return [None]
        partitions_def = context.asset_partitions_def
        keys = context.asset_partition_keys
        if isinstance(partitions_def, dg.MultiPartitionsDefinition):
            return [partitions_def.get_partition_key_from_str(k) for k in keys]
        return list(keys)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        (key,) = self._keys(context)
        path = self._path(context.asset_key, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name: two runs writing one partition never share a half file.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        obj.to_parquet(tmp, index=False)
        tmp.replace(path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        frames = []
        for key in self._keys(context):
            path = self._path(context.asset_key, key)
            if not path.exists():
                raise FileNotFoundError(
                    f"{context.asset_key.to_user_string()} partition {key} has not been "
                    f"materialized (expected {path})"
                )
            frames.append(pd.read_parquet(path))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
