"""The landing zone: raw inputs are stored here before anything validates them.

Layout under `root` (the data directory):

    landing/chain/date=YYYY-MM-DD/underlying=SYM/<key>.parquet   canonical rows, one file per input
    landing/files/<sha256>/<original name>                        every inbox file, byte for byte
    landing/rejected/<sha256>/<original name> + reason.json       inputs that could not be parsed

Keys are content-derived (a file's sha256, or a feed's seeded batch id), so delivering the same
input twice writes the same file once: ingestion is idempotent by construction, and nothing is
ever deleted here (quarantine decisions are made downstream and recorded separately).

When two inputs carry the same snapshot (a corrected re-send, or a file and the feed covering the
same minute), the input that landed last is the one used; the earlier rows stay on disk and the
supersession is reported, never silently merged (merging would read as duplicate contracts).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform, empty_frame

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str) -> str:
    cleaned = _SAFE_NAME.sub("_", name).strip("._")
    return cleaned or "input"


def _atomic_parquet(frame: pd.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(target)


@dataclass(frozen=True)
class LandedChain:
    frame: pd.DataFrame
    keys: list[str]
    superseded: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class LandingZone:
    root: Path

    # --- canonical chain rows -------------------------------------------------------------
    def chain_dir(self, day: date, underlying: str) -> Path:
        return (
            self.root / "landing" / "chain" / f"date={day.isoformat()}" / f"underlying={underlying}"
        )

    def put_chain(self, frame: pd.DataFrame, key: str) -> list[tuple[date, str]]:
        """Store canonical chain rows under their (market date, underlying) partitions.

        Returns the partitions touched. An input already landed under `key` is left as it is
        (same key, same content), which also keeps its landing time - the order that decides
        which input wins a snapshot. Writes go to a uniquely named temporary file renamed into
        place, so concurrent writers and readers never see half a file.
        """
        frame = conform(frame, CHAIN_COLUMNS)
        if frame.empty:
            return []
        market_day = frame["ts"].dt.tz_convert(MARKET_TZ).dt.date
        written: list[tuple[date, str]] = []
        for (day, underlying), rows in frame.groupby([market_day, frame["underlying"]], sort=True):
            folder = self.chain_dir(day, str(underlying))
            target = folder / f"{_safe(key)}.parquet"
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                _atomic_parquet(rows.reset_index(drop=True), target)
            written.append((day, str(underlying)))
        return written

    def chain_inputs(self, day: date, underlying: str) -> list[tuple[str, pd.DataFrame]]:
        """Every landed input of one partition as (key, rows), in landing order."""
        folder = self.chain_dir(day, underlying)
        files = list(folder.glob("*.parquet")) if folder.exists() else []
        files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name))
        return [(f.stem, pd.read_parquet(f)) for f in files]

    def chain_for(self, day: date, underlying: str) -> LandedChain:
        """The partition's effective rows: for each snapshot id, the rows of the input that
        landed last; which earlier inputs lost which snapshots is reported alongside."""
        inputs = self.chain_inputs(day, underlying)
        if not inputs:
            return LandedChain(empty_frame(CHAIN_COLUMNS), keys=[], superseded={})
        owner: dict[str, str] = {}
        for key, rows in inputs:
            for snapshot in rows["snapshot_id"].unique():
                owner[snapshot] = key
        kept, superseded = [], {}
        for key, rows in inputs:
            mine = rows["snapshot_id"].map(owner).eq(key)
            kept.append(rows[mine])
            lost = sorted(rows.loc[~mine, "snapshot_id"].unique())
            if lost:
                superseded[key] = lost
        frame = conform(pd.concat(kept, ignore_index=True), CHAIN_COLUMNS)
        return LandedChain(frame, keys=[k for k, _ in inputs], superseded=superseded)

    # --- original files -------------------------------------------------------------------
    def claim(self, path: Path) -> Path | None:
        """Take a file out of the inbox atomically (a rename), so two takers - the sensor and
        `qs ingest` - never both process it. None when someone else took it first."""
        folder = self.root / "landing" / "processing"
        folder.mkdir(parents=True, exist_ok=True)
        claimed = folder / f"{uuid.uuid4().hex}__{_safe(path.name)}"
        try:
            path.rename(claimed)
        except FileNotFoundError:
            return None
        return claimed

    def archive_original(self, path: Path, sha256: str, name: str) -> Path:
        """Keep the original bytes of an input (moved, not copied, so a large file is not
        doubled on disk). A second delivery of the same bytes just drops the duplicate."""
        return self._keep(path, self.root / "landing" / "files" / sha256 / _safe(name))

    def reject_original(self, path: Path, sha256: str, name: str, reason: str, detail: str) -> Path:
        """Keep an input that could not be used, with the reason beside it. The first reason
        recorded for those bytes stands; a re-delivery does not overwrite it."""
        target = self._keep(path, self.root / "landing" / "rejected" / sha256 / _safe(name))
        reason_file = target.parent / "reason.json"
        if not reason_file.exists():
            reason_file.write_text(
                json.dumps({"reason": reason, "detail": detail, "file": name}, indent=2)
            )
        return target

    @staticmethod
    def _keep(path: Path, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            path.unlink(missing_ok=True)  # identical bytes are already kept
        else:
            shutil.move(str(path), target)
        return target

    def rejected(self) -> list[dict[str, str]]:
        """Every rejected input with its reason, newest first."""
        base = self.root / "landing" / "rejected"
        out = []
        for reason_file in base.glob("*/reason.json") if base.exists() else []:
            record = json.loads(reason_file.read_text())
            record["sha256"] = reason_file.parent.name
            record["stored_at"] = str(reason_file.parent)
            record["mtime"] = reason_file.stat().st_mtime
            out.append(record)
        return sorted(out, key=lambda r: -float(r["mtime"]))
