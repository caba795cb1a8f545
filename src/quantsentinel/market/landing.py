"""The landing zone: raw inputs are stored here before anything validates them.

Layout under `root` (the data directory):

    landing/chain/date=YYYY-MM-DD/underlying=SYM/<key>.parquet   canonical rows, one file per input
    landing/files/<sha256>/<original name>                        every inbox file, byte for byte
    landing/rejected/<sha256>/<original name> + reason.json       inputs that could not be parsed

Keys are content-derived (a file's sha256, or a feed's snapshot batch id), so delivering the same
input twice writes the same file once: ingestion is idempotent by construction, and nothing is
ever deleted here (quarantine decisions are made downstream and recorded separately).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from quantsentinel.market.schema import CHAIN_COLUMNS, MARKET_TZ, conform, empty_frame

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str) -> str:
    cleaned = _SAFE_NAME.sub("_", name).strip("._")
    return cleaned or "input"


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

        Returns the partitions written. Writes go to a temporary file and are renamed into
        place so a reader never sees half a file.
        """
        frame = conform(frame, CHAIN_COLUMNS)
        if frame.empty:
            return []
        market_day = frame["ts"].dt.tz_convert(MARKET_TZ).dt.date
        written: list[tuple[date, str]] = []
        for (day, underlying), rows in frame.groupby([market_day, frame["underlying"]], sort=True):
            folder = self.chain_dir(day, str(underlying))
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{_safe(key)}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            rows.reset_index(drop=True).to_parquet(tmp, index=False)
            tmp.replace(target)
            written.append((day, str(underlying)))
        return written

    def chain_for(self, day: date, underlying: str) -> pd.DataFrame:
        """Every landed row for one partition, in a stable order (by key, then row)."""
        folder = self.chain_dir(day, underlying)
        files = sorted(folder.glob("*.parquet")) if folder.exists() else []
        if not files:
            return empty_frame(CHAIN_COLUMNS)
        return conform(
            pd.concat([pd.read_parquet(f) for f in files], ignore_index=True), CHAIN_COLUMNS
        )

    def landed_keys(self, day: date, underlying: str) -> list[str]:
        folder = self.chain_dir(day, underlying)
        return sorted(f.stem for f in folder.glob("*.parquet")) if folder.exists() else []

    # --- original files -------------------------------------------------------------------
    def archive_original(self, path: Path, sha256: str) -> Path:
        """Keep the original bytes of an inbox file (moved, not copied, to avoid doubling a
        large file on disk). A second delivery of the same bytes just drops the duplicate."""
        folder = self.root / "landing" / "files" / sha256
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe(path.name)
        if target.exists():
            path.unlink(missing_ok=True)
        else:
            shutil.move(str(path), target)
        return target

    def reject_original(self, path: Path, sha256: str, reason: str, detail: str) -> Path:
        """Keep an input that could not be parsed, with the reason beside it."""
        folder = self.root / "landing" / "rejected" / sha256
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe(path.name)
        if path.resolve() != target.resolve():
            if target.exists():
                path.unlink(missing_ok=True)
            else:
                shutil.move(str(path), target)
        (folder / "reason.json").write_text(
            json.dumps({"reason": reason, "detail": detail, "file": path.name}, indent=2)
        )
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
