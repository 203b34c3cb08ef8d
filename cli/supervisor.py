"""Run the services of `spotify-mcp up` as child processes and stop them together.

Each service is the same `spotify-mcp <service>` command its container runs (docker-compose.yml), so the
local path and the production path share entrypoints. Children inherit one environment that points them
at the same database and secrets. Their output is merged into one stream, one line per event, prefixed
with the service (like `docker compose up`); JSON log lines are shown as `time service level message`.
"""

from __future__ import annotations

import json
import os
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


def readable(service: str, line: str) -> str:
    """One output line of a child, as a person wants to read it."""
    line = line.rstrip("\n")
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or "message" not in event:
        return f"{service:<10} | {line}"
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
            with self._write_lock:
                print(shown, file=self.out, flush=True)

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
                        print(f"spotify-mcp: {name} exited with code {code}; stopping the others", file=sys.stderr)
                        return code or 1
                time.sleep(0.2)
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every child (each finishes or rolls back its unit of work), SIGKILL after `timeout`."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(remaining)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pump in self._pumps:
            pump.join(timeout=2)
