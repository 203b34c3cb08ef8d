"""Where the database is: DATABASE_URL, or the embedded PostgreSQL in SPOTIFY_MCP_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.embedded_pg import EmbeddedPostgres
from core.settings import Settings


@contextmanager
def database_url(settings: Settings, *, keep_running: bool = False) -> Iterator[str]:
    """Yield a URL to use. An embedded server this call had to start is stopped again on exit
    unless `keep_running` (a server some other process started is never stopped here)."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    server = EmbeddedPostgres(settings.home).start()
    try:
        yield server.url
    finally:
        if not keep_running:
            server.stop_if_started_here()
