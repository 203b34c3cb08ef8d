"""Run the services of `spotify-mcp up` as child processes and stop them together.

Each service is the same `spotify-mcp <service>` command its container runs (docker-compose.yml), so
the local path and the production path share entrypoints. Children inherit one environment that
points them at the same database and secrets; their JSON logs share this process's stdout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]


class Supervisor:
    def __init__(self, services: Sequence[ServiceSpec], env: Mapping[str, str]) -> None:
        self.services = list(services)
        self.env = dict(env)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for service in self.services:
            command = [sys.executable, "-m", "cli.main", *service.argv]
            self.processes[service.name] = subprocess.Popen(command, env=self.env, start_new_session=True)

    def wait(self) -> int:
        """Block until one child exits (then stop the rest) or a signal arrives."""
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
