from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path

import psycopg

import migrations
from core import migrate
from core.dburl import libpq_url
from core.tables import metadata
from ingest.imports.scrobbles import record_key

_HEAD = "0014_pg_trgm"


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


def _relations(url: str, schemas: tuple[str, ...]) -> dict[str, str]:
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "SELECT n.nspname || '.' || c.relname, c.relkind::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v')",
            (list(schemas),),
        ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def test_0012_drops_the_relations_of_renamed_models_and_nothing_else(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0011_import_preview")
    # What a warehouse built before the renames holds: the old names beside the current ones.
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        for statement in (
            "CREATE SCHEMA staging",
            "CREATE SCHEMA intermediate",
            "CREATE TABLE intermediate.int_name_candidates (name_key text, track_id text)",
            "CREATE TABLE intermediate.int_name_evidence (name_key text, track_id text)",
            "CREATE VIEW staging.stg_spotify__listens_out_of_contract AS SELECT 1 AS x",
            "CREATE VIEW staging.stg_spotify__out_of_contract_listens AS SELECT 1 AS x",
        ):
            connection.execute(statement)
    migrate.upgrade(empty_database_url)
    assert _relations(empty_database_url, ("staging", "intermediate")) == {
        "intermediate.int_name_evidence": "r",
        "staging.stg_spotify__out_of_contract_listens": "v",
    }
    # Down and up again: nothing to restore, and a database without the relations (or schemas) migrates too.
    migrate.downgrade(empty_database_url, "0011_import_preview")
    migrate.upgrade(empty_database_url)
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA staging CASCADE")
        connection.execute("DROP SCHEMA intermediate CASCADE")
    migrate.downgrade(empty_database_url, "0011_import_preview")
    migrate.upgrade(empty_database_url)
    assert migrate.current_revision(empty_database_url) == _HEAD


def _scrobble_keys(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute("SELECT track_name, source, record_key FROM raw.scrobbles ORDER BY 1, 2").fetchall()
    return [(str(track), str(source), str(key)) for track, source, key in rows]


def test_0013_puts_the_service_in_stored_scrobble_keys_and_back(empty_database_url: str) -> None:
    """Keys stored before 0013 (no service) get their row's mark, exactly what the importer now computes, so a
    re-import after the upgrade adds nothing; the downgrade keeps one row per old key (ListenBrainz's)."""
    migrate.upgrade(empty_database_url, "0012_drop_orphaned_relations")
    at = 1_672_567_200
    rows = [  # track, source, start (epoch seconds); "Both" is stored from Last.fm too after the upgrade
        ("Both", "listenbrainz", at),
        ("Only LB", "listenbrainz", at + 300),
        ("Only FM", "lastfm", at + 600),
    ]
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        for track, source, epoch in rows:
            connection.execute(
                "INSERT INTO raw.scrobbles (user_id, record_key, source, started_at, artist_name, track_name) "
                "VALUES ('00000000-0000-0000-0000-000000000001', %s, %s, to_timestamp(%s), 'Artist', %s)",
                (record_key(epoch, "Artist", track, source)[:-3], source, epoch, track),
            )
    migrate.upgrade(empty_database_url)
    assert _scrobble_keys(empty_database_url) == sorted(
        (track, source, record_key(epoch, "Artist", track, source)) for track, source, epoch in rows
    )
    # The same listen from Last.fm now lands beside ListenBrainz's (what a Last.fm import does after the upgrade).
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO raw.scrobbles (user_id, record_key, source, started_at, artist_name, track_name) "
            "VALUES ('00000000-0000-0000-0000-000000000001', %s, 'lastfm', to_timestamp(%s), 'Artist', 'Both')",
            (record_key(at, "Artist", "Both", "lastfm"), at),
        )
    migrate.downgrade(empty_database_url, "0012_drop_orphaned_relations")
    assert _scrobble_keys(empty_database_url) == sorted(
        (track, source, record_key(epoch, "Artist", track, source)[:-3]) for track, source, epoch in rows
    )
    migrate.upgrade(empty_database_url)
    assert migrate.current_revision(empty_database_url) == _HEAD


def _has_pg_trgm(url: str) -> bool:
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm')").fetchone()
    return bool(row and row[0])


def test_0014_enables_pg_trgm_and_goes_on_without_it_when_the_role_may_not(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert migrate.current_revision(empty_database_url) == _HEAD and _has_pg_trgm(empty_database_url)
    # A role without CREATE on the database (what PUBLIC gets by default) runs the migration's statement: a warning
    # that says what to do, no error, no extension.
    path = Path(migrations.__file__).parent / "versions" / "0014_pg_trgm.py"
    spec = importlib.util.spec_from_file_location("migration_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    role = "trgm_less_" + secrets.token_hex(4)
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as connection:
        connection.execute("DROP EXTENSION pg_trgm")
        connection.execute(f"CREATE ROLE {role}")
        notices: list[str] = []
        connection.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
        try:
            connection.execute(f"SET ROLE {role}")
            connection.execute(module.ENABLE_PG_TRGM)
        finally:
            connection.execute("RESET ROLE")
            connection.execute(f"DROP ROLE {role}")
    assert not _has_pg_trgm(empty_database_url)
    assert any("pg_trgm not enabled" in notice and "CREATE EXTENSION pg_trgm" in notice for notice in notices)
