from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import time

import httpx

from cli.commands.healthcheck import health_url
from cli.database import database_url
from cli.supervisor import ServiceSpec, Supervisor
from core import migrate
from core.dburl import redacted
from core.log import configure_logging
from core.settings import Settings, load_settings

# The services `up` runs: each the entrypoint its docker-compose service runs.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("api", ("api",)),
    ServiceSpec("collector", ("collector",)),
    ServiceSpec("dashboards", ("dashboards",)),
    ServiceSpec("admin", ("admin",)),
)


def child_environment(settings: Settings, url: str) -> dict[str, str]:
    """What every child needs to find the same database and secrets as this process."""
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["SPOTIFY_MCP_HOME"] = str(settings.home)
    env["TOKEN_ENCRYPTION_KEY"] = ",".join(settings.encryption_keys)
    # The admin UI's proxy and the dashboards share a secret that lives as long as this start.
    env["DASHBOARDS_PROXY_SECRET"] = os.environ.get("DASHBOARDS_PROXY_SECRET") or secrets.token_urlsafe(32)
    for name, secret in (
        ("ADMIN_TOKEN", settings.admin_token),
        ("ADMIN_PASSWORD", settings.admin_password),
        ("SESSION_SECRET", settings.session_secret),
    ):
        if secret is not None:
            env[name] = secret.get_secret_value()
    return env


def busy_ports(settings: Settings) -> list[str]:
    """The configured ports something else already listens on, named by their setting."""
    wanted = (
        ("API_PORT", settings.api_host, settings.api_port),
        ("ADMIN_UI_PORT", settings.admin_ui_host, settings.admin_ui_port),
        ("DASHBOARDS_PORT", "127.0.0.1", settings.dashboards_port),
    )
    busy = []
    for name, host, port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.3)
            if probe.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0:
                busy.append(f"port {port} ({name}) is already in use: stop what uses it or set {name} to another port")
    return busy


def first_screen(settings: Settings, url: str) -> str:
    database = redacted(url) + (
        f"  (embedded, in {settings.home / 'pgdata'})" if settings.uses_embedded_database else ""
    )
    lines = [
        "",
        "spotify-mcp is running.",
        f"  admin UI     http://{settings.admin_ui_host}:{settings.admin_ui_port}",
        f"  API          {settings.effective_public_base_url}   (OpenAPI: /docs; MCP: /mcp; tools: /mcp/tools)",
        f"  database     {database}",
    ]
    if settings.admin_token is not None:
        secret_home = f"  (kept in {settings.home / 'secrets.json'})" if settings.local_mode else ""
        lines.append(f"  admin token  {settings.admin_token.get_secret_value()}{secret_home}")
    lines += [
        "Next steps:",
        "  - import your Spotify export: admin UI → Imports, or `uv run spotify-mcp import my_spotify_data.zip`",
        "  - or connect Spotify: set SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET, then admin UI → Connect",
        "  - connect an assistant: docs/chatgpt.md and docs/mcp-clients.md",
        f"Stop with Ctrl-C. Your data stays in {settings.home}.",
        "",
    ]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", help="first add a demo user with two years of history")
    parser.add_argument("--json-logs", action="store_true", help="show the services' raw JSON log lines")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    problems = busy_ports(settings)
    if problems:
        for problem in problems:
            print(f"spotify-mcp: {problem}", file=sys.stderr)
        return 2
    with database_url(settings) as url:
        migrate.upgrade(url)
        if args.demo:
            from cli.demo import describe, seed_demo  # loads dbt and scikit-learn: only for --demo

            configure_logging("cli", level="WARNING")
            print("loading the demo history (two years, through the import path) and building the warehouse…")
            print(describe(seed_demo(settings, url)), flush=True)
        supervisor = Supervisor(SERVICES, child_environment(settings, url), raw_logs=args.json_logs)
        print("starting the API, the collector, the dashboards and the admin UI…", flush=True)
        try:
            supervisor.start()
            if wait_until_ready(supervisor):
                supervisor.say(first_screen(settings, url))
        except KeyboardInterrupt:  # Ctrl-C before the services were up: stop what started
            supervisor.stop()
            return 130
        code = supervisor.wait()
    print(f"spotify-mcp stopped. Your data stays in {settings.home}.", flush=True)
    return code


READY_TIMEOUT_SECONDS = 180.0


def wait_until_ready(supervisor: Supervisor) -> bool:
    """Wait until the API and the admin UI answer their /healthz (the admin UI's checks the API too), so the
    addresses are printed when they work. False when a service stopped first (wait() then reports it)."""
    urls = [health_url("api"), health_url("admin")]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not supervisor.running():
            return False
        try:
            if all(httpx.get(url, timeout=2).status_code == 200 for url in urls):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    supervisor.say(f"spotify-mcp: not answering after {READY_TIMEOUT_SECONDS:.0f}s; the lines above say why")
    return False
