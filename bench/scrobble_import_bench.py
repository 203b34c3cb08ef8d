"""Scrobble import benchmark: a synthetic ListenBrainz export or Last.fm CSV → committed rows in raw.scrobbles.

    uv run python -m bench.scrobble_import_bench --format listenbrainz --records 1000000
    uv run python -m bench.scrobble_import_bench --format lastfm-csv --records 1000000 --repeat 3

ListenBrainz: a ZIP as ListenBrainz writes it (`user.json`, `feedback.jsonl`, `listens/<year>/<month>.jsonl`,
every field of a listen including the user name, msid and submission client the importer drops; ~60 % with a
Spotify id and duration, MusicBrainz mapping on ~70 %). Last.fm: one `scrobbles-<user>-<time>.csv` with the
export tool's header (not zipped, as people download it). A pool of 20k tracks over ten years. Each run imports
through the real path (`ingest.imports.worker.execute_job`: detection, caps, streaming parse, COPY in batches)
into a fresh migrated database, in a child process whose peak RSS is reported (`bench.import_bench.run_once`).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
import zipfile
from pathlib import Path

from bench.import_bench import _spotify_id, run_once

_START = 1_262_304_000  # 2010-01-01
_TEN_YEARS = 10 * 365 * 86_400


def _tracks(rng: random.Random) -> list[tuple[str, str, str, str, int, bool, bool]]:
    return [
        (
            _spotify_id(rng),
            f"Track {n}",
            f"Artist {n % 3000}",
            f"Album {n % 7000}",
            rng.randint(90_000, 420_000),
            rng.random() < 0.6,
            rng.random() < 0.7,
        )
        for n in range(20_000)
    ]


def _mbid(rng: random.Random) -> str:
    hexed = f"{rng.getrandbits(128):032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def generate_listenbrainz(path: Path, records: int, seed: int = 7) -> None:
    """One `.jsonl` per month, written month by month (bounded memory)."""
    rng = random.Random(seed)
    tracks = _tracks(rng)
    step = _TEN_YEARS / records
    months: dict[str, list[str]] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("user.json", json.dumps({"user_id": 1, "username": "bench-user"}))
        archive.writestr("feedback.jsonl", "")
        current = ""
        for n in range(records):
            at = int(_START + n * step)
            spotify_id, track, artist, album, duration, has_spotify, mapped = rng.choice(tracks)
            info: dict[str, object] = {"submission_client": "bench", "media_player": "Spotify"}
            if has_spotify:
                info |= {"spotify_id": f"https://open.spotify.com/track/{spotify_id}", "duration_ms": duration}
            metadata: dict[str, object] = {
                "artist_name": artist,
                "track_name": track,
                "release_name": album,
                "additional_info": info,
            }
            if mapped:
                metadata["mbid_mapping"] = {"recording_mbid": _mbid(rng), "artist_mbids": [_mbid(rng)]}
            listen = {
                "listened_at": at,
                "inserted_at": at + 5,
                "recording_msid": _mbid(rng),
                "user_name": "bench-user",
                "track_metadata": metadata,
            }
            month = time.strftime("%Y/%-m", time.gmtime(at))
            if month != current and current:
                archive.writestr(f"listens/{current}.jsonl", "".join(months.pop(current)))
            current = month
            months.setdefault(month, []).append(json.dumps(listen) + "\n")
        if current:
            archive.writestr(f"listens/{current}.jsonl", "".join(months.pop(current)))


def generate_lastfm_csv(path: Path, records: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    tracks = _tracks(rng)
    step = _TEN_YEARS / records
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uts", "utc_time", "artist", "artist_mbid", "album", "album_mbid", "track", "track_mbid"])
        for n in range(records - 1, -1, -1):  # the export tools write the newest first
            at = int(_START + n * step)
            _, track, artist, album, _, _, mapped = rng.choice(tracks)
            writer.writerow(
                [
                    at,
                    time.strftime("%d %b %Y, %H:%M", time.gmtime(at)),
                    artist,
                    _mbid(rng) if mapped else "",
                    album,
                    "",
                    track,
                    _mbid(rng) if mapped else "",
                ]
            )


def _child(server_url: str, path: str, batch_size: int, queue: multiprocessing.Queue[dict[str, float]]) -> None:
    queue.put(run_once(server_url, Path(path), batch_size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=["listenbrainz", "lastfm-csv"], default="listenbrainz")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="import the same file this many times (fresh DB each)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--file", type=Path, default=None, help="reuse/keep the generated file here")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("give --database-url or TEST_DATABASE_URL (a PostgreSQL server; a fresh database is created)")
        return 2
    suffix = "zip" if args.format == "listenbrainz" else "csv"
    path: Path = args.file or Path(f"/tmp/scrobble-import-bench-{args.format}-{args.records}.{suffix}")
    context = multiprocessing.get_context("spawn")
    if not path.exists():
        started = time.perf_counter()
        target = generate_listenbrainz if args.format == "listenbrainz" else generate_lastfm_csv
        child = context.Process(target=target, args=(path, args.records))
        child.start()
        child.join()
        print(
            f"generated {path} ({path.stat().st_size / 1e6:.1f} MB, {args.records:,} records) in "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    results: list[dict[str, float]] = []
    for attempt in range(args.repeat):
        queue: multiprocessing.Queue[dict[str, float]] = context.Queue()
        child = context.Process(target=_child, args=(args.database_url, str(path), args.batch_size, queue))
        child.start()
        result = queue.get()
        child.join()
        results.append(result)
        print(
            f"run {attempt + 1}: {result['records']:,.0f} records read, {result['inserted']:,.0f} inserted in "
            f"{result['seconds']:.2f}s = {result['records'] / result['seconds']:,.0f} records/s; "
            f"peak RSS {result['peak_rss_mb']:.0f} MB; CPU per record: importer "
            f"{result['python_cpu'] / result['records'] * 1e6:.1f} µs, PostgreSQL "
            f"{result['postgres_cpu'] / result['records'] * 1e6:.1f} µs; load average {os.getloadavg()[0]:.2f}"
        )
    rates = [result["records"] / result["seconds"] for result in results]
    print(
        f"median {statistics.median(rates):,.0f} records/s over {len(rates)} run(s) "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); peak RSS max {max(r['peak_rss_mb'] for r in results):.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
