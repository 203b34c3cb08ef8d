"""Operations answers: sync status with the request budget, job runs and import jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from serve.tools.models.shared import ToolArgs


class UserArgs(ToolArgs):
    pass


class OpsListArgs(ToolArgs):
    limit: int = Field(default=20, ge=1, le=100, description="How many, newest first.")


class RequestBudget(BaseModel):
    """The Spotify request budget of the whole installation (all users and processes share it). The counts
    describe every user's requests, so only the admin token sees them (issue 16.5); a user token sees whether
    Spotify's quota has stopped collection and until when, which is what decides how fresh its own data is."""

    per_day: int | None = Field(description="Requests allowed per rolling 24 h (SPOTIFY_REQUEST_BUDGET); admin only.")
    used: int | None = Field(description="Requests in the last 24 h; admin only.")
    remaining: int | None = Field(description="Requests left in the rolling 24 h; admin only.")
    resets_at: datetime | None = Field(
        description="When the oldest counted request leaves the 24 h window; admin only."
    )
    blocked_until: datetime | None = Field(description="Spotify's quota stopped all requests until then.")
    blocked_reason: str | None


class SyncStatus(BaseModel):
    user_id: UUID
    user_status: str
    sync_status: str | None
    spotify_connected: bool
    initial_sync_completed_at: datetime | None
    last_poll_completed_at: datetime | None
    last_poll_latest_played_at: datetime | None
    next_poll_at: datetime | None
    next_poll_reason: str | None = Field(description="Why the next poll is then (adaptive polling).")
    poll_interval_seconds: int | None
    next_attempt_at: datetime | None = Field(description="No request for this user before then (rate limits).")
    last_poll_new_plays: int | None = Field(description="Plays the last poll gained.")
    polls_24h: int = Field(description="Polls in the last 24 h.")
    new_plays_per_poll_24h: float | None = Field(description="Average plays gained per poll over the last 24 h.")
    possibly_missed_polls: int = Field(
        description="Polls that found Spotify's 50-play window all new: plays before it may have been missed."
    )
    consecutive_errors: int
    error_message: str | None
    last_transform_at: datetime | None
    budget: RequestBudget


class JobRunSummary(BaseModel):
    id: int
    job_type: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any]
    error_message: str | None


class JobRuns(BaseModel):
    user_id: UUID
    job_runs: list[JobRunSummary]


class ImportJobSummary(BaseModel):
    id: int
    status: str
    original_filename: str | None
    uploaded_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    format_detected: str | None
    records_ingested: int | None
    records_total: int | None
    earliest_played_at: datetime | None
    latest_played_at: datetime | None
    error_message: str | None


class ImportJobs(BaseModel):
    user_id: UUID
    import_jobs: list[ImportJobSummary]
