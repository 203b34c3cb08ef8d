"""The collector: the worker that keeps everyone's history, in the spec's priority order per cycle:

1. pending ZIP imports (an injected step, so this module does not depend on the importer),
2. initial sync of connected users who have not had one (INITIAL_SYNC_CONCURRENCY at a time),
3. incremental polls of users whose `next_poll_at` has passed (not paused, not waiting for re-auth or a
   rate limit), claimed with `FOR UPDATE SKIP LOCKED` so several collectors never poll a user twice,
4. enrichment (best-effort, after polling, never blocking it),
5. the transform (an injected step) after a cycle that landed rows; its failure never stops ingestion.

Every job leaves a `job_runs` row with stats and logs with its user and job ids. `request_stop()` (SIGTERM)
lets the jobs in hand finish — or, when one is waiting out a backoff, rolls it back and hands the user back
— and then `run()` returns. Each unit of work commits once, so a stop loses nothing and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

import httpx
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.crypto import DecryptionError, TokenCipher
from core.log import log_context
from core.settings import Settings
from core.spotify.client import SpotifyClient
from core.spotify.errors import Interrupted, NeedsReauth, NotConnected, RateLimited
from core.spotify.policy import RetryPolicy
from ingest.enrich import EnrichmentBudget, enrich
from ingest.initial_sync import run_initial_sync
from ingest.jobs import finish_job, record_job, start_job
from ingest.polling import run_poll
from ingest.schedule import (
    claim_initial_syncs,
    claim_polls,
    ensure_checkpoints,
    record_error,
    record_rate_limited,
    release,
)
from ingest.spotify_app import SpotifyApp

logger = logging.getLogger(__name__)

type ImportStep = Callable[[], Awaitable[int]]
type TransformStep = Callable[[], Awaitable[object]]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class CycleReport:
    imported: int = 0
    initial_syncs: int = 0
    polls: int = 0
    landed: int = 0
    enriched: int = 0
    errors: int = 0
    transform_ran: bool = False
    transform_error: str | None = None
    users: list[UUID] = field(default_factory=list)


class Collector:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        cipher: TokenCipher,
        http: httpx.AsyncClient,
        *,
        worker_id: str | None = None,
        import_step: ImportStep | None = None,
        transform_step: TransformStep | None = None,
        tick_seconds: float | None = None,
        policy: RetryPolicy | None = None,
        enrichment_budget: EnrichmentBudget | None = None,
        initial_sync_lease_seconds: float = 900.0,
        poll_batch: int = 25,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.cipher = cipher
        self.http = http
        self.worker_id = worker_id or new_worker_id()
        self.import_step = import_step
        self.transform_step = transform_step
        interval = settings.collector_interval_seconds
        self.tick_seconds = tick_seconds if tick_seconds is not None else max(1.0, min(30.0, interval / 4))
        self.policy = policy or RetryPolicy()
        self.enrichment_budget = enrichment_budget or EnrichmentBudget()
        self.initial_sync_lease_seconds = initial_sync_lease_seconds
        self.poll_batch = poll_batch
        self.heartbeat_seconds = heartbeat_seconds
        self.stop_event = asyncio.Event()
        self._spotify: SpotifyApp | None = None
        self._enrichment_paused_until: datetime | None = None
        self.cycles = 0

    # ----------------------------------------------------------------------------------------------
    # Lifecycle
    # ----------------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        if not self.stop_event.is_set():
            logger.info("stop requested: finishing the work in hand")
        self.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    async def _stoppable_sleep(self, seconds: float) -> None:
        """Backoff sleeps inside Spotify calls: cut short (and the unit rolled back) when stopping."""
        if self.stopping:
            raise Interrupted("the collector is stopping")
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Interrupted("the collector is stopping")

    async def run(self, *, once: bool = False) -> None:
        logger.info("collector %s started (interval %ss)", self.worker_id, self.settings.collector_interval_seconds)
        if not self.settings.spotify_configured:
            logger.info("no Spotify app configured (SPOTIFY_CLIENT_ID/SECRET): only ZIP imports are processed")
        await self._heartbeat("running")
        # The heartbeat beats on its own, so a long import or transform does not look like a dead worker.
        beating = asyncio.create_task(self._beat_until_stopped())
        try:
            while not self.stopping:
                try:
                    await self.run_cycle()
                except Exception:
                    logger.exception("collector cycle failed; trying again next tick")
                if once or self.stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), timeout=self.tick_seconds)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await self._heartbeat("stopped")
            logger.info("collector %s stopped", self.worker_id)

    async def _beat_until_stopped(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self._heartbeat("running")

    async def _heartbeat(self, state: Literal["running", "stopped"]) -> None:
        beats = tables.worker_heartbeats
        statement = insert(beats).values(
            worker_id=self.worker_id, service="collector", hostname=socket.gethostname(), pid=os.getpid(), state=state
        )
        statement = statement.on_conflict_do_update(
            index_elements=[beats.c.worker_id], set_={"last_seen_at": func.now(), "state": state}
        )
        try:
            async with self.engine.begin() as connection:
                await connection.execute(statement)
        except Exception:
            logger.warning("could not write the worker heartbeat", exc_info=True)

    async def spotify(self) -> SpotifyApp | None:
        if self._spotify is None and self.settings.spotify_configured:
            self._spotify = await SpotifyApp.create(
                self.engine, self.settings, self.cipher, self.http, policy=self.policy, sleep=self._stoppable_sleep
            )
        return self._spotify

    # ----------------------------------------------------------------------------------------------
    # One cycle
    # ----------------------------------------------------------------------------------------------
    async def run_cycle(self) -> CycleReport:
        self.cycles += 1
        report = CycleReport()
        if self.import_step is not None and not self.stopping:
            try:
                report.imported = await self.import_step()
                report.landed += report.imported
            except Exception:
                report.errors += 1
                logger.exception("import step failed")
        spotify = await self.spotify()
        if spotify is not None and not self.stopping:
            await spotify.endpoints.refresh()  # what other collectors of this app found removed
            await ensure_checkpoints(self.engine)
            if self.settings.initial_sync_enabled:
                await self._initial_syncs(spotify, report)
            await self._polls(spotify, report)
            if self.settings.enrichment_enabled and not self.stopping:
                await self._enrich(spotify, report)
        if report.landed > 0 and self.transform_step is not None:
            if self.stopping:
                logger.info("stopping: the transform runs after the next cycle that lands rows")
            else:
                await self._transform(report)
        return report

    async def _initial_syncs(self, spotify: SpotifyApp, report: CycleReport) -> None:
        while not self.stopping:
            users = await claim_initial_syncs(
                self.engine,
                limit=self.settings.initial_sync_concurrency,
                lease_seconds=self.initial_sync_lease_seconds,
            )
            if not users:
                return
            outcomes = await asyncio.gather(
                *(self._initial_sync(spotify, user_id) for user_id in users), return_exceptions=True
            )
            report.initial_syncs += len(users)
            report.landed += self._landed(outcomes, report)
            report.users += users

    async def _polls(self, spotify: SpotifyApp, report: CycleReport) -> None:
        while not self.stopping:
            users = await claim_polls(
                self.engine,
                limit=self.poll_batch,
                interval_seconds=self.settings.collector_interval_seconds,
                initial_sync_enabled=self.settings.initial_sync_enabled,
            )
            if not users:
                return
            outcomes = await asyncio.gather(
                *(self._poll(spotify, user_id) for user_id in users), return_exceptions=True
            )
            report.polls += len(users)
            report.landed += self._landed(outcomes, report)
            report.users += users

    @staticmethod
    def _landed(outcomes: list[int | BaseException], report: CycleReport) -> int:
        """Rows landed by jobs run side by side; a job that could not even record its failure is logged."""
        landed = 0
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                report.errors += 1
                logger.error("a collector job failed unexpectedly: %s", outcome, exc_info=outcome)
            else:
                landed += outcome
        return landed

    async def _initial_sync(self, spotify: SpotifyApp, user_id: UUID) -> int:
        job_id = await start_job(self.engine, "initial_sync", user_id, self.worker_id)
        client = spotify.user_client(user_id)
        with log_context(user_id=user_id, job_run_id=job_id):
            logger.info("initial sync started")
            try:
                result = await run_initial_sync(
                    self.engine, self.settings, client, user_id, job_id, stop=self.stop_event
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

    async def _poll(self, spotify: SpotifyApp, user_id: UUID) -> int:
        job_id = await start_job(self.engine, "poll", user_id, self.worker_id)
        client = spotify.user_client(user_id)
        with log_context(user_id=user_id, job_run_id=job_id):
            try:
                result = await run_poll(self.engine, client, user_id, job_id)
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
            }
            await finish_job(self.engine, job_id, "success", stats)
            logger.info("poll finished: %d plays fetched, %d new", result.landing.fetched, result.landing.inserted)
            return result.landing.inserted

    async def _failed(
        self, job_id: int, user_id: UUID, client: SpotifyClient, error: BaseException, *, initial_sync: bool
    ) -> None:
        """Record why a user's job failed and what happens next; other users are not affected."""
        stats = client.stats.as_dict()
        try:
            if isinstance(error, RateLimited):
                at = await record_rate_limited(self.engine, user_id, error.retry_after, str(error))
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
                    self.engine, user_id, detail, max_backoff_seconds=self.settings.collector_interval_seconds
                )
                logger.error("job failed: %s", detail)
            await finish_job(self.engine, job_id, "error", stats, message)
        except Exception:
            logger.exception("could not record the failure of job %s", job_id)

    async def _enrich(self, spotify: SpotifyApp, report: CycleReport) -> None:
        now = datetime.now(UTC)
        if self._enrichment_paused_until is not None and now < self._enrichment_paused_until:
            return
        client = spotify.app_client()
        error: str | None = None
        try:
            stats = await enrich(self.engine, client, self.enrichment_budget)
        except RateLimited as limited:
            self._enrichment_paused_until = now + timedelta(seconds=limited.retry_after)
            error = f"{limited}; enrichment paused until {self._enrichment_paused_until:%H:%M:%S} UTC"
            logger.warning("enrichment rate limited: %s", error)
            stats = None
        except Interrupted:
            return
        except Exception as problem:
            error = f"{type(problem).__name__}: {problem}"
            logger.warning("enrichment failed (polling is not affected): %s", error)
            stats = None
        if stats is not None and stats.touched == 0 and client.stats.requests == 0:
            return
        report.enriched = stats.touched if stats is not None else 0
        payload = client.stats.as_dict() | (stats.as_dict() if stats is not None else {})
        await record_job(
            self.engine,
            "enrich",
            user_id=None,
            worker_id=self.worker_id,
            started_at=now,
            status="error" if error else "success",
            stats=payload,
            error=error,
        )

    async def _transform(self, report: CycleReport) -> None:
        assert self.transform_step is not None
        try:
            await self.transform_step()
            report.transform_ran = True
        except Exception as problem:
            report.transform_error = f"{type(problem).__name__}: {problem}"
            logger.error("transform failed (ingestion continues): %s", report.transform_error)
