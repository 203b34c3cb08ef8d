"""history.track_history finds a track by title through the dimension's trigram index (issue 18: the user's
~50,000 tracks were joined and named for every search): the same matches, in the same order, as the search that
named every track of the user first — for case, the LIKE wildcards and the escape character in a title, letters
whose lower case PostgreSQL and Python see differently, ids, a track without a dimension row (named from its
plays), another user's tracks, an artist filter and more matches than the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from core.dburl import libpq_url
from core.marts import plays
from core.marts.rankings import TRACK_NAMES
from core.marts.sql import Query, render
from tests.fixtures.marts import Listen, add_user, create_marts, load_listens

TITLES = {
    "t_love1": "Love Song", "t_love2": "Lovely", "t_love3": "love song", "t_pct": "100% Pure", "t_us": "a_b",
    "t_bs": "back\\slash", "t_de": "Straße", "t_tr": "İstanbul", "t_nodim": "Lonely Love",
} | {f"t_song{n}": f"Song {n}" for n in range(12)}  # fmt: skip
ARTISTS = {"t_love2": "artB", "t_love3": "artB", "t_nodim": "artB"}
SEARCHES = [
    "love", "LOVE SONG", "love song", "%", "_", "\\", "100%", "a_b", "straße", "STRASSE", "istanbul", "İSTANBUL",
    "song", "so", "s", "t_love2", "t_nodim", "t_null", "nothing here", "Song 1",
]  # fmt: skip


def _old_search(user_id: UUID, text: str, limit: int, artist_id: str | None) -> Query:
    """The search before the trigram index (main at 556c34d): every track of the user named, then filtered."""
    source = """(SELECT f.subject_id AS track_id, f.artist_id, f.plays, f.ms_played AS ms
                 FROM marts.agg_first_plays f
                 LEFT JOIN marts.dim_tracks d ON d.track_id = f.subject_id
                 WHERE f.user_id = :u AND f.subject_kind = 'track'
                   AND (CAST(:artist AS text) IS NULL OR f.artist_id = :artist)
                   AND (d.track_id IS NULL OR f.subject_id = :q OR strpos(lower(d.name), lower(:q)) > 0))"""
    return Query(
        f"""
        SELECT n.track_id AS subject_id, n.name, n.artist_id, n.artist_name, n.plays
        FROM ({TRACK_NAMES.format(source=source)}) n
        WHERE n.track_id = :q OR strpos(lower(n.name), lower(:q)) > 0
        ORDER BY (n.track_id = :q) DESC, (lower(n.name) = lower(:q)) DESC, n.plays DESC, n.track_id
        LIMIT :limit
        """,
        {"u": user_id, "q": text.strip(), "limit": limit, "artist": artist_id},
    )


@pytest.fixture
def searched(database_url: str) -> tuple[str, UUID]:
    create_marts(database_url)
    user = add_user(database_url, "UTC", "searcher")
    other = add_user(database_url, "UTC", "other")
    start = datetime(2026, 3, 1, 20, tzinfo=UTC)
    listens = [
        Listen(start + timedelta(days=index, minutes=count), track, ARTISTS.get(track, "artA"))
        for index, track in enumerate([*TITLES, "t_null"])
        for count in range(1 + index % 4)
    ]
    load_listens(database_url, user, "UTC", listens, TITLES | {"artA": "Artist A", "artB": "Artist B"})
    load_listens(database_url, other, "UTC", [Listen(start, "t_other", "artA")], {"t_other": "Love Me"})
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DELETE FROM marts.dim_tracks WHERE track_id = 't_nodim'")
    return database_url, user


def _rows(database_url: str, query: Query) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_url(database_url), row_factory=dict_row) as connection:
        return connection.execute(render(query)).fetchall()


def test_title_search_gives_the_matches_of_naming_every_track(searched: tuple[str, UUID]) -> None:
    database_url, user = searched
    found_any = 0
    for text in SEARCHES:
        for limit, artist in ((6, None), (2, None), (6, "artB")):
            new = _rows(database_url, plays.find_subjects(user, "track", text, limit, artist_id=artist))
            assert new == _rows(database_url, _old_search(user, text, limit, artist)), (text, limit, artist)
            found_any += bool(new)
    assert found_any >= 40  # most searches find something: the comparison is not between empty lists
    names = [row["name"] for row in _rows(database_url, plays.find_subjects(user, "track", "love song", 6))]
    assert set(names[:2]) == {"Love Song", "love song"} and names[2:] == []


def test_title_search_reads_the_trigram_index(searched: tuple[str, UUID]) -> None:
    database_url, user = searched
    with psycopg.connect(libpq_url(database_url)) as connection:
        assert connection.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm')").fetchone() == (
            True,
        ), "migration 0013 enables pg_trgm on the test server"
        connection.execute("SET enable_seqscan = off")  # a tiny table: only forbidding scans shows it is usable
        plan = connection.execute("EXPLAIN " + render(plays.find_subjects(user, "track", "lovely", 6))).fetchall()
    assert "dim_tracks_name_trgm" in "\n".join(str(row[0]) for row in plan)
