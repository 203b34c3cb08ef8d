"""A realistic synthetic "Download your data" export for the demo user.

Two years of extended streaming history with Spotify's real field names, written as the ZIP Spotify
sends (`Spotify Extended Streaming History/Streaming_History_Audio_<years>_<n>.json`, a PDF beside it),
so the demo goes through the real import path. Listening follows a few moods with their own artists,
hours and days (morning focus, workout, late night, weekend indie, a podcast habit) so that the
taste clusters have something real to find. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import json
import random
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _spotify_id(seed: str) -> str:
    """A stable 22-character base62 id, shaped like Spotify's."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:17], "big")
    chars = []
    for _ in range(22):
        number, remainder = divmod(number, 62)
        chars.append(_BASE62[remainder])
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class Mood:
    name: str
    artists: tuple[str, ...]
    hours: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Monday
    sessions_per_week: float
    session_tracks: tuple[int, int]
    skip_rate: float
    repeat_bias: float  # chance to replay one of the mood's favourite tracks


MOODS: tuple[Mood, ...] = (
    Mood(
        "morning focus",
        ("Ólafur Arnalds", "Nils Frahm", "Max Richter", "Hania Rani", "Ludovico Einaudi", "Joep Beving"),
        (7, 8, 9, 10),
        (0, 1, 2, 3, 4),
        4.0,
        (8, 20),
        0.05,
        0.35,
    ),
    Mood(
        "workout",
        ("Fred again..", "Bicep", "Overmono", "Peggy Gou", "Disclosure", "Jamie xx", "Four Tet"),
        (17, 18, 19),
        (0, 2, 4, 5),
        3.0,
        (10, 18),
        0.25,
        0.2,
    ),
    Mood(
        "late night",
        ("Khruangbin", "Bonobo", "Nujabes", "Tom Misch", "Alfa Mist", "BADBADNOTGOOD"),
        (22, 23, 0, 1),
        (3, 4, 5, 6),
        2.5,
        (6, 14),
        0.1,
        0.3,
    ),
    Mood(
        "weekend indie",
        ("Phoebe Bridgers", "Big Thief", "Alvvays", "Japanese Breakfast", "Boygenius", "Wet Leg", "Clairo"),
        (11, 12, 13, 14, 15, 16),
        (5, 6),
        2.0,
        (12, 30),
        0.3,
        0.15,
    ),
)

PODCASTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("The Daily Groove", ("Why vinyl came back", "The loudness war", "Inside a mastering studio")),
    ("Song Exploder Stories", ("How a chorus is built", "The bridge that saved a song", "Writing in a van")),
)

_ALBUM_WORDS = ("Live", "Sessions", "Reworks", "Nights", "Stories", "Hours", "Tapes", "Echoes", "Rooms")
_TRACK_WORDS = (
    "Light", "Tide", "Motion", "Glass", "Harbour", "Signal", "Bloom", "Static", "Drift", "Ember", "Orbit", "Fable",
    "Hollow", "River", "Neon", "Paper", "Velvet", "Summit", "Quiet", "Runner", "Mirror", "Gold", "Ashes", "North",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Track:
    name: str
    artist: str
    album: str
    uri: str
    duration_ms: int


def _catalogue(rng: random.Random) -> dict[str, list[Track]]:
    catalogue: dict[str, list[Track]] = {}
    for mood in MOODS:
        tracks: list[Track] = []
        for artist in mood.artists:
            for album_index in range(2):
                album = f"{rng.choice(_TRACK_WORDS)} {_ALBUM_WORDS[(album_index + len(artist)) % len(_ALBUM_WORDS)]}"
                for _ in range(rng.randint(5, 9)):
                    name = f"{rng.choice(_TRACK_WORDS)} {rng.choice(_TRACK_WORDS)}"
                    uri = "spotify:track:" + _spotify_id(f"{artist}|{album}|{name}")
                    tracks.append(Track(name, artist, album, uri, rng.randint(150_000, 360_000)))
        catalogue[mood.name] = tracks
    return catalogue


def _record(
    ts: datetime, track: Track | None, ms_played: int, skipped: bool, **episode: str | None
) -> dict[str, object]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "android",
        "ms_played": ms_played,
        "conn_country": "DE",
        "ip_addr": "192.0.2.10",
        "master_metadata_track_name": track.name if track else None,
        "master_metadata_album_artist_name": track.artist if track else None,
        "master_metadata_album_album_name": track.album if track else None,
        "spotify_track_uri": track.uri if track else None,
        "episode_name": episode.get("episode_name"),
        "episode_show_name": episode.get("episode_show_name"),
        "spotify_episode_uri": episode.get("spotify_episode_uri"),
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone" if not skipped else "fwdbtn",
        "reason_end": "fwdbtn" if skipped else "trackdone",
        "shuffle": False,
        "skipped": skipped,
        "offline": False,
        "offline_timestamp": int(ts.timestamp()),
        "incognito_mode": False,
    }


def generate_records(*, days: int = 730, end: datetime | None = None, seed: int = 7) -> list[dict[str, object]]:
    """Listening events for `days` days before `end`, oldest first."""
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).replace(microsecond=0)
    start = end - timedelta(days=days)
    catalogue = _catalogue(rng)
    favourites = {name: rng.sample(tracks, 6) for name, tracks in catalogue.items()}
    records: list[dict[str, object]] = []
    for day_offset in range(days):
        day = (start + timedelta(days=day_offset)).replace(hour=0, minute=0, second=0)
        for mood in MOODS:
            if day.weekday() not in mood.weekdays:
                continue
            if rng.random() > mood.sessions_per_week / len(mood.weekdays):
                continue
            moment = day + timedelta(hours=rng.choice(mood.hours), minutes=rng.randint(0, 59))
            for _ in range(rng.randint(*mood.session_tracks)):
                pool = favourites[mood.name] if rng.random() < mood.repeat_bias else catalogue[mood.name]
                track = rng.choice(pool)
                skipped = rng.random() < mood.skip_rate
                ms_played = rng.randint(2_000, 25_000) if skipped else track.duration_ms - rng.randint(0, 4_000)
                moment += timedelta(milliseconds=ms_played)
                records.append(_record(moment, track, ms_played, skipped))
                moment += timedelta(seconds=rng.randint(0, 3))
        if day.weekday() < 5 and rng.random() < 0.5:
            show, episodes = rng.choice(PODCASTS)
            episode = rng.choice(episodes)
            moment = day + timedelta(hours=12, minutes=rng.randint(0, 50), seconds=rng.randint(0, 59))
            records.append(
                _record(
                    moment + timedelta(minutes=25),
                    None,
                    rng.randint(600_000, 1_800_000),
                    False,
                    episode_name=episode,
                    episode_show_name=show,
                    spotify_episode_uri="spotify:episode:" + _spotify_id(show + episode),
                )
            )
    records.sort(key=lambda record: str(record["ts"]))
    return [record for record in records if str(record["ts"]) <= end.strftime("%Y-%m-%dT%H:%M:%SZ")]


def write_demo_export(path: Path, *, days: int = 730, end: datetime | None = None, seed: int = 7) -> int:
    """Write the ZIP to `path`; return the number of records in it."""
    records = generate_records(days=days, end=end, seed=seed)
    folder = "Spotify Extended Streaming History"
    per_file = 15_000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(0, len(records), per_file):
            chunk = records[index : index + per_file]
            first_year, last_year = str(chunk[0]["ts"])[:4], str(chunk[-1]["ts"])[:4]
            years = first_year if first_year == last_year else f"{first_year}-{last_year}"
            name = f"{folder}/Streaming_History_Audio_{years}_{index // per_file}.json"
            archive.writestr(name, json.dumps(chunk))
        archive.writestr(f"{folder}/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4 demo placeholder\n")
    return len(records)
