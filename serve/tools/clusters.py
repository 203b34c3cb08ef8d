"""What the taste clusters into: precomputed clusters of the standard windows, or computed on demand."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any
from uuid import UUID

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from serve.tools import repository as repo
from serve.tools.models import (
    ClusterArtist,
    ClustersArgs,
    ClusterTrack,
    TasteCluster,
    TasteClusters,
)
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    Scope,
    coverage_of,
    covers_all_history,
    open_scope,
    window_of,
)
from serve.tools.windows import Period, Span, window_model

logger = logging.getLogger(__name__)


STANDARD_CLUSTER_WINDOWS = {90: "last_90_days", 365: "last_365_days"}


def cluster_model(row: dict[str, Any]) -> TasteCluster:
    return TasteCluster(
        cluster_id=int(row["cluster_id"]),
        label=str(row["label"]),
        share_of_plays=round(float(row["share_of_plays"]), 4),
        plays=int(row["plays"]),
        top_artists=[ClusterArtist.model_validate(item) for item in row.get("top_artists") or []],
        top_tracks=[ClusterTrack.model_validate(item) for item in row.get("top_tracks") or []],
        distinguishing=dict(row.get("distinguishing") or {}),
    )


def standard_cluster_window(scope: Scope, window: Span) -> str | None:
    if covers_all_history(scope, window) or window.label == Period.all_time.value:
        return "all_time"
    if window.end_date == scope.today:
        return STANDARD_CLUSTER_WINDOWS.get(window.days)
    return None


async def on_demand_clusters(context: ToolContext, scope: Scope, window: Span) -> list[dict[str, Any]] | None:
    """Clusters for any window from the transform's Python API (`transform.clusters.compute_clusters`, DuckDB
    over the marts, k-means), run in a worker thread. None when it is unavailable or fails."""
    try:
        # In a worker thread: the first import (DuckDB, polars, scikit-learn) takes seconds, and on the event loop
        # it would stall every other request meanwhile.
        module = await asyncio.to_thread(importlib.import_module, "transform.clusters")
    except ImportError:
        return None
    compute = getattr(module, "compute_clusters", None)
    engine = context.session.bind
    if compute is None or not isinstance(engine, AsyncEngine):
        return None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    end = min(window.end, context.now)
    try:
        found = await asyncio.to_thread(compute, url, scope.user_id, window.start, end, window_name="custom")
    except Exception:  # the optional on-demand path must never turn a tool answer into a 500
        logger.exception("on-demand clustering failed")
        return None
    rows: list[dict[str, Any]] = []
    for item in found or []:
        as_dict = getattr(item, "as_dict", None)
        rows.append(dict(as_dict()) if callable(as_dict) else dict(item))
    return rows


async def clusters_of(
    context: ToolContext, scope: Scope, window: Span, *, on_demand: bool
) -> tuple[str | None, list[dict[str, Any]]]:
    """Precomputed clusters of a standard window (the mart), else, when `on_demand`, computed now."""
    name = standard_cluster_window(scope, window)
    if name is not None and scope.has_clusters:
        try:
            async with context.session.begin_nested():
                rows = await repo.clusters(context.session, scope.user_id, name)
        except DBAPIError:
            logger.warning("taste clusters mart unreadable", exc_info=True)
            rows = []
        if rows:
            return name, rows
    if not on_demand:
        return None, []
    return None, await on_demand_clusters(context, scope, window) or []


async def taste_clusters(context: ToolContext, args: ClustersArgs, user_id: UUID) -> TasteClusters:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    name, rows = await clusters_of(context, scope, window, on_demand=True)
    first = rows[0] if rows else {}
    if rows:
        note = f"{len(rows)} clusters of {first.get('feature_set')} features; labels are generated, not Spotify's."
    else:
        note = (
            "No clusters for this window: too few artists with plays, or clustering is not available yet. "
            "Precomputed windows: days=90, days=365 and period=all_time (after the transform has run)."
        )
    quality = first.get("quality_score")
    return TasteClusters(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        window_name=name,
        feature_set=first.get("feature_set"),
        k=int(first["k"]) if first.get("k") is not None else (len(rows) or None),
        quality_score=None if quality is None else round(float(quality), 4),
        computed_at=first.get("computed_at"),
        clusters=[cluster_model(row) for row in rows],
        note=note,
    )
