"""A user token sees only its own user in the `ops.*` tools; the admin token still sees everything (issue 16.5).

Real PostgreSQL, the real API on loopback: another user's jobs and the instance-wide transform's numbers and
error text (rows built for everyone, cluster counts) must not reach a user token, on `/mcp/call` or MCP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import add_user
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
INSTANCE_STATS = {"dbt": {"models": 31, "rows": 987_654}, "clusters": {"users": 7}, "seconds": 12.5}
INSTANCE_ERROR = "dbt failed on user 9c1f… of 7 users: relation marts.fct_plays has 987654 rows"


def _job(database_url: str, job_type: str, user_id: UUID | None, status: str, stats: dict[str, Any]) -> None:
    finished = datetime.now(UTC) - timedelta(minutes=1)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.job_runs (job_type, user_id, status, started_at, finished_at, stats, error_message)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                job_type,
                user_id,
                status,
                finished - timedelta(seconds=20),
                finished,
                Jsonb(stats),
                INSTANCE_ERROR if status == "error" else None,
            ),
        )


@pytest.fixture
def scene(settings: Settings, database_url: str) -> Iterator[tuple[str, UUID, str]]:
    mine, other = add_user(database_url, name="mine"), add_user(database_url, name="other")
    _job(database_url, "poll", mine, "success", {"fetched": 50, "inserted": 3})
    _job(database_url, "poll", other, "success", {"fetched": 50, "inserted": 44})
    _job(database_url, "transform", None, "success", INSTANCE_STATS)
    _job(database_url, "transform", None, "error", INSTANCE_STATS)
    with live_server(create_app(settings, database_url)) as base:
        created = httpx.post(f"{base}/admin/users/{mine}/api-tokens", json={"name": "t"}, headers=ADMIN, timeout=30)
        assert created.status_code == 201, created.text
        yield base, mine, created.json()["token"]


def _call(base: str, tool: str, headers: dict[str, str], args: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{base}/mcp/call", json={"tool": tool, "args": args or {}}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["result"]
    return found


def test_user_token_sees_no_instance_wide_numbers_in_job_runs(scene: tuple[str, UUID, str]) -> None:
    base, mine, token = scene
    runs = _call(base, "ops.latest_job_runs", {"Authorization": f"Bearer {token}"}, {"limit": 50})["job_runs"]
    text = json.dumps(runs)
    assert "987654" not in text.replace("_", "") and "987_654" not in text and "9c1f" not in text, text
    assert {run["job_type"] for run in runs} == {"poll", "transform"}
    polls = [run for run in runs if run["job_type"] == "poll"]
    assert [run["stats"] for run in polls] == [{"fetched": 50, "inserted": 3}]  # its own poll, not the other's
    transforms = [run for run in runs if run["job_type"] == "transform"]
    assert sorted(run["status"] for run in transforms) == ["error", "success"]  # it still learns when data moved
    assert all(run["stats"] == {} for run in transforms)
    failed = next(run for run in transforms if run["status"] == "error")
    assert failed["error_message"] is not None and "admin" in failed["error_message"]

    as_admin = _call(base, "ops.latest_job_runs", ADMIN, {"limit": 50, "user_id": str(mine)})["job_runs"]
    admin_transforms = [run for run in as_admin if run["job_type"] == "transform"]
    assert all(run["stats"] == INSTANCE_STATS for run in admin_transforms)
    assert INSTANCE_ERROR in {run["error_message"] for run in admin_transforms}


def test_user_token_sync_status_is_its_own(scene: tuple[str, UUID, str]) -> None:
    base, mine, token = scene
    status = _call(base, "ops.sync_status", {"Authorization": f"Bearer {token}"})
    assert status["user_id"] == str(mine)
    # Its only count is its own; the warehouse's rebuild time is the freshness every history answer carries too.
    numbers = {key for key, value in _flatten(status) if isinstance(value, int | float) and not isinstance(value, bool)}
    # The user's own poll figures (its errors, its polls and plays per poll); nothing counted across users.
    assert numbers <= {"consecutive_errors", "polls_24h", "new_plays_per_poll_24h", "possibly_missed_polls"}, status
    assert "consecutive_errors" in numbers
    # The installation's request budget: whether Spotify stopped collection is the user's business, the counts are not.
    assert set(status["budget"]) >= {"blocked_until", "used", "remaining"}
    admin_status = _call(base, "ops.sync_status", ADMIN, {"user_id": str(mine)})
    assert isinstance(admin_status["budget"]["used"], int)
    assert isinstance(admin_status["budget"]["remaining"], int)
    assert status["last_transform_at"] is not None


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every leaf of a JSON object."""
    leaves: list[tuple[str, object]] = []
    for key, item in value.items():
        if isinstance(item, dict):
            leaves.extend(_flatten(item, f"{prefix}{key}."))
        else:
            leaves.append((f"{prefix}{key}", item))
    return leaves


def test_a_partial_transform_tells_a_user_token_only_about_its_own_user(
    scene: tuple[str, UUID, str], database_url: str
) -> None:
    base, mine, token = scene
    other = add_user(database_url, name="left out")
    for left_out, reason in ((other, "their zone Mars/Olympus is unknown"), (mine, "my zone Venus/Maxwell is unknown")):
        stats = {"quarantine": [{"user_id": str(left_out), "display_name": "x", "node": "int_plays", "reason": reason}]}
        _job(database_url, "transform", None, "partial", stats)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE app.job_runs SET error_message = 'built without 1 user' WHERE status = 'partial'")
    runs = _call(base, "ops.latest_job_runs", {"Authorization": f"Bearer {token}"}, {"limit": 50})["job_runs"]
    partial = [run for run in runs if run["status"] == "partial"]
    assert len(partial) == 2 and all(run["stats"] == {} for run in partial)
    text = json.dumps(partial)
    assert "Mars" not in text and str(other) not in text, text
    messages = sorted(run["error_message"] for run in partial)
    assert messages[0].startswith("built, without some other users") and "Venus/Maxwell" in messages[1]
    assert messages[1].startswith("your listening history was left out of this build")
