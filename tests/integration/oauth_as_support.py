"""Shared pieces of the OAuth authorization-server tests: the live stack (API + fake Spotify + a CIMD host) and a
scripted browser that signs in and allows on the consent page."""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.crypto import generate_key
from core.dburl import libpq_url
from core.settings import load_settings
from serve.api.app import create_app
from serve.oauth.cimd import CimdFetcher
from tests.fakes.spotify import FakeSpotify, spotify_env
from tests.live_server import free_port, live_server

CIMD_NAME = "cimd.example.org"
CALLBACK = "http://127.0.0.1:9/callback"  # never dialled: the scripted browser stops at the redirect


@dataclass
class Stack:
    api: str
    fake: FakeSpotify
    database_url: str
    documents: dict[str, dict[str, Any]]
    cimd: str  # https://cimd.example.org:PORT, served on loopback with a certificate of a test CA
    on_fetch: dict[str, Callable[[], None]]  # path -> called while the document server answers it

    @property
    def resource(self) -> str:
        return f"{self.api}/mcp"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as connection:
            cursor = connection.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def dump_app_tables(self) -> str:
        """Every row of every app table, as text (for the no-plaintext-secret scan)."""
        names = [
            row[0] for row in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema='app'")
        ]
        return "\n".join(
            str(row[0]) for name in names for row in self.query(f"SELECT row_to_json(t)::text FROM app.{name} t")
        )


def stack_for(database_url: str) -> Iterator[Stack]:
    fake = FakeSpotify()
    fake.add_user("alice", display_name="Alice")
    documents: dict[str, dict[str, Any]] = {}
    on_fetch: dict[str, Callable[[], None]] = {}

    async def document(request: Request) -> JSONResponse:
        if request.url.path in on_fetch:
            on_fetch[request.url.path]()
        found = documents.get(request.url.path)
        return JSONResponse(found or {"error": "not found"}, 200 if found else 404)

    cimd = Starlette(routes=[Route("/{path:path}", document)])
    key = generate_key()
    authority = trustme.CA()
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)

    async def dns(host: str, port: int) -> list[str]:
        del port
        if host != CIMD_NAME:
            raise OSError(f"no such host {host}")
        return ["127.0.0.1"]

    with (
        authority.issue_cert(CIMD_NAME).private_key_and_cert_chain_pem.tempfile() as pem,
        live_server(fake.app) as fake_base,
        live_server(cimd, tls_pem=pem) as cimd_base,
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = load_settings(
            spotify_env(
                database_url,
                fake_base,
                key,
                SPOTIFY_REDIRECT_URI=f"{base}/auth/callback",
                PUBLIC_BASE_URL=base,
                # The documents' host resolves to loopback (tests only; production refuses non-public hosts).
                OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES="true",
            )
        )
        app = create_app(settings, database_url)
        app.state.oauth_cimd_fetcher = CimdFetcher.for_settings(settings, resolver=dns, verify=trusting)
        with live_server(app, port=port) as api:
            cimd_url = f"https://{CIMD_NAME}:{cimd_base.rsplit(':', 1)[1]}"
            yield Stack(api, fake, database_url, documents, cimd_url, on_fetch)


HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def _unescape(value: str) -> str:
    return html.unescape(value)


async def allow_on_consent(browser: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
    """Submit the consent form (Allow); returns the redirect to the client."""
    assert page.status_code == 200, page.text
    assert "wants to" in page.text and "Allow" in page.text, page.text
    fields = {name: _unescape(value) for name, value in HIDDEN.findall(page.text)}
    answer = await browser.post(
        str(page.url.join("/oauth/authorize/decision")), data={**fields, "decision": "allow"}, follow_redirects=False
    )
    assert answer.status_code == 302, answer.text
    return answer


async def sign_in_with_spotify(browser: httpx.AsyncClient, authorize_url: str) -> httpx.Response:
    """Authorization URL → sign-in page → Spotify (fake) → /auth/callback → consent page."""
    signin = await browser.get(authorize_url)
    assert signin.status_code == 200, signin.text
    assert "Sign in with Spotify" in signin.text
    link = re.search(r'href="(/oauth/signin/spotify\?[^"]+)"', signin.text)
    assert link is not None
    return await browser.get(str(signin.url.join(_unescape(link.group(1)))), follow_redirects=True)


async def sign_in_with_password(
    browser: httpx.AsyncClient, authorize_url: str, login_name: str, password: str
) -> httpx.Response:
    signin = await browser.get(authorize_url)
    assert signin.status_code == 200, signin.text
    fields = {name: _unescape(value) for name, value in HIDDEN.findall(signin.text)}
    return await browser.post(
        str(signin.url.join("/oauth/signin/password")),
        data={**fields, "login_name": login_name, "password": password},
        follow_redirects=True,
    )


def redirect_params(response: httpx.Response, redirect_uri: str = CALLBACK) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
