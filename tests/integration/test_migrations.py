from __future__ import annotations

import psycopg

from core import migrate
from core.dburl import libpq_url
from core.tables import metadata


def _tables(url: str) -> set[str]:
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('app', 'raw') AND table_name <> 'alembic_version'"
        ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_head_matches_models_then_downgrade_base(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert migrate.current_revision(empty_database_url) is not None
    assert _tables(empty_database_url) == {table.fullname for table in metadata.tables.values()}
    migrate.check(empty_database_url)  # raises if models and schema differ
    migrate.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()
    assert migrate.current_revision(empty_database_url) is None
    migrate.upgrade(empty_database_url)  # and back up again
    migrate.check(empty_database_url)


def test_dbt_owned_schemas_are_ignored(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        connection.execute("CREATE SCHEMA marts")
        connection.execute("CREATE TABLE marts.fct_plays (id int)")
        connection.execute("CREATE SCHEMA ml")
        connection.execute("CREATE TABLE ml.clusters (id int)")
    migrate.check(empty_database_url)  # would fail if autogenerate wanted to drop them


def test_constraints_refuse_bad_rows(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        user_id = connection.execute("INSERT INTO app.users (display_name) VALUES ('x') RETURNING id").fetchone()
        assert user_id is not None
        for statement in (
            "UPDATE app.users SET status = 'sleeping'",
            "INSERT INTO app.job_runs (job_type) VALUES ('mine_bitcoin')",
            "INSERT INTO app.logs (service, level, message) VALUES ('api', 'loud', 'x')",
        ):
            try:
                connection.execute(statement)
            except psycopg.errors.CheckViolation:
                continue
            raise AssertionError(f"accepted: {statement}")
        connection.execute(
            "INSERT INTO raw.api_plays (user_id, played_at, track_id) VALUES (%s, '2026-01-01T00:00:00Z', 't1')",
            (user_id[0],),
        )
        try:
            connection.execute(
                "INSERT INTO raw.api_plays (user_id, played_at, track_id) VALUES (%s, '2026-01-01T00:00:00Z', 't1')",
                (user_id[0],),
            )
        except psycopg.errors.UniqueViolation:
            pass
        else:
            raise AssertionError("duplicate play accepted")
        connection.execute(
            "INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format) "
            "VALUES (%s, 'k1', '2026-01-01T00:00:00Z', 1000, 'track', 'extended')",
            (user_id[0],),
        )
        # Deleting a user removes all of their data (export records through a trigger: migration 0003).
        connection.execute("DELETE FROM app.users WHERE id = %s", (user_id[0],))
        remaining = connection.execute(
            "SELECT (SELECT count(*) FROM raw.api_plays) + (SELECT count(*) FROM raw.export_records)"
        ).fetchone()
        assert remaining == (0,)
