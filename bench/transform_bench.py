"""Benchmark of the transform (issue 5): dbt + taste clusters on 1,000,000 plays of one user.

    uv run python -m bench.transform_bench --database-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a scratch database next to the given one, migrates it, generates the history with SQL (deterministic:
`setseed`), then measures, each `--repeat` times (medians reported):
- full rebuild: `run_transform(full_refresh=True)` (dbt build of every model + clusters),
- incremental: 100 new API plays landed, then `run_transform()` (wall time including dbt start-up),
- clusters: `compute_standard_windows()` for the user (all three standard windows),
- one window on demand: `compute_clusters()` over the last 365 days.
Results go to stdout and `bench/results/transform.json`. The scratch database is dropped at the end.

`--collector-paths N` also times N routine runs (each after 50 new API plays, from the plays' commit to the run's
end) the two ways the collector can start them, alternating: a new `python -m transform` process per run
(`run_in_process`, what the collector did before) and the long-lived `transform.worker.TransformWorker` (what it
does now; its first run, which starts the process and parses the project, is reported apart).

`--worker-memory N` runs N routine runs (each after 50 new API plays) in one long-lived worker and records the worker
process's resident memory (VmRSS, and its peak VmHWM) after each: whether it grows over a collector's life; and where
each run's time went (dbt's set-up, its nodes, the clusters, the cluster marts, the rest), medians over runs 2…N.

`--account-records` also generates account-data records (minute precision, names only) of 2 listens in 10, so
the dedupe's account pairings (rules 2 and 3 by name) have work.

`--keep` keeps the scratch database (its name is printed); `--reuse NAME` measures on such a kept database again
instead of generating a new one (it is never dropped). `--clusters-only` skips the full and incremental runs and
times only the clusters (standard windows, one year on demand); on a new database it runs one transform first to
build the marts (not timed). Clusters-only results go to `bench/results/transform_clusters.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import psycopg

from core import migrate
from core.dburl import libpq_url, with_database

BENCH_USER = UUID("00000000-0000-0000-0000-00000000b001")
RESULTS = Path(__file__).resolve().parent / "results" / "transform.json"
CLUSTERS_RESULTS = RESULTS.with_name("transform_clusters.json")


def generate_history(
    database_url: str,
    user_id: UUID,
    *,
    listens: int,
    end: datetime,
    days: int = 1095,
    artists: int = 400,
    tracks_per_artist: int = 12,
    timezone: str = "Europe/Berlin",
    seed: float = 0.42,
    enriched: bool = False,
    account_records: bool = False,
) -> None:
    """Insert `listens` listens of one user ending before `end` into raw.api_plays / raw.export_records.

    Artists fall into four taste groups with different hours of the day (behaviour clusters exist to be
    found); artist popularity is skewed. Of every 10 listens 6 are export-only, 3 API-only and 1 in both sources
    (the API's end time 0–5 s after the export's), so the dedupe has work; about 15 % are skips (< 30 s).
    `enriched`: also land what enrichment would (tracks, artists without genres, track artists).
    `account_records`: also the account-data record (`StreamingHistory_music_N.json`: end time truncated to the
    minute, names only) of 2 listens in 10, one export-only (the dedupe's rule 2 pairs it with the extended record)
    and one API-only (rule 3 pairs it with the API play by name)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "insert into app.users (id, display_name, timezone) values (%s, 'bench', %s) on conflict do nothing",
            (user_id, timezone),
        )
        connection.execute("select setseed(%s)", (seed,))
        connection.execute("drop table if exists pg_temp.bench_listens")
        connection.execute(
            """
            create temporary table bench_listens as
            select
                n,
                artist,
                'BA' || artist as artist_id,
                'BT' || artist || '_' || (floor(random() * %(tracks)s))::int as track_id,
                %(end)s::timestamptz - make_interval(days => 1 + floor(random() * %(days)s)::int)
                    + make_interval(hours => ((artist %% 4) * 6 + 6 + floor(random() * 4)::int) %% 24,
                                    secs => floor(random() * 3600)::int) as played_at,
                case when random() < 0.15 then 1000 + floor(random() * 25000)::int
                     else 30000 + floor(random() * 210000)::int end as ms_played
            from (
                select n, floor(%(artists)s * power(random(), 2.5))::int as artist
                from generate_series(1, %(listens)s) as n
            ) as drawn
            """,
            {"tracks": tracks_per_artist, "end": end, "days": days, "artists": artists, "listens": listens},
        )
        connection.execute(
            """
            insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format,
                track_id, track_name, artist_name, album_name, spotify_uri, incognito)
            select %(user)s, 'bench-' || n, played_at, ms_played, 'track', 'extended', track_id,
                'Track ' || track_id, 'Artist ' || artist, 'Album ' || artist, 'spotify:track:' || track_id, false
            from bench_listens
            where n %% 10 < 6 or n %% 10 = 9
            """,
            {"user": user_id},
        )
        connection.execute(
            """
            insert into raw.api_plays (user_id, played_at, track_id, context_type, item)
            select %(user)s,
                played_at + case when n %% 10 = 9 then make_interval(secs => (n %% 6)) else interval '0' end,
                track_id, 'playlist',
                jsonb_build_object('type', 'track', 'name', 'Track ' || track_id,
                    'album', jsonb_build_object('name', 'Album ' || artist),
                    'artists', jsonb_build_array(jsonb_build_object('id', artist_id, 'name', 'Artist ' || artist)))
            from bench_listens
            where n %% 10 between 6 and 9
            on conflict do nothing
            """,
            {"user": user_id},
        )
        if account_records:
            connection.execute(
                """
                insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind,
                    source_format, track_name, artist_name)
                select %(user)s, 'bench-account-' || n, date_trunc('minute', played_at), ms_played, 'track',
                    'account', 'Track ' || track_id, 'Artist ' || artist
                from bench_listens
                where n %% 10 in (0, 7)
                """,
                {"user": user_id},
            )
        if enriched:
            connection.execute(
                """
                insert into raw.artists (artist_id, name)
                select distinct artist_id, 'Artist ' || artist from bench_listens on conflict do nothing;
                insert into raw.tracks (track_id, name, album_name, duration_ms)
                select distinct track_id, 'Track ' || track_id, 'Album ' || artist, 240000 from bench_listens
                on conflict do nothing;
                insert into raw.track_artists (track_id, artist_id, position)
                select distinct track_id, artist_id, 0 from bench_listens on conflict do nothing;
                """
            )
        connection.execute("analyze raw.api_plays")
        connection.execute("analyze raw.export_records")


def add_new_api_plays(database_url: str, user_id: UUID, count: int, *, after: datetime) -> None:
    """`count` new API plays after `after` (what one poll lands)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            """
            insert into raw.api_plays (user_id, played_at, track_id, context_type, item)
            select %(user)s, %(after)s::timestamptz + make_interval(mins => 3 * n), 'BT' || (n %% 50) || '_1', null,
                jsonb_build_object('type', 'track', 'name', 'Track new ' || n,
                    'artists', jsonb_build_array(
                        jsonb_build_object('id', 'BA' || (n %% 50), 'name', 'Artist ' || (n %% 50))))
            from generate_series(1, %(count)s) as n
            on conflict do nothing
            """,
            {"user": user_id, "after": after, "count": count},
        )


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None  # None: not measured (`--repeat 0`)


def _loadavg() -> str | None:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return None


async def _collector_paths(url: str, runs: int, after: datetime) -> tuple[dict[str, object], datetime]:
    """Routine runs after a 50-play poll, started as the collector starts them: a process per run, or the worker."""
    from transform.process import run_in_process
    from transform.worker import TransformWorker

    per_run: list[float] = []
    worker_runs: list[float] = []
    worker = TransformWorker(url)
    try:
        for index in range(runs + 1):
            for path in ("process", "worker"):
                if path == "process" and index == runs:
                    continue
                add_new_api_plays(url, BENCH_USER, 50, after=after)  # committed when it returns
                after += timedelta(hours=3)
                started = time.perf_counter()
                status = await (run_in_process(url) if path == "process" else worker.run())
                assert status == "success", status
                (per_run if path == "process" else worker_runs).append(time.perf_counter() - started)
    finally:
        await worker.close()
    return {
        "process_per_run_seconds": [round(value, 2) for value in per_run],
        "process_per_run_median": _median(per_run),
        "worker_first_run_seconds": round(worker_runs[0], 2),
        "worker_warm_seconds": [round(value, 2) for value in worker_runs[1:]],
        "worker_warm_median": _median(worker_runs[1:]),
    }, after


def _rss_mib(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Vm")
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _last_run_steps(url: str) -> dict[str, float]:
    """Where the last transform's time went (app.job_runs.stats): dbt's set-up before its first node, its nodes, the
    cluster step, the cluster marts' build (0 when skipped), and the rest (isolation plan, bookkeeping)."""
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(
            "select stats from app.job_runs where job_type = 'transform' order by id desc limit 1"
        ).fetchone()
    stats = row[0] if row else {}
    dbt = stats.get("dbt") or {}
    setup = float(dbt.get("setup_seconds") or 0.0)
    steps = {
        "dbt_setup": setup,
        "dbt_nodes": float(dbt.get("seconds") or 0.0) - setup,
        "clusters": float((stats.get("clusters") or {}).get("seconds") or 0.0),
        "dbt_downstream": float((stats.get("dbt_downstream") or {}).get("seconds") or 0.0),
    }
    steps["other"] = float(stats.get("seconds") or 0.0) - sum(steps.values())
    # Node-seconds over dbt's threads (not wall time): the models' share against the tests'.
    steps["dbt_model_node_seconds"] = float(dbt.get("model_seconds") or 0.0)
    steps["dbt_test_node_seconds"] = float(dbt.get("test_seconds") or 0.0)
    return {key: round(value, 2) for key, value in steps.items()}


async def _worker_memory(url: str, runs: int, after: datetime) -> tuple[dict[str, object], datetime]:
    """Routine runs after a 50-play poll in one long-lived worker: its RSS after each run, and where each run's
    time went (the first run, which starts the worker, apart)."""
    from transform.worker import TransformWorker

    rss: list[float] = []
    peak: list[float] = []
    seconds: list[float] = []
    steps: list[dict[str, float]] = []
    worker = TransformWorker(url)
    try:
        for _ in range(runs):
            add_new_api_plays(url, BENCH_USER, 50, after=after)
            after += timedelta(hours=3)
            started = time.perf_counter()
            status = await worker.run()
            seconds.append(time.perf_counter() - started)
            assert status == "success", status
            assert worker.pid is not None
            now_mib, peak_mib = _rss_mib(worker.pid)
            rss.append(round(now_mib, 1))
            peak.append(round(peak_mib, 1))
            steps.append(_last_run_steps(url))
    finally:
        await worker.close()
    warm = steps[1:]
    return {
        "rss_mib_after_each_run": rss,
        "peak_rss_mib_after_each_run": peak,
        "run_seconds": [round(value, 2) for value in seconds],
        "warm_run_median": _median(seconds[1:]),
        "warm_steps_median": {key: _median([run[key] for run in warm]) for key in warm[0]} if warm else None,
        "steps_of_each_run": steps,
        "rss_growth_mib_after_run_2": round(rss[-1] - rss[1], 1) if len(rss) > 2 else None,
    }, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a server URL; a scratch database is created beside")
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", metavar="NAME", help="measure on this kept bench database (never dropped)")
    parser.add_argument("--clusters-only", action="store_true", help="time only the clusters")
    parser.add_argument(
        "--account-records", action="store_true", help="also account-data records of 2 listens in 10 (new databases)"
    )
    parser.add_argument("--collector-paths", type=int, default=0, metavar="N", help="time N runs per collector path")
    parser.add_argument("--worker-memory", type=int, default=0, metavar="N", help="RSS of the worker over N runs")
    args = parser.parse_args()

    from transform.clusters import compute_clusters, compute_standard_windows
    from transform.runner import run_transform

    admin = libpq_url(with_database(args.database_url, "postgres"))
    if args.reuse:
        name = args.reuse
    else:
        name = f"bench_transform_{secrets.token_hex(3)}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'create database "{name}"')
    url = with_database(args.database_url, name)
    print(f"bench database: {name}", flush=True)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        results: dict[str, object] = {"database": name, "plays_generated": args.plays}
        if args.reuse:
            results["plays_generated"] = None
            with psycopg.connect(libpq_url(url)) as connection:
                last = connection.execute("select max(played_at) from raw.api_plays").fetchone()
            # After the plays earlier runs added, so the new ones are new.
            after = max(now - timedelta(hours=23), (last[0] + timedelta(minutes=1)) if last and last[0] else now)
        else:
            migrate.upgrade(url)
            started = time.perf_counter()
            generate_history(
                url,
                BENCH_USER,
                listens=args.plays,
                end=now - timedelta(days=1),
                enriched=True,
                account_records=args.account_records,
            )
            results["generate_seconds"] = round(time.perf_counter() - started, 1)
            after = now - timedelta(hours=23)
        full: list[float] = []
        incremental: list[float] = []
        clusters: list[float] = []
        on_demand: list[float] = []
        results["loadavg_before"] = _loadavg()
        if args.clusters_only and not args.reuse:
            outcome = run_transform(url, full_refresh=True)
            assert outcome.status == "success", outcome.error
        for _ in range(0 if args.clusters_only else args.repeat):
            started = time.perf_counter()
            outcome = run_transform(url, full_refresh=True)
            full.append(time.perf_counter() - started)
            assert outcome.status == "success", outcome.error
            add_new_api_plays(url, BENCH_USER, 100, after=after)
            after += timedelta(hours=6)
            started = time.perf_counter()
            outcome = run_transform(url)
            incremental.append(time.perf_counter() - started)
            assert outcome.status == "success", outcome.error
            results["last_incremental_stats"] = outcome.stats
        for _ in range(args.repeat):
            started = time.perf_counter()
            windows = compute_standard_windows(url, BENCH_USER)
            clusters.append(time.perf_counter() - started)
            started = time.perf_counter()
            compute_clusters(url, BENCH_USER, now - timedelta(days=365), now)
            on_demand.append(time.perf_counter() - started)
        if args.collector_paths:
            results["collector_paths"], after = asyncio.run(_collector_paths(url, args.collector_paths, after))
        if args.worker_memory:
            results["worker_memory"], after = asyncio.run(_worker_memory(url, args.worker_memory, after))
        with psycopg.connect(libpq_url(url)) as connection:
            row = connection.execute("select count(*) from marts.fct_plays").fetchone()
            results["fct_plays_rows"] = row[0] if row else None
            year = connection.execute(
                "select count(*) from marts.fct_plays where played_at >= now() - interval '365 days'"
            ).fetchone()
            results["plays_last_365_days"] = year[0] if year else None
        if not args.clusters_only:
            results |= {
                "full_rebuild_seconds": [round(value, 2) for value in full],
                "full_rebuild_median": _median(full),
                "incremental_100_seconds": [round(value, 2) for value in incremental],
                "incremental_100_median": _median(incremental),
            }
        results |= {
            "clusters_standard_windows_seconds": [round(value, 2) for value in clusters],
            "clusters_standard_windows_median": _median(clusters),
            "clusters_one_year_on_demand_seconds": [round(value, 2) for value in on_demand],
            "clusters_one_year_on_demand_median": _median(on_demand),
            "clusters_one_year_on_demand_min_max": [round(min(on_demand), 2), round(max(on_demand), 2)]
            if on_demand
            else None,
            "clusters_found": [(c.window_name, c.feature_set, c.k) for c in windows if c.cluster_id == 0]
            if clusters
            else None,
            "measured_at": datetime.now(UTC).isoformat(),
            "loadavg_after": _loadavg(),
        }
        target = CLUSTERS_RESULTS if args.clusters_only else RESULTS
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(results, indent=2, default=str))
        print(json.dumps(results, indent=2, default=str))
    finally:
        if not args.keep and not args.reuse:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
