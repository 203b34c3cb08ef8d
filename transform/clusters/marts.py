"""Writing the marts' source: `ml.taste_clusters` and `ml.taste_cluster_artists`, for every user's standard windows.

dbt exposes them as `marts.fct_taste_clusters` and `marts.fct_taste_cluster_artists`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from core.dburl import libpq_url
from transform.clusters.compute import compute_standard_windows
from transform.clusters.model import ML_SCHEMA, TasteCluster, as_uuid
from transform.clusters.refit import refit_reason, stored_fit

CREATE_TABLE_SQL: Final = f"""
create schema if not exists {ML_SCHEMA};
create table if not exists {ML_SCHEMA}.taste_clusters (
    user_id uuid not null,
    window_name text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    cluster_id integer not null,
    label text not null,
    share_of_plays double precision not null,
    plays bigint not null,
    top_artists jsonb not null,
    top_tracks jsonb not null,
    distinguishing jsonb not null,
    feature_set text not null,
    k integer not null,
    quality_score double precision not null,
    computed_at timestamptz not null,
    primary key (user_id, window_name, cluster_id)
);
create table if not exists {ML_SCHEMA}.taste_cluster_artists (
    user_id uuid not null,
    window_name text not null,
    cluster_id integer not null,
    artist_id text not null,
    plays bigint not null,
    primary key (user_id, window_name, artist_id)
);
"""


def ensure_table(database_url: str) -> None:
    """Create the `ml` schema, `ml.taste_clusters` and `ml.taste_cluster_artists` if missing (the cluster step
    owns them)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(CREATE_TABLE_SQL)


def write_clusters(database_url: str, user_id: UUID | str, clusters: Iterable[TasteCluster]) -> int:
    """Replace the user's standard-window clusters with `clusters` in one transaction."""
    user = as_uuid(user_id)
    rows = list(clusters)
    with psycopg.connect(libpq_url(database_url)) as connection, connection.transaction():
        connection.execute(f"delete from {ML_SCHEMA}.taste_clusters where user_id = %s", (user,))
        connection.execute(f"delete from {ML_SCHEMA}.taste_cluster_artists where user_id = %s", (user,))
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"""insert into {ML_SCHEMA}.taste_clusters (user_id, window_name, window_start, window_end,
                        cluster_id, label, share_of_plays, plays, top_artists, top_tracks, distinguishing,
                        feature_set, k, quality_score, computed_at)
                        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [
                        (
                            row.user_id,
                            row.window_name,
                            row.window_start,
                            row.window_end,
                            row.cluster_id,
                            row.label,
                            row.share_of_plays,
                            row.plays,
                            Jsonb(row.top_artists),
                            Jsonb(row.top_tracks),
                            Jsonb(row.distinguishing),
                            row.feature_set,
                            row.k,
                            row.quality_score,
                            row.computed_at,
                        )
                        for row in rows
                    ],
                )
                cursor.executemany(
                    f"""insert into {ML_SCHEMA}.taste_cluster_artists
                        (user_id, window_name, cluster_id, artist_id, plays) values (%s, %s, %s, %s, %s)""",
                    [
                        (row.user_id, row.window_name, row.cluster_id, artist, count)
                        for row in rows
                        for artist, count in row.member_plays.items()
                    ],
                )
    return len(rows)


def refresh_standard_windows(
    database_url: str, *, now: datetime | None = None, changed_only: bool = False
) -> dict[str, Any]:
    """Recompute and store the standard windows of every user with music plays (with `changed_only`, of the
    users whose plays were transformed since their clusters were computed and whose stored fit no longer stands:
    transform.clusters.refit). Returns counts, and with `changed_only` why each refitted user was refitted."""
    ensure_table(database_url)
    end = now or datetime.now(UTC)
    reasons: dict[str, int] = {}
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        users = [row[0] for row in connection.execute("select distinct user_id from marts.fct_repeat_stats")]
        # Users without plays any more lose their clusters.
        for table in ("taste_clusters", "taste_cluster_artists"):
            connection.execute(f"delete from {ML_SCHEMA}.{table} where user_id <> all(%s::uuid[])", (users,))
        if changed_only:
            stale = connection.execute(
                f"""select users.user_id from unnest(%s::uuid[]) as users (user_id)
                    where coalesce((select max(computed_at) from {ML_SCHEMA}.taste_clusters as clusters
                                    where clusters.user_id = users.user_id), '-infinity')
                        < (select max(transformed_at) from intermediate.int_plays_deduplicated as plays
                           where plays.user_id = users.user_id)""",
                (users,),
            )
            changed = [row[0] for row in stale.fetchall()]
            recompute = []
            for user in changed:
                reason = refit_reason(stored_fit(connection, user), end)
                if reason is not None:
                    recompute.append(user)
                    reasons[reason] = reasons.get(reason, 0) + 1
        else:
            changed = recompute = users
    written = 0
    for user in sorted(recompute, key=str):
        written += write_clusters(database_url, user, compute_standard_windows(database_url, user, now=now))
    counts: dict[str, Any] = {"users": len(users), "recomputed_users": len(recompute), "clusters": written}
    if changed_only:
        # Users whose plays changed but whose fit stands (transform.clusters.refit), and why the others were refitted.
        counts["kept_fits"] = len(changed) - len(recompute)
        counts["refit_reasons"] = reasons
    return counts
