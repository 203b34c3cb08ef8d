from __future__ import annotations

import argparse
import os

import uvicorn

from cli.database import database_url
from core.log import configure_logging
from core.settings import load_settings
from serve.admin_ui.app import create_admin_app


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (default: ADMIN_UI_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default: ADMIN_UI_PORT)")
    parser.add_argument(
        "--dashboards-url",
        default=None,
        help="where the admin UI reaches Streamlit (default: DASHBOARDS_URL or http://127.0.0.1:DASHBOARDS_PORT)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    host = args.host or settings.admin_ui_host
    port = args.port or settings.admin_ui_port
    streamlit_url = args.dashboards_url or os.environ.get("DASHBOARDS_URL") or None
    # The UI reads nothing from the database; logs still go to app.logs when a database is configured.
    if settings.database_url is not None:
        with database_url(settings) as url:
            configure_logging("frontend", level=settings.log_level, database_url=url)
    else:
        configure_logging("frontend", level=settings.log_level)
    app = create_admin_app(settings, streamlit_url=streamlit_url)
    # The websockets sans-I/O protocol: what uvicorn's "auto" picks (and the tests' live servers use); the
    # older "websockets" implementation is deprecated.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        ws="websockets-sansio",
    )
    return 0
