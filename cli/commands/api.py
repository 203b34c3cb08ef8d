from __future__ import annotations

import argparse

import uvicorn

from cli.database import database_url
from core.log import configure_logging
from core.settings import load_settings
from serve.api.app import create_app


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: API_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default: API_PORT)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    with database_url(settings) as url:
        configure_logging("api", level=settings.log_level, database_url=url)
        app = create_app(settings, url)
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on", proxy_headers=False)
    return 0
