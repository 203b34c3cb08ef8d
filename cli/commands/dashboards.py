from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import dashboards
from cli.database import database_url
from core.settings import load_settings
from serve.admin_ui.proxy import SECRET_ENV, STREAMLIT_BASE_PATH, proxy_secret

# The launcher wraps streamlit_app.py in the gate that refuses anything not sent by the admin UI's proxy.
APP = Path(dashboards.__file__).resolve().parent / "server.py"


def streamlit_argv(host: str, port: int) -> list[str]:
    """Streamlit behind the admin UI's proxy: its base path is the proxy path, it never opens a browser."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.baseUrlPath",
        STREAMLIT_BASE_PATH,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
        # Streamlit's welcome banner prints its direct URL, which serves nothing to a browser: don't point at it.
        "--logger.hideWelcomeMessage",
        "true",
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1: reachable only through the admin UI's proxy; "
        "in compose use the internal network's address)",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: DASHBOARDS_PORT)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    port = args.port or settings.dashboards_port
    with database_url(settings) as url:
        env = dict(os.environ)
        env["DATABASE_URL"] = url  # dashboards read it themselves (they import nothing of ours)
        env[SECRET_ENV] = proxy_secret(settings)  # the same value the admin UI's proxy sends
        try:
            return subprocess.call(streamlit_argv(args.host, port), env=env)
        except KeyboardInterrupt:
            return 0
