"""Handlers of the playlist tools: turn an answer about the user's history into a playlist in their own Spotify
account — with their consent, within the installation's request budget, without duplicates.

- Consent: writing needs the `playlist-modify-*` scopes the user granted when connecting (stored with their
  token); a user who connected before they were asked gets `spotify_consent_missing` with the link to reconnect.
- Only the user's own account: a user token acts for its user; the admin token must name the user.
- Idempotency: every write has a key (the caller's, or one derived from the request and the day); a retry
  with the same key returns the first call's playlist, and a key reused for another request is refused.
- Spotify calls go through the typed client (`serve.tools.spotify.user_client`), so each one is counted in the
  request budget under `tools`; 100 items per add request, the fewest calls Spotify allows.
- A rate limit mid-way (a long Retry-After, the quota, or the budget) ends the call with what was added and how
  to finish: the same key resumes after the last item Spotify confirmed. A short Retry-After is waited out by
  the client (a 429 was not applied, so repeating that request adds nothing twice).
- Tracks known only by name (`local:` ids from account-data exports) are matched to Spotify ids first: the
  background resolver's answers, earlier searches, then at most `MAX_SEARCHES` searches per call; what cannot
  be matched is listed in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.spotify import errors as spotify_errors
from core.spotify.accounts import PLAYLIST_WRITE_SCOPES
from core.spotify.client import PLAYLIST_ADD_LIMIT, SpotifyClient
from core.spotify.matching import Name, judge_name, lookup_key, search_query
from serve.tools import playlist_writes as writes
from serve.tools.errors import AccessDenied, InvalidArguments, NoData, SpotifyNotConnected, ToolError
from serve.tools.playlist_models import (
    AddToPlaylistArgs,
    CreatePlaylistArgs,
    ListPlaylistsArgs,
    OwnPlaylist,
    PlaylistList,
    PlaylistResult,
    PlaylistTrack,
)
from serve.tools.playlist_sources import Candidate, explicit_tracks, history_tracks, spotify_item_id
from serve.tools.registry import ToolContext
from serve.tools.spotify import user_client

# Searches for name-only tracks one call may make (each is one request of the budget).
MAX_SEARCHES = 50
# Pages of GET /me/playlists one list call reads at most (50 playlists each).
MAX_LIST_PAGES = 4
ANSWER_TRACKS = 100


class SpotifyConsentMissing(ToolError):
    status_code = 403
    code = "spotify_consent_missing"


class IdempotencyConflict(ToolError):
    status_code = 409
    code = "idempotency_conflict"


@dataclass(frozen=True, slots=True)
class Account:
    spotify_user_id: str
    scopes: frozenset[str]


def login_url(context: ToolContext) -> str:
    settings = context.settings
    base = settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"
    return f"{base.rstrip('/')}/auth/login"


def _consent_error(context: ToolContext, user_id: UUID, missing: list[str]) -> SpotifyConsentMissing:
    url = login_url(context)
    return SpotifyConsentMissing(
        "this user has not allowed playlists: they connected Spotify before spotify-mcp asked for permission to "
        f"create and edit playlists. Reconnect to allow playlists: open {url} and accept Spotify's consent page; "
        "the listening history stays as it is",
        details={"user_id": str(user_id), "reconnect_url": url, "missing_scopes": missing},
    )


async def _account(context: ToolContext, user_id: UUID, needed: tuple[str, ...]) -> Account:
    row = (
        await context.session.execute(
            text(
                "SELECT u.spotify_user_id, t.scope FROM app.users u "
                "LEFT JOIN app.spotify_tokens t ON t.user_id = u.id WHERE u.id = :u"
            ),
            {"u": user_id},
        )
    ).first()
    if row is None or row.scope is None or row.spotify_user_id is None:
        raise SpotifyNotConnected(
            "this user has not connected a Spotify account (local/import-only user): playlists are written to the "
            f"user's own Spotify account, so connect one first at {login_url(context)}",
            details={"user_id": str(user_id), "connect_url": login_url(context)},
        )
    scopes = frozenset(str(row.scope).split())
    missing = [scope for scope in needed if scope not in scopes]
    if missing:
        raise _consent_error(context, user_id, missing)
    return Account(str(row.spotify_user_id), scopes)


def _require_named_user(context: ToolContext, args: CreatePlaylistArgs | AddToPlaylistArgs | ListPlaylistsArgs) -> None:
    if context.principal.kind == "admin" and args.user_id is None:
        raise InvalidArguments.field(
            "user_id", "required with the admin token for playlist tools: name the user whose Spotify account it is"
        )


def _engine(context: ToolContext) -> AsyncEngine:
    engine = context.session.bind
    assert isinstance(engine, AsyncEngine)
    return engine


# --- Tracks --------------------------------------------------------------------------------------------------
async def _candidates(
    context: ToolContext, args: CreatePlaylistArgs | AddToPlaylistArgs, user_id: UUID
) -> tuple[list[Candidate], str]:
    if args.track_ids is not None:
        return await explicit_tracks(context, user_id, args.track_ids), "the tracks you named"
    assert isinstance(args, CreatePlaylistArgs)
    return await history_tracks(context, args, user_id)


async def _resolve(
    context: ToolContext, client: SpotifyClient, candidates: list[Candidate]
) -> tuple[list[PlaylistTrack], list[str]]:
    """Spotify ids for every candidate, in order and without repeats; the ones without one, with why."""
    engine = _engine(context)
    local = [item for item in candidates if item.local]
    keys = {item.track_id: lookup_key(item.name, item.artist) for item in local if item.name}
    by_id, by_key = await writes.settled(engine, [item.track_id for item in local], list(set(keys.values())))
    resolved: list[PlaylistTrack] = []
    unresolved: list[str] = []
    searches = 0
    stopped: str | None = None
    for item in candidates:
        if not item.local:
            resolved.append(PlaylistTrack(track_id=item.track_id, name=item.name, artist=item.artist))
            continue
        key = keys.get(item.track_id)
        known = by_id.get(item.track_id) or (by_key.get(key) if key else None)
        if known is None and key is not None and item.name and stopped is None and searches < MAX_SEARCHES:
            query = search_query(item.name, item.artist)
            try:
                found = await client.search(query, types=("track",), limit=min(10, client.max_search_limit))
            except spotify_errors.RateLimited as error:
                stopped = f"not looked up: Spotify searches are paused ({error}); call again later"
            except spotify_errors.SpotifyHTTPError as error:
                stopped = f"not looked up: Spotify refused the search ({error.message})"
            else:
                searches += 1
                candidates_found = [track for track in (found.tracks.items if found.tracks else []) if track.id]
                verdict = judge_name(Name(item.name, item.artist), candidates_found)
                await writes.remember_lookup(engine, key, verdict, query)
                known = by_key[key] = writes.Settled(verdict.status, verdict.spotify_track_id)
        if known is not None and known.status == "resolved" and known.spotify_track_id:
            resolved.append(PlaylistTrack(track_id=known.spotify_track_id, name=item.name, artist=item.artist))
            continue
        if not item.name:
            reason = "no name is known for this track, so it cannot be looked up on Spotify"
        elif known is None:
            reason = stopped or f"not looked up: at most {MAX_SEARCHES} searches per call; call again for the rest"
        elif known.status == "ambiguous":
            reason = "Spotify has several likely matches for this name; none was added rather than a wrong one"
        else:
            reason = "Spotify has no track matching this name and artist"
        label = _label(item.name, item.artist)
        unresolved.append(f"{label} ({item.track_id}): {reason}" if label else f"{item.track_id}: {reason}")
    unique = list({track.track_id: track for track in reversed(resolved)}.values())[::-1]
    return unique, unresolved


def _url(playlist_id: str) -> str:
    return f"https://open.spotify.com/playlist/{playlist_id}"


def _label(name: str | None, artist: str | None) -> str | None:
    return f"{name} — {artist}" if name and artist else name


# --- Writing -------------------------------------------------------------------------------------------------
async def _add_remaining(
    context: ToolContext, client: SpotifyClient, write: writes.Write
) -> tuple[int, spotify_errors.RateLimited | None]:
    """Add what Spotify has not confirmed yet, 100 per request; stops at a rate limit it cannot wait out."""
    assert write.playlist_id is not None
    engine = _engine(context)
    uris = [f"spotify:track:{track['track_id']}" for track in write.tracks]
    added = write.added
    if write.kind == "create" and write.status == "adding" and added < len(uris):
        # Resuming a playlist this tool created: if the last request landed although its answer was lost, the
        # playlist already holds more than was confirmed. Counting what is there adds nothing twice.
        current = await client.get_playlist(write.playlist_id)
        total = current.total_items if current is not None else None
        if total is not None and added < total <= len(uris):
            added = total
            await writes.set_added(engine, write.id, added, complete=added == len(uris))
    start = added
    while added < len(uris):
        chunk = uris[added : added + PLAYLIST_ADD_LIMIT]
        try:
            await client.add_playlist_items(write.playlist_id, chunk)
        except spotify_errors.RateLimited as error:
            return added - start, error
        added += len(chunk)
        await writes.set_added(engine, write.id, added, complete=added == len(uris))
    return added - start, None


def _result(
    write: writes.Write, *, added_now: int, stopped: spotify_errors.RateLimited | None, replayed: bool, described: str
) -> PlaylistResult:
    added = write.added
    total = len(write.tracks)
    tracks = [_label(track.get("name"), track.get("artist")) or track["track_id"] for track in write.tracks[:added]]
    unresolved = [str(item) for item in write.unresolved]
    tool = "spotify.create_playlist" if write.kind == "create" else "spotify.add_to_playlist"
    retry_after = round(stopped.retry_after) if stopped is not None else None
    if stopped is not None:
        note = (
            f"Spotify's rate limit stopped the additions after {added} of {total} tracks ({added_now} in this call; "
            f"{stopped}). Nothing was "
            f"added twice. Call {tool} again with idempotency_key {write.idempotency_key!r} in {retry_after} s to "
            f"add the remaining {total - added}."
        )
    elif replayed:
        note = (
            f"This request was made before (idempotency key {write.idempotency_key!r}): this is the playlist it "
            "wrote; nothing new was added."
        )
    else:
        verb = "Created" if write.kind == "create" else "Added to"
        note = f"{verb} the playlist {write.playlist_name!r}: {added} tracks from {described}."
    if unresolved:
        note += f" {len(unresolved)} track(s) could not be matched to Spotify and were left out (see `unresolved`)."
    assert write.playlist_id is not None
    return PlaylistResult(
        status="partial" if added < total else "complete",
        playlist_id=write.playlist_id,
        spotify_url=_url(write.playlist_id),
        tracks_requested=total,
        tracks_added=added,
        tracks=tracks[:ANSWER_TRACKS],
        unresolved=unresolved,
        idempotency_key=write.idempotency_key,
        retry_after_seconds=retry_after,
        note=note,
    )


async def _write(
    context: ToolContext, args: CreatePlaylistArgs | AddToPlaylistArgs, user_id: UUID, account: Account
) -> PlaylistResult:
    kind: writes.Kind = "create" if isinstance(args, CreatePlaylistArgs) else "add"
    fingerprint = writes.request_hash(kind, args.model_dump(mode="json", exclude={"idempotency_key", "user_id"}))
    key = args.idempotency_key or writes.derived_key(kind, fingerprint, context.now)
    engine = _engine(context)
    async with writes.hold(engine, user_id, key), user_client(context, user_id) as client:
        write = await writes.find(engine, user_id, key)
        if write is not None and write.request_hash != fingerprint:
            raise IdempotencyConflict(
                f"idempotency_key {key!r} was already used for a different request; use a new key for a new "
                "playlist, or resend the first request unchanged to get its result",
                details={"idempotency_key": key},
            )
        if write is not None and write.status == "complete":
            return _result(write, added_now=0, stopped=None, replayed=True, described="")
        replayed = write is not None
        described = "the earlier request"
        if write is None:
            target_id, target_name, public = await _target(client, args, account)
            candidates, described = await _candidates(context, args, user_id)
            tracks, unresolved = await _resolve(context, client, candidates)
            if not tracks:
                raise NoData(
                    "none of the tracks could be matched to Spotify, so nothing was written",
                    details={"unresolved": unresolved[:50], "reason": "unresolved"},
                )
            write = await writes.start(
                engine, user_id=user_id, key=key, fingerprint=fingerprint, kind=kind, playlist_id=target_id,
                name=target_name, public=public, tracks=[track.model_dump() for track in tracks],
                unresolved=unresolved,
            )  # fmt: skip
        if write.playlist_id is None:
            assert isinstance(args, CreatePlaylistArgs)
            created = await _create(context, client, args, user_id)
            await writes.set_playlist(engine, write.id, created)
            write = await writes.find(engine, user_id, key)
            assert write is not None
        added_now, stopped = await _add_remaining(context, client, write)
        final = await writes.find(engine, user_id, key)
        assert final is not None
        result = _result(final, added_now=added_now, stopped=stopped, replayed=False, described=described)
        if replayed and stopped is None:
            result.note = f"Resumed the earlier request: {result.note}"
        return result


async def _target(
    client: SpotifyClient, args: CreatePlaylistArgs | AddToPlaylistArgs, account: Account
) -> tuple[str | None, str, bool | None]:
    """The playlist to add to: a new one (created after the tracks are known), or the user's own one."""
    if isinstance(args, CreatePlaylistArgs):
        return None, args.name, args.public
    playlist_id = spotify_item_id(args.playlist_id, "playlist")
    if playlist_id is None:
        raise InvalidArguments.field(
            "playlist_id", "give a playlist id, spotify:playlist: URI or open.spotify.com link"
        )
    found = await client.get_playlist(playlist_id)
    if found is None:
        raise NoData(f"Spotify knows no playlist {playlist_id}", details={"playlist_id": playlist_id})
    if found.owner is None or found.owner.id != account.spotify_user_id:
        raise AccessDenied(
            "this playlist belongs to another Spotify account; the tools add only to the user's own playlists "
            "(spotify.list_playlists lists them)",
            details={"playlist_id": playlist_id},
        )
    return playlist_id, found.name or playlist_id, found.public


async def _create(context: ToolContext, client: SpotifyClient, args: CreatePlaylistArgs, user_id: UUID) -> str:
    try:
        created = await client.create_playlist(args.name, public=args.public, description=args.description)
    except spotify_errors.SpotifyHTTPError as error:
        if error.status_code == 403:
            # The stored scope said yes, Spotify says no (consent withdrawn, or granted on another app).
            raise _consent_error(context, user_id, list(PLAYLIST_WRITE_SCOPES)) from None
        raise
    return created.id


# --- Tools ---------------------------------------------------------------------------------------------------
async def create_playlist(context: ToolContext, args: CreatePlaylistArgs, user_id: UUID) -> PlaylistResult:
    _require_named_user(context, args)
    account = await _account(context, user_id, PLAYLIST_WRITE_SCOPES)
    return await _write(context, args, user_id, account)


async def add_to_playlist(context: ToolContext, args: AddToPlaylistArgs, user_id: UUID) -> PlaylistResult:
    _require_named_user(context, args)
    account = await _account(context, user_id, PLAYLIST_WRITE_SCOPES)
    return await _write(context, args, user_id, account)


async def list_playlists(context: ToolContext, args: ListPlaylistsArgs, user_id: UUID) -> PlaylistList:
    _require_named_user(context, args)
    account = await _account(context, user_id, ())
    own: list[OwnPlaylist] = []
    async with user_client(context, user_id) as client:
        for page_number in range(MAX_LIST_PAGES):
            page = await client.get_my_playlists(limit=50, offset=page_number * 50)
            for item in page.items:
                if item.owner is not None and item.owner.id == account.spotify_user_id:
                    own.append(
                        OwnPlaylist(
                            id=item.id, name=item.name or item.id, tracks=item.total_items, spotify_url=_url(item.id)
                        )
                    )
            if page.next is None:
                break
    note = "The user's own playlists (followed ones left out), as Spotify orders them."
    if "playlist-read-private" not in account.scopes:
        note += (
            " Private playlists are not shown: the user has not allowed reading them; reconnect at "
            f"{login_url(context)}."
        )
    return PlaylistList(playlists=own, note=note)
