"""Run an ASGI app on a real loopback port in a background thread (uvicorn), for HTTP-level tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(app: ASGIApp, *, port: int | None = None, tls_pem: str | None = None) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) while the app serves; stop it afterwards. With `tls_pem` (a file
    holding the key and certificate chain) it serves https and yields https://127.0.0.1:PORT."""
    port = port or free_port()
    # proxy_headers off, as the CLI runs uvicorn: the app's TRUSTED_PROXIES alone decides (serve.client_address).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        ssl_certfile=tls_pem,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls_pem else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
