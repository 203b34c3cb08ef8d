"""The transform as a process of its own, how it is stopped, and what is left when it is killed.

`python -m transform [--full-refresh] [--wait SECONDS]` runs `transform.runner.run_transform` once, on the database
in `DATABASE_URL` (the environment, never argv: argv is visible to every user in `ps`). The API starts it this way
when an admin asks for a transform, and the collector after a cycle that landed rows (`run_in_process`): dbt and
the cluster step hold the GIL for seconds at a time and take seconds to import, so run inside a server they stall
its event loop; a child process has an interpreter of its own. This module imports neither (they are imported by
the child), so a server can use it without paying for them.

Stopping: SIGTERM or SIGINT ends a run with its job run `interrupted` (`interrupt_on_signals`). A process killed
outright (SIGKILL, OOM, power loss) leaves its row `running`: the next transform, which holds the transform lock
and so knows no other is running, marks every such row `abandoned`; `abandon_orphaned_runs()` does the same at a
service's start when no transform holds the lock.

The collector keeps one such process for its life instead (`--serve FD`, transform.worker): dbt stays imported
and its project parsed between runs.

Exit codes of the child: 0 success, 1 failed, 3 skipped (another process held the lock past `--wait`),
4 partial (built without the users whose data fails the build; transform.isolation), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any, Final, Literal

import psycopg

from core.dburl import libpq_url
from core.log import configure_logging

logger = logging.getLogger("transform")

# pg_advisory_lock key: the first 8 bytes of sha256("spotify-mcp transform"), as a signed bigint.
ADVISORY_LOCK_KEY: Final = 0x5F3A_91C2_6D08_4B17

type ProcessStatus = Literal["success", "partial", "error", "skipped", "interrupted"]
EXIT_CODES: Final[dict[ProcessStatus, int]] = {
    "success": 0,
    "error": 1,
    "skipped": 3,
    "partial": 4,
    "interrupted": 130,
}
STATUS_OF_EXIT: Final = {code: status for status, code in EXIT_CODES.items()}
# How long a stopping parent waits for an interrupted child to record its run before killing it.
STOP_GRACE_SECONDS: Final = 15.0

_ABANDON: Final = (
    "update app.job_runs set status = 'abandoned', finished_at = now(), error_message = "
    "'the process running this transform stopped without finishing it (killed?); the next transform redoes its work' "
    "where job_type = 'transform' and status = 'running'"
)


def mark_abandoned(connection: psycopg.Connection[Any]) -> int:
    """Mark transform runs still `running` as `abandoned`. Only call it holding the transform lock: then none of
    them can still be running."""
    count = connection.execute(_ABANDON).rowcount
    if count:
        logger.warning("marked %s transform run(s) left running by a stopped process as abandoned", count)
    return count


def abandon_orphaned_runs(database_url: str) -> int:
    """At a service's start: when no transform holds the lock, mark leftover `running` transform runs abandoned."""
    with psycopg.connect(libpq_url(database_url), autocommit=True, application_name="transform") as connection:
        row = connection.execute("select pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
        if row is None or not row[0]:
            return 0  # a transform is running somewhere: its row is not orphaned
        try:
            return mark_abandoned(connection)
        finally:
            connection.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT while inside: the returned event is set and KeyboardInterrupt is raised in the main thread
    (dbt cancels its queries on it; the runner then records the run as `interrupted`). Later signals only set the
    event, so the row is written before the process ends. Main thread only; the old handlers come back after."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        del frame
        if stop.is_set():
            return
        stop.set()
        logger.warning("transform interrupted by %s", signal.Signals(signum).name)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, _handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def command(*, full_refresh: bool = False, wait_seconds: float = 0.0) -> list[str]:
    argv = [sys.executable, "-m", "transform", "--wait", str(wait_seconds)]
    return [*argv, "--full-refresh"] if full_refresh else argv


async def run_in_process(
    database_url: str,
    *,
    full_refresh: bool = False,
    wait_seconds: float = 0.0,
    stop: asyncio.Event | None = None,
) -> ProcessStatus:
    """Run the transform in a child process and wait for it. When `stop` is set or the caller is cancelled, the
    child gets SIGTERM (its run ends `interrupted`) and is killed if it has not ended after STOP_GRACE_SECONDS."""
    process = await asyncio.create_subprocess_exec(
        *command(full_refresh=full_refresh, wait_seconds=wait_seconds),
        env={**os.environ, "DATABASE_URL": database_url},
        stdin=asyncio.subprocess.DEVNULL,
    )
    async with terminated_on_stop(process, stop):
        code = await process.wait()
    return STATUS_OF_EXIT.get(code, "error")


@contextlib.asynccontextmanager
async def terminated_on_stop(process: asyncio.subprocess.Process, stop: asyncio.Event | None) -> AsyncIterator[None]:
    """While the caller awaits the child inside: when `stop` is set, or the caller is cancelled, the child gets
    SIGTERM (`terminate`). The cancellation is raised on once the child has ended."""
    stopper = asyncio.create_task(_terminate_when(stop, process)) if stop is not None else None
    try:
        yield
    except asyncio.CancelledError:
        await terminate(process)
        raise
    finally:
        if stopper is not None:
            stopper.cancel()


async def _terminate_when(stop: asyncio.Event, process: asyncio.subprocess.Process) -> None:
    await stop.wait()
    await terminate(process)


async def terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transform",
        description="Run the transform once on the database in DATABASE_URL (what the API and collector start).",
    )
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every model from the raw tables")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a transform holding the lock")
    parser.add_argument(
        "--serve", type=int, metavar="FD", help="stay and run a transform per request on stdin (transform.worker)"
    )
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print(
            "python -m transform: DATABASE_URL is not set; set it to the PostgreSQL URL to transform", file=sys.stderr
        )
        return 2
    sink = configure_logging("transform", level=os.environ.get("LOG_LEVEL", "INFO"), database_url=database_url)
    try:
        with interrupt_on_signals() as stop:
            if args.serve is not None:
                from transform.worker import serve

                return serve(database_url, args.serve, stop)
            from transform.runner import run_transform

            outcome = run_transform(database_url, full_refresh=args.full_refresh, wait_seconds=args.wait, stop=stop)
    except KeyboardInterrupt:
        return EXIT_CODES["interrupted"]
    finally:
        if sink is not None:
            sink.close()
    return EXIT_CODES[outcome.status]
