"""A podcast episode polled from the API keeps its show name in the warehouse (issue 15.7), as an exported
episode does: the show is the episode's album and, for name-based lists, its artist."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import psycopg
import pytest

from core.dburl import libpq_url, with_database
from transform.dbt_invoke import invoke

USER = "00000000-0000-0000-0000-0000000000e1"
EPISODE = {
    "type": "episode",
    "id": "0Q86acNRm6V9GYx55SXKwf",
    "uri": "spotify:episode:0Q86acNRm6V9GYx55SXKwf",
    "name": "Episode 12: Tides",
    "duration_ms": 1_800_000,
    "show": {"id": "5CfCWKI5pZ28U0uOzXkDHe", "name": "The Sea Show", "publisher": "Harbour Media"},
}
TRACK = {
    "type": "track",
    "id": "4uLU6hMCjMI75M1A2tKUQC",
    "name": "Song",
    "album": {"name": "Album"},
    "artists": [{"id": "A1", "name": "Artist"}],
}


@pytest.fixture
def url(pg_server_url: str, template_database: str) -> Iterator[str]:
    name = f"spmcp_ep_{secrets.token_hex(5)}"
    with psycopg.connect(libpq_url(with_database(pg_server_url, "postgres")), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield with_database(pg_server_url, name)
    finally:
        with psycopg.connect(libpq_url(with_database(pg_server_url, "postgres")), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_api_episode_keeps_its_show_name(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("INSERT INTO app.users (id, display_name) VALUES (%s, 'listener')", (USER,))
        for played_at, item in (("2026-03-01 08:00:00+00", EPISODE), ("2026-03-01 09:00:00+00", TRACK)):
            connection.execute(
                "INSERT INTO raw.api_plays (user_id, played_at, track_id, item) VALUES (%s, %s, %s, %s)",
                (USER, played_at, item["id"], json.dumps(item)),
            )

    invoke(url, ["run", "--select", "+fct_plays"])

    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "SELECT content_kind, track_name, album_name, primary_artist_name FROM marts.fct_plays "
            "WHERE user_id = %s ORDER BY played_at",
            (USER,),
        ).fetchall()
        staged = connection.execute(
            "SELECT show_name FROM staging.stg_spotify_api__plays ORDER BY played_at"
        ).fetchall()
    assert rows == [
        ("episode", "Episode 12: Tides", "The Sea Show", "The Sea Show"),
        ("track", "Song", "Album", "Artist"),
    ]
    assert staged == [("The Sea Show",), (None,)]
