"""When a routine run refits a user's taste clusters (transform.clusters.refit): not after a poll of a few plays,
but once the plays changed since the fit reach REFIT_SHARE of the smallest window, once the windows moved by a day,
and always on a full refresh. Real dbt, real PostgreSQL, the real cluster step."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from bench.transform_bench import add_new_api_plays, generate_history
from core.dburl import libpq_url, with_database
from transform.clusters import compute_standard_windows
from transform.clusters.refit import REFIT_SHARE
from transform.runner import run_transform

USER = UUID("00000000-0000-0000-0000-00000000c122")
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def _one(url: str, sql: str) -> Any:
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(sql, {"u": USER}).fetchone()
    assert row is not None
    return row[0]


def _fitted_at(url: str) -> datetime:
    fitted: datetime = _one(url, "select min(computed_at) from ml.taste_clusters where user_id = %(u)s")
    return fitted


def _stored(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url)) as connection:
        return list(
            connection.execute(
                "select window_name, cluster_id, label, plays, k, window_end from marts.fct_taste_clusters "
                "where user_id = %(u)s order by 1, 2",
                {"u": USER},
            ).fetchall()
        )


def _routine(url: str, now: datetime) -> dict[str, Any]:
    outcome = run_transform(url, now=now)
    assert outcome.status == "success", outcome.error
    return outcome.stats


@pytest.fixture
def fitted(pg_server_url: str, template_database: str) -> Iterator[str]:
    """Two years of 6,000 listens over 40 artists, transformed (and clustered) once."""
    name = f"spmcp_refit_{secrets.token_hex(5)}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_database(pg_server_url, name)
    try:
        generate_history(url, USER, listens=6000, end=NOW - timedelta(days=1), days=730, artists=40)
        outcome = run_transform(url, full_refresh=True, now=NOW)
        assert outcome.status == "success", outcome.error
        yield url
    finally:
        _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_small_poll_keeps_the_fit_and_enough_changed_plays_refit_it(fitted: str) -> None:
    smallest = int(
        _one(
            fitted,
            "select min(plays) from (select sum(plays) as plays from ml.taste_clusters where user_id = %(u)s "
            "group by window_name) as windows",
        )
    )
    threshold = math.ceil(REFIT_SHARE * smallest)
    assert threshold >= 4, "the history is big enough for a poll below the threshold"
    fit = _fitted_at(fitted)
    stored = _stored(fitted)

    add_new_api_plays(fitted, USER, 2, after=NOW - timedelta(hours=20))
    stats = _routine(fitted, NOW)
    assert stats["clusters"]["recomputed_users"] == 0 and stats["clusters"]["kept_fits"] == 1
    assert _fitted_at(fitted) == fit and _stored(fitted) == stored
    assert "skipped" in stats["dbt_downstream"]  # nothing refitted: no cluster marts to build or test
    since = NOW - timedelta(hours=20)
    new_plays = f"select count(*) from marts.fct_plays where user_id = %(u)s and played_at >= '{since}'"
    assert _one(fitted, new_plays) == 2  # the marts have the poll's plays all the same

    # The two plays count towards the share: together with these, the threshold is reached.
    add_new_api_plays(fitted, USER, threshold, after=NOW - timedelta(hours=10))
    stats = _routine(fitted, NOW)
    assert stats["clusters"]["recomputed_users"] == 1
    assert stats["clusters"]["refit_reasons"] == {"plays changed": 1}
    assert _fitted_at(fitted) > fit
    assert stats["dbt_downstream"]["models"] > 0
    # What was stored is what a fit of the data now gives.
    expected = sorted(
        (c.window_name, c.cluster_id, c.label, c.plays, c.k, c.window_end)
        for c in compute_standard_windows(fitted, USER, now=NOW)
    )
    assert _stored(fitted) == expected and expected != stored


def test_the_fit_is_refitted_when_its_windows_moved_by_a_day_and_on_a_full_refresh(fitted: str) -> None:
    fit = _fitted_at(fitted)
    add_new_api_plays(fitted, USER, 1, after=NOW - timedelta(hours=20))
    stats = _routine(fitted, NOW + timedelta(hours=23))  # less than a day: the fit stands
    assert stats["clusters"]["recomputed_users"] == 0 and _fitted_at(fitted) == fit

    add_new_api_plays(fitted, USER, 1, after=NOW - timedelta(hours=10))
    stats = _routine(fitted, NOW + timedelta(days=1))
    assert stats["clusters"]["refit_reasons"] == {"window moved": 1}
    moved = _fitted_at(fitted)
    assert moved > fit
    assert {row[5] for row in _stored(fitted)} == {NOW + timedelta(days=1)}

    outcome = run_transform(fitted, full_refresh=True, now=NOW + timedelta(days=1))
    assert outcome.status == "success", outcome.error
    assert outcome.stats["clusters"]["recomputed_users"] == 1 and _fitted_at(fitted) > moved


def test_a_user_without_a_fit_is_fitted_by_a_routine_run(fitted: str) -> None:
    with psycopg.connect(libpq_url(fitted), autocommit=True) as connection:
        connection.execute("delete from ml.taste_clusters where user_id = %s", (USER,))
    add_new_api_plays(fitted, USER, 1, after=NOW - timedelta(hours=20))
    stats = _routine(fitted, NOW)
    assert stats["clusters"]["refit_reasons"] == {"never fitted": 1}
    assert {row[0] for row in _stored(fitted)} == {"last_90_days", "last_365_days", "all_time"}
