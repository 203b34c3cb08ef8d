"""history.track_history finds a track by title through the dimension's trigram index (issue 18: the user's
~50,000 tracks were joined and named for every search): the same matches, in the same order, as the search that
named every track of the user first — for case, the LIKE wildcards and the escape character in a title, letters
whose lower case PostgreSQL and Python see differently, ids, a track without a name, another user's tracks, an
artist filter and more matches than the limit. A track without a dimension row (which fct_plays' tested
relationship rules out) is found by its id only."""

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


def test_a_track_without_a_dimension_row_is_found_by_its_id(searched: tuple[str, UUID]) -> None:
    database_url, user = searched
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DELETE FROM marts.dim_tracks WHERE track_id = 't_nodim'")
    by_id = _rows(database_url, plays.find_subjects(user, "track", "t_nodim", 6))
    assert [(row["subject_id"], row["name"]) for row in by_id] == [("t_nodim", "Lonely Love")]  # named from plays
    assert by_id == _rows(database_url, _old_search(user, "t_nodim", 6, None))
    by_title = _rows(database_url, plays.find_subjects(user, "track", "lonely", 6))
    assert by_title == [] and _rows(database_url, _old_search(user, "lonely", 6, None)) != []


def test_title_search_reads_the_trigram_index(searched: tuple[str, UUID]) -> None:
    """With a history of some size (20,000 tracks), the planner reads the index, not every track."""
    database_url, user = searched
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        assert connection.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm')").fetchone() == (
            True,
        ), "migration 0014 enables pg_trgm on the test server"
        connection.execute(
            "INSERT INTO marts.dim_tracks (track_id, name, source) "
            "SELECT 'filler' || n, 'Filler number ' || n, 'spotify_api' FROM generate_series(1, 20000) AS n"
        )
        connection.execute(
            "INSERT INTO marts.agg_first_plays SELECT %s, 'track', track_id, 'artA', DATE '2026-01-01', "
            "DATE '2026-01-01', 1, 200000, 1, 1, DATE '2026-01-01', DATE '2026-01-01' "
            "FROM marts.dim_tracks WHERE track_id LIKE 'filler%%'",
            (user,),
        )
        # As the transform leaves it: the index built over the rows (not a GIN pending list of later inserts).
        connection.execute("VACUUM ANALYZE marts.dim_tracks")
        connection.execute("ANALYZE marts.agg_first_plays")
        plan = connection.execute("EXPLAIN " + render(plays.find_subjects(user, "track", "lovely", 6))).fetchall()
    text = "\n".join(str(row[0]) for row in plan)
    assert "dim_tracks_name_trgm" in text, text
