"""The taste clusters' DuckDB aggregation of a window's listens (per track, per artist, listening sessions)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from transform.clusters.source import LISTENS as TABLE
from transform.clusters.source import aggregate

T = 1_700_000_000
# artist, track, played_epoch, local_hour, weekend, is_skip
LISTENS = [
    ("A", "a1", T, 8, False, False),
    ("B", "b1", T, 8, False, True),  # same second as the one before: same session
    ("B", "b2", T + 100, 8, False, False),
    ("A", "a1", T + 4000, 9, True, False),  # 3,900 s later: session 2
    ("C", "c1", T + 4500, 9, True, True),  # C has no plays: not part of any session
    ("B", "b1", T + 6000, 12, False, False),  # 2,000 s after the last listen of an artist with plays: session 3
    ("A", "a2", T + 6000, 12, False, False),
]


def _connection(listens: list[tuple[str, str, int, int, bool, bool]]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute(
        f"create temp table {TABLE} (artist_id text, track_id text, played_epoch bigint, local_hour smallint, "
        "weekend boolean, is_skip boolean)"
    )
    connection.executemany(f"insert into {TABLE} values (?, ?, ?, ?, ?, ?)", listens)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def listens() -> Iterator[duckdb.DuckDBPyConnection]:
    yield from _connection(LISTENS)


def _sessions(connection: duckdb.DuckDBPyConnection, since: int | None) -> dict[str, list[int]]:
    window = aggregate(connection, since)
    assert window is not None
    by_artist: dict[str, list[int]] = {}
    for artist, session in window.sessions.sort(["artist_id", "session"]).iter_rows():
        by_artist.setdefault(artist, []).append(session)
    return by_artist


def test_tracks_and_profiles(listens: duckdb.DuckDBPyConnection) -> None:
    window = aggregate(listens, None)
    assert window is not None
    assert window.first_epoch == T
    assert sorted(window.tracks.iter_rows()) == [
        ("A", "a1", 2, 2),
        ("A", "a2", 1, 1),
        ("B", "b1", 2, 1),
        ("B", "b2", 1, 1),
        ("C", "c1", 1, 0),
    ]
    profiles = {row["artist_id"]: row for row in window.profiles.iter_rows(named=True)}
    # Day parts: 0 night, 1 morning (5-9 h), 2 midday (10-13 h), …
    assert profiles["A"] == {
        "artist_id": "A",
        "listens": 3,
        "skips": 0,
        "part_0": 0,
        "part_1": 2,
        "part_2": 1,
        "part_3": 0,
        "part_4": 0,
        "part_5": 0,
        "weekend": 1,
    }
    assert (profiles["B"]["listens"], profiles["B"]["skips"], profiles["B"]["weekend"]) == (3, 1, 0)
    assert (profiles["C"]["listens"], profiles["C"]["skips"], profiles["C"]["part_1"]) == (1, 1, 1)


def test_sessions_leave_out_artists_without_plays(listens: duckdb.DuckDBPyConnection) -> None:
    assert _sessions(listens, None) == {"A": [1, 2, 3], "B": [1, 3]}
    # The same without C's listen (no artist to leave out): the same sessions.
    without_c = [listen for listen in LISTENS if listen[0] != "C"]
    for connection in _connection(without_c):
        assert _sessions(connection, None) == {"A": [1, 2, 3], "B": [1, 3]}
    # Were C's skip a play, it would join the second and third sessions (1,500 s gaps).
    with_c_played = [(*listen[:5], False) if listen[0] == "C" else listen for listen in LISTENS]
    for connection in _connection(with_c_played):
        assert _sessions(connection, None) == {"A": [1, 2], "B": [1, 2], "C": [2]}


def test_a_window_starts_its_own_first_session(listens: duckdb.DuckDBPyConnection) -> None:
    window = aggregate(listens, T + 4000)
    assert window is not None
    assert window.first_epoch == T + 4000
    assert sorted(window.tracks.iter_rows()) == [
        ("A", "a1", 1, 1),
        ("A", "a2", 1, 1),
        ("B", "b1", 1, 1),
        ("C", "c1", 1, 0),
    ]
    assert _sessions(listens, T + 4000) == {"A": [1, 2], "B": [2]}
    assert aggregate(listens, T + 10_000) is None
