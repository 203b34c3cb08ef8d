"""`spotify-mcp import PATH [--user USER] [--dry-run]`: import an export in this process.

PATH: a Spotify export ZIP, a ListenBrainz export (ZIP, or its older JSON file), or Last.fm scrobbles
(`scrobbles-*.csv` / `.json`, bare or in a ZIP); what it is is told by its content. `--dry-run` reads it
the same way and prints what the import would do (formats, records per file, date range, new vs already
known per source, skipped and why) without writing anything (`ingest.imports.preview`).

No Spotify app is needed. `--user` names the owner (id, Spotify user id, e-mail or display name; core.user_lookup).
Without it the export goes to the only user when there is exactly one, to a new local user when there is none;
with several, a terminal asks which (listing them) and a script fails listing them. Works on
the embedded database when DATABASE_URL is unset (migrating it first). A progress bar goes to stderr, a
summary to stdout; the exit code is 0 on success, 1 when the export was refused (the message says why).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from cli.commands import import_preview
from cli.database import database_url
from core import migrate
from core.db import create_engine
from core.log import configure_logging
from core.settings import Settings, load_settings
from core.user_lookup import REFERENCE_HELP, UserLookupError, UserRef, describe_users, list_users, resolve_user
from core.wakeup import request_transform
from ingest.imports import jobs, users
from ingest.imports.pipeline import ImportProgress
from ingest.imports.worker import JobOutcome, execute_job

BAR_WIDTH = 28


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        help='the ZIP from Spotify\'s "Download your data", a ListenBrainz export, or Last.fm scrobbles (.csv/.json)',
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="only show what the import would do (formats, records, dates, new vs known, skipped); write nothing",
    )
    parser.add_argument("--json", action="store_true", help="with --dry-run: print the preview as JSON")
    parser.add_argument(
        "--user",
        default=None,
        help=f"{REFERENCE_HELP} (default: the only user; a new local user when there is none; asked when several)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


class ProgressBar:
    """A one-line progress bar on a terminal; occasional plain lines elsewhere (logs, CI)."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = stream.isatty()
        self._started: float | None = None
        self._last = 0.0
        self._last_files = -1

    def __call__(self, progress: ImportProgress) -> None:
        if not self._enabled or progress.files_total == 0:
            return
        now = time.monotonic()
        if self._started is None:
            self._started = now
        done = progress.files_done == progress.files_total and progress.fraction >= 1.0
        if self._tty:
            if now - self._last < 0.1 and not done:
                return
            self._last = now
            self._stream.write("\r" + self.render(progress, now - self._started))
            if done:
                self._stream.write("\n")
        elif progress.files_done != self._last_files:
            self._last_files = progress.files_done
            self._stream.write(self.render(progress, now - self._started) + "\n")
        self._stream.flush()

    @staticmethod
    def render(progress: ImportProgress, elapsed: float) -> str:
        fraction = progress.fraction
        filled = int(fraction * BAR_WIDTH)
        rate = progress.records_read / elapsed if elapsed > 0 else 0.0
        return (
            f"{fraction:4.0%} |{'█' * filled}{'░' * (BAR_WIDTH - filled)}| "
            f"{progress.records_read:,} records · {progress.files_done}/{progress.files_total} files · "
            f"{rate:,.0f}/s"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class NoOwner(Exception):
    """The import's owner could not be chosen; the message says why and what to do."""


async def _chosen_user(engine: AsyncEngine, user_ref: str | None, ask: Callable[[str], str] | None) -> UserRef | None:
    """The owner named by --user, else the only user; None when there is no user yet (a local one is made)."""
    async with engine.connect() as connection:
        if user_ref is not None:
            try:
                return await resolve_user(connection, user_ref)
            except UserLookupError as error:
                raise NoOwner(str(error)) from None
        known, total = await list_users(connection)
    if total <= 1:
        return known[0] if known else None
    listing = describe_users(known, total=total, numbered=True)
    if ask is None:
        raise NoOwner(f"there are {total} users; say whose export this is with --user ({REFERENCE_HELP}):\n{listing}")
    answer = (await asyncio.to_thread(ask, f"Whose export is this?\n{listing}\nNumber, name or id: ")).strip()
    if answer.isdigit() and 1 <= int(answer) <= len(known):
        return known[int(answer) - 1]
    if not answer:
        raise NoOwner("no user chosen; nothing was imported")
    async with engine.connect() as connection:
        try:
            return await resolve_user(connection, answer)
        except UserLookupError as error:
            raise NoOwner(str(error)) from None


async def _import(
    url: str,
    settings: Settings,
    path: Path,
    user_ref: str | None,
    bar: ProgressBar,
    ask: Callable[[str], str] | None,
    *,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    engine = create_engine(url, application_name="spotify-mcp import", pool_size=2, max_overflow=2)
    try:
        try:
            chosen = await _chosen_user(engine, user_ref, ask)
        except NoOwner as error:
            print(f"spotify-mcp import: {error}", file=sys.stderr)
            return 1
        if dry_run:
            return await import_preview.preview(engine, settings, path, chosen, as_json=as_json)
        async with engine.begin() as connection:
            if chosen is None:
                user = await users.local_user(connection)
            else:
                user = users.ImportUser(chosen.id, chosen.label, created=False)  # the summary names the user
            sha = await asyncio.to_thread(_sha256, path)
            job_id = await jobs.create_job(
                connection,
                user_id=user.id,
                storage_path=path,
                original_filename=path.name,
                origin="cli",
                file_size_bytes=os.path.getsize(path),  # noqa: ASYNC240 - one stat call
                file_sha256=sha,
            )
        if user.created:
            print(f"created the local user `{user.name}` ({user.id})", file=sys.stderr)
        job = await jobs.claim_job(engine, worker_id=f"cli:{os.getpid()}", only_id=job_id)
        if job is None:  # another import of this user is running right now
            print(
                f"spotify-mcp import: another import for `{user.name}` is running; job {job_id} stays queued and the "
                "collector will run it",
                file=sys.stderr,
            )
            return 1
        outcome = await execute_job(engine, settings, job, progress_callback=bar)
        summary = await jobs.job_summary(engine, job_id)
        if outcome.status == "success" and outcome.inserted > 0:
            # A running collector (`up`, compose) builds the warehouse now; otherwise its next start does.
            await request_transform(engine, f"spotify-mcp import of {path.name} (import job {job_id})")
    finally:
        await engine.dispose()
    return _report(outcome, summary, path, user.name)


def _report(outcome: JobOutcome, summary: jobs.JobSummary, path: Path, user_name: str) -> int:
    if outcome.status != "success" or outcome.result is None:
        print(f"spotify-mcp import: {path.name} was not imported: {outcome.message}", file=sys.stderr)
        return 1
    result = outcome.result
    progress = result.progress
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(result.skipped.items())) or "none"
    print(f"imported {path.name} for user `{user_name}` (import job {summary.id})")
    print(
        f"  format: {summary.format_detected}; {progress.files_done} history file(s)"
        + (f", {result.files_ignored} other file(s) ignored" if result.files_ignored else "")
    )
    print(
        f"  records read {progress.records_read:,} · new plays {progress.inserted:,} · "
        f"duplicates {progress.duplicates:,} · skipped: {skipped}"
    )
    for detail in result.skip_details:
        print(f"  skipped {detail}")
    if summary.earliest_played_at and summary.latest_played_at:
        # Scrobbles are stamped with the start of a listen, Spotify's records with the end.
        what = "scrobbles" if summary.format_detected in ("listenbrainz", "lastfm") else "plays"
        print(f"  {what} from {summary.earliest_played_at:%Y-%m-%d} to {summary.latest_played_at:%Y-%m-%d} (UTC)")
    rate = progress.records_read / result.seconds if result.seconds > 0 else 0.0
    print(f"  took {result.seconds:.1f}s ({rate:,.0f} records/s)")
    if progress.inserted:
        print(
            "  the collector (spotify-mcp up / collector) updates the warehouse now; without one running, "
            "run `spotify-mcp transform`"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    path: Path = args.path.expanduser().resolve()
    if not path.is_file():
        print(
            f"spotify-mcp import: {args.path} is not a file; give the path of the export (a ZIP, or a Last.fm "
            ".csv/.json)",
            file=sys.stderr,
        )
        return 1
    bar = ProgressBar(sys.stderr, enabled=not args.no_progress)
    with database_url(settings) as url:
        migrate.upgrade(url)
        # A dry run writes nothing, not even log rows.
        sink = configure_logging("cli", level=settings.log_level, database_url=None if args.dry_run else url)
        root = logging.getLogger()
        for handler in root.handlers:
            if handler is not sink:
                handler.setLevel(logging.CRITICAL + 1)  # events go to app.logs; the terminal gets the summary
        try:
            ask = input if sys.stdin.isatty() else None  # a script gets the list in an error, not a prompt
            return asyncio.run(
                _import(url, settings, path, args.user, bar, ask, dry_run=args.dry_run, as_json=args.json)
            )
        finally:
            if sink is not None:
                root.removeHandler(sink)
                sink.close()
