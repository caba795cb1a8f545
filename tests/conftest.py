"""Shared fixtures. Every test that touches state gets its own empty QS_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quantsentinel.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
_QS_VARS = (
    "QS_HOME",
    "QS_PROFILE",
    "QS_DATABASE_URL",
    "QS_DAGSTER_PG_URL",
    "QS_MLFLOW_TRACKING_URI",
    "QS_DATA_DIR",
    "QS_INBOX_DIR",
    "QS_FEED_SOURCE",
    "DAGSTER_HOME",
)


def isolated_settings(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> Settings:
    """Point every QS_* variable at `home` (plus `env` overrides) for the test's duration."""
    for name in _QS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QS_HOME", str(home))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings().ensure()
    before = dict(os.environ)
    settings.export_env()
    for name in _QS_VARS:  # re-set through monkeypatch so they are undone after the test
        if os.environ.get(name) != before.get(name):
            monkeypatch.setenv(name, os.environ[name])
    return settings


@pytest.fixture
def qs_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return isolated_settings(monkeypatch, tmp_path / "qs_home")


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
