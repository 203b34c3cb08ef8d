"""Deleting a user (issue 15 item 4): every row of theirs goes, in every schema, and the warehouse carries on.

Two users with plays, a full build, the deletion over the real admin API, then a routine (incremental) transform:
it passes, no table anywhere holds a row of the deleted user (every table with a `user_id` column, found in the
catalogue, so a table added later is checked too), their pending upload is gone from disk, and the other user's
warehouse rows are what they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server
from transform.progress import TransformEvent
from transform.runner import run_transform

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GONE = uuid.UUID("00000000-0000-0000-0000-00000000d0d0")
KEPT = uuid.UUID("00000000-0000-0000-0000-00000000cafe")


def _execute(url: str, statement: str, params: dict[str, Any] | None = None) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(statement, params)


def _tables_with_user_id(connection: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = connection.execute(
        "select table_schema, table_name from information_schema.columns "
        "join information_schema.tables using (table_schema, table_name) "
        "where column_name = 'user_id' and table_type = 'BASE TABLE' "
        "and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2"
    ).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]


def _rows_of(url: str, user_id: uuid.UUID) -> dict[str, list[str]]:
    """Every row of the user in every table with a `user_id` column, as sorted text (tables with none left out)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(libpq_url(url)) as connection:
        for schema, table in _tables_with_user_id(connection):
            query = sql.SQL("select t::text from {}.{} as t where user_id = %s").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            rows = sorted(str(row[0]) for row in connection.execute(query, (user_id,)).fetchall())
            if rows:
                found[f"{schema}.{table}"] = rows
    return found


def _seed(url: str, user_id: uuid.UUID, upload: Path) -> None:
    params = {
        "id": user_id,
        "name": str(user_id)[-4:],
        "hash": f"hash-{user_id}",
        "path": str(upload),
        "client": f"client-{user_id}",
    }
    for statement in (
        "insert into app.users (id, display_name, timezone) values (%(id)s, %(name)s, 'Europe/Berlin')",
        "insert into app.sync_checkpoints (user_id) values (%(id)s)",
        "insert into app.api_tokens (user_id, name, token_hash, token_prefix) values (%(id)s, 'gpt', %(hash)s, 'x')",
        "insert into app.import_jobs (user_id, storage_path, file_size_bytes) values (%(id)s, %(path)s, 1)",
        "insert into app.logs (service, level, message, context) "
        "values ('api', 'info', 'hello', jsonb_build_object('user_id', %(id)s::text))",
        "insert into app.oauth_clients (client_id, kind, redirect_uris) values (%(client)s, 'dcr', '[]'::jsonb)",
        "insert into app.oauth_grants (user_id, client_id, scope) values (%(id)s, %(client)s, 'tools:read')",
        "insert into raw.scrobbles (user_id, record_key, source, started_at, artist_name, track_name) "
        "values (%(id)s, 's1', 'lastfm', '2026-03-04 10:00:00+00', 'Artist One', 'One')",
        "insert into raw.api_plays (user_id, played_at, track_id, item) values "
        "(%(id)s, '2026-03-05 10:00:00+00', 'T1', "
        """'{"type": "track", "name": "One", "artists": [{"id": "A1", "name": "Artist One"}]}')""",
    ):
        _execute(url, statement, params)
    for day in range(1, 8):
        _execute(
            url,
            "insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id, track_name, artist_name, album_name, spotify_uri) values (%(id)s, %(key)s, %(at)s, 200000, "
            "'track', 'extended', %(track)s, %(name)s, 'Artist One', 'Album', 'spotify:track:' || %(track)s)",
            {
                "id": user_id,
                "key": f"k{day}",
                "at": f"2026-03-0{day} 0{day}:00:00+00",
                "track": f"T{day % 3}",
                "name": f"Song {day % 3}",
            },
        )


@pytest.fixture
def api(settings: Settings, database_url: str) -> Iterator[httpx.Client]:
    with live_server(create_app(settings, database_url)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def test_deleting_a_user_removes_every_row_everywhere_and_the_next_transform_passes(
    database_url: str, settings: Settings, api: httpx.Client
) -> None:
    upload_dir = settings.effective_upload_dir
    upload_dir.mkdir(parents=True, exist_ok=True)
    gone_upload, kept_upload = upload_dir / "gone.zip", upload_dir / "kept.zip"
    gone_upload.write_bytes(b"PK")
    kept_upload.write_bytes(b"PK")
    _seed(database_url, GONE, gone_upload)
    _seed(database_url, KEPT, kept_upload)
    built = run_transform(database_url, full_refresh=True)
    assert built.status == "success", built.error
    # The cluster step needs more listening than this to find clusters: its tables get a row of each user here.
    for user_id in (GONE, KEPT):
        _execute(
            database_url,
            "insert into ml.taste_cluster_artists (user_id, window_name, cluster_id, artist_id, plays) "
            "values (%(id)s, 'all_time', 0, 'A1', 3)",
            {"id": user_id},
        )
    before = _rows_of(database_url, GONE)
    # The deleted user had rows in every layer: raw, app, the warehouse's intermediate and marts, and ml.
    assert {name.split(".")[0] for name in before} >= {"app", "raw", "intermediate", "marts", "ml"}, sorted(before)
    kept_before = _rows_of(database_url, KEPT)

    assert api.delete(f"/admin/users/{GONE}", headers=AUTH).status_code == 204

    assert _rows_of(database_url, GONE) == {}
    assert not gone_upload.exists() and kept_upload.exists()
    with psycopg.connect(libpq_url(database_url)) as connection:
        logs = connection.execute("select count(*) from app.logs where context ->> 'user_id' = %s", (str(GONE),))
        assert logs.fetchone() == (0,)

    routine = run_transform(database_url)
    assert routine.status == "success", routine.error
    assert _rows_of(database_url, GONE) == {}
    kept_after = _rows_of(database_url, KEPT)

    # A routine run with nothing new leaves the other user's rows as they were; job runs and logs are the run's
    # own, and the cluster step recomputes ml (it replaces the row planted above by what too few plays give).
    def _comparable(rows: dict[str, list[str]]) -> dict[str, list[str]]:
        return {k: v for k, v in rows.items() if k not in {"app.logs", "app.job_runs"} and not k.startswith("ml.")}

    assert _comparable(kept_after) == _comparable(kept_before)
    assert "marts.agg_daily_listening" in kept_after
    assert api.delete(f"/admin/users/{GONE}", headers=AUTH).status_code == 404


def test_rows_a_running_transform_writes_for_a_user_deleted_meanwhile_are_removed_before_it_ends(
    database_url: str, tmp_path: Path
) -> None:
    _seed(database_url, GONE, tmp_path / "gone.zip")
    _seed(database_url, KEPT, tmp_path / "kept.zip")

    def delete_when_built(event: TransformEvent) -> None:
        # The user goes after dbt wrote their rows and before the run ends, as when DELETE /admin/users purged
        # the warehouse before the build's writes landed: only the user row is deleted here (with its cascade).
        if event.kind == "step_started" and event.step == "clusters":
            _execute(database_url, "delete from app.users where id = %(id)s", {"id": GONE})

    outcome = run_transform(database_url, full_refresh=True, progress=delete_when_built)
    assert outcome.status == "success", outcome.error
    assert _rows_of(database_url, GONE) == {}
    assert "marts.agg_daily_listening" in _rows_of(database_url, KEPT)


def test_local_tracks_only_the_deleted_users_export_named_go_with_them(
    database_url: str, settings: Settings, api: httpx.Client
) -> None:
    """An account export registers its name-only tracks in raw.tracks (`local:` ids). After the deletion, the ones
    no other user's export names are gone, from raw and from dim_tracks; a shared one and Spotify's rows stay.
    (The warehouse property test found the leftover: a clean import of the same history has no such track.)"""
    upload_dir = settings.effective_upload_dir
    upload_dir.mkdir(parents=True, exist_ok=True)
    _seed(database_url, GONE, upload_dir / "gone.zip")
    _seed(database_url, KEPT, upload_dir / "kept.zip")
    owned = {GONE: ["local:only-gone", "local:shared"], KEPT: ["local:shared"]}
    for track_id in ("local:only-gone", "local:shared"):
        _execute(
            database_url,
            "insert into raw.tracks (track_id, name, album_name, source) values (%(t)s, %(t)s, '', 'import_zip')",
            {"t": track_id},
        )
    for user_id, track_ids in owned.items():
        for number, track_id in enumerate(track_ids):
            _execute(
                database_url,
                "insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, "
                "source_format, track_id, track_name, artist_name) values (%(id)s, %(key)s, %(at)s, 200000, "
                "'track', 'account', %(t)s, %(t)s, 'Someone')",
                {"id": user_id, "key": f"a{number}", "at": f"2026-04-0{number + 1} 10:00:00+00", "t": track_id},
            )
    built = run_transform(database_url, full_refresh=True)
    assert built.status == "success", built.error

    assert api.delete(f"/admin/users/{GONE}", headers=AUTH).status_code == 204
    routine = run_transform(database_url)
    assert routine.status == "success", routine.error

    with psycopg.connect(libpq_url(database_url)) as connection:
        raw_ids = {str(row[0]) for row in connection.execute("select track_id from raw.tracks").fetchall()}
        dim_ids = {str(row[0]) for row in connection.execute("select track_id from marts.dim_tracks").fetchall()}
    assert "local:only-gone" not in raw_ids and "local:only-gone" not in dim_ids
    assert "local:shared" in raw_ids
    assert {"local:shared", "T1"} <= dim_ids
