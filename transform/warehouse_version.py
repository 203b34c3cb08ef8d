"""Whether the stored warehouse is still valid for this code, or must be rebuilt from scratch by a full refresh.

Incremental models (int_plays_deduplicated, the story marts, …) keep their rows from run to run, and those rows are
only right for the model code and the rule vars that wrote them. After an upgrade that changes an incremental
model's columns or logic, or an edit of a rule var (min_play_ms, a tolerance), every routine run would build on
rows of the old kind (or fail: on_schema_change='fail'). So every transform job records, in its stats
(`warehouse`), what it built with:

- `version`: the dbt var `warehouse_version` (transform/dbt/dbt_project.yml), bumped with a change that needs
  the stored rows rebuilt;
- `rules`: the values of the rule vars, i.e. every var of dbt_project.yml but OPERATIONAL_VARS, so that editing
  one needs no bump (and a new var counts as a rule unless it is listed there).

`rebuild_reason` compares them with the last successful or partial run's: when they differ, the runner makes the
run a full refresh by itself and says why. A forgotten bump is caught too: a routine build that fails on a stored
table of the old shape (transform.isolation.structural_failure), or for any reason that is no user's data, is
followed by one full refresh (`rebuild_after_failure`), which blames nobody.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
import yaml  # PyYAML: a dependency of dbt-core

from transform.dbt_invoke import PROJECT_DIR, DbtError, DbtRun

logger = logging.getLogger("transform")

VERSION_VAR: Final = "warehouse_version"
# Vars that change how a run goes (which tests look at which rows, when a user is recomputed whole), not what it
# stores: changing them needs no rebuild.
OPERATIONAL_VARS: Final = frozenset({VERSION_VAR, "test_rows_filter", "dedupe_full_user_threshold"})
# The version of a warehouse built before versions were recorded (transform jobs without `warehouse` in stats).
UNRECORDED_VERSION: Final = 1
STATS_KEY: Final = "warehouse"


@dataclass(frozen=True, slots=True)
class WarehouseVersion:
    version: int
    rules: dict[str, Any] | None = field(default=None)  # None: not recorded (a run from before versions)

    def as_stats(self) -> dict[str, Any]:
        return {"version": self.version, "rules": self.rules}

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> WarehouseVersion:
        recorded = stats.get(STATS_KEY)
        if not isinstance(recorded, dict):
            return cls(UNRECORDED_VERSION)
        rules = recorded.get("rules")
        return cls(int(recorded.get("version", UNRECORDED_VERSION)), rules if isinstance(rules, dict) else None)


def current() -> WarehouseVersion:
    """What this code builds: the version and the rule vars of dbt_project.yml. ValueError when it cannot say."""
    try:
        variables: dict[str, Any] = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text()).get("vars") or {}
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise ValueError(f"transform/dbt/dbt_project.yml cannot be read: {error}") from error
    version = variables.get(VERSION_VAR)
    if not isinstance(version, int):
        raise ValueError(f"transform/dbt/dbt_project.yml: var {VERSION_VAR} must be an integer, not {version!r}")
    return WarehouseVersion(version, {name: value for name, value in variables.items() if name not in OPERATIONAL_VARS})


def rebuild_reason(previous: WarehouseVersion | None, now: WarehouseVersion) -> str | None:
    """Why the stored warehouse must be rebuilt from scratch, or None. `previous`: what the last successful or
    partial run built with (None when there was none: a first build is not an upgrade)."""
    if previous is None:
        return None
    reasons: list[str] = []
    if previous.version != now.version:
        reasons.append(f"warehouse version {previous.version} → {now.version}")
    if previous.rules is not None and now.rules is not None:
        before, after = previous.rules, now.rules
        changed = sorted(
            name for name in before.keys() | after.keys() if before.get(name, _NONE) != after.get(name, _NONE)
        )
        if changed:
            described = ", ".join(
                f"{name} ({before.get(name, 'unset')} → {after.get(name, 'unset')})" for name in changed
            )
            reasons.append(f"rule vars changed: {described}")
    return "; ".join(reasons) or None


_NONE: Final = object()  # a var one side does not have


def failure_reason(what_failed: str) -> str:
    """The full_refresh_reason of the rebuild after a routine build that failed for no user's data."""
    return f"the routine build failed, not because of a user's data ({what_failed})"


def rebuild_after_failure(
    connection: psycopg.Connection[Any],
    reason: str,
    full_build: Callable[[], DbtRun],
    *,
    current_job: int,
    stop: threading.Event | None = None,
) -> DbtRun:
    """The one full refresh after a routine build that failed for no user's data. When it fails too, a DbtError
    says both (nobody is left out for it). Not repeated run after run: when the run before this one already ended
    so, after the same failure, the error says so at once (a changed failure, e.g. once its cause is fixed, is
    tried again; a routine build that passes needs none)."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt
    before = connection.execute(
        "select id, status, stats ->> 'full_refresh_reason' from app.job_runs where job_type = 'transform' "
        "and id < %s order by id desc limit 1",
        (current_job,),
    ).fetchone()
    advice = "fix what it names, then run `spotify-mcp transform --full-refresh`"
    if before is not None and before[1] == "error" and before[2] == reason:
        raise DbtError(
            f"{reason}; the full refresh after the same failure in job run #{before[0]} failed, so it is not tried "
            f"again on every run. No user's data is to blame and nobody was left out: {advice}"
        )
    logger.warning("transform: rebuilding the warehouse from scratch, as %s", reason)
    try:
        return full_build()
    except DbtError as error:
        raise DbtError(
            f"{reason}, and the full refresh that followed failed too, so no user's data is to blame and nobody was "
            f"left out; {advice}. {error}",
            error.run,
        ) from error
