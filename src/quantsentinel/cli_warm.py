"""Imported by the demo's forkserver before it forks: heavy modules once, not per run."""

from quantsentinel.cli import _warm_imports

_warm_imports()
