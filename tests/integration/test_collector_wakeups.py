"""New data shows at once: the collector is woken by PostgreSQL LISTEN/NOTIFY, not by its tick (set to an hour
here, so only a wake-up can explain what happens). An upload through the admin UI that is not a Spotify export
fails at once, naming the file as the person named it; `spotify-mcp import` in a shell while the collector
runs has it build the warehouse; a request left while no collector ran is taken when one starts."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from core.dburl import libpq_url
from core.settings import Settings
from core.wakeup import request_transform
from ingest.collector import Collector
from ingest.imports.worker import process_pending_imports
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.session import COOKIE_NAME
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures import exports
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600.0


class Transforms:
    def __init__(self) -> None:
        self.runs = 0
        self.ran = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        self.ran.set()


def _collector(engine: AsyncEngine, settings: Settings, transforms: Transforms | None = None) -> Collector:
    async def import_step() -> int:
        return await process_pending_imports(engine, settings, worker_id="woken-collector")

    return Collector(
        engine,
        settings,
        cipher=None,  # type: ignore[arg-type]  # no Spotify app: the cipher is never used
        http=None,  # type: ignore[arg-type]
        import_step=import_step,
        transform_step=transforms,
        tick_seconds=HOUR,
    )


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for `condition`, at most a minute (a failure bound, not a measurement: the collector's tick is an
    hour)."""
    async with asyncio.timeout(60):
        while not await condition():  # noqa: ASYNC110 - the condition is in another process's database
            await asyncio.sleep(0.05)


async def _started(collector: Collector) -> asyncio.Task[None]:
    task = asyncio.create_task(collector.run())
    assert collector.listener is not None
    await asyncio.wait_for(collector.listener.listening.wait(), 30)
    await _until(lambda: _true(collector.cycles >= 1))
    return task


async def _true(value: bool) -> bool:
    return value


async def _stop(collector: Collector, task: asyncio.Task[None]) -> None:
    collector.request_stop()
    await asyncio.wait_for(task, 30)


async def test_an_upload_that_is_not_an_export_fails_at_once_naming_the_file(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        user = connection.execute("INSERT INTO app.users (display_name) VALUES ('Ann') RETURNING id").fetchone()
    assert user is not None
    photos = exports.build_zip(tmp_path / "x.zip", {"IMG_0001.jpg": "not really a photo", "notes.txt": "hi"})
    collector = _collector(engine, settings)
    task = await _started(collector)
    try:
        with (
            live_server(create_app(settings, database_url)) as api_base,
            live_server(create_admin_app(settings, api_base_url=api_base, streamlit_url="http://127.0.0.1:9")) as ui,
        ):
            async with httpx.AsyncClient(base_url=ui, timeout=30) as client:
                await client.post("/login", data={"token": ADMIN_TOKEN, "next": "/imports"})
                assert COOKIE_NAME in client.cookies
                page = await client.get("/imports")
                csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
                assert csrf is not None
                uploaded = await client.post(
                    "/imports",
                    data={"user_id": str(user[0])},
                    files={"file": ("holiday-photos.zip", photos.read_bytes(), "application/zip")},
                    headers={"HX-Request": "true", "X-CSRF-Token": csrf.group(1)},
                )
                assert uploaded.status_code == 200, uploaded.text
                job_id = re.search(r'id="import-(\d+)"', uploaded.text)
                assert job_id is not None

                async def failed() -> bool:
                    fragment = await client.get(f"/imports/{job_id.group(1)}/progress", headers={"HX-Request": "true"})
                    return 'data-status="error"' in fragment.text

                await _until(failed)
                shown = (await client.get(f"/imports/{job_id.group(1)}/progress")).text
    finally:
        await _stop(collector, task)
    assert "holiday-photos.zip is not a Spotify export" in shown and "IMG_0001.jpg" in shown
    assert collector.cycles == 1  # taken by the wake-up, not by a cycle (the tick is an hour)
    assert list(settings.effective_upload_dir.iterdir()) == []  # the stored copy is gone


async def test_an_import_from_a_shell_has_the_running_collector_build_the_warehouse(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    export = exports.extended_export(tmp_path / "my_spotify_data.zip")
    transforms = Transforms()
    collector = _collector(engine, settings, transforms)
    task = await _started(collector)
    try:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": settings.encryption_keys[0],
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
        }
        shell = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "import", str(export), "--no-progress",
            cwd=ROOT, env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await shell.communicate()
        assert shell.returncode == 0, err.decode()
        assert "the collector (spotify-mcp up / collector) updates the warehouse now" in out.decode()
        await asyncio.wait_for(transforms.ran.wait(), 60)
    finally:
        await _stop(collector, task)
    assert transforms.runs == 1 and collector.cycles == 2  # one cycle at start, one woken by the import
    with psycopg.connect(libpq_url(database_url)) as connection:
        assert connection.execute("SELECT count(*) FROM app.transform_requests").fetchone() == (0,)


async def test_a_request_left_while_no_collector_ran_is_taken_at_start(engine: AsyncEngine, settings: Settings) -> None:
    await request_transform(engine, "spotify-mcp import while the collector was down")
    transforms = Transforms()
    report = await _collector(engine, settings, transforms).run_cycle()
    assert report.transform_ran and transforms.runs == 1 and report.landed == 0
    again = await _collector(engine, settings, transforms).run_cycle()
    assert not again.transform_ran and transforms.runs == 1  # consumed: asked once, built once
