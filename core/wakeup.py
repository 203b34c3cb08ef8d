"""Waking the collector at once when something arrives, instead of at its next tick (issue 17, part 5).

Two halves of one mechanism on PostgreSQL's LISTEN/NOTIFY, channel `CHANNEL`:
- writers (the API's upload endpoint, `spotify-mcp import`) call `wake_collector` inside the transaction that
  made the work visible — PostgreSQL delivers the notification when it commits — and, for work the
  collector must not miss even when it is down right then, `request_transform` also leaves a row in
  `app.transform_requests` that the collector's next transform consumes;
- the collector holds one connection with `Listener`, which sets an `asyncio.Event` per notification and
  reconnects when the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

CHANNEL: Final = "spotify_mcp_collector"

type Work = Literal["import", "transform"]


async def wake_collector(connection: AsyncConnection, work: Work) -> None:
    """Ask the collector to look for `work` now (delivered when `connection`'s transaction commits)."""
    await connection.execute(text("SELECT pg_notify(:channel, :work)"), {"channel": CHANNEL, "work": work})


async def request_transform(engine: AsyncEngine, reason: str) -> None:
    """New rows landed outside the collector: have it build the warehouse now, or as soon as it runs."""
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO app.transform_requests (reason) VALUES (:reason)"), {"reason": reason[:500]}
        )
        await wake_collector(connection, "transform")


async def pending_transform_requests(engine: AsyncEngine) -> int | None:
    """The newest pending request's id (consume up to it after a successful transform), or None."""
    async with engine.connect() as connection:
        newest: int | None = await connection.scalar(text("SELECT max(id) FROM app.transform_requests"))
    return newest


async def consume_transform_requests(engine: AsyncEngine, up_to_id: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM app.transform_requests WHERE id <= :id"), {"id": up_to_id})


class Listener:
    """LISTEN on `CHANNEL` on a connection of its own. `event` is set by every notification, `events[work]` by
    those for that work; after reconnecting, all are set once (something may have arrived meanwhile). Start it
    before the work it wakes, and wait for `listening`: then nothing sent after that work's first look is
    missed."""

    def __init__(self, engine: AsyncEngine, *, retry_seconds: float = 5.0) -> None:
        self._engine = engine
        self._retry = retry_seconds
        self.event = asyncio.Event()
        self.events: dict[str, asyncio.Event] = {"import": asyncio.Event(), "transform": asyncio.Event()}
        self.received: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        del connection, pid, channel
        self.received.append(payload)
        if payload in self.events:
            self.events[payload].set()
        self.event.set()

    def _set_all(self) -> None:
        for event in self.events.values():
            event.set()
        self.event.set()

    async def _hold(self) -> None:
        reconnecting = False
        while True:
            lost = asyncio.Event()
            try:
                async with self._engine.connect() as sa_connection:
                    raw = await sa_connection.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None
                    await driver.add_listener(CHANNEL, self._on_notify)
                    driver.add_termination_listener(lambda _connection, lost=lost: lost.set())
                    self.listening.set()
                    if reconnecting:
                        # Anything that arrived while we were not listening is found by the work this wakes.
                        self._set_all()
                    reconnecting = True
                    try:
                        await lost.wait()
                    finally:
                        # Never hand a listening connection back to the pool.
                        with contextlib.suppress(Exception):
                            await sa_connection.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("cannot listen for wake-ups (%s); retrying in %.0f s", error, self._retry)
                reconnecting = True
            self.listening.clear()
            await asyncio.sleep(self._retry)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._hold(), name="collector wake-up listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
