"""Where every piece of state lives, derived from one folder (`QS_HOME`) and one profile switch.

Embedded default (`QS_PROFILE` unset or `embedded`): everything under `QS_HOME`
(default `./.quantsentinel`) - Dagster's SQLite storage in `dagster/`, Parquet data in `data/`,
the MLflow store in `mlflow/`, the project's own tables in `quantsentinel.db`, the inbox folder.
Point `QS_HOME` at an empty folder and you get a fresh, isolated installation.

Production (`QS_PROFILE=prod`, implied by a Postgres `QS_DATABASE_URL`): Dagster storage goes to
Postgres (dagster-postgres, URL from
`QS_DAGSTER_PG_URL`, defaulting to `QS_DATABASE_URL`), the project tables to `QS_DATABASE_URL`,
MLflow to `QS_MLFLOW_TRACKING_URI`. The code does not fork: only these paths and URLs change.

This module is pure (no dagster import) so the CLI, the core and tests can all use it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("embedded", "prod")
REPO_ROOT = Path(__file__).resolve().parents[2]
# The instance templates ship beside the package so an installed wheel finds them too.
_TEMPLATES = Path(__file__).resolve().parent / "orchestration" / "instance"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what to do."""


@dataclass(frozen=True)
class Settings:
    home: Path
    profile: str
    database_url: str
    dagster_pg_url: str | None
    mlflow_tracking_uri: str
    data_dir: Path
    inbox_dir: Path
    feed_source: str = "simulator"
    # Decisions: where approved ones are published (memory:// or redis://), which underlyings
    # are decided, and the cadence (a snapshot is decided when its session minute divides it).
    publish_url: str = "memory://"
    decide_underlyings: str = "NIFTY,BANKNIFTY"
    decide_every_minutes: int = 5
    decide_max_age_minutes: int = 15  # 0: decide snapshots of any age (replays, backfills)

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    def ensure(self) -> Settings:
        """Create the folders and write Dagster's instance config; safe to call repeatedly.

        Returns self so callers can write `settings = load_settings().ensure()`.
        """
        for folder in (
            self.home,
            self.dagster_home,
            self.data_dir,
            self.inbox_dir,
            self.mlflow_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        template = "dagster.postgres.yaml" if self.profile == "prod" else "dagster.yaml"
        target = self.dagster_home / "dagster.yaml"
        source = _TEMPLATES / template
        # Rewrite only on change so a running webserver does not see a fresh mtime every call.
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
        return self

    def export_env(self) -> None:
        """Publish the derived locations to the process environment (Dagster reads DAGSTER_HOME
        and the instance YAML reads the Postgres URL from the environment)."""
        os.environ["QS_HOME"] = str(self.home)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ["QS_DATABASE_URL"] = self.database_url
        os.environ["QS_MLFLOW_TRACKING_URI"] = self.mlflow_tracking_uri
        os.environ["QS_DATA_DIR"] = str(self.data_dir)
        os.environ["QS_INBOX_DIR"] = str(self.inbox_dir)
        os.environ["QS_FEED_SOURCE"] = self.feed_source
        if self.dagster_pg_url:
            os.environ["QS_DAGSTER_PG_URL"] = self.dagster_pg_url
        os.environ["QS_PUBLISH_URL"] = self.publish_url
        os.environ["QS_DECIDE_UNDERLYINGS"] = self.decide_underlyings
        os.environ["QS_DECIDE_EVERY_MINUTES"] = str(self.decide_every_minutes)
        os.environ["QS_DECIDE_MAX_AGE_MINUTES"] = str(self.decide_max_age_minutes)


def _canonical_postgres(url: str | None) -> str | None:
    """`postgres://` (Heroku-style) means the same as `postgresql://`; SQLAlchemy only knows
    the latter."""
    if url and url.startswith("postgres://"):
        return "postgresql://" + url.removeprefix("postgres://")
    return url


def _psycopg2_driver(url: str) -> str:
    """dagster-postgres relies on psycopg2's client-side parameter binding (it sends
    `NOTIFY channel, %(id)s`), but SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3,
    which binds server-side and fails on that statement. Name the driver explicitly."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("QS_HOME") or "./.quantsentinel").expanduser().resolve()
    database_url = _canonical_postgres(env.get("QS_DATABASE_URL"))
    # One setting switches: a Postgres database URL alone means the production footprint.
    implied = "prod" if database_url and database_url.startswith("postgres") else "embedded"
    profile = (env.get("QS_PROFILE") or implied).strip().lower()
    if profile not in PROFILES:
        raise SettingsError(f"QS_PROFILE={profile!r} is not one of {', '.join(PROFILES)}")
    database_url = database_url or f"sqlite:///{home / 'quantsentinel.db'}"
    dagster_pg_url = env.get("QS_DAGSTER_PG_URL")
    if profile == "prod":
        if not database_url.startswith("postgresql"):
            raise SettingsError(
                "QS_PROFILE=prod needs QS_DATABASE_URL to be a postgresql:// URL, "
                f"got {database_url!r}"
            )
        dagster_pg_url = _psycopg2_driver(dagster_pg_url or database_url)
    mlflow_uri = env.get("QS_MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    # Production has no simulator behind it: data arrives as files until a live adapter exists.
    feed_source = env.get("QS_FEED_SOURCE") or ("files" if profile == "prod" else "simulator")
    if feed_source not in ("simulator", "files"):
        raise SettingsError(f"QS_FEED_SOURCE={feed_source!r} is not one of simulator, files")
    every = env.get("QS_DECIDE_EVERY_MINUTES") or "5"
    if not every.isdigit() or not 1 <= int(every) <= 375:
        raise SettingsError(
            f"QS_DECIDE_EVERY_MINUTES={every!r} must be a whole number of minutes in 1..375"
        )
    max_age = env.get("QS_DECIDE_MAX_AGE_MINUTES") or "15"
    if not max_age.isdigit():
        raise SettingsError(
            f"QS_DECIDE_MAX_AGE_MINUTES={max_age!r} must be a whole number of minutes (0: any age)"
        )
    publish_url = env.get("QS_PUBLISH_URL") or "memory://"
    if not publish_url.startswith(("memory://", "redis://", "rediss://")):
        raise SettingsError(f"QS_PUBLISH_URL={publish_url!r} must be memory:// or a redis:// URL")
    return Settings(
        feed_source=feed_source,
        publish_url=publish_url,
        decide_underlyings=env.get("QS_DECIDE_UNDERLYINGS") or "NIFTY,BANKNIFTY",
        decide_every_minutes=int(every),
        decide_max_age_minutes=int(max_age),
        data_dir=Path(env.get("QS_DATA_DIR") or home / "data").expanduser().resolve(),
        inbox_dir=Path(env.get("QS_INBOX_DIR") or home / "inbox").expanduser().resolve(),
        home=home,
        profile=profile,
        database_url=database_url,
        dagster_pg_url=dagster_pg_url,
        mlflow_tracking_uri=mlflow_uri,
    )
