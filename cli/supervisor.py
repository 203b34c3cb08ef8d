"""Run the services of `spotify-mcp up` as child processes and stop them together.

Each service is the same `spotify-mcp <service>` command its container runs (docker-compose.yml), so the
local path and the production path share entrypoints. Children inherit one environment that points them
at the same database and secrets. Their output is merged into one stream, one line per event, prefixed
with the service (like `docker compose up`); JSON log lines are shown as `time service level message`.

One readable stream means leaving out what tells a person nothing: the servers' start/stop chatter (each
service's start is announced once `up` has checked it answers), blank lines, and Python's resource-tracker
warning after a killed child (the kill itself is reported in our words). `--json-logs` shows everything raw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TextIO


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]


_SHOWN_CONTEXT = ("user_id", "job_run_id", "import_job_id", "tool_name")

# Info-level lines of uvicorn, the MCP session manager and Streamlit that only narrate starting and stopping.
_CHATTER = re.compile(
    r"^(Started server process|Finished server process|Waiting for application (startup|shutdown)|"
    r"Application (startup|shutdown) complete|Uvicorn running on |Shutting down$|"
    r"StreamableHTTP session manager (started|shutting down)|Stopping\.\.\.$|"
    r"You can now view your Streamlit app in your browser\.$|\d{4}-\d\d-\d\d [\d:.]+ Uvicorn server started on )"
)
# Printed by multiprocessing's resource tracker when a process that used dbt (its locks are named semaphores)
# ends without cleaning up; the tracker then removes them itself, so it is noise for a person.
_TRACKER = re.compile(r"resource_tracker: There appear to be \d+ leaked \w+ objects|^\s*warnings\.warn\($")


def is_noise(line: str, level: str = "info") -> bool:
    """A line a person need not see (never a warning or an error of ours)."""
    text = line.strip()
    if not text:
        return True
    if _TRACKER.search(text):
        return True
    return level in {"info", "debug"} and _CHATTER.search(text) is not None


def readable(service: str, line: str) -> str | None:
    """One output line of a child, as a person wants to read it; None for a line not worth showing."""
    line = line.rstrip("\n")
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "message" not in event:
        return None if is_noise(line) else f"{service:<10} | {line.strip()}"
    if is_noise(str(event["message"]), str(event.get("level", "info"))):
        return None
    clock = str(event.get("timestamp", ""))[11:19]
    context = " ".join(f"{key}={event[key]}" for key in _SHOWN_CONTEXT if key in event)
    text = f"{clock} {service:<10} {event.get('level', '')!s:<7} {event['message']}"
    return f"{text}  ({context})" if context else text


class Supervisor:
    def __init__(
        self,
        services: Sequence[ServiceSpec],
        env: Mapping[str, str],
        *,
        raw_logs: bool = False,
        out: TextIO = sys.stdout,
    ) -> None:
        self.services = list(services)
        self.env = dict(env)
        self.raw_logs = raw_logs
        self.out = out
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self._pumps: list[threading.Thread] = []
        self._write_lock = threading.Lock()

    def start(self) -> None:
        for service in self.services:
            command = [sys.executable, "-m", "cli.main", *service.argv]
            process = subprocess.Popen(
                command,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            self.processes[service.name] = process
            assert process.stdout is not None
            pump = threading.Thread(target=self._pump, args=(service.name, process.stdout), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            shown = f"{name:<10} | {line.rstrip()}" if self.raw_logs else readable(name, line)
            if shown is not None:
                self.say(shown)

    def say(self, text: str) -> None:
        """A line of our own, in the same stream as the services' lines."""
        with self._write_lock:
            print(text, file=self.out, flush=True)

    def running(self) -> bool:
        return all(process.poll() is None for process in self.processes.values())

    def wait(self) -> int:
        """Block until one child exits (then stop the rest) or SIGINT/SIGTERM arrives."""
        stop_requested = False

        def _request_stop(signum: int, frame: object) -> None:
            nonlocal stop_requested
            del signum, frame
            stop_requested = True

        previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop_requested:
                for name, process in self.processes.items():
                    code = process.poll()
                    if code is not None:
                        self.say(
                            f"spotify-mcp: {name} stopped unexpectedly (exit code {code}); its last lines are above. "
                            "Stopping the others."
                        )
                        return code or 1
                time.sleep(0.2)
            return 0
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every child (each finishes or rolls back its unit of work), SIGKILL after `timeout` — or at
        once on a second Ctrl-C."""
        hurry = threading.Event()

        def _hurry(signum: int, frame: object) -> None:
            del signum, frame
            hurry.set()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _hurry)
        alive = [name for name, process in self.processes.items() if process.poll() is None]
        if alive:
            self.say(f"stopping {', '.join(alive)}… (Ctrl-C again to stop at once)")
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        told = False
        for name, process in self.processes.items():
            while process.poll() is None and time.monotonic() < deadline and not hurry.is_set():
                if not told and time.monotonic() > deadline - timeout + 3:
                    self.say(f"waiting for {name} to finish the work in hand (up to {timeout:.0f}s)…")
                    told = True
                hurry.wait(0.1)
            if process.poll() is None:
                why = "on request" if hurry.is_set() else f"after {timeout:.0f}s"
                self.say(f"spotify-mcp: {name} did not stop; killed it {why} (unfinished work is retried next time)")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pump in self._pumps:
            pump.join(timeout=2)
