"""`history.plays`: the plays themselves — what was played on a day, a range, "this morning" — optionally of one
artist, track or album, newest or oldest first, a page at a time (keyset cursor on `(played_at, track_id)`)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from core.marts import plays as queries
from serve.tools import repository as repo
from serve.tools.errors import InvalidArguments
from serve.tools.models import AnswerMeta, WindowArgs
from serve.tools.registry import ToolContext
from serve.tools.scope import coverage_of, open_scope, window_of
from serve.tools.subjects import Play, Subject, find_subject, play, require_story_marts
from serve.tools.windows import window_model

MAX_PAGE = 200


class PlaysArgs(WindowArgs):
    artist: str | None = Field(default=None, max_length=200, description="Only this artist (name or id).")
    track: str | None = Field(default=None, max_length=200, description="Only this track (name or id).")
    album: str | None = Field(default=None, max_length=200, description="Only this album (exact name or id).")
    from_hour: int | None = Field(default=None, ge=0, le=23, description="Local hour from (e.g. 5 for the morning).")
    to_hour: int | None = Field(default=None, ge=1, le=24, description="Local hour until, exclusive (e.g. 12).")
    order: Literal["newest", "oldest"] = Field(default="newest", description="Newest or oldest first.")
    include_skips: bool = Field(default=False, description="Also listens under 30 s.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE, description="Plays per page.")
    cursor: str | None = Field(default=None, max_length=300, description="`next_cursor` of the previous page.")


class PlaysPage(AnswerMeta):
    matched: list[Subject] = Field(description="The artist/track the filters matched.")
    album: str | None
    total: int | None = Field(description="Plays in the window matching the filters (null for album filters).")
    plays: list[Play]
    next_cursor: str | None = Field(description="Pass as `cursor` (same other arguments) for the next page.")


def _encode(row: dict[str, object]) -> str:
    at = row["played_at"]
    assert isinstance(at, datetime)
    raw = json.dumps([at.isoformat(), row["track_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        at, track = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        datetime.fromisoformat(at)
    except ValueError, TypeError, binascii.Error, json.JSONDecodeError:
        raise InvalidArguments.field("cursor", "not a cursor of this tool; pass `next_cursor` as it came") from None
    if not isinstance(track, str):
        raise InvalidArguments.field("cursor", "not a cursor of this tool; pass `next_cursor` as it came")
    return at, track


async def plays(context: ToolContext, args: PlaysArgs, user_id: UUID) -> PlaysPage:
    if args.from_hour is not None and args.to_hour is not None and args.to_hour <= args.from_hour:
        raise InvalidArguments.field("to_hour", "must be after `from_hour`")
    after = _decode(args.cursor) if args.cursor else None
    scope = await open_scope(context, user_id)
    await require_story_marts(context)
    window = window_of(scope, args)
    matched: list[Subject] = []
    artist_id: str | None = None
    track_ids: list[str] | None = None
    if args.artist is not None:
        artist = await find_subject(context, scope, "artist", args.artist, field="artist")
        matched.append(artist)
        artist_id = artist.id
    if args.track is not None:
        track = await find_subject(context, scope, "track", args.track, field="track", artist_id=artist_id)
        matched.append(track)
        track_ids = [track.id]
    album_name: str | None = None
    if args.album is not None:
        rows = await repo.fetch_all(context.session, queries.album_tracks(user_id, args.album))
        if not rows:
            raise InvalidArguments.field("album", f"no album {args.album.strip()!r} in this user's history")
        album_ids = [str(row["track_id"]) for row in rows]
        track_ids = album_ids if track_ids is None else [item for item in track_ids if item in album_ids]
        album_name = rows[0]["album_name"]
    found = await repo.fetch_all(
        context.session,
        queries.play_page(
            user_id,
            start=window.start.isoformat(),
            end=window.end.isoformat(),
            order=args.order,
            limit=args.limit,
            artist_id=artist_id,
            track_ids=track_ids,
            include_skips=args.include_skips,
            from_hour=args.from_hour,
            to_hour=args.to_hour,
            after=after,
        ),
    )
    page = found[: args.limit]
    total = None
    if args.album is None and args.from_hour is None and args.to_hour is None:
        counted = await repo.fetch_one(
            context.session,
            queries.matching_count(
                user_id,
                window.start_date,
                window.end_date,
                artist_id=artist_id,
                track_ids=track_ids,
                listens=args.include_skips,
            ),
        )
        total = int(counted["count"]) if counted else 0
    return PlaysPage(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        matched=matched,
        album=album_name,
        total=total,
        plays=[play(row, scope.zone) for row in page],
        next_cursor=_encode(page[-1]) if len(found) > args.limit else None,
    )
