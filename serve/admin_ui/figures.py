"""What the admin UI shows instead of raw dicts: a job's stats as labelled figures, and the stage an import is at.

Job runs record their stats as JSON (app.job_runs.stats); each kind of job its own keys. `job_figures` turns
them into (label, value) pairs a person reads — known keys with their own words, any other key humanised — and
`import_stage` places an import job on the stages a person follows after an upload: uploading (in the browser),
checking the file, importing N of M records, building the warehouse, done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# Keys that say nothing to a person (identifiers shown elsewhere, internal hashes, file lists).
_HIDDEN: Final = {"import_job_id", "project_hash", "files", "worker_id", "rows", "slowest"}

_LABELS: Final[dict[str, str]] = {
    "records_read": "Records read",
    "inserted": "New plays",
    "duplicates": "Already there",
    "skipped": "Skipped",
    "files_processed": "History files",
    "files_ignored": "Other files ignored",
    "format_detected": "Format",
    "seconds": "Took",
    "resumed": "Resumed after a restart",
    "reason": "Why it stopped",
    "rolled_back": "Rows rolled back",
    "error": "Error",
    "full_refresh": "Full refresh",
    "models": "Models built",
    "tests": "Tests passed",
    "clusters": "Taste clusters",
    "users": "Users",
    "recomputed_users": "Users recomputed",
    "dbt": "dbt build",
    "dbt_downstream": "Cluster marts",
    "isolation_builds": "Builds to find whose data fails",
}


def _humanise(key: str) -> str:
    return _LABELS.get(key) or key.replace("_", " ").capitalize()


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "seconds" and isinstance(value, int | float):
        return f"{value:,.1f} s"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Mapping):
        parts = [f"{_humanise(str(k)).lower()} {_value(str(k), v)}" for k, v in value.items() if str(k) not in _HIDDEN]
        return ", ".join(parts) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value[:5]) + (f" (+{len(value) - 5})" if len(value) > 5 else "")
    return str(value).replace("_", " ")


def _slowest(stats: Mapping[str, Any]) -> tuple[str, float] | None:
    timings: dict[str, float] = {}
    for step in ("dbt", "dbt_downstream"):
        found = stats.get(step)
        if isinstance(found, Mapping) and isinstance(found.get("slowest"), Mapping):
            timings |= {str(name): float(seconds) for name, seconds in found["slowest"].items()}
    return max(timings.items(), key=lambda item: item[1]) if timings else None


def _transform_figures(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    steps = [found for found in (stats.get("dbt"), stats.get("dbt_downstream")) if isinstance(found, Mapping)]
    figures: list[tuple[str, str]] = []
    if "seconds" in stats:
        figures.append(("Took", _value("seconds", stats["seconds"])))
    if "full_refresh" in stats:
        # Why a run rebuilt everything when nobody asked (transform.warehouse_version, an upgrade or an edited rule).
        why = stats.get("full_refresh_reason") if stats["full_refresh"] else None
        kind = "full refresh" if stats["full_refresh"] else "only what changed"
        figures.append(("Kind", f"{kind} ({why})" if why else kind))
    # Users whose data fails the build, left out of it (transform.isolation): who, and what fails.
    left_out = [item for item in stats.get("quarantine") or [] if isinstance(item, Mapping)]
    if left_out:
        figures.append(
            (
                "Users left out",
                "; ".join(
                    f"{item.get('display_name') or item.get('user_id')}: {item.get('node')}" for item in left_out[:5]
                )
                + (f" (+{len(left_out) - 5})" if len(left_out) > 5 else ""),
            )
        )
    if stats.get("rebuild_pending"):
        figures.append(("Users to build again", f"{len(stats['rebuild_pending']):,}"))
    if steps:
        figures.append(("Models built", f"{sum(int(step.get('models', 0)) for step in steps):,}"))
        figures.append(("Tests passed", f"{sum(int(step.get('tests', 0)) for step in steps):,}"))
    clusters = stats.get("clusters")
    if isinstance(clusters, Mapping):
        users = int(clusters.get("users", 0))
        figures.append(("Taste clusters", f"{int(clusters.get('clusters', 0)):,} for {users:,} user(s)"))
    for key in ("dbt", "clusters", "dbt_downstream"):
        found = stats.get(key)
        if isinstance(found, Mapping) and "seconds" in found:
            figures.append(
                (f"{_humanise(key) if key != 'clusters' else 'Clusters'} time", _value("seconds", found["seconds"]))
            )
    slowest = _slowest(stats)
    if slowest is not None:
        figures.append(("Slowest step", f"{slowest[0]} ({slowest[1]:.1f} s)"))
    warehouse = stats.get("warehouse")
    if isinstance(warehouse, Mapping) and "version" in warehouse:
        figures.append(("Warehouse version", str(warehouse["version"])))
    known = {
        *("seconds", "full_refresh", "full_refresh_reason", "warehouse", "dbt", "dbt_downstream", "clusters"),
        *("quarantine", "rebuild_pending"),
    }
    return figures + _generic(item for item in stats.items() if item[0] not in known)


def _generic(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(_humanise(key), _value(key, value)) for key, value in items if key not in _HIDDEN]


def job_figures(stats: Mapping[str, Any] | None, job_type: str | None = None) -> list[tuple[str, str]]:
    """A job run's stats as (label, value) pairs, in the order a person reads them."""
    if not stats:
        return []
    if job_type == "transform" or "dbt" in stats:
        return _transform_figures(stats)
    order = list(_LABELS)
    items = sorted(stats.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return _generic((key, value) for key, value in items if not (key == "resumed" and not value))


# ----- the stages of an import ---------------------------------------------------------------------------

IMPORT_STAGES: Final = (
    ("uploading", "Uploading"),
    ("checking", "Checking the file"),
    ("importing", "Importing records"),
    ("warehouse", "Building the warehouse"),
    ("done", "Done"),
)
_NUMBER: Final = {key: number for number, (key, _) in enumerate(IMPORT_STAGES, start=1)}


@dataclass(frozen=True, slots=True)
class ImportStage:
    key: str  # one of IMPORT_STAGES' keys
    number: int  # its position, 1-based
    detail: str  # one sentence on where the import is
    percent: int | None  # how far through this stage, when known
    finished: bool  # nothing more will happen (done or failed): stop polling
    failed: bool = False


def import_stage(job: Mapping[str, Any]) -> ImportStage:
    """Where an import job is, from its status, its record counts and the warehouse build after it."""
    status = job.get("status")
    read, total = int(job.get("records_ingested") or 0), int(job.get("records_total") or 0)
    if status == "pending":
        return ImportStage("checking", 2, "Uploaded; waiting for the collector to open the file…", None, False)
    # The preview step (issue 21): the file is read but nothing is written until the person chooses.
    if status == "preview":
        return ImportStage("checking", 2, "Uploaded; the collector is reading the file to preview it…", None, False)
    if status == "previewed":
        detail = "Previewed: nothing is imported until you choose Import (or Discard to delete the file)."
        return ImportStage("checking", 2, detail, None, True)
    if status == "discarded":
        why = job.get("error_message") or "discarded"
        return ImportStage("checking", 2, f"Not imported ({why}); the uploaded file was deleted.", None, True)
    if status == "running" and not total:
        return ImportStage(
            "checking", 2, "Checking the file: finding the history files and counting records…", None, False
        )
    if status == "running":
        percent = min(100, read * 100 // total)
        return ImportStage("importing", 3, f"Importing {read:,} of {total:,} records ({percent} %)", percent, False)
    if status in {"error", "partial"}:
        stage = "importing" if total else "checking"
        why = job.get("error_message") or "the import stopped"
        return ImportStage(stage, _NUMBER[stage], f"Not imported: {why}", None, True, failed=True)
    warehouse = job.get("warehouse")
    if warehouse in {"waiting", "building"}:
        detail = (
            "Imported; the warehouse is being built so charts and answers include it…"
            if warehouse == "building"
            else "Imported; the warehouse build that takes it in starts shortly…"
        )
        return ImportStage("warehouse", 4, detail, None, False)
    if warehouse == "left_out":
        detail = (
            "Imported, but this user's data fails the warehouse build, so the build left them out (see Jobs for the "
            "model or test and why); they are built again once their data changes (within the hour)."
        )
        return ImportStage("warehouse", 4, detail, None, True, failed=True)
    if warehouse == "failed":
        detail = "Imported, but the warehouse build after it failed (see Jobs); the next build will retry."
        return ImportStage("warehouse", 4, detail, None, True, failed=True)
    return ImportStage("done", 5, f"Done: {read:,} records imported and in the warehouse.", 100, True)
