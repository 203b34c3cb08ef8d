"""A long-lived transform process for the collector (issue 22: a routine run in ≤ 3 s after a poll).

`python -m transform` per run paid, before any model ran, the interpreter's start, importing dbt and the cluster
code, and loading dbt's parsed project (seconds each on this machine, more under load). `TransformWorker` keeps one
child, `python -m transform --serve FD`, for the collector's life: it imports everything once, and dbt's manifest
stays parsed in it between runs (transform.dbt_invoke). It is still a child process, for the reasons in
transform.process (the GIL, stopping a run with a signal), and runs one transform at a time.

Protocol: the parent writes one JSON request per line on the child's stdin (`{"full_refresh": …, "wait_seconds": …}`);
the child answers each with the run's status (transform.process.ProcessStatus) on a line of the pipe `FD` (not
stdout: that is where the logs and dbt's messages go). The child ends when stdin closes (exit 0), and after an
interrupted run (a SIGTERM: exit 130, the run recorded `interrupted`); a child that died is started again by the
next run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Final, cast

from transform.process import (
    EXIT_CODES,
    STATUS_OF_EXIT,
    STOP_GRACE_SECONDS,
    ProcessStatus,
    terminated_on_stop,
)

SERVE_FLAG: Final = "--serve"


def serve(database_url: str, results_fd: int, stop: threading.Event) -> int:
    """The child's loop: run a transform per request on stdin, answer its status on `results_fd`."""
    from transform.runner import run_transform  # once: dbt stays imported, its manifest cached between runs

    with os.fdopen(results_fd, "w", buffering=1) as results:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            outcome = run_transform(
                database_url,
                full_refresh=bool(request.get("full_refresh", False)),
                wait_seconds=float(request.get("wait_seconds", 0.0)),
                stop=stop,
            )
            results.write(f"{outcome.status}\n")
            if outcome.status == "interrupted":
                return EXIT_CODES["interrupted"]
    return 0


class TransformWorker:
    """The parent's side: `await worker.run()` runs a transform in the long-lived child (started on first use and
    again after it ended); `await worker.close()` ends it."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._process: asyncio.subprocess.Process | None = None
        self._results: asyncio.StreamReader | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def _start(self) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader]:
        read_end, write_end = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "transform",
                SERVE_FLAG,
                str(write_end),
                env={**os.environ, "DATABASE_URL": self.database_url},
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(write_end,),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the child holds it now: the pipe ends (EOF here) when the child does
        results = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(results), os.fdopen(read_end, "rb", 0))
        self._process, self._results = process, results
        return process, results

    async def _alive(self) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader]:
        if self._process is not None and self._results is not None and self._process.returncode is None:
            return self._process, self._results
        return await self._start()

    async def run(
        self, *, full_refresh: bool = False, wait_seconds: float = 0.0, stop: asyncio.Event | None = None
    ) -> ProcessStatus:
        """One transform in the child. When `stop` is set or the caller is cancelled, the child gets SIGTERM (its
        run ends `interrupted`) and is killed if it has not ended after STOP_GRACE_SECONDS."""
        async with self._lock:
            process, results = await self._alive()
            assert process.stdin is not None
            request = json.dumps({"full_refresh": full_refresh, "wait_seconds": wait_seconds}) + "\n"
            try:
                process.stdin.write(request.encode())
                await process.stdin.drain()
            except ConnectionError:  # it ended since the last run: start another
                process, results = await self._start()
                assert process.stdin is not None
                process.stdin.write(request.encode())
                await process.stdin.drain()
            async with terminated_on_stop(process, stop):
                line = await results.readline()
            status = line.decode().strip()
            if not line or status == "interrupted":  # it ended (killed, failed to start) or ends now
                code = await process.wait()
                if not line and stop is not None and stop.is_set():
                    # Killed after the grace period: stopped all the same (a run it left `running` is marked
                    # abandoned by the next one).
                    return "interrupted"
                return cast(ProcessStatus, status) if status else STATUS_OF_EXIT.get(code, "error")
            return cast(ProcessStatus, status) if status in EXIT_CODES else "error"

    async def close(self) -> None:
        """End the child: stdin closes, it finishes its loop (killed if it has not after STOP_GRACE_SECONDS)."""
        process, self._process, self._results = self._process, None, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
