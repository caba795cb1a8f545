from pathlib import Path

import pytest

from quantsentinel.settings import SettingsError, load_settings


def test_everything_lives_under_qs_home(tmp_path: Path) -> None:
    settings = load_settings({"QS_HOME": str(tmp_path / "home")}).ensure()
    assert settings.profile == "embedded"
    for folder in (
        settings.dagster_home,
        settings.data_dir,
        settings.inbox_dir,
        settings.mlflow_dir,
    ):
        assert folder.is_dir()
        assert folder.is_relative_to(tmp_path / "home")
    assert settings.database_url == f"sqlite:///{tmp_path / 'home' / 'quantsentinel.db'}"
    assert settings.mlflow_tracking_uri.startswith(f"sqlite:///{tmp_path / 'home'}")
    assert "sqlite" in (settings.dagster_home / "dagster.yaml").read_text()
    assert settings.feed_source == "simulator"


def test_prod_profile_selects_postgres_instance(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    settings = load_settings(
        {"QS_HOME": str(tmp_path), "QS_PROFILE": "prod", "QS_DATABASE_URL": url}
    ).ensure()
    assert settings.dagster_pg_url == "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    assert "postgres_url" in (settings.dagster_home / "dagster.yaml").read_text()
    assert settings.feed_source == "files"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QS_PROFILE": "staging"}, "QS_PROFILE='staging'"),
        ({"QS_PROFILE": "prod"}, "needs QS_DATABASE_URL"),
        ({"QS_FEED_SOURCE": "bloomberg"}, "QS_FEED_SOURCE='bloomberg'"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"QS_HOME": str(tmp_path), **env})


def test_a_postgres_database_url_alone_selects_the_production_footprint(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    settings = load_settings({"QS_HOME": str(tmp_path), "QS_DATABASE_URL": url})
    assert settings.profile == "prod"
    assert settings.dagster_pg_url.startswith("postgresql+psycopg2://")
    explicit = load_settings(
        {"QS_HOME": str(tmp_path), "QS_DATABASE_URL": url, "QS_PROFILE": "embedded"}
    )
    assert explicit.profile == "embedded"  # an explicit profile wins
