"""Resolving name-only export tracks (`local:<sha1>`, from account-data exports) to Spotify track ids: a
background backlog under the request budget, where nothing is asked twice (issue 17, part 3).

Each pending name (the importer registers every `local:` track in `raw.tracks`) is settled by the first of:
1. `cache`: a name with the same lookup key (normalised title and artist, `lookup_key`) was settled before —
   another album, another user's export — so its answer is reused;
2. `catalog`: a track already fetched (a polled play's embedded track, an earlier search) has that title and
   artist — matched with the same confidence rule as a search, no request;
3. `search`: one Spotify search (enrichment priority; development-mode apps get at most 10 results). The
   track it settles on is landed with its album and artists from the search answer, so it is never fetched
   again.
Every outcome (`resolved`, `ambiguous`, `not_found`) is a `raw.track_resolutions` row with its lookup key
(the admin UI counts them, and what is still pending: serve/collector_status.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import tables
from core.spotify.client import SpotifyClient
from core.spotify.errors import SpotifyHTTPError
from core.spotify.matching import (
    AMBIGUOUS_AT,
    RESOLVED_AT,
    Name,
    confidence,
    judge_name,
    lookup_key,
    normalize,
    search_query,
    search_title,
)
from core.spotify.models import SimplifiedAlbum, SimplifiedArtist, Track
from ingest.landing import land_catalog

# The matching rules live in core.spotify.matching (the playlist tools judge names the same way); re-exported.
__all__ = ["AMBIGUOUS_AT", "RESOLVED_AT", "confidence", "normalize", "resolve_local_tracks", "search_title"]

logger = logging.getLogger(__name__)

# Names settled from the cache and the catalogue per cycle (no requests); searches are `limit`.
FREE_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class Pending:
    local_id: str
    track_name: str
    artist_name: str | None
    album_name: str | None

    @property
    def key(self) -> str:
        return lookup_key(self.track_name, self.artist_name)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    spotify_track_id: str | None
    confidence: float
    method: str
    query: str | None


@dataclass(slots=True)
class ResolutionStats:
    resolved: int = 0
    ambiguous: int = 0
    not_found: int = 0
    searched: int = 0
    from_cache: int = 0
    from_catalog: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome, names: int) -> None:
        match outcome.status:
            case "resolved":
                self.resolved += names
            case "ambiguous":
                self.ambiguous += names
            case _:
                self.not_found += names
        if outcome.method == "cache":
            self.from_cache += names
        elif outcome.method == "catalog":
            self.from_catalog += names


def judge(pending: Pending, candidates: list[Track], method: str, query: str | None) -> Outcome:
    verdict = judge_name(Name(pending.track_name, pending.artist_name, pending.album_name), candidates)
    return Outcome(verdict.status, verdict.spotify_track_id, verdict.confidence, method, query)


_PENDING = text(
    """
    WITH pending AS (
        SELECT t.track_id FROM raw.tracks t
        WHERE t.track_id LIKE 'local:%'
          AND NOT EXISTS (SELECT 1 FROM raw.track_resolutions r WHERE r.local_track_id = t.track_id)
        ORDER BY t.track_id
        LIMIT :limit
    )
    SELECT p.track_id, e.track_name, e.artist_name, e.album_name
    FROM pending p
    LEFT JOIN LATERAL (
        SELECT track_name, artist_name, album_name FROM raw.export_records e
        WHERE e.track_id = p.track_id AND e.track_name IS NOT NULL LIMIT 1
    ) e ON true
    """
)


async def pending_names(engine: AsyncEngine, limit: int) -> tuple[list[Pending], list[str]]:
    """Up to `limit` unsettled local tracks; and those without any name to look up (settled as not found)."""
    async with engine.connect() as connection:
        rows = (await connection.execute(_PENDING, {"limit": limit})).all()
    named = [Pending(row.track_id, row.track_name, row.artist_name, row.album_name) for row in rows if row.track_name]
    return named, [row.track_id for row in rows if not row.track_name]


async def _from_cache(connection: AsyncConnection, keys: list[str]) -> dict[str, Outcome]:
    rows = await connection.execute(
        text(
            "SELECT DISTINCT ON (lookup_key) lookup_key, status, spotify_track_id, confidence, query "
            "FROM raw.track_resolutions WHERE lookup_key = ANY(:keys) ORDER BY lookup_key, ingested_at"
        ),
        {"keys": keys},
    )
    return {
        row.lookup_key: Outcome(row.status, row.spotify_track_id, float(row.confidence or 0), "cache", row.query)
        for row in rows
    }


_CATALOG = text(
    """
    SELECT t.track_id, t.name, t.album_name, a.name AS artist_name, ta.position, {simple} AS simple_name
    FROM raw.tracks t
    LEFT JOIN raw.track_artists ta ON ta.track_id = t.track_id
    LEFT JOIN raw.artists a ON a.artist_id = ta.artist_id
    WHERE t.track_id NOT LIKE 'local:%'
      AND {simple} = ANY(:names)
    """.replace(
        "{simple}",
        # search_title(name).lower(), in SQL
        r"lower(btrim(regexp_replace(regexp_replace(t.name, '\s*[\(\[].*?[\)\]]', '', 'g'), '\s+-\s+.*$', '')))",
    )
)


async def _catalog_candidates(connection: AsyncConnection, pending: list[Pending]) -> dict[str, list[Track]]:
    """Fetched tracks whose title matches a pending one (by the simplified, lower-cased title)."""
    names = sorted({search_title(item.track_name).lower() for item in pending})
    tracks: dict[str, dict[str, object]] = {}
    artists: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in await connection.execute(_CATALOG, {"names": names}):
        tracks.setdefault(row.track_id, {"id": row.track_id, "name": row.name, "simple": row.simple_name})
        tracks[row.track_id]["album"] = row.album_name
        if row.artist_name:
            artists[row.track_id].append((row.position or 0, row.artist_name))
    by_title: dict[str, list[Track]] = defaultdict(list)
    for track_id, found in tracks.items():
        track = Track(
            id=track_id,
            name=str(found["name"]),
            artists=[SimplifiedArtist(name=name) for _, name in sorted(artists[track_id])],
            album=SimplifiedAlbum(name=str(found["album"])) if found.get("album") else None,
        )
        by_title[str(found["simple"])].append(track)
    return {item.key: by_title.get(search_title(item.track_name).lower(), []) for item in pending}


async def _record(engine: AsyncEngine, settled: list[tuple[Pending | str, Outcome]]) -> None:
    if not settled:
        return
    rows = [
        {
            "local_track_id": item if isinstance(item, str) else item.local_id,
            "spotify_track_id": outcome.spotify_track_id if outcome.status != "not_found" else None,
            "status": outcome.status,
            "confidence": outcome.confidence,
            "method": outcome.method,
            "query": outcome.query,
            "lookup_key": None if isinstance(item, str) else item.key,
        }
        for item, outcome in settled
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(tables.track_resolutions).values(rows).on_conflict_do_nothing())


async def resolve_local_tracks(
    engine: AsyncEngine, client: SpotifyClient, searches: int, stats: ResolutionStats
) -> None:
    """Settle a batch of pending names: free ways first, then at most `searches` searches."""
    pending, nameless = await pending_names(engine, FREE_BATCH)
    await _record(engine, [(local_id, Outcome("not_found", None, 0.0, "cache", None)) for local_id in nameless])
    stats.not_found += len(nameless)
    if not pending:
        return
    by_key: dict[str, list[Pending]] = defaultdict(list)
    for item in pending:
        by_key[item.key].append(item)
    async with engine.connect() as connection:
        cached = await _from_cache(connection, list(by_key))
        catalog = await _catalog_candidates(
            connection, [group[0] for key, group in by_key.items() if key not in cached]
        )
    settled: list[tuple[Pending | str, Outcome]] = []
    to_search: list[str] = []
    for key, group in by_key.items():
        outcome = cached.get(key)
        if outcome is None:
            found = judge(group[0], catalog.get(key, []), "catalog", None)
            outcome = found if found.status == "resolved" else None
        if outcome is None:
            to_search.append(key)
            continue
        settled += [(item, outcome) for item in group]
        stats.count(outcome, len(group))
    await _record(engine, settled)
    for key in to_search[:searches]:
        group = by_key[key]
        first = group[0]
        query = search_query(first.track_name, first.artist_name)
        try:
            result = await client.search(query, types=("track",), limit=min(10, client.max_search_limit))
        except SpotifyHTTPError as problem:
            # Spotify refused this query itself (4xx): asking again would get the same answer.
            logger.warning("search for a name-only track was refused; recorded as not found: %s", problem)
            refused = Outcome("not_found", None, 0.0, "search", query)
            await _record(engine, [(item, refused) for item in group])
            stats.count(refused, len(group))
            continue
        stats.searched += 1
        candidates = [track for track in (result.tracks.items if result.tracks else []) if track.id]
        outcome = judge(first, candidates, "search", query)
        chosen = [track for track in candidates if track.id == outcome.spotify_track_id]
        async with engine.begin() as connection:
            if outcome.status == "resolved" and chosen:
                # The search answer embeds the track, its album and artists: never fetched again.
                await land_catalog(connection, chosen)
        await _record(engine, [(item, outcome) for item in group])
        stats.count(outcome, len(group))
