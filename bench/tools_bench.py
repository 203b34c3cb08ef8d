"""Benchmark of the tools at the HTTP boundary: 1,000,000 plays for one user (~10 years).

    uv run python -m bench.tools_bench --server-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a database beside the server URL, migrates it, creates the contract's marts as tables
(tests/fixtures/marts_contract.sql), generates the plays with SQL, derives the aggregates
(tests/fixtures/marts_derive.sql), then starts the API in a separate process (uvicorn) and measures:

- latency (sequential calls): history.taste_summary days=90 and all-time, history.top_artists days=90, on
  `POST /mcp/call` and MCP `tools/call` (JSON-RPC over Streamable HTTP, 2025-11-25, stateless JSON);
- throughput: 4 concurrent clients for a fixed time on both faces.

Prints a JSON report and the Markdown table used in bench/README.md.

`--stories` measures only the story tools (cold, both faces). On a database of several users (e.g. one
`bench.scale_import_bench --keep` filled and `bench.scale_warehouse_bench` transformed), `--reuse NAME --user ID`
sends every call for that user, and `--artist "Artist 0" --track-prefix "Track "` asks about that data set's names;
`--every-tool` adds the history tools the default sets leave out, over all time, cold.
`--compare-with CHECKOUT` (with `--reuse`) starts a
second API from another checkout (e.g. `git archive main | tar -x -C /tmp/main`) beside this one's and sends each
story call to both in turn: on a shared machine, two runs one after the other differ by more than the code does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from core import migrate
from core.crypto import generate_key
from core.dburl import libpq_url, with_database
from tests.fixtures.marts import story_marts_sql

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_SQL = ROOT / "tests" / "fixtures" / "marts_contract.sql"
DERIVE_SQL = ROOT / "tests" / "fixtures" / "marts_derive.sql"
ADMIN_TOKEN = "bench-admin-token-" + "x" * 16

GENERATE_SQL = """
INSERT INTO marts.fct_plays (play_id, user_id, played_at, track_id, content_kind, ms_played, counts_as_play, source,
                             track_name, primary_artist_id, primary_artist_name, local_date, local_hour,
                             local_weekday, ingested_at)
SELECT md5(%(u)s::text || g::text), %(u)s::uuid, ts, 'trk' || t, 'track', ms, ms IS NULL OR ms >= 30000,
       CASE WHEN g %% 5 = 0 THEN 'spotify_api' ELSE 'import_zip' END,
       'Song ' || t, 'art' || (t %% 8000), 'Artist ' || (t %% 8000),
       (ts AT TIME ZONE %(tz)s)::date, extract(hour FROM ts AT TIME ZONE %(tz)s)::smallint,
       extract(isodow FROM ts AT TIME ZONE %(tz)s)::smallint, now()
FROM (
    SELECT g, now() - g * interval '315 seconds' - random() * interval '60 seconds' AS ts,
           floor(50000 * power(random(), 3))::int AS t,
           CASE WHEN g %% 5 = 0 THEN NULL ELSE (random() * 300000)::int END AS ms
    FROM generate_series(1, %(n)s) AS g
) AS x
"""

DIMENSIONS_SQL = """
INSERT INTO marts.dim_tracks (track_id, name, primary_artist_id, primary_artist_name, source)
SELECT DISTINCT ON (track_id) track_id, track_name, primary_artist_id, primary_artist_name, 'import_zip'
FROM marts.fct_plays;
INSERT INTO marts.dim_artists (artist_id, name, source)
SELECT DISTINCT ON (primary_artist_id) primary_artist_id, primary_artist_name, 'import_zip' FROM marts.fct_plays;
INSERT INTO marts.dim_users (user_id, timezone) SELECT id, timezone FROM app.users;
"""


def admin_execute(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def prepare(url: str, plays: int, timezone: str) -> str:
    migrate.upgrade(url)
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(CONTRACT_SQL.read_text())
        row = connection.execute(
            "INSERT INTO app.users (display_name, timezone) VALUES ('bench', %s) RETURNING id", (timezone,)
        ).fetchone()
        assert row is not None
        user_id = str(row[0])
        started = time.perf_counter()
        connection.execute(GENERATE_SQL, {"u": user_id, "tz": timezone, "n": plays})
        connection.execute(DIMENSIONS_SQL)
        connection.execute(DERIVE_SQL.read_text())
        connection.execute(story_marts_sql())
        connection.execute(
            "INSERT INTO app.job_runs (job_type, status, finished_at) VALUES ('transform', 'success', now())"
        )
        connection.execute("VACUUM ANALYZE")
        print(f"loaded {plays} plays in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return user_id


def prepare_with_dbt(url: str, plays: int, timezone: str) -> str:
    """Raw API plays and export records (the transform benchmark's generator, 10 years), then the real
    transform (dbt build of every model and the cluster step)."""
    from datetime import UTC, datetime

    from bench.transform_bench import generate_history
    from transform.runner import run_transform

    migrate.upgrade(url)
    user_id = uuid.uuid4()
    started = time.perf_counter()
    generate_history(url, user_id, listens=plays, end=datetime.now(UTC), days=3650, timezone=timezone)
    print(f"generated {plays} raw listens in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    started = time.perf_counter()
    outcome = run_transform(url, full_refresh=True)
    if not outcome.ok:
        raise RuntimeError(f"transform failed: {outcome.error}")
    print(f"transform (dbt + clusters) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return str(user_id)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# `--start-timeout`: how long the API may take to answer /healthz (on a heavily loaded machine, over a minute).
START_TIMEOUT_SECONDS = 60.0


def start_api(url: str, port: int, workers: int, root: Path = ROOT) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        "API_PORT": str(port),
    }
    command = [sys.executable, "-m", "uvicorn", "bench.tools_bench:app_from_env", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env=env, cwd=root)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("API did not start")


def app_from_env() -> Any:
    """The API as `spotify-mcp api` builds it, from the environment (for uvicorn --factory)."""
    from core.settings import load_settings
    from serve.api.app import create_app

    settings = load_settings()
    assert settings.database_url is not None
    return create_app(settings, settings.database_url.get_secret_value())


type Caller = Callable[[httpx.AsyncClient, str, dict[str, Any]], Awaitable[None]]

# Added to every call's arguments (`--user`): with several users the admin token must name whose data a tool reads.
EXTRA_ARGS: dict[str, Any] = {}


async def via_call(client: httpx.AsyncClient, tool: str, args: dict[str, Any]) -> None:
    args = EXTRA_ARGS | args
    response = await client.post("/mcp/call", json={"tool": tool, "args": args})
    if response.status_code != 200:
        raise RuntimeError(response.text)


async def via_mcp(client: httpx.AsyncClient, tool: str, args: dict[str, Any]) -> None:
    args = EXTRA_ARGS | args
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool.replace(".", "_"), "arguments": args},
    }
    response = await client.post(
        "/mcp",
        json=message,
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("result", {}).get("isError", True):
        raise RuntimeError(response.text)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


type ArgsFor = Callable[[int], dict[str, Any]]


def same(args: dict[str, Any]) -> ArgsFor:
    return lambda _: args


def varied(args: dict[str, Any], limit_max: int) -> ArgsFor:
    """A different `limit` per call, so every call misses the result cache (a cold answer)."""
    return lambda index: {**args, "limit": index % limit_max + 1}


async def latency(client: httpx.AsyncClient, caller: Caller, tool: str, args_for: ArgsFor, n: int) -> dict[str, float]:
    await caller(client, "history.coverage", {"days": 7})  # warm the connection pools
    samples: list[float] = []
    for index in range(n):
        args = args_for(index)
        started = time.perf_counter()
        await caller(client, tool, args)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "n": n,
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "max_ms": round(max(samples), 1),
    }


async def throughput(base: str, caller: Caller, tool: str, args_for: ArgsFor, seconds: float) -> dict[str, float]:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            index = offset
            while time.perf_counter() < deadline:
                await caller(client, tool, args_for(index))
                done += 1
                index += 4

    started = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(4)))
    elapsed = time.perf_counter() - started
    return {"clients": 4, "seconds": round(elapsed, 1), "calls": done, "calls_per_s": round(done / elapsed, 1)}


def cold_days(index: int) -> dict[str, Any]:
    """Distinct windows (and so distinct cache keys) of 60-119 days with any limit: cold answers."""
    return {"days": 60 + index % 60, "limit": index // 60 % 50 + 1}


async def measure_face(base: str, face: str, seconds: float, *, stories_only: bool = False) -> dict[str, Any]:
    """One face against a freshly started API (an empty result cache)."""
    caller: Caller = via_call if face == "mcp_call" else via_mcp
    await asyncio.sleep(5)  # let the cache warmer finish its start-up pass (it warms the default arguments)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if stories_only:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            return {"story_cold": await story_latency(client, caller)}
    summary_90: dict[str, Any] = {"days": 90}
    all_time: dict[str, Any] = {"period": "all_time"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        report: dict[str, Any] = {
            "cold": {
                "taste_summary_90d": await latency(client, caller, "history.taste_summary", varied(summary_90, 50), 50),
                "taste_summary_all_time": await latency(
                    client, caller, "history.taste_summary", varied(all_time, 50), 10
                ),
                "top_artists_90d": await latency(client, caller, "history.top_artists", varied(summary_90, 100), 100),
            },
            "warm": {
                "taste_summary_90d": await latency(client, caller, "history.taste_summary", same(summary_90), 100),
                "taste_summary_all_time": await latency(client, caller, "history.taste_summary", same(all_time), 50),
                "top_artists_90d": await latency(client, caller, "history.top_artists", same(summary_90), 200),
            },
        }
        report["story_cold"] = await story_latency(client, caller)
    report["throughput"] = {
        "warm_taste_summary_90d": await throughput(base, caller, "history.taste_summary", same(summary_90), seconds),
        "warm_top_artists_90d": await throughput(base, caller, "history.top_artists", same(summary_90), seconds),
        "cold_top_artists_60_119d": await throughput(base, caller, "history.top_artists", cold_days, seconds),
    }
    return report


# The story tools (issue 18), cold (a different `limit` per call), over 90 days and all time: name -> (tool,
# arguments, largest limit). The generated history names artists `Artist <n>` and tracks `Song <n>`; the
# lowest numbers are the most played.
STORY_CALLS: dict[str, tuple[str, dict[str, Any], int]] = {
    "plays_90d": ("history.plays", {"days": 90}, 200),
    "plays_all_time_artist": ("history.plays", {"period": "all_time", "artist": "Artist 7"}, 200),
    "artist_history_all_time": ("history.artist_history", {"artist": "Artist 7"}, 50),
    "artist_history_90d": ("history.artist_history", {"artist": "Artist 7", "days": 90}, 50),
    "track_history_all_time": ("history.track_history", {}, 1),  # no `limit`: a different track per call
    "recap_this_year": ("history.recap", {"period": "this_year"}, 20),
    "recap_all_time": ("history.recap", {"period": "all_time"}, 20),
    "discoveries_90d": ("history.discoveries", {"days": 90}, 50),
    "discoveries_365d": ("history.discoveries", {"days": 365}, 50),
    "on_this_day": ("history.on_this_day", {}, 20),
    "streaks_all_time": ("history.streaks", {}, 20),
    "streaks_365d": ("history.streaks", {"days": 365}, 20),
    "sessions_90d": ("history.sessions", {"days": 90}, 20),
    "sessions_all_time": ("history.sessions", {"period": "all_time"}, 20),
}


# The generated history's names (`--artist`, `--track-prefix` name those of another data set, e.g. bench.skewed_exports'
# "Artist <n>" / "Track <n>").
TRACK_PREFIX = "Song "


def other_track(index: int) -> dict[str, Any]:
    return {"track": f"{TRACK_PREFIX}{index % 40 + 1}"}


def use_names(artist: str | None, track_prefix: str | None) -> None:
    """Ask the story calls about `artist` and tracks named `track_prefix` + a number (another data set's names)."""
    global TRACK_PREFIX
    if track_prefix is not None:
        TRACK_PREFIX = track_prefix
    if artist is not None:
        for name, (tool, arguments, limit_max) in STORY_CALLS.items():
            if "artist" in arguments:
                STORY_CALLS[name] = (tool, arguments | {"artist": artist}, limit_max)


async def story_latency(client: httpx.AsyncClient, caller: Caller, n: int = 20) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for name, (tool, arguments, limit_max) in STORY_CALLS.items():
        args_for = varied(arguments, limit_max) if limit_max > 1 else other_track
        found[name] = await latency(client, caller, tool, args_for, n)
    return found


def all_time_days(index: int) -> dict[str, Any]:
    """All time as a window of days, a different length per call (longer than any history): a cold answer."""
    return {"days": 7_000 + index}


def year_against_the_one_before(index: int) -> dict[str, Any]:
    year = 2010 + index % 16
    return {"start": f"{year}-01-01", "end": f"{year}-12-31"}


PRECOMPUTED_WINDOWS: tuple[dict[str, Any], ...] = ({"days": 90}, {"days": 365}, {"period": "all_time"})


def precomputed_clusters(index: int) -> dict[str, Any]:
    return PRECOMPUTED_WINDOWS[index % 3]


# `--every-tool`: the history tools the sets above leave out, over all time (the heaviest answers), cold:
# name -> (tool, arguments of call n, calls). Taste clusters are read from what the transform precomputed for
# three windows, so each is cold once.
EVERY_TOOL_CALLS: dict[str, tuple[str, ArgsFor, int]] = {
    "top_tracks_all_time": ("history.top_tracks", varied({"period": "all_time"}, 100), 20),
    "top_artists_all_time": ("history.top_artists", varied({"period": "all_time"}, 100), 20),
    "listening_heatmap_all_time": ("history.listening_heatmap", all_time_days, 20),
    "repeat_rate_all_time": ("history.repeat_rate", all_time_days, 20),
    "coverage_all_time": ("history.coverage", all_time_days, 20),
    "compare_periods_years": ("history.compare_periods", year_against_the_one_before, 16),
    "taste_clusters_precomputed": ("history.taste_clusters", precomputed_clusters, 3),
}


async def every_tool_latency(base: str, face: str) -> dict[str, dict[str, float]]:
    caller: Caller = via_call if face == "mcp_call" else via_mcp
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        return {
            name: await latency(client, caller, tool, args_for, calls)
            for name, (tool, args_for, calls) in EVERY_TOOL_CALLS.items()
        }


async def story_pairs(bases: tuple[str, str], face: str, n: int = 20) -> dict[str, dict[str, dict[str, float]]]:
    """The story calls on two APIs at once (this checkout and another), each call's arguments sent to one then the
    other, so both answer under the same load: on a machine shared with other work, runs one after the other
    differ by more than the code does."""
    caller: Caller = via_call if face == "mcp_call" else via_mcp
    await asyncio.sleep(5)  # let each cache warmer finish its start-up pass
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    found: dict[str, dict[str, dict[str, float]]] = {}
    async with (
        httpx.AsyncClient(base_url=bases[0], headers=headers, timeout=60) as this,
        httpx.AsyncClient(base_url=bases[1], headers=headers, timeout=60) as other,
    ):
        for client in (this, other):
            await caller(client, "history.coverage", {"days": 7})  # warm the connection pools
        for name, (tool, arguments, limit_max) in STORY_CALLS.items():
            args_for = varied(arguments, limit_max) if limit_max > 1 else other_track
            samples: dict[str, list[float]] = {"this": [], "other": []}
            for index in range(n):
                order = (("this", this), ("other", other)) if index % 2 == 0 else (("other", other), ("this", this))
                for side, client in order:
                    started = time.perf_counter()
                    await caller(client, tool, args_for(index))
                    samples[side].append((time.perf_counter() - started) * 1000)
            found[name] = {
                side: {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1)}
                for side, values in samples.items()
            }
            found[name]["ratio_p50"] = {
                "other_over_this": round(found[name]["other"]["p50_ms"] / found[name]["this"]["p50_ms"], 2)
            }
    return found


def compare_with(url: str, other_root: Path, workers: int) -> dict[str, Any]:
    """The story tools, cold, on this checkout and on `other_root` (e.g. main), interleaved, on both faces."""
    report: dict[str, Any] = {}
    for face in ("mcp_call", "mcp_tools_call"):
        ports = (free_port(), free_port())
        processes = [start_api(url, ports[0], workers), start_api(url, ports[1], workers, other_root)]
        try:
            bases = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
            report[face] = asyncio.run(story_pairs(bases, face))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default=os.environ.get("TEST_DATABASE_URL"), required=False)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the API")
    parser.add_argument("--dbt", action="store_true", help="build the marts with the real transform from raw rows")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", default=None, help="name of a database kept by an earlier run (--keep)")
    parser.add_argument("--stories", action="store_true", help="measure only the story tools (cold), both faces")
    parser.add_argument("--user", default=None, help="with --reuse: the user whose data every call reads (user_id)")
    parser.add_argument("--artist", default=None, help="the artist the story calls ask about (default Artist 7)")
    parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds the API may take to start")
    parser.add_argument(
        "--every-tool", action="store_true", help="also the other history tools, all time, cold (EVERY_TOOL_CALLS)"
    )
    parser.add_argument("--track-prefix", default=None, help="track names are this + a number (default 'Song ')")
    parser.add_argument(
        "--compare-with",
        type=Path,
        default=None,
        help="another checkout (e.g. of main): its API and this one's answer the story calls interleaved",
    )
    args = parser.parse_args()
    if not args.server_url:
        parser.error("--server-url (or TEST_DATABASE_URL) is required")
    global START_TIMEOUT_SECONDS
    START_TIMEOUT_SECONDS = args.start_timeout
    if args.user is not None:
        EXTRA_ARGS["user_id"] = args.user
    use_names(args.artist, args.track_prefix)
    name = args.reuse or f"spmcp_bench_{secrets.token_hex(4)}"
    if args.reuse is None:
        admin_execute(args.server_url, f'CREATE DATABASE "{name}"')
    url = with_database(args.server_url, name)
    process: subprocess.Popen[bytes] | None = None
    try:
        if args.reuse is None and args.dbt:
            prepare_with_dbt(url, args.plays, args.timezone)
        elif args.reuse is None:
            prepare(url, args.plays, args.timezone)
        if args.compare_with is not None:
            print(
                json.dumps(
                    {
                        "this": str(ROOT),
                        "other": str(args.compare_with),
                        **compare_with(url, args.compare_with, args.workers),
                    },
                    indent=2,
                )
            )
            return 0
        report: dict[str, Any] = {}
        for face in ("mcp_call", "mcp_tools_call"):
            port = free_port()
            process = start_api(url, port, args.workers)
            base = f"http://127.0.0.1:{port}"
            report[face] = asyncio.run(measure_face(base, face, args.seconds, stories_only=args.stories))
            if args.every_tool:
                report[face]["every_tool_cold"] = asyncio.run(every_tool_latency(base, face))
            process.terminate()
            process.wait(timeout=10)
            process = None
        report["conditions"] = {
            "plays": args.plays,
            "cpus": os.cpu_count(),
            "data": "raw rows + the real transform (dbt, clusters)"
            if args.dbt
            else "marts-shaped tables loaded directly (tests/fixtures), aggregates derived by SQL",
            "api": f"{args.workers} uvicorn worker(s), separate process, fresh per face; admin token auth",
            "cold": "each call has arguments not asked before: the result cache misses and the marts are queried",
            "warm": "the same call repeated: answered from the per-process result cache (marts unchanged)",
        }
        print(json.dumps(report, indent=2))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        if not args.keep and args.reuse is None:
            admin_execute(args.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
