"""ZIP import benchmark: synthetic extended-history export → committed rows in a real PostgreSQL.

    uv run python -m bench.import_bench --records 1000000 --files 60
    uv run python -m bench.import_bench --records 200000 --files 12 --repeat 5

Each run first reads the same ZIP with the JSON parsers alone (no normalisation, no database; in a child
process, wall time): ijson (`ijson.items`, the reference parse rate of issue 22) and the importer's own msgspec
decoder; then imports it. It prints the import rate as a share of each parse rate of the same run.

The export uses Spotify's real field names (including the sensitive ones the importer drops) with a
realistic mix: ~88% tracks (a pool of 20k tracks, 3% without a URI), ~8% podcast episodes, some audiobook
chapters, nulls, zero ms_played, repeated ts. Each run imports into a fresh database (migrated by the real
migrations) on the server of `--database-url` / `TEST_DATABASE_URL` and prints records/s and peak RSS of
the importing process (the ZIP is generated in a child process so its memory is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import secrets
import statistics
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from core import migrate
from core.db import create_engine
from core.dburl import libpq_url, with_database
from core.settings import load_settings
from ingest.imports import jobs
from ingest.imports.jsonstream import iter_array_typed
from ingest.imports.normalize import ExtendedPlay
from ingest.imports.worker import execute_job

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _spotify_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(22))


def generate(path: Path, records: int, files: int, seed: int = 7) -> None:
    """Write the synthetic export, one member at a time (bounded memory)."""
    rng = random.Random(seed)
    tracks = [
        (_spotify_id(rng), f"Track {n}", f"Artist {n % 3000}", f"Album {n % 7000}", rng.random() < 0.03)
        for n in range(20_000)
    ]
    shows = [(_spotify_id(rng), f"Show {n}") for n in range(200)]
    when = datetime(2015, 1, 1, tzinfo=UTC)
    per_file = -(-records // files)
    written = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for number in range(files):
            count = min(per_file, records - written)
            if count <= 0:
                break
            year = when.year
            parts: list[str] = []
            for _ in range(count):
                if rng.random() > 0.02:  # 2% repeated ts
                    when += timedelta(seconds=rng.randint(30, 600))
                roll = rng.random()
                record: dict[str, Any] = {
                    "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "username": "benchuser",
                    "platform": "Android OS 13 API 33 (Google, Pixel 7)",
                    "ms_played": 0 if roll < 0.01 else rng.randint(1_000, 400_000),
                    "conn_country": "DE",
                    "ip_addr": f"203.0.113.{rng.randint(1, 254)}",
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
                    "shuffle": rng.random() < 0.3,
                    "skipped": rng.random() < 0.1,
                    "offline": False,
                    "offline_timestamp": int(when.timestamp()),
                    "incognito_mode": False,
                }
                if roll < 0.88:
                    track_id, name, artist, album, local = tracks[rng.randrange(len(tracks))]
                    record |= {
                        "master_metadata_track_name": name,
                        "master_metadata_album_artist_name": artist,
                        "master_metadata_album_album_name": album,
                        "spotify_track_uri": None if local else f"spotify:track:{track_id}",
                    }
                elif roll < 0.96:
                    show_id, show = shows[rng.randrange(len(shows))]
                    record |= {
                        "episode_name": f"{show} episode {rng.randint(1, 300)}",
                        "episode_show_name": show,
                        "spotify_episode_uri": f"spotify:episode:{show_id}",
                    }
                elif roll < 0.98:
                    record |= {
                        "audiobook_title": "A Book",
                        "audiobook_uri": "spotify:audiobook:7iHfbu1YPACw6oZPAFJtqe",
                        "audiobook_chapter_uri": f"spotify:chapter:{rng.randint(1, 40)}",
                        "audiobook_chapter_title": "Chapter",
                    }
                parts.append(json.dumps(record))
            written += count
            archive.writestr(
                f"Spotify Extended Streaming History/Streaming_History_Audio_{year}-{when.year}_{number}.json",
                "[\n" + ",\n".join(parts) + "\n]",
            )
        archive.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4")


def parse_rate(zip_path: Path, parser: str) -> dict[str, float]:
    """Records per second (wall and CPU) of a JSON parser alone over the history members of the ZIP: the
    ceiling an import of the same ZIP is compared with."""
    import ijson

    records = 0
    cpu_before = time.process_time()
    started = time.perf_counter()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".json"):
                continue
            with archive.open(info) as member:
                if parser == "ijson":
                    for _ in ijson.items(member, "item", use_float=True, buf_size=256 * 1024):
                        records += 1
                else:
                    for _ in iter_array_typed(member, ExtendedPlay):
                        records += 1
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": seconds, "cpu": time.process_time() - cpu_before}


def _parse_child(zip_path: str, parser: str, queue: multiprocessing.Queue[dict[str, float]]) -> None:
    queue.put(parse_rate(Path(zip_path), parser))


def _in_child(target: Any, *args: object) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, float]] = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def _backend_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by local PostgreSQL backends (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


async def _backend_pids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [int(row[0]) for row in rows]


async def _import(database_url: str, zip_path: Path, batch_size: int, parser: str) -> dict[str, float]:
    zip_size = os.path.getsize(zip_path)  # noqa: ASYNC240 - before the clock starts
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
            "ADMIN_TOKEN": "bench-admin-token-0123456789",
            "IMPORT_BATCH_SIZE": str(batch_size),
            "IMPORT_MAX_ZIP_SIZE_MB": "2000",
        }
    )
    engine = create_engine(database_url, application_name="import-bench")
    try:
        async with engine.begin() as connection:
            user_id = (
                await connection.exec_driver_sql("INSERT INTO app.users (display_name) VALUES ('bench') RETURNING id")
            ).scalar_one()
            job_id = await jobs.create_job(
                connection,
                user_id=user_id,
                storage_path=zip_path,
                original_filename=zip_path.name,
                origin="cli",
                file_size_bytes=zip_size,
                file_sha256=None,
            )
        job = await jobs.claim_job(engine, worker_id="bench", only_id=job_id)
        assert job is not None
        pg_before = _backend_cpu(await _backend_pids(engine))
        cpu_before = time.process_time()
        started = time.perf_counter()
        outcome = await execute_job(engine, settings, job, parser=parser)
        seconds = time.perf_counter() - started
        python_cpu = time.process_time() - cpu_before
        pg_after = _backend_cpu(await _backend_pids(engine))
        postgres_cpu = sum(used - pg_before.get(pid, 0.0) for pid, used in pg_after.items())
        if outcome.status != "success" or outcome.result is None:
            raise SystemExit(f"import failed: {outcome.message}")
        return {
            "records": outcome.result.progress.records_read,
            "inserted": outcome.inserted,
            "seconds": seconds,
            "python_cpu": python_cpu,
            "postgres_cpu": postgres_cpu,
        }
    finally:
        await engine.dispose()


def run_once(server_url: str, zip_path: Path, batch_size: int, parser: str = "msgspec") -> dict[str, float]:
    name = f"spmcp_bench_{secrets.token_hex(4)}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        url = with_database(server_url, name)
        migrate.upgrade(url)
        result = asyncio.run(_import(url, zip_path, batch_size, parser))
    finally:
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result | {"peak_rss_mb": peak_kb / 1024}


def _child(
    server_url: str, zip_path: str, batch_size: int, parser: str, queue: multiprocessing.Queue[dict[str, float]]
) -> None:
    queue.put(run_once(server_url, Path(zip_path), batch_size, parser))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1, help="import the same ZIP this many times (fresh DB each)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--parser", choices=["msgspec", "stdlib", "ijson"], default="msgspec", help="JSON parser of the import"
    )
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--zip", type=Path, default=None, help="reuse/keep the generated ZIP here")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("give --database-url or TEST_DATABASE_URL (a PostgreSQL server; a fresh database is created)")
        return 2
    zip_path: Path = args.zip or Path(f"/tmp/spotify-import-bench-{args.records}-{args.files}.zip")
    context = multiprocessing.get_context("spawn")
    if not zip_path.exists():
        started = time.perf_counter()
        child = context.Process(target=generate, args=(zip_path, args.records, args.files))
        child.start()
        child.join()
        print(
            f"generated {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB, {args.records:,} records, "
            f"{args.files} files) in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    with zipfile.ZipFile(zip_path) as archive:
        uncompressed = sum(info.file_size for info in archive.infolist())
    print(f"zip {zip_path.stat().st_size / 1e6:.1f} MB, uncompressed {uncompressed / 1e6:.1f} MB")
    results: list[dict[str, float]] = []
    for attempt in range(args.repeat):
        parsed = {name: _in_child(_parse_child, str(zip_path), name) for name in ("ijson", "msgspec")}
        result = _in_child(_child, args.database_url, str(zip_path), args.batch_size, args.parser)
        rate = result["records"] / result["seconds"]
        for name, parse in parsed.items():
            result[f"parse_{name}"] = parse["records"] / parse["seconds"]
            result[f"ratio_{name}"] = rate / result[f"parse_{name}"]
        results.append(result)
        print(
            f"run {attempt + 1}: parse alone ijson {result['parse_ijson']:,.0f} records/s, msgspec "
            f"{result['parse_msgspec']:,.0f} records/s; import {result['records']:,.0f} records read, "
            f"{result['inserted']:,.0f} inserted in {result['seconds']:.2f}s = {rate:,.0f} records/s "
            f"(ratio {result['ratio_ijson']:.2f} of ijson, {result['ratio_msgspec']:.2f} of msgspec); "
            f"peak RSS {result['peak_rss_mb']:.0f} MB; CPU per record: importer "
            f"{result['python_cpu'] / result['records'] * 1e6:.1f} µs, PostgreSQL "
            f"{result['postgres_cpu'] / result['records'] * 1e6:.1f} µs; load average {os.getloadavg()[0]:.2f}"
        )
    rates = [result["records"] / result["seconds"] for result in results]
    cpu = [(r["python_cpu"] + r["postgres_cpu"]) / r["records"] for r in results]
    print(
        f"CPU per record (importer + PostgreSQL): median {statistics.median(cpu) * 1e6:.1f} µs → on two idle "
        f"cores the work itself allows about {1 / statistics.median(cpu):,.0f}–{2 / statistics.median(cpu):,.0f} "
        "records/s (one core busy / both cores busy)"
    )
    print(
        f"median {statistics.median(rates):,.0f} records/s over {len(rates)} run(s) "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); peak RSS max {max(r['peak_rss_mb'] for r in results):.0f} MB"
    )
    print(
        f"median ratio import / parse alone (same run): {statistics.median(r['ratio_ijson'] for r in results):.2f} "
        f"of ijson (median {statistics.median(r['parse_ijson'] for r in results):,.0f} records/s), "
        f"{statistics.median(r['ratio_msgspec'] for r in results):.2f} of msgspec "
        f"(median {statistics.median(r['parse_msgspec'] for r in results):,.0f} records/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
