"""What a training or report run carries besides MLflow itself: the provenance of the code that
produced it (git commit and branch) and its figures and tables staged as files for upload.
Kept apart from `tracking` (the MLflow client) because neither needs MLflow to run."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def staged_artifacts(
    figures: Mapping[str, Any], tables: Mapping[str, Any], *, table_index: bool = False
):
    """Write figures (plots/<name>.png) and DataFrames (tables/<name>.csv) to a temporary folder
    and yield {run destination: local path}, the `extra_artifacts` the log methods take."""
    with tempfile.TemporaryDirectory() as tmp:
        extras: dict[str, Path] = {}
        for name, figure in figures.items():
            extras[f"plots/{name}.png"] = path = Path(tmp) / f"plot-{name}.png"
            figure.savefig(path, dpi=110, bbox_inches="tight")
        for name, table in tables.items():
            extras[f"tables/{name}.csv"] = path = Path(tmp) / f"table-{name}.csv"
            table.to_csv(path, index=table_index)
        yield extras


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()


def git_revision(repo: Path | None = None) -> tuple[str, str]:
    """(commit sha, branch) of the working tree at `repo`; ("unknown", "unknown") outside git.

    `repo` defaults to this package's own folder, not the cwd: the code being trained is this
    package, wherever the process was started. The commit gets a "-dirty" suffix when tracked
    files differ from it, so a model trained from uncommitted code says so. A detached HEAD
    reports branch "HEAD".
    """
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        commit = _git(where, "rev-parse", "HEAD")
        branch = _git(where, "rev-parse", "--abbrev-ref", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        # Not a checkout, no commits yet, git missing or refusing the folder (safe.directory).
        return "unknown", "unknown"
    return (f"{commit}-dirty" if dirty else commit), branch
