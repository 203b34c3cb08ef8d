"""`spotify-mcp healthcheck [--service api|admin] [--url URL]`: exit 0 when the service's /healthz answers 2xx.

The container HEALTHCHECK (no curl in the image). The default URL follows the same settings the service binds
with (API_HOST/API_PORT, ADMIN_UI_HOST/ADMIN_UI_PORT), read without needing — or generating — any secret.
"""

from __future__ import annotations

import argparse

import httpx

from core.settings import load_some_settings

# The address that reaches a server bound to "every interface".
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
SERVICES = {"api": ("api_host", "api_port"), "admin": ("admin_ui_host", "admin_ui_port")}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service",
        choices=sorted(SERVICES),
        default="api",
        help="which service to probe on its configured port (api: API_PORT, admin: ADMIN_UI_PORT; default: api)",
    )
    parser.add_argument("--url", default=None, help="probe this URL instead (e.g. http://127.0.0.1:8000/healthz)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before giving up")


def health_url(service: str) -> str:
    host_name, port_name = SERVICES[service]
    found = load_some_settings([host_name, port_name])
    host = str(found[host_name]).strip()
    host = "127.0.0.1" if host in _WILDCARDS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{found[port_name]}/healthz"


def run(args: argparse.Namespace) -> int:
    url = args.url or health_url(args.service)
    try:
        response = httpx.get(url, timeout=args.timeout)
    except httpx.HTTPError as error:
        print(f"unhealthy: {url}: {error or type(error).__name__}")
        return 1
    if response.is_success:
        return 0
    print(f"unhealthy: {url} answered {response.status_code}")
    return 1
