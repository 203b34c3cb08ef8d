"""One user's data never stops the warehouse for the others (issue 15 item 3).

The listen contract in dbt (macros/user_isolation.sql) keeps the broken rows we know of out of every model. This
module handles the ones nobody foresaw: when a build fails, the runner asks `isolate` to find the users whose
data fails it, and builds everyone else.

- Suspects come in tiers, cheapest first: the users whose data changed since their quarantine and are being
  built again; then users with raw listens or a user row changed since the last transform that ended; then
  everyone with listens. For each tier, what the failed build wrote of the suspects goes, and everyone else is
  built without them (dbt var `excluded_users`). When that passes, the failure is theirs: each suspect is built
  again alone, from scratch (`rebuild_users`), and those whose build fails are the culprits (a failure that
  came and went blames nobody). When even everyone-but-all-suspects fails, the failure is not a user's: it is
  raised, and the warehouse stays as the last good build made it (the users whose rows the failed build
  replaced are built again by the next run).
- A culprit is quarantined: their warehouse rows are emptied (tools answer "no data" for them, never a 500 on a
  bad row), the run ends `partial`, and its stats name them with the failing model or test and dbt's message
  (`stats.quarantine`; the job's error message says it in words for the Jobs page and the ops tools).
- The next runs keep them out while their data is as it was (a fingerprint of their raw rows and user row), and
  build them again, whole, once it changed: at once when their user row changed (a new time zone), else (a
  bad row deleted, a new import, new polled plays) at most once per RETRY_AFTER, so that a user who keeps
  listening with one broken old row does not cost every collector cycle three builds; and on a full refresh.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

from transform.dbt_invoke import DbtError, DbtRun, NodeResult
from transform.warehouse_purge import purge_warehouse, purge_written_since

logger = logging.getLogger("transform")

# Keys of a transform job run's stats that carry the quarantine from one run to the next.
QUARANTINE_KEY: Final = "quarantine"
# Users whose warehouse rows were emptied by a run that ended before it built them again.
PENDING_KEY: Final = "rebuild_pending"
# A quarantined user whose raw listens changed (but not their user row) is tried again at most this often.
RETRY_AFTER: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class QuarantinedUser:
    user_id: str
    display_name: str | None
    node: str  # the model or test that fails with their data
    reason: str  # dbt's message
    since: str  # ISO time of the latest build that failed with their data
    fingerprint: str  # "<user row>:<raw listens>" digests: when it changes, they are built again

    def as_stats(self) -> dict[str, str | None]:
        return {
            "user_id": self.user_id,
            "display_name": self.display_name,
            "node": self.node,
            "reason": self.reason,
            "since": self.since,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_stats(cls, item: dict[str, Any]) -> QuarantinedUser:
        return cls(
            user_id=str(item["user_id"]),
            display_name=item.get("display_name"),
            node=str(item.get("node", "")),
            reason=str(item.get("reason", "")),
            since=str(item.get("since", "")),
            fingerprint=str(item.get("fingerprint", "")),
        )

    def describe(self) -> str:
        name = f"{self.display_name} ({self.user_id})" if self.display_name else self.user_id
        return f"{name}: {self.node}: {self.reason}"


@dataclass(slots=True)
class Plan:
    """Whom the next build leaves out and whom it rebuilds whole, from the runs before."""

    excluded: dict[str, QuarantinedUser] = field(default_factory=dict)
    rebuild: list[str] = field(default_factory=list)


type Build = Callable[[Sequence[str], Sequence[str]], DbtRun]  # (excluded users, rebuilt users) -> the run


def _previous_state(connection: psycopg.Connection[Any]) -> tuple[list[QuarantinedUser], list[str]]:
    row = connection.execute(
        "select stats from app.job_runs where job_type = 'transform' and status <> 'running' "
        "and (stats ? %s or stats ? %s) order by id desc limit 1",
        (QUARANTINE_KEY, PENDING_KEY),
    ).fetchone()
    if row is None:
        return [], []
    stats: dict[str, Any] = row[0] or {}
    quarantined = [QuarantinedUser.from_stats(item) for item in stats.get(QUARANTINE_KEY) or []]
    return quarantined, [str(user_id) for user_id in stats.get(PENDING_KEY) or []]


def fingerprints(connection: psycopg.Connection[Any], user_ids: Iterable[str]) -> dict[str, str]:
    """What a user's data looks like, cheaply: their raw listens of every source (count, latest landing: export
    records, API plays, scrobbles) and their user row. Deleting a bad row, importing (scrobbles too), polling or
    changing the time zone all change it."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = connection.execute(
        """
        select users.id::text, md5(concat_ws('|', users.timezone, users.updated_at)) || ':'
            || md5(concat_ws('|', exports.n, exports.latest, plays.n, plays.latest,
                -- null (left out by concat_ws) without scrobbles: the digests stored before scrobbles counted hold
                nullif(scrobbles.n, 0), scrobbles.latest))
        from app.users
        cross join lateral (select count(*) as n, max(ingested_at) as latest from raw.export_records
            where user_id = users.id) as exports
        cross join lateral (select count(*) as n, max(ingested_at) as latest from raw.api_plays
            where user_id = users.id) as plays
        cross join lateral (select count(*) as n, max(ingested_at) as latest from raw.scrobbles
            where user_id = users.id) as scrobbles
        where users.id = any(%s::uuid[])
        """,
        (ids,),
    ).fetchall()
    return {str(user_id): str(digest) for user_id, digest in rows}


def due_again(entry: QuarantinedUser, current: str, now: datetime) -> bool:
    """Whether a quarantined user is built again now (see the module's docstring)."""
    if current == entry.fingerprint:
        return False
    if current.split(":")[0] != entry.fingerprint.split(":")[0]:
        return True  # their user row changed: perhaps the very fix
    try:
        tried = datetime.fromisoformat(entry.since)
    except ValueError:
        return True
    return now - tried >= RETRY_AFTER


def plan(connection: psycopg.Connection[Any], *, full_refresh: bool, now: datetime | None = None) -> Plan:
    """Left out: users quarantined by the last run who are not due to be tried again (none on a full refresh,
    which tries everyone). Rebuilt whole: quarantined users who are due, and users a run emptied without
    building again."""
    quarantined, pending = _previous_state(connection)
    existing = fingerprints(connection, [entry.user_id for entry in quarantined] + pending)
    result = Plan()
    if full_refresh:
        return result
    moment = now or datetime.now(UTC)
    for entry in quarantined:
        if entry.user_id not in existing:
            continue  # deleted since
        if due_again(entry, existing[entry.user_id], moment):
            result.rebuild.append(entry.user_id)
        else:
            result.excluded[entry.user_id] = entry
    result.rebuild.extend(user_id for user_id in pending if user_id in existing and user_id not in result.rebuild)
    return result


def _users_changed_since(connection: psycopg.Connection[Any], since: datetime | None) -> list[str]:
    if since is None:
        rows = connection.execute(
            "select distinct user_id::text from raw.export_records union select distinct user_id::text "
            "from raw.api_plays union select distinct user_id::text from raw.scrobbles"
        ).fetchall()
    else:
        rows = connection.execute(
            "select distinct user_id::text from raw.export_records where ingested_at >= %(since)s "
            "union select distinct user_id::text from raw.api_plays where ingested_at >= %(since)s "
            "union select distinct user_id::text from raw.scrobbles where ingested_at >= %(since)s "
            "union select id::text from app.users where updated_at >= %(since)s",
            {"since": since},
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def _last_run_start(connection: psycopg.Connection[Any], current_job: int) -> datetime | None:
    row = connection.execute(
        "select started_at from app.job_runs where job_type = 'transform' and status in ('success', 'partial') "
        "and id <> %s order by id desc limit 1",
        (current_job,),
    ).fetchone()
    return row[0] if row else None


def suspect_tiers(
    connection: psycopg.Connection[Any], *, rebuild: Sequence[str], full_refresh: bool, current_job: int
) -> list[list[str]]:
    """Who may have broken the build, cheapest guesses first (see the module's docstring)."""
    since = None if full_refresh else _last_run_start(connection, current_job)
    changed = _users_changed_since(connection, since)
    everyone = _users_changed_since(connection, None) if since is not None else changed
    return [list(rebuild), changed, everyone]


def _names(connection: psycopg.Connection[Any], user_ids: Iterable[str]) -> dict[str, str | None]:
    rows = connection.execute(
        "select id::text, display_name from app.users where id = any(%s::uuid[])", (sorted(set(user_ids)),)
    ).fetchall()
    return {str(user_id): name for user_id, name in rows}


def _short_node(node: NodeResult) -> str:
    # "test.spotify_mcp.not_null_agg_hourly_listening_local_hour.7214000a8d" -> the test's name
    parts = node.unique_id.split(".")
    if node.resource_type in {"test", "unit_test"} and len(parts) >= 4:
        return ".".join(parts[2:-1]) if node.resource_type == "test" else ".".join(parts[2:])
    return parts[-1]


def blame(error: DbtError) -> tuple[str, str]:
    """(the failing model or test, dbt's message) of a failed build."""
    failures = error.run.failures() if error.run is not None else []
    if not failures:
        return "dbt", str(error)[:500]
    first = failures[0]
    return _short_node(first), (first.message or first.status)[:500]


# What dbt and PostgreSQL say when a stored table has another shape than the models now build: an upgrade that
# changed an incremental model without bumping warehouse_version (transform.warehouse_version), a table altered by
# hand. Such a failure is the code's or the warehouse's, never a user's data: nobody is blamed for it.
_STRUCTURAL: Final = (
    re.compile(r"schemas on this incremental model are out of sync"),  # on_schema_change='fail'
    re.compile(r'column "[^"]+"(?: of relation "[^"]+")? does not exist'),
    re.compile(r'column "[^"]+" is of type \S+ but expression is of type \S+'),
)


def structural_failure(error: DbtError) -> str | None:
    """Why a failed build is the stored warehouse's shape and not a user's data ("<node>: <what dbt said>"), or
    None. Asked before any user is suspected (the runner rebuilds the warehouse instead)."""
    for node in error.run.failures() if error.run is not None else []:
        for pattern in _STRUCTURAL:
            found = pattern.search(node.message or "")
            if found:
                return f"{_short_node(node)}: {found.group(0)}"
    return None


@dataclass(slots=True)
class Isolation:
    """The outcome of `isolate`: the build that passed without the culprits, and the culprits."""

    run: DbtRun
    culprits: dict[str, tuple[str, str]]  # user id -> (node, reason)
    builds: int


def isolate(
    connection: psycopg.Connection[Any],
    failure: DbtError,
    build: Build,
    *,
    tiers: Sequence[Sequence[str]],
    excluded: Iterable[str],
    run_started: datetime,
    stats: dict[str, Any],
    stop: threading.Event | None = None,
) -> Isolation:
    """Find the users whose data makes the build fail and build everyone else (see the module's docstring).
    Raises the original failure when it is not a user's: the warehouse then stays as the last good build made
    it, less what the failed build wrote (`run_started` on), whose users are built again by the next run.
    `stats[PENDING_KEY]` lists, at every moment, the users who need building again whole, so a run that ends
    half-way hands them on."""
    left_out = set(excluded)
    suspects: list[str] = []
    pending: set[str] = set(stats.get(PENDING_KEY) or [])
    builds = 0
    for tier in tiers:
        new = [user_id for user_id in tier if user_id not in left_out and user_id not in suspects]
        if not new:
            continue
        _check_stop(stop)
        suspects.extend(new)
        # What the failed build wrote of theirs goes (a failing test may be looking at it); the rest of their
        # warehouse, as the last good build made it, stays until they are built again.
        pending |= purge_written_since(connection, new, run_started)
        stats[PENDING_KEY] = sorted(pending)
        logger.warning("transform failed; building everyone but %s user(s) to find whose data fails it", len(suspects))
        try:
            builds += 1
            run = build(sorted(left_out | set(suspects)), [])
        except DbtError:
            continue  # not (only) theirs: widen
        # Everyone else builds. Each suspect alone now, from scratch: who fails is a culprit.
        culprits: dict[str, tuple[str, str]] = {}
        built: set[str] = set()
        for user_id in suspects:
            _check_stop(stop)
            purge_warehouse(connection, [user_id])
            pending.add(user_id)
            stats[PENDING_KEY] = sorted(pending)
            try:
                builds += 1
                run = build(sorted(left_out | (set(suspects) - built - {user_id})), [user_id])
            except DbtError as error:
                purge_warehouse(connection, [user_id])
                culprits[user_id] = blame(error)
            else:
                built.add(user_id)
            pending.discard(user_id)
            stats[PENDING_KEY] = sorted(pending - set(suspects))
        if not culprits:
            # Each suspect builds alone: the failure came and went, or needs several users' data together.
            # Build once more with everyone; if that fails, it is not one user's.
            builds += 1
            run = build(sorted(left_out), [])
        stats[PENDING_KEY] = sorted(pending - set(suspects))
        return Isolation(run, culprits, builds)
    raise failure


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def quarantine(
    connection: psycopg.Connection[Any], culprits: dict[str, tuple[str, str]], *, kept: Iterable[QuarantinedUser]
) -> list[QuarantinedUser]:
    """The quarantine after this run: users still left out as they were, and the new culprits."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    names = _names(connection, culprits)
    prints = fingerprints(connection, culprits)
    entries = [entry for entry in kept if entry.user_id not in culprits]
    entries += [
        QuarantinedUser(user_id, names.get(user_id), node, reason, now, prints.get(user_id, ""))
        for user_id, (node, reason) in sorted(culprits.items())
        if user_id in prints  # a user deleted meanwhile needs no quarantine
    ]
    return entries


def summary(entries: Sequence[QuarantinedUser]) -> str:
    """The job's error message for a partial run: who is left out and why, and what to do."""
    listed = "; ".join(entry.describe() for entry in entries[:10])
    more = f"; and {len(entries) - 10} more" if len(entries) > 10 else ""
    return (
        f"built without {len(entries)} user(s) whose data fails the warehouse ({listed}{more}). Their marts are "
        "empty until they are built again: at once after a change of their user (e.g. time zone), within the hour "
        "after their data changed (fix or delete the row named, re-import), or on a full refresh; "
        "staging.stg_spotify__out_of_contract_listens lists rows left out for being impossible"
    )[:4000]
