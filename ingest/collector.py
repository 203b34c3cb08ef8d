"""The collector: the worker that keeps everyone's history, in the spec's priority order per cycle:

1. pending ZIP imports (an injected step, so this module does not depend on the importer),
2. initial sync of connected users who have not had one (INITIAL_SYNC_CONCURRENCY at a time),
3. incremental polls of users whose `next_poll_at` has passed (not paused, not waiting for re-auth or a
   rate limit), claimed with `FOR UPDATE SKIP LOCKED` so several collectors never poll a user twice; each
   poll sets the user's next one from their own listening (`ingest.cadence`),
4. enrichment (best-effort, after polling, never blocking it),
5. notifications for the owner (`ingest.notifications`), never blocking anything else,
6. the transform (an injected step) after a cycle that landed rows, or when asked for (`core.wakeup`: e.g.
   `spotify-mcp import` in a shell); its failure never stops ingestion.

Every Spotify request draws on the installation's budget (`core.spotify.budget`): before claiming work of a
kind, the cycle asks whether the budget has room for it, and while Spotify has stopped the app nothing is
claimed at all. Between cycles the loop sleeps until its tick — or until a notification (LISTEN/NOTIFY) says
an upload or an import arrived. Time comes from `clock` (the simulation runs days in virtual time).

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
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import httpx
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import tables
from core.crypto import TokenCipher
from core.settings import Settings
from core.spotify.budget import BudgetPolicy, Clock, DatabaseBudget, Purpose, Refusal, utcnow
from core.spotify.errors import Interrupted, RateLimited
from core.spotify.policy import RetryPolicy
from core.wakeup import Listener, consume_transform_requests, pending_transform_requests, request_transform
from ingest.enrich import EnrichmentBudget, enrich
from ingest.jobs import record_job
from ingest.notifications import Notifier
from ingest.schedule import claim_initial_syncs, claim_polls, ensure_checkpoints
from ingest.spotify_app import SpotifyApp
from ingest.user_jobs import UserJobs

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
    # Why polling was held back this cycle (budget or Spotify's own stop), if it was.
    held_back: str | None = None
    notified: int = 0


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
        clock: Clock = utcnow,
        notifier: Notifier | None = None,
        listen: bool = True,
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
        self.clock = clock
        self.budget = DatabaseBudget(engine, BudgetPolicy.from_settings(settings), clock=clock)
        self.notifier = notifier or Notifier(engine, settings)
        # LISTEN for uploads and imports (`core.wakeup`) so they are taken at once, not at the next tick.
        self.listener = Listener(engine) if listen else None
        self.user_jobs = UserJobs(engine, settings, self.worker_id, clock=clock, stop=self.stop_event)
        self._spotify: SpotifyApp | None = None
        self._enrichment_paused_until: datetime | None = None
        self._held_back: str | None = None
        self._purged_at: datetime | None = None
        # One import step at a time in this process: the cycle's and the one an upload wakes.
        self._importing = asyncio.Lock()
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
        uploads: asyncio.Task[None] | None = None
        if self.listener is not None and not once:
            self.listener.start()
            # Listen before the first look at imports and transform requests, so nothing sent after it is missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.listener.listening.wait(), timeout=10)
            if self.import_step is not None:
                uploads = asyncio.create_task(self._imports_when_woken(self.listener.events["import"]))
        try:
            while not self.stopping:
                if self.listener is not None:
                    self.listener.events["transform"].clear()  # what arrives from here on wakes the next wait
                try:
                    await self.run_cycle()
                except Exception:
                    logger.exception("collector cycle failed; trying again next tick")
                if once or self.stopping:
                    break
                await self._wait_for_work()
        finally:
            if uploads is not None:
                uploads.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await uploads
            if self.listener is not None:
                await self.listener.stop()
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await self._heartbeat("stopped")
            logger.info("collector %s stopped", self.worker_id)

    async def _imports_when_woken(self, woken: asyncio.Event) -> None:
        """An upload or a queued import is taken at once, even while the cycle polls or transforms: a file
        that is not an export is refused in about a second, not at the next tick."""
        while not self.stopping:
            await woken.wait()
            woken.clear()
            try:
                if await self._run_imports() > 0:
                    await request_transform(self.engine, "an import the collector ran between cycles")
            except Exception:
                logger.exception("import step failed (woken by an upload)")

    async def _run_imports(self) -> int:
        assert self.import_step is not None
        async with self._importing:
            return await self.import_step()

    async def _wait_for_work(self) -> None:
        """Until the tick passes, the process is asked to stop, or new data asks for the warehouse (an import
        from a shell, or one the upload task ran); uploads themselves are taken by `_imports_when_woken`."""
        waits = [asyncio.ensure_future(self.stop_event.wait())]
        if self.listener is not None:
            waits.append(asyncio.ensure_future(self.listener.events["transform"].wait()))
        try:
            await asyncio.wait(waits, timeout=self.tick_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

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
                self.engine,
                self.settings,
                self.cipher,
                self.http,
                budget=self.budget,
                policy=self.policy,
                sleep=self._stoppable_sleep,
                clock=self.clock,
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
                report.imported = await self._run_imports()
                report.landed += report.imported
            except Exception:
                report.errors += 1
                logger.exception("import step failed")
        spotify = await self.spotify()
        if spotify is not None and not self.stopping:
            await spotify.endpoints.refresh()  # what other collectors of this app found removed
            await ensure_checkpoints(self.engine)
            room = await self.budget.check_all()
            if self.settings.initial_sync_enabled and room[Purpose.initial_sync] is None:
                await self._initial_syncs(spotify, report)
                if report.initial_syncs:
                    room = await self.budget.check_all()
            self._note_held_back(room[Purpose.polling], report)
            if room[Purpose.polling] is None:
                await self._polls(spotify, report)
                if report.polls:
                    room = await self.budget.check_all()
            if self.settings.enrichment_enabled and not self.stopping and room[Purpose.enrichment] is None:
                await self._enrich(spotify, report)
        if not self.stopping:
            await self._notify(report)
        if self.transform_step is not None:
            requested = await pending_transform_requests(self.engine)
            if report.landed > 0 or requested is not None:
                if self.stopping:
                    logger.info("stopping: the transform runs after the next cycle that lands rows")
                else:
                    await self._transform(report, requested)
        await self._housekeeping()
        return report

    def _note_held_back(self, refusal: Refusal | None, report: CycleReport) -> None:
        """Say once (not every tick) that polling waits for the budget or for Spotify, and when it resumes."""
        report.held_back = (
            None if refusal is None else f"{refusal.reason}; polling resumes at {refusal.until:%Y-%m-%d %H:%M:%S} UTC"
        )
        if refusal is not None and self._held_back is None:
            logger.warning("polling held back: %s", report.held_back)
        elif refusal is None and self._held_back is not None:
            logger.info("polling resumed: the Spotify budget has room again")
        self._held_back = report.held_back

    async def _notify(self, report: CycleReport) -> None:
        try:
            report.notified = len(await self.notifier.run(self.clock()))
        except Exception:
            logger.exception("notifications failed (collection is not affected)")

    async def _housekeeping(self) -> None:
        """Once an hour: forget Spotify requests older than a week."""
        now = self.clock()
        if self._purged_at is None or now - self._purged_at >= timedelta(hours=1):
            self._purged_at = now
            try:
                await self.budget.purge()
            except Exception:
                logger.warning("could not purge old request counts", exc_info=True)

    async def _initial_syncs(self, spotify: SpotifyApp, report: CycleReport) -> None:
        while not self.stopping:
            users = await claim_initial_syncs(
                self.engine,
                now=self.clock(),
                limit=self.settings.initial_sync_concurrency,
                lease_seconds=self.initial_sync_lease_seconds,
            )
            if not users:
                return
            outcomes = await asyncio.gather(
                *(self.user_jobs.initial_sync(spotify, user_id) for user_id in users), return_exceptions=True
            )
            report.initial_syncs += len(users)
            report.landed += self._landed(outcomes, report)
            report.users += users

    async def _polls(self, spotify: SpotifyApp, report: CycleReport) -> None:
        while not self.stopping:
            users = await claim_polls(
                self.engine,
                now=self.clock(),
                limit=self.poll_batch,
                interval_seconds=self.settings.collector_interval_seconds,
                initial_sync_enabled=self.settings.initial_sync_enabled,
            )
            if not users:
                return
            outcomes = await asyncio.gather(
                *(self.user_jobs.poll(spotify, user_id) for user_id in users), return_exceptions=True
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

    async def _enrich(self, spotify: SpotifyApp, report: CycleReport) -> None:
        now = self.clock()
        if self._enrichment_paused_until is not None and now < self._enrichment_paused_until:
            return
        client = spotify.app_client(Purpose.enrichment)
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

    async def _transform(self, report: CycleReport, requested: int | None) -> None:
        assert self.transform_step is not None
        try:
            await self.transform_step()
            report.transform_ran = True
            if requested is not None:
                await consume_transform_requests(self.engine, requested)
        except Exception as problem:
            report.transform_error = f"{type(problem).__name__}: {problem}"
            logger.error("transform failed (ingestion continues): %s", report.transform_error)
