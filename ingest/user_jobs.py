"""One user's collector job — an initial sync or a poll — run, recorded in `app.job_runs` with its stats, and,
when it fails, what happens next: a budget refusal hands the user back for when there is room, a rate limit or
quota stop schedules the next attempt, a refused token waits for the user to reconnect, a stop hands the user
back untouched, anything else backs off exponentially. Other users are never affected."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from core.crypto import DecryptionError
from core.log import log_context
from core.settings import Settings
from core.spotify.budget import Clock, Purpose
from core.spotify.client import SpotifyClient
from core.spotify.errors import BudgetExhausted, Interrupted, NeedsReauth, NotConnected, RateLimited
from ingest.initial_sync import run_initial_sync
from ingest.jobs import finish_job, start_job
from ingest.polling import run_poll
from ingest.schedule import record_error, record_rate_limited, release
from ingest.spotify_app import SpotifyApp

logger = logging.getLogger(__name__)


class UserJobs:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, worker_id: str, *, clock: Clock, stop: asyncio.Event
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.worker_id = worker_id
        self.clock = clock
        self.stop = stop

    async def initial_sync(self, spotify: SpotifyApp, user_id: UUID) -> int:
        job_id = await start_job(self.engine, "initial_sync", user_id, self.worker_id)
        client = spotify.user_client(user_id, Purpose.initial_sync)
        with log_context(user_id=user_id, job_run_id=job_id):
            logger.info("initial sync started")
            try:
                result = await run_initial_sync(
                    self.engine, self.settings, client, user_id, job_id, stop=self.stop, now=self.clock()
                )
            except BaseException as error:
                await self._failed(job_id, user_id, client, error, initial_sync=True)
                if not isinstance(error, Exception):
                    raise
                return 0
            stats: dict[str, object] = client.stats.as_dict() | {
                "pages": result.requests,
                "fetched": result.landing.fetched,
                "inserted": result.landing.inserted,
                "tracks": result.landing.tracks,
                "artists": result.landing.artists,
                "skipped_without_id": result.landing.skipped_without_id,
                "skipped_out_of_range": result.landing.skipped_out_of_range,
                "stop_reason": result.stop_reason,
                "earliest_played_at": result.earliest_played_at.isoformat() if result.earliest_played_at else None,
            }
            if result.interrupted:
                await release(self.engine, user_id, initial_sync=True)
                await finish_job(self.engine, job_id, "partial", stats, "stopped by shutdown; resumes on next start")
                logger.info("initial sync interrupted by shutdown after %d pages", result.requests)
                return result.landing.inserted
            status: Literal["success", "partial"] = "partial" if result.stop_reason == "rate_limited" else "success"
            await finish_job(self.engine, job_id, status, stats)
            logger.info(
                "initial sync finished (%s): %d plays fetched, %d new, %d requests",
                result.stop_reason,
                result.landing.fetched,
                result.landing.inserted,
                result.requests,
            )
            return result.landing.inserted

    async def poll(self, spotify: SpotifyApp, user_id: UUID) -> int:
        job_id = await start_job(self.engine, "poll", user_id, self.worker_id)
        client = spotify.user_client(user_id, Purpose.polling)
        with log_context(user_id=user_id, job_run_id=job_id):
            try:
                result = await run_poll(self.engine, self.settings, client, user_id, job_id, now=self.clock())
            except BaseException as error:
                await self._failed(job_id, user_id, client, error, initial_sync=False)
                if not isinstance(error, Exception):
                    raise
                return 0
            stats: dict[str, object] = client.stats.as_dict() | {
                "pages": result.pages,
                "fetched": result.landing.fetched,
                "inserted": result.landing.inserted,
                "tracks": result.landing.tracks,
                "artists": result.landing.artists,
                "skipped_without_id": result.landing.skipped_without_id,
                "skipped_out_of_range": result.landing.skipped_out_of_range,
                "after": result.cursor.isoformat() if result.cursor else None,
                "window_full": result.window_full,
                "next_poll_in_seconds": result.cadence.seconds if result.cadence else None,
            }
            await finish_job(self.engine, job_id, "success", stats)
            logger.info(
                "poll finished: %d plays fetched, %d new; next poll %s (%s)",
                result.landing.fetched,
                result.landing.inserted,
                result.next_poll_at.isoformat() if result.next_poll_at else "as scheduled",
                result.cadence.reason if result.cadence else "",
            )
            return result.landing.inserted

    async def _failed(
        self, job_id: int, user_id: UUID, client: SpotifyClient, error: BaseException, *, initial_sync: bool
    ) -> None:
        """Record why a user's job failed and what happens next; other users are not affected."""
        stats = client.stats.as_dict()
        try:
            if isinstance(error, BudgetExhausted) and not initial_sync:
                # Nothing was sent: not the user's failure. Due again when the budget has room.
                at = error.until
                message = f"held back: {error}"
                await release(self.engine, user_id, initial_sync=False, at=at, reason=message)
                logger.info("poll held back by the request budget until %s", at.isoformat())
            elif isinstance(error, RateLimited):
                at = await record_rate_limited(self.engine, user_id, error.retry_after, str(error), now=self.clock())
                message = f"{error}; next attempt at {at:%Y-%m-%d %H:%M:%S} UTC"
                logger.warning("rate limited by Spotify: next attempt at %s", at.isoformat())
            elif isinstance(error, NeedsReauth):
                message = str(error)
                logger.warning("Spotify refused the stored token: the user must connect again")
            elif isinstance(error, (Interrupted, asyncio.CancelledError)):
                message = "stopped by shutdown before landing; nothing was written, the user is due again"
                await release(self.engine, user_id, initial_sync=initial_sync)
                logger.info("job interrupted by shutdown; user handed back")
            else:
                if isinstance(error, NotConnected | DecryptionError):
                    detail = str(error)
                else:
                    detail = f"{type(error).__name__}: {error}"
                message = detail
                await record_error(
                    self.engine,
                    user_id,
                    detail,
                    max_backoff_seconds=self.settings.collector_interval_seconds,
                    now=self.clock(),
                )
                logger.error("job failed: %s", detail)
            await finish_job(self.engine, job_id, "error", stats, message)
        except Exception:
            logger.exception("could not record the failure of job %s", job_id)
