"""The admin UI's dashboard proxy over real sockets on loopback: when either side of a proxied WebSocket ends,
both connections are closed — none is left in CLOSE-WAIT (issue 16.12) — and every request it forwards carries
the per-start secret the dashboards require (issue 16.2)."""

from __future__ import annotations

import os
import socket as sockets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from cli.commands.dashboards import streamlit_argv
from core.settings import Settings
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.proxy import SECRET_ENV, SECRET_HEADER, proxy_secret
from serve.admin_ui.session import COOKIE_NAME
from tests.conftest import ADMIN_TOKEN
from tests.live_server import free_port, live_server

CLOSE_WAIT = "08"


@dataclass
class Upstream:
    headers: list[dict[str, str]] = field(default_factory=list)


def fake_streamlit(upstream: Upstream) -> Starlette:
    async def page(request: Request) -> PlainTextResponse:
        upstream.headers.append(dict(request.headers))
        return PlainTextResponse("page")

    async def stream(websocket: WebSocket) -> None:
        upstream.headers.append(dict(websocket.headers))
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "bye":
                await websocket.close()  # the dashboards end the session (e.g. Streamlit restarting)
                return
            await websocket.send_text("echo:" + str(message.get("text")))

    return Starlette(
        routes=[
            Route("/analytics/app/{path:path}", page),
            WebSocketRoute("/analytics/app/_stcore/stream", stream),
        ]
    )


def _sockets(port: int) -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of every loopback TCP connection touching `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(part.rsplit(":", 1)[1], 16) for part in (fields[1], fields[2]))
            if port in (local, remote):
                found.append((local, remote, fields[3]))
    return found


def close_waits(*ports: int) -> list[tuple[int, int, str]]:
    """Connections in CLOSE-WAIT touching any of `ports`, once they have settled (a closing connection passes
    through CLOSE-WAIT for a moment; one left there stays)."""
    deadline = time.monotonic() + 5
    while True:
        stuck = [entry for port in ports for entry in _sockets(port) if entry[2] == CLOSE_WAIT]
        if not stuck or time.monotonic() > deadline:
            return stuck
        time.sleep(0.05)


@pytest.fixture
def proxy(settings: Settings) -> Iterator[tuple[str, str, Upstream, str]]:
    upstream = Upstream()
    with live_server(fake_streamlit(upstream)) as streamlit:
        admin = create_admin_app(settings, api_base_url="http://127.0.0.1:9", streamlit_url=streamlit)
        with live_server(admin) as ui:
            with httpx.Client(base_url=ui, timeout=15) as client:  # closed before the test counts connections
                assert client.post("/login", data={"token": ADMIN_TOKEN}).status_code == 303
                cookie = f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"
            yield ui, streamlit, upstream, cookie


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_closed_websockets_leave_nothing_in_close_wait(proxy: tuple[str, str, Upstream, str]) -> None:
    ui, streamlit, _, cookie = proxy
    url = ui.replace("http", "ws") + "/analytics/app/_stcore/stream"
    ports = (_port(ui), _port(streamlit))
    # The browser leaves (tab closed): both connections end.
    for _ in range(3):
        with ws_connect(url, additional_headers={"Cookie": cookie}) as socket:
            socket.send("hi")
            assert socket.recv(timeout=5) == "echo:hi"
    assert close_waits(*ports) == []
    # The dashboards end the stream: the browser is told, and both connections end.
    for _ in range(3):
        with ws_connect(url, additional_headers={"Cookie": cookie}) as socket:
            socket.send("bye")
            with pytest.raises(Exception, match=r"received 1000|sent 1000|ConnectionClosed"):
                socket.recv(timeout=5)
    assert close_waits(*ports) == []
    assert [entry for port in ports for entry in _sockets(port) if entry[2] == "01"] == [], ports  # none ESTABLISHED


def test_abrupt_disconnects_leave_nothing_in_close_wait(proxy: tuple[str, str, Upstream, str]) -> None:
    ui, streamlit, _, cookie = proxy
    ports = (_port(ui), _port(streamlit))
    for _ in range(3):
        raw = sockets.create_connection(("127.0.0.1", _port(ui)))
        raw.sendall(
            (
                "GET /analytics/app/_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        assert b"101" in raw.recv(4096)
        raw.close()  # no close frame: the browser crashed or the network went away
    assert close_waits(*ports) == []
    assert [entry for port in ports for entry in _sockets(port) if entry[2] == "01"] == []


def test_every_forwarded_request_carries_the_proxy_secret(
    proxy: tuple[str, str, Upstream, str], settings: Settings
) -> None:
    ui, _, upstream, cookie = proxy
    secret = proxy_secret(settings)
    forged = {"Cookie": cookie, SECRET_HEADER: "chosen-by-the-browser"}
    assert httpx.get(f"{ui}/analytics/app/index.html", headers=forged).text == "page"
    with ws_connect(ui.replace("http", "ws") + "/analytics/app/_stcore/stream", additional_headers=forged) as socket:
        socket.send("x")
        assert socket.recv(timeout=5) == "echo:x"
    assert [headers[SECRET_HEADER] for headers in upstream.headers] == [secret, secret]


# --- the real Streamlit process ------------------------------------------------------------------------------------


@pytest.fixture
def streamlit(settings: Settings, database_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`spotify-mcp dashboards`' Streamlit (dashboards/server.py) with the secret the CLI gives it."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, **{SECRET_ENV: proxy_secret(settings)})
    process = subprocess.Popen(
        streamlit_argv("127.0.0.1", port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"streamlit did not start: {process.communicate()[0]}")
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=30)


def _listening(port: int) -> bool:
    with sockets.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_dashboards_port_serves_nothing_without_the_proxy(
    settings: Settings, streamlit: tuple[str, subprocess.Popen[str]]
) -> None:
    base, _ = streamlit
    for path in ("/analytics/app/", "/analytics/app/_stcore/health", "/analytics/app/_stcore/host-config", "/"):
        direct = httpx.get(base + path, timeout=10)
        assert direct.status_code == 403 and "only through the admin UI" in direct.text, (path, direct.text[:200])
    agent = httpx.post(base + "/analytics/app/_stcore/agent/interact", json={}, timeout=10)
    assert agent.status_code == 403
    with (
        pytest.raises(Exception, match=r"403|rejected"),
        ws_connect(base.replace("http", "ws") + "/analytics/app/_stcore/stream", subprotocols=["streamlit"]),  # type: ignore[list-item]
    ):
        pass

    admin = create_admin_app(settings, api_base_url="http://127.0.0.1:9", streamlit_url=base)
    with live_server(admin) as ui, httpx.Client(base_url=ui, timeout=30) as client:
        assert client.get("/analytics/app/").status_code == 401  # the proxy itself wants a session
        assert client.post("/login", data={"token": ADMIN_TOKEN}).status_code == 303
        page = client.get("/analytics/app/")
        assert page.status_code == 200 and '<div id="root">' in page.text
        assert client.get("/analytics/app/_stcore/health").text == "ok"
        cookie = f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"
        url = ui.replace("http", "ws") + "/analytics/app/_stcore/stream"
        with ws_connect(url, additional_headers={"Cookie": cookie}, subprotocols=["streamlit"]) as socket:  # type: ignore[list-item]
            assert socket.subprotocol == "streamlit"
    assert _listening_only_on_loopback(int(base.rsplit(":", 1)[1]))


def test_the_direct_url_is_not_printed(streamlit: tuple[str, subprocess.Popen[str]]) -> None:
    base, process = streamlit
    assert httpx.get(base + "/analytics/app/", timeout=10).status_code == 403
    process.terminate()
    output = process.communicate(timeout=30)[0]
    port = base.rsplit(":", 1)[1]
    assert f":{port}" not in output and "You can now view" not in output, output


def _listening_only_on_loopback(port: int) -> bool:
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":
                addresses.add(address)
    return addresses == {"0100007F"}
