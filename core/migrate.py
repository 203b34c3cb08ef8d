"""Run Alembic programmatically (the CLI, tests and `up` all migrate through here)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation would read `%` in passwords as a directive.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrated database differ (autogenerate would emit operations)."""
    command.check(alembic_config(database_url))


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from core.dburl import psycopg_url

    engine = create_engine(psycopg_url(database_url))
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection, opts={"version_table_schema": "app"}).get_current_revision()
    engine.dispose()
    return revision
