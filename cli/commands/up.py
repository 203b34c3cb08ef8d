from __future__ import annotations

import argparse
import os

from cli.commands.base import Command
from cli.database import database_url
from cli.supervisor import ServiceSpec, Supervisor
from core import migrate
from core.dburl import redacted
from core.settings import Settings, load_settings

# The services `up` runs, each the entrypoint its docker-compose service runs. Later issues add
# the API, the admin UI, the collector and the dashboards here.
SERVICES: tuple[ServiceSpec, ...] = ()


def child_environment(settings: Settings, url: str) -> dict[str, str]:
    """What every child needs to find the same database and secrets as this process."""
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["SPOTIFY_MCP_HOME"] = str(settings.home)
    env["TOKEN_ENCRYPTION_KEY"] = ",".join(settings.encryption_keys)
    for name, secret in (
        ("ADMIN_TOKEN", settings.admin_token),
        ("ADMIN_PASSWORD", settings.admin_password),
        ("SESSION_SECRET", settings.session_secret),
    ):
        if secret is not None:
            env[name] = secret.get_secret_value()
    return env


def first_screen(settings: Settings, url: str) -> str:
    lines = [
        "spotify-mcp is running.",
        f"  database     {redacted(url)}"
        + ("  (embedded, in " + str(settings.home / "pgdata") + ")" if settings.uses_embedded_database else ""),
        f"  API          {settings.effective_public_base_url}",
        f"  admin UI     http://{settings.admin_ui_host}:{settings.admin_ui_port}",
    ]
    if settings.local_mode and settings.admin_token is not None:
        lines.append(
            f"  admin token  {settings.admin_token.get_secret_value()}  (stored in {settings.home / 'secrets.json'})"
        )
    lines.append("Next: connect Spotify (admin UI → Connect) or import your export ZIP: spotify-mcp import PATH")
    lines.append("Stop with Ctrl-C; your data stays in " + str(settings.home))
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    del args
    settings = load_settings()
    with database_url(settings) as url:
        migrate.upgrade(url)
        print(first_screen(settings, url), flush=True)
        supervisor = Supervisor(SERVICES, child_environment(settings, url))
        supervisor.start()
        return supervisor.wait()


COMMAND = Command("up", "Start everything: database (embedded by default), migrations and all services.", _run)
