"""Running dbt in-process against one database, safely next to other processes.

- The profile is generated per invocation from the database URL into a private temporary directory (mode
  0700, the file 0600) and removed afterwards: no credentials are committed or left behind.
- `target/` and `logs/` are that temporary directory too, so two processes (or a test and a CLI run) never
  write the same files. Only `partial_parse.msgpack` is shared, through a per-database cache copied in before
  and atomically replaced after a run: dbt validates it against the project files, vars and profile, so a
  stale copy only costs a full parse.
- dbt keeps process-global state, so invocations in one process are serialised by a lock.
- JIT is switched off for dbt's sessions (PGOPTIONS): compiling costs seconds per big-looking query.
- The parsed manifest is kept in the process (`_ManifestCache`) and handed to the next invocation with the same
  database, vars and project files (`dbtRunner(manifest=…)`): loading and checking the partial-parse file took
  2–5 s per invocation, paid twice per transform (the build and the cluster marts). A long-lived process
  (`python -m transform --serve`, transform.worker) keeps it across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt.contracts.graph.manifest import Manifest

from core.dburl import connection_fields

PROJECT_DIR = Path(__file__).resolve().parent / "dbt"
PROFILE_NAME = "spotify_mcp"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"

GLOBAL_FLAGS: Final = ("--no-use-colors", "--log-level", "warn", "--log-level-file", "info")

_dbt_lock = threading.Lock()


class DbtError(RuntimeError):
    """A dbt invocation failed (compile error, model error or failing test). `run`: what dbt reported per node."""

    def __init__(self, message: str, run: DbtRun | None = None) -> None:
        super().__init__(message)
        self.run = run


@dataclass(frozen=True, slots=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    seconds: float
    rows_affected: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class DbtRun:
    command: str
    success: bool
    seconds: float
    nodes: tuple[NodeResult, ...] = field(default_factory=tuple)
    # Before the first node started: start-up, parsing (unless the manifest was reused), the graph; None if no node.
    setup_seconds: float | None = None
    manifest_reused: bool = False

    def failures(self) -> list[NodeResult]:
        return [node for node in self.nodes if node.status in {"error", "fail", "runtime error"}]


def project_hash() -> str:
    """A hash of the dbt project's files (models, macros, tests, dbt_project.yml): the same hash, the same parse."""
    digest = hashlib.sha256()
    for path in sorted(PROJECT_DIR.rglob("*")):
        relative = path.relative_to(PROJECT_DIR)
        if path.is_file() and relative.parts[0] in {"models", "macros", "tests", "dbt_project.yml"}:
            digest.update(str(relative).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class _ManifestCache:
    """Parsed manifests of this process, by database, vars and project files. Vars are part of the key: some are
    rendered at parse time (tests' `where`). A few entries at most (routine, full refresh, an isolation retry).

    The manifest itself is handed on, not a copy: dbt renders every node it runs again from its raw code (the
    project has no ephemeral models, whose compiled form dbt would keep), and a copy through pickle loses the
    manifest's lookups."""

    LIMIT: Final = 4

    def __init__(self) -> None:
        self._manifests: dict[str, Manifest] = {}

    @staticmethod
    def key(database_url: str, variables: Mapping[str, object] | None) -> str:
        return f"{_cache_dir(database_url, variables).name}|{project_hash()}"

    def get(self, key: str) -> Manifest | None:
        return self._manifests.get(key)

    def put(self, key: str, manifest: Manifest) -> None:
        if key not in self._manifests and len(self._manifests) >= self.LIMIT:
            self._manifests.pop(next(iter(self._manifests)))
        self._manifests[key] = manifest


_manifest_cache = _ManifestCache()


def profile_yaml(database_url: str, *, threads: int = 2, schema: str = "marts") -> str:
    """A dbt profile for the database (JSON is valid YAML; no templating of secrets)."""
    fields = connection_fields(database_url)
    profile = {
        PROFILE_NAME: {
            "target": "default",
            "outputs": {
                "default": {
                    "type": "postgres",
                    "host": fields.host,
                    "port": fields.port,
                    "user": fields.user,
                    "password": fields.password,
                    "dbname": fields.dbname,
                    "schema": schema,
                    "threads": threads,
                    "connect_timeout": 10,
                    "keepalives_idle": 0,
                }
            },
        }
    }
    return json.dumps(profile, indent=2)


def _cache_dir(database_url: str, variables: Mapping[str, object] | None) -> Path:
    """One partial-parse cache per database and set of vars. Per database on purpose: the parsed manifest names
    relations with the database, so a file parsed for another database must never be reused."""
    fields = connection_fields(database_url)
    identity = f"{fields.host}:{fields.port}/{fields.dbname}|{json.dumps(dict(variables or {}), sort_keys=True)}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"spotify-mcp-dbt-{os.getuid()}" / key


@contextmanager
def _workspace(database_url: str, variables: Mapping[str, object] | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="spotify-mcp-dbt-") as raw:
        work = Path(raw)
        os.chmod(work, 0o700)
        profile = work / "profiles.yml"
        profile.touch(mode=0o600)
        profile.write_text(profile_yaml(database_url))
        (work / "target").mkdir()
        (work / "logs").mkdir()
        cached = _cache_dir(database_url, variables) / PARTIAL_PARSE_FILE
        if cached.exists():
            shutil.copyfile(cached, work / "target" / PARTIAL_PARSE_FILE)
        yield work
        produced = work / "target" / PARTIAL_PARSE_FILE
        if produced.exists():
            cache = _cache_dir(database_url, variables)
            cache.mkdir(parents=True, exist_ok=True, mode=0o700)
            staging = cache / f".{PARTIAL_PARSE_FILE}.{os.getpid()}.{threading.get_ident()}"
            shutil.copyfile(produced, staging)
            os.replace(staging, cache / PARTIAL_PARSE_FILE)


@contextmanager
def _session_options(options: str) -> Iterator[None]:
    """PGOPTIONS for dbt's connections. JIT off: its compile time (seconds) dwarfs the gain on these queries,
    whose estimates are large but which read few rows in incremental runs."""
    previous = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"{previous} {options}" if previous else options
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = previous


def _node_results(result: dbtRunnerResult) -> tuple[NodeResult, ...]:
    raw = result.result
    items = getattr(raw, "results", None)
    if not items:
        return ()
    nodes: list[NodeResult] = []
    for item in items:
        node = item.node
        response = getattr(item, "adapter_response", None) or {}
        rows = response.get("rows_affected") if isinstance(response, Mapping) else None
        nodes.append(
            NodeResult(
                unique_id=str(node.unique_id),
                resource_type=str(node.resource_type),
                status=str(item.status),
                seconds=float(item.execution_time or 0.0),
                rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
                message=str(item.message) if item.message is not None else None,
            )
        )
    return tuple(nodes)


class _FirstNode:
    """A dbt event callback noting when the first node started (what came before is dbt's set-up)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, message: Any) -> None:
        if self.at is None and message.info.name in {"NodeStart", "LogStartLine"}:
            self.at = time.perf_counter()


def invoke(
    database_url: str,
    command: Sequence[str],
    *,
    variables: Mapping[str, object] | None = None,
    target_dir: Path | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> DbtRun:
    """Run one dbt command (e.g. `["build", "--select", "..."]`) in-process; raise DbtError on failure.

    `target_dir`, when given, receives a copy of the run's target/ (docs, manifest) before the workspace is
    removed. `callbacks` receive every dbt event (transform.progress turns them into progress)."""

    with _dbt_lock, _workspace(database_url, variables) as work:
        common = [
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(work),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ]
        if variables:
            common += ["--vars", json.dumps(dict(variables))]
        started = time.perf_counter()
        first_node = _FirstNode()
        # Builds only: other commands (docs generate) want the files a parse writes into target/.
        cached = command[0] == "build"
        key = _ManifestCache.key(database_url, variables)
        manifest = _manifest_cache.get(key) if cached else None
        reused = manifest is not None
        with _session_options("-c jit=off"):
            parsed: dbtRunnerResult | None = None
            if manifest is None and cached:
                parsed = dbtRunner().invoke([*GLOBAL_FLAGS, "parse", *common])
                if parsed.success and isinstance(parsed.result, Manifest):
                    manifest = parsed.result
                    _manifest_cache.put(key, manifest)
            if parsed is not None and manifest is None:
                # The parse failed (a project error, or interrupted by a signal dbt turned into a failure): that
                # is the command's failure, not a reason to build anyway.
                result = parsed
            else:
                runner = dbtRunner(manifest=manifest, callbacks=[first_node, *callbacks])
                result = runner.invoke([*GLOBAL_FLAGS, *command, *common])
        seconds = time.perf_counter() - started
        if target_dir is not None:
            shutil.copytree(work / "target", target_dir, dirs_exist_ok=True)
        run = DbtRun(
            command=" ".join(command),
            success=result.success,
            seconds=seconds,
            nodes=_node_results(result),
            setup_seconds=None if first_node.at is None else first_node.at - started,
            manifest_reused=reused,
        )
        if not result.success:
            failures = run.failures()
            if failures:
                detail = "; ".join(f"{node.unique_id}: {node.status}: {node.message}" for node in failures[:5])
            elif result.exception is not None:
                detail = f"{type(result.exception).__name__}: {result.exception}"
            else:
                detail = "unknown failure"
            raise DbtError(f"dbt {run.command} failed: {detail}", run)
        return run
