"""Taste clusters on a real PostgreSQL: behaviour fallback, stability, the genre and audio-feature feature sets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from bench.transform_bench import generate_history
from core.dburl import libpq_url, with_database
from tests.approx import approx_tree
from transform.clusters import STANDARD_WINDOWS, TasteCluster, compute_clusters, compute_standard_windows
from transform.runner import run_transform

USER = UUID("00000000-0000-0000-0000-00000000c105")
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def _rows(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url)) as connection:
        return list(connection.execute(sql, params).fetchall())


def _comparable(clusters: list[TasteCluster]) -> list[dict[str, Any]]:
    return [{key: value for key, value in cluster.as_dict().items() if key != "computed_at"} for cluster in clusters]


@pytest.fixture(scope="module")
def history(pg_server_url: str, template_database: str) -> Iterator[str]:
    """Two years of 6,000 listens over 40 artists, no genres, no audio features; transformed once."""
    name = f"spmcp_cl_{secrets.token_hex(5)}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_database(pg_server_url, name)
    try:
        generate_history(url, USER, listens=6000, end=NOW - timedelta(days=1), days=730, artists=40)
        outcome = run_transform(url, full_refresh=True, now=NOW)
        assert outcome.status == "success", outcome.error
        yield url
    finally:
        _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_clusters_fall_back_to_behaviour_and_are_stored_for_every_standard_window(history: str) -> None:
    rows = _rows(
        history,
        "select window_name, feature_set, k, count(*), sum(share_of_plays), min(quality_score), "
        "bool_and(label <> ''), bool_and(jsonb_array_length(top_artists) > 0) "
        "from marts.fct_taste_clusters where user_id = %(u)s group by 1, 2, 3 order by 1",
        {"u": USER},
    )
    assert [row[0] for row in rows] == sorted(STANDARD_WINDOWS)
    for _, feature_set, k, clusters, share, quality, labelled, with_artists in rows:
        assert feature_set == "behaviour"
        assert 3 <= k <= 6 and clusters == k
        assert share == pytest.approx(1.0, abs=1e-4)
        assert -1 <= quality <= 1
        assert labelled and with_artists
    # Clusters are numbered by plays, most played first.
    plays = _rows(
        history,
        "select plays from marts.fct_taste_clusters where user_id = %(u)s and "
        "window_name = 'all_time' order by cluster_id",
        {"u": USER},
    )
    assert [row[0] for row in plays] == sorted((row[0] for row in plays), reverse=True)


def test_every_clustered_artist_is_stored_with_its_cluster(history: str) -> None:
    """marts.fct_taste_cluster_artists: one row per artist with plays in the window, and a cluster's artists add up
    to the cluster's plays (what the dashboards' share over time and cluster mix rest on)."""
    per_cluster = _rows(
        history,
        "select c.window_name, c.cluster_id, c.plays, sum(m.plays), count(m.artist_id) "
        "from marts.fct_taste_clusters c left join marts.fct_taste_cluster_artists m "
        "on m.user_id = c.user_id and m.window_name = c.window_name and m.cluster_id = c.cluster_id "
        "where c.user_id = %(u)s group by 1, 2, 3 order by 1, 2",
        {"u": USER},
    )
    assert {row[0] for row in per_cluster} == set(STANDARD_WINDOWS)
    for window_name, cluster_id, plays, member_plays, members in per_cluster:
        assert members > 0 and member_plays == plays, (window_name, cluster_id)
    artists = _rows(
        history,
        "select count(distinct primary_artist_id) from marts.agg_daily_track_plays where user_id = %(u)s and plays > 0",
        {"u": USER},
    )[0][0]
    stored = _rows(
        history,
        "select count(*) from marts.fct_taste_cluster_artists where user_id = %(u)s and window_name = 'all_time'",
        {"u": USER},
    )[0][0]
    assert stored == artists


def test_clusters_are_stable_across_runs(history: str) -> None:
    first = compute_standard_windows(history, USER, now=NOW)
    second = compute_standard_windows(history, USER, now=NOW)
    assert first and _comparable(first) == _comparable(second)
    stored = _rows(
        history,
        "select window_name, cluster_id, label, plays, k from ml.taste_clusters where user_id = %(u)s order by 1, 2",
        {"u": USER},
    )
    computed = sorted((c.window_name, c.cluster_id, c.label, c.plays, c.k) for c in first)
    assert stored == computed


def test_any_window_on_demand(history: str) -> None:
    clusters = compute_clusters(history, USER, NOW - timedelta(days=30), NOW)
    assert clusters and all(cluster.window_name == "custom" for cluster in clusters)
    assert sum(cluster.plays for cluster in clusters) == sum(
        row[0]
        for row in _rows(
            history,
            "select count(*) from marts.fct_plays where user_id = %(u)s and counts_as_play and "
            "played_at >= %(start)s and played_at < %(end)s",
            {"u": USER, "start": NOW - timedelta(days=30), "end": NOW},
        )
    )
    assert compute_clusters(history, USER, NOW + timedelta(days=1), NOW + timedelta(days=2)) == []


def test_on_demand_window_equals_the_standard_window(history: str) -> None:
    # One window read on its own (compute_clusters) or cut from all of history (the standard windows).
    standard = [c for c in compute_standard_windows(history, USER, now=NOW) if c.window_name == "last_365_days"]
    on_demand = compute_clusters(history, USER, NOW - timedelta(days=365), NOW, window_name="last_365_days")
    assert standard and _comparable(on_demand) == approx_tree(_comparable(standard))


def test_genres_then_audio_features_take_precedence_when_present(history: str) -> None:
    genres = ["indie rock", "dream pop", "techno", "house", "jazz", "bossa nova", "metal", "ambient"]
    with psycopg.connect(libpq_url(history), autocommit=True) as connection:
        for artist in range(40):
            connection.execute(
                "insert into raw.artists (artist_id, name, genres) values (%s, %s, %s::jsonb)",
                (f"BA{artist}", f"Artist {artist}", f'["{genres[artist % 8]}", "{genres[(artist * 3 + 1) % 8]}"]'),
            )
        # Enrichment lists the artists of the tracks: export listens (no artist ids of their own) follow.
        connection.execute(
            "insert into raw.track_artists (track_id, artist_id, position) "
            "select distinct track_id, 'BA' || substring(track_id from 'BT(\\d+)_'), 0 from raw.export_records"
        )
    assert run_transform(history, now=NOW).status == "success"
    assert _rows(history, "select count(*) from marts.fct_plays where primary_artist_id like 'local:%%'") == [(0,)]
    by_genre = compute_standard_windows(history, USER, now=NOW)
    assert by_genre and {cluster.feature_set for cluster in by_genre} == {"genres"}
    assert all("genres" in cluster.distinguishing for cluster in by_genre if cluster.plays > 0)

    with psycopg.connect(libpq_url(history), autocommit=True) as connection:
        connection.execute(
            """
            insert into raw.audio_features (track_id, danceability, energy, valence, tempo, acousticness,
                instrumentalness, speechiness, liveness, loudness)
            select distinct track_id, (a % 4) / 4.0, ((a + 1) % 4) / 4.0, 0.5, 90 + (a % 4) * 20, 0.1, 0.0,
                0.05, 0.1, -8
            from (select track_id, substring(track_id from 'BT(\\d+)_')::int as a
                  from marts.dim_tracks where track_id like 'BT%') as tracks
            """
        )
    by_audio = compute_standard_windows(history, USER, now=NOW)
    assert by_audio and {cluster.feature_set for cluster in by_audio} == {"audio_features"}
