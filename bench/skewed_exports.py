"""Realistic, skewed extended-history exports for many users, written as a stream (bounded memory at any size).

    uv run python -m bench.skewed_exports --plays 10000000 --users 100 --out /tmp/skewed-10m
    uv run python -m bench.skewed_exports --plays 1000000 --users 100 --out /tmp/skewed-1m --seed 3 --jobs 2

One ZIP per user (`user-000.zip` …, the layout of Spotify's "Download your data": extended history members of
~16,000 records named `Streaming_History_Audio_<first year>-<last year>_<n>.json` plus the read-me PDF) and
`manifest.json` (per user: records, plays written, years). What makes it realistic rather than uniform:

- users: plays per user follow a Zipf law over the users (exponent 0.8 by default: with 100 users and 10M
  plays the heaviest has 1.23M, the median ~54k, the lightest ~31k); a heavier user also listens for more
  years (1–17, a year per 40,000 plays) and more plays a day;
- catalogue: 200,000 tracks by 30,000 artists, global popularity Zipf-distributed; each user has a library
  (a few hundred to ~10,000 tracks drawn by global popularity) played with a Zipf law of their own, and 8 % of
  plays are discoveries drawn from the whole catalogue;
- listening: sessions at hours drawn from the user's own daily profile, plays back to back inside a session
  (end time = previous end + the play's length), ~18 % skips of 1–30 s, ~1 % zero-length plays, ~2 % local
  files (no URI), ~6 % podcast episodes, ~1 % audiobook chapters, ~0.5 % records naming no item; every field
  Spotify writes is there, including those the importer must drop (IP address, user agent, user name).

The stream writes each record as it is drawn (`zipfile` member opened for writing): memory does not grow with
`--plays`. Deterministic for a given `--seed`.
"""

from __future__ import annotations

import argparse
import bisect
import concurrent.futures
import functools
import itertools
import json
import math
import multiprocessing
import random
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

TRACKS: Final = 200_000
ARTISTS: Final = 30_000
SHOWS: Final = 400
RECORDS_PER_FILE: Final = 16_000
END: Final = datetime(2026, 11, 30, tzinfo=UTC)
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ENCODER: Final = msgspec.json.Encoder()


def _spotify_id(number: int, salt: int) -> str:
    """A stable 22-character base-62 id (no list of 200,000 ids kept in memory)."""
    value = (number * 2_654_435_761 + salt * 97_531) % (62**22)
    digits = []
    for _ in range(22):
        value, digit = divmod(value, 62)
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count under a Zipf law (for `bisect` sampling)."""
    return list(itertools.accumulate(1 / (rank**exponent) for rank in range(1, count + 1)))


def _draw(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1])


def plays_per_user(plays: int, users: int, exponent: float) -> list[int]:
    """Zipf shares of `plays` over `users`, summing exactly to `plays` (heaviest first)."""
    weights = [1 / (rank**exponent) for rank in range(1, users + 1)]
    total = sum(weights)
    counts = [max(1, math.floor(plays * weight / total)) for weight in weights]
    counts[0] += plays - sum(counts)
    return counts


@dataclass(frozen=True, slots=True)
class Track:
    uri: str | None
    name: str
    artist: str
    album: str


@functools.cache  # a user plays its library over and over: the ids' base-62 digits were a third of the time
def track(number: int) -> Track:
    """Track `number` of the catalogue: artist by a skew of its own (a few artists have many tracks)."""
    artist = int(ARTISTS * (number / TRACKS) ** 1.6) % ARTISTS
    local = number % 50 == 7  # ~2 % of the catalogue are local files: no URI
    return Track(
        uri=None if local else f"spotify:track:{_spotify_id(number, 1)}",
        name=f"Track {number}",
        artist=f"Artist {artist}",
        album=f"Album {artist}-{number % 9}",
    )


@dataclass(slots=True)
class UserHistory:
    """Everything one user's export is drawn from."""

    index: int
    plays: int
    seed: int

    def records(self, global_popularity: list[float]) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.seed * 1_000_003 + self.index)
        # Up to 17 years (Spotify since 2009): the heaviest users then listen ~15 hours a day, not more than 24.
        years = max(1.0, min(17.0, self.plays / 40_000))
        start = END - timedelta(days=365.25 * years)
        library_size = int(min(10_000, 300 + self.plays**0.75))
        library = [_draw(rng, global_popularity) for _ in range(library_size)]
        library_popularity = zipf_cumulative(library_size, 0.75)
        hours = [rng.random() ** 3 for _ in range(24)]  # a daily profile of its own: a few favourite hours
        hours_cumulative = list(itertools.accumulate(hours))
        session_mean = 3 + rng.random() * 20
        shows = [rng.randrange(SHOWS) for _ in range(3)]
        span = (END - start).total_seconds()
        sessions = max(1, round(self.plays / session_mean))
        # Session starts: sorted uniform days, each at an hour of the profile.
        written = 0
        day_seconds = 86_400
        days = int(span // day_seconds)
        session_days = sorted(rng.randrange(days) for _ in range(sessions))
        when = start
        for number, day in enumerate(session_days):
            if written >= self.plays:
                break
            hour = _draw(rng, hours_cumulative)
            session_start = start + timedelta(days=day, hours=hour, minutes=rng.randrange(60))
            when = max(when, session_start)
            length = max(1, round(rng.expovariate(1 / session_mean)))
            if number == len(session_days) - 1:
                length = self.plays - written
            for _ in range(min(length, self.plays - written)):
                roll = rng.random()
                record = _template(rng, when)
                if roll < 0.005:
                    ms = rng.randint(0, 5_000)  # no item named
                elif roll < 0.065:
                    show = shows[rng.randrange(len(shows))] if rng.random() < 0.8 else rng.randrange(SHOWS)
                    ms = rng.randint(60_000, 3_600_000)
                    record |= {
                        "episode_name": f"Show {show} episode {rng.randint(1, 400)}",
                        "episode_show_name": f"Show {show}",
                        "spotify_episode_uri": f"spotify:episode:{_spotify_id(show * 1000 + rng.randint(1, 400), 2)}",
                    }
                elif roll < 0.075:
                    chapter = rng.randint(1, 40)
                    ms = rng.randint(300_000, 2_400_000)
                    record |= {
                        "audiobook_title": "A Long Book",
                        "audiobook_uri": "spotify:audiobook:7iHfbu1YPACw6oZPAFJtqe",
                        "audiobook_chapter_uri": f"spotify:chapter:{_spotify_id(chapter, 3)}",
                        "audiobook_chapter_title": f"Chapter {chapter}",
                    }
                else:
                    if rng.random() < 0.08:
                        number_ = _draw(rng, global_popularity)
                    else:
                        number_ = library[_draw(rng, library_popularity)]
                    item = track(number_)
                    skipped = rng.random() < 0.18
                    ms = (
                        0
                        if rng.random() < 0.01
                        else rng.randint(1_000, 30_000)
                        if skipped
                        else rng.randint(90_000, 330_000)
                    )
                    record |= {
                        "master_metadata_track_name": item.name,
                        "master_metadata_album_artist_name": item.artist,
                        "master_metadata_album_album_name": item.album,
                        "spotify_track_uri": item.uri,
                        "skipped": skipped,
                        "reason_end": "fwdbtn" if skipped else "trackdone",
                    }
                when += timedelta(milliseconds=ms + rng.randint(0, 4_000))
                record["ms_played"] = ms
                # = when.strftime("%Y-%m-%dT%H:%M:%SZ"), in a third of the time
                record["ts"] = when.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
                written += 1
                yield record


def _template(rng: random.Random, when: datetime) -> dict[str, Any]:
    return {
        "ts": "",
        "username": "someone",
        "platform": "Android OS 14 API 34 (Google, Pixel 8)" if rng.random() < 0.7 else "OS X 14.1 [x86 8]",
        "ms_played": 0,
        "conn_country": "DE",
        "ip_addr": f"198.51.100.{rng.randint(1, 254)}",
        "user_agent_decrypted": "unknown",
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": rng.random() < 0.35,
        "skipped": False,
        "offline": False,
        "offline_timestamp": int(when.timestamp()),
        "incognito_mode": rng.random() < 0.003,
    }


def write_export(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """Stream `records` into an extended-history ZIP at `path`; returns how many were written."""
    total = 0
    part = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        while True:
            chunk = list(itertools.islice(records, RECORDS_PER_FILE))
            if not chunk:
                break
            first, last = chunk[0]["ts"][:4], chunk[-1]["ts"][:4]
            name = f"Spotify Extended Streaming History/Streaming_History_Audio_{first}-{last}_{part}.json"
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(b"[\n")
                member.write(b",\n".join(_ENCODER.encode(record) for record in chunk))
                member.write(b"\n]")
            total += len(chunk)
            part += 1
        archive.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4")
    return total


def _write_users(out: Path, users: list[tuple[int, int]], seed: int) -> list[dict[str, Any]]:
    """The exports of `users` ((index, plays) pairs) into `out`; their manifest entries."""
    global_popularity = zipf_cumulative(TRACKS, 0.9)
    entries = []
    for index, count in users:
        path = out / f"user-{index:03d}.zip"
        written = write_export(path, UserHistory(index, count, seed).records(global_popularity))
        entries.append({"user": index, "zip": path.name, "records": written, "bytes": path.stat().st_size})
    return entries


def generate(
    out: Path, *, plays: int, users: int, exponent: float = 0.8, seed: int = 7, jobs: int = 1
) -> list[dict[str, Any]]:
    """Write one ZIP per user into `out` and `manifest.json`; returns the manifest.

    `jobs` > 1 writes the users in that many processes: each user's history is drawn from its own seeded
    generator, so the files are the same whatever `jobs` is (it only shortens the wall time on idle cores)."""
    out.mkdir(parents=True, exist_ok=True)
    counts = list(enumerate(plays_per_user(plays, users, exponent)))
    if jobs <= 1:
        manifest = _write_users(out, counts, seed)
    else:
        # Dealt round-robin, heaviest first, so every process gets a similar share of the plays.
        shares = [counts[start::jobs] for start in range(jobs)]
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            written = list(pool.map(_write_users, itertools.repeat(out), shares, itertools.repeat(seed)))
        manifest = sorted((entry for entries in written for entry in entries), key=lambda entry: entry["user"])
    (out / "manifest.json").write_text(json.dumps({"plays": plays, "users": users, "seed": seed, "exports": manifest}))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--exponent", type=float, default=0.8, help="Zipf exponent of plays over users")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=1, help="processes writing exports (same files whatever it is)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate(
        args.out, plays=args.plays, users=args.users, exponent=args.exponent, seed=args.seed, jobs=args.jobs
    )
    counts = sorted((entry["records"] for entry in manifest), reverse=True)
    print(
        f"{sum(counts):,} records for {len(counts)} users in {args.out} ({time.perf_counter() - started:.0f}s): "
        f"heaviest {counts[0]:,}, median {counts[len(counts) // 2]:,}, lightest {counts[-1]:,}; "
        f"{sum(entry['bytes'] for entry in manifest) / 1e6:.0f} MB of ZIPs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
