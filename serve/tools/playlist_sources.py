"""The tracks a playlist tool was asked for: explicit ids (checked and parsed), or a source in the user's history
read from the marts (top tracks, discoveries, a taste cluster, an artist's most played, on repeat, forgotten
favourites). Every source answers the same rows: track id (a Spotify id, or `local:` for tracks known only by
name), name and artist, in playlist order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text

from core.marts import artists as artist_figures
from core.marts import playlists as figures
from core.marts import rankings, recap
from core.marts.sql import Query
from core.marts.windows import Period, Span
from serve.tools.errors import InvalidArguments, NoData
from serve.tools.models import SPOTIFY_ID
from serve.tools.playlist_models import CreatePlaylistArgs
from serve.tools.registry import ToolContext
from serve.tools.scope import Scope, open_scope, reads_all_time_marts
from serve.tools.windows import resolve_span

_LINK = re.compile(r"^https?://open\.spotify\.com/(?:intl-[a-z-]+/)?(track|playlist)/([0-9A-Za-z]{22})(?:[/?#].*)?$")
_LOCAL = re.compile(r"^local:[0-9a-f]{40}$")
CLUSTER_WINDOWS = {90: "last_90_days", 365: "last_365_days"}


@dataclass(frozen=True, slots=True)
class Candidate:
    track_id: str  # a Spotify track id, or a `local:` id of the user's history
    name: str | None
    artist: str | None

    @property
    def local(self) -> bool:
        return self.track_id.startswith("local:")


def spotify_item_id(value: str, kind: str) -> str | None:
    """The bare id of a Spotify id, `spotify:<kind>:<id>` URI or open.spotify.com link of that kind."""
    value = value.strip()
    if SPOTIFY_ID.match(value):
        return value
    if value.startswith(f"spotify:{kind}:") and SPOTIFY_ID.match(value.rsplit(":", 1)[-1]):
        return value.rsplit(":", 1)[-1]
    found = _LINK.match(value)
    if found and found.group(1) == kind:
        return found.group(2)
    return None


async def _rows(context: ToolContext, query: Query) -> list[dict[str, Any]]:
    result = await context.session.execute(text(query.sql), dict(query.params))
    return [dict(row) for row in result.mappings()]


def _candidates(rows: list[dict[str, Any]]) -> list[Candidate]:
    return [Candidate(str(row["track_id"]), row.get("name"), row.get("artist_name")) for row in rows]


async def explicit_tracks(context: ToolContext, user_id: UUID, values: list[str]) -> list[Candidate]:
    ids: list[str] = []
    problems: list[dict[str, str]] = []
    for position, value in enumerate(values):
        found = spotify_item_id(value, "track") or (value.strip() if _LOCAL.match(value.strip()) else None)
        if found is None:
            problems.append({"field": f"track_ids.{position}", "problem": f"`{value[:80]}` is not a track id"})
        else:
            ids.append(found)
    if problems:
        raise InvalidArguments(
            "invalid value for `track_ids`: give Spotify track ids, spotify:track: URIs, open.spotify.com track "
            "links or track_id values from history answers",
            details={"fields": problems[:20]},
        )
    # Names for the answer (and what a `local:` id is matched by); ids the history does not know keep none, and so
    # does every id before the warehouse is first built (Spotify ids need no name to be added).
    built = await context.session.scalar(text("SELECT to_regclass('marts.dim_tracks') IS NOT NULL"))
    rows = await _rows(context, figures.track_names(user_id, ids)) if built else []
    named = {row["track_id"]: row for row in rows}
    return [
        Candidate(track_id, named.get(track_id, {}).get("name"), named.get(track_id, {}).get("artist_name"))
        for track_id in ids
    ]


def _window(scope: Scope, args: CreatePlaylistArgs, default: Period | int) -> Span:
    """The arguments' window (`days` or `period`), or the source's default when neither is given."""
    days: int | None = None
    period = Period(args.period) if args.period is not None else None
    if period is None:
        period, days = (default, None) if isinstance(default, Period) else (None, default)
    return resolve_span(days=days, start=None, end=None, period=period, zone=scope.zone, today=scope.today,
                        first_date=scope.bounds.first_date)  # fmt: skip


def _words(window: Span) -> str:
    title = window.title
    return title[0].lower() + title[1:] if title[:1].isupper() and not title[:4].isdigit() else title


async def history_tracks(context: ToolContext, args: CreatePlaylistArgs, user_id: UUID) -> tuple[list[Candidate], str]:
    """The source's tracks (most played first) and the source in words."""
    scope = await open_scope(context, user_id)
    limit = args.limit
    match args.source:
        case "top_tracks":
            window = _window(scope, args, 90)
            query = rankings.top_tracks(user_id, window, limit, all_time=reads_all_time_marts(scope, window))
            described = f"your top tracks, {_words(window)}"
        case "discoveries":
            window = _window(scope, args, 90)
            query = recap.new_tracks(user_id, window, limit)
            described = f"tracks you first played {_words(window)}"
        case "on_repeat":
            window = _window(scope, args, figures.ON_REPEAT_DAYS)
            all_time = reads_all_time_marts(scope, window)
            query = figures.on_repeat(user_id, window, limit, all_time=all_time)
            described = f"tracks on repeat ({figures.ON_REPEAT_MIN_PLAYS}+ plays), {_words(window)}"
        case "forgotten_favourites":
            before = scope.today - timedelta(days=figures.FORGOTTEN_AFTER_DAYS)
            query = figures.forgotten_favourites(user_id, before, limit)
            described = f"forgotten favourites ({figures.FORGOTTEN_MIN_PLAYS}+ plays, none since {before.isoformat()})"
        case "artist":
            window = _window(scope, args, Period.all_time)
            artist_id, artist_name = await _artist(context, scope, user_id, args.artist or "")
            query = artist_figures.top_tracks(user_id, artist_id, window, limit)
            described = f"your most played tracks by {artist_name}, {_words(window)}"
        case "cluster":
            window = _window(scope, args, 90)
            window_name = await _cluster_window(context, user_id, args, window)
            query = figures.cluster_tracks(user_id, window_name, args.cluster_id or 0, window, limit)
            described = f"taste cluster {args.cluster_id} ({window_name.replace('_', ' ')})"
        case _:
            raise AssertionError(args.source)
    found = _candidates(await _rows(context, query))
    if not found:
        raise NoData(
            f"no tracks for {described}: nothing in the history matches; try another window or source",
            details={"source": args.source, "reason": "no_tracks"},
        )
    return found, described


async def _artist(context: ToolContext, scope: Scope, user_id: UUID, wanted: str) -> tuple[str, str]:
    """The artist id and name of an id or a name the user has played (best match: most played)."""
    wanted = wanted.strip()
    bare = spotify_item_id(wanted, "artist")
    all_time = resolve_span(days=None, start=None, end=None, period=Period.all_time, zone=scope.zone,
                            today=scope.today, first_date=scope.bounds.first_date)  # fmt: skip
    rows = await _rows(
        context,
        artist_figures.search(user_id, "" if bare else wanted, all_time, 200 if bare else 5,
                              all_time=reads_all_time_marts(scope, all_time)),
    )  # fmt: skip
    if bare:
        rows = [row for row in rows if row["artist_id"] == bare]
    if not rows:
        raise NoData(
            f"no artist matching `{wanted}` in this user's history",
            details={"artist": wanted, "reason": "unknown_artist"},
        )
    return str(rows[0]["artist_id"]), str(rows[0]["name"])


async def _cluster_window(context: ToolContext, user_id: UUID, args: CreatePlaylistArgs, window: Span) -> str:
    """The stored clustering whose window the arguments name (90 days, 365 days or all time)."""
    cluster_id = args.cluster_id
    name = "all_time" if args.period == "all_time" else CLUSTER_WINDOWS.get(window.days, "")
    if not name:
        raise InvalidArguments.field("period", "taste clusters exist for last_90_days, last_365_days and all_time")
    labels = await _rows(context, figures.cluster_labels(user_id, name))
    if not any(row["cluster_id"] == cluster_id for row in labels):
        available = [row["cluster_id"] for row in labels]
        raise InvalidArguments.field(
            "cluster_id", f"no cluster {cluster_id} for {name.replace('_', ' ')}; clusters there: {available}"
        )
    return name
