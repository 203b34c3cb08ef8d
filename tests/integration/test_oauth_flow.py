"""OAuth end to end over real HTTP: our API (uvicorn) ↔ the fake Spotify (uvicorn) ↔ a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest

from core.crypto import TokenCipher, generate_key
from core.dburl import libpq_url
from core.settings import load_settings
from serve.api.app import create_app
from tests.fakes.spotify import FakeSpotify, spotify_env
from tests.live_server import free_port, live_server


@dataclass
class Stack:
    api: str
    fake: FakeSpotify
    database_url: str
    cipher: TokenCipher

    def count(self, table: str) -> int:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            return int(row[0])

    def browse_to_spotify(self, browser: httpx.Client) -> httpx.Response:
        """Our /auth/login, then Spotify's authorize page; returns Spotify's answer (a redirect back)."""
        login = browser.get(f"{self.api}/auth/login")
        assert login.status_code == 302, login.text
        return browser.get(login.headers["location"])


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    fake = FakeSpotify()
    fake.add_user("alice", display_name="Alice")
    key = generate_key()
    with live_server(fake.app) as fake_base:
        port = free_port()
        settings = load_settings(
            spotify_env(database_url, fake_base, key, SPOTIFY_REDIRECT_URI=f"http://127.0.0.1:{port}/auth/callback")
        )
        with live_server(create_app(settings, database_url), port=port) as api:
            yield Stack(api, fake, database_url, TokenCipher([key]))


def test_login_connects_and_stores_only_encrypted_tokens(stack: Stack) -> None:
    with httpx.Client() as browser:
        login = browser.get(f"{stack.api}/auth/login")
        assert login.status_code == 302
        authorize = urlparse(login.headers["location"])
        query = parse_qs(authorize.query)
        assert authorize.path == "/authorize"
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{stack.api}/auth/callback"]
        assert set(query["scope"][0].split()) >= {"user-read-recently-played", "user-top-read"}
        # Consent to write playlists is asked at login (issue 19), and stored with the token below.
        assert set(query["scope"][0].split()) >= {"playlist-modify-private", "playlist-modify-public"}
        assert "httponly" in login.headers["set-cookie"].lower()

        back = browser.get(login.headers["location"])
        assert back.status_code == 302
        done = browser.get(back.headers["location"])
        assert done.status_code == 200, done.text
        assert "Spotify connected" in done.text
        assert "last 50 plays" in done.text  # says what happens next
        assert "Alice" in done.text

    refresh_plain = next(iter(stack.fake.refresh_tokens))
    with psycopg.connect(libpq_url(stack.database_url)) as connection:
        user = connection.execute("SELECT id, spotify_user_id, display_name, status FROM app.users").fetchall()
        assert [(row[1], row[2], row[3]) for row in user] == [("alice", "Alice", "active")]
        token = connection.execute(
            "SELECT refresh_token_enc, access_token_enc, access_token_expires_at, scope, token_type, consented_at, "
            "refresh_token_expires_at, client_id FROM app.spotify_tokens"
        ).fetchone()
        assert token is not None
        refresh_enc, access_enc, access_expiry, scope, token_type, consented, refresh_expiry, client_id = token
        assert refresh_plain not in refresh_enc and stack.cipher.decrypt(refresh_enc) == refresh_plain
        assert stack.cipher.decrypt(access_enc).startswith("fake-access-")
        assert access_expiry > datetime.now(UTC) + timedelta(minutes=50)
        assert "user-read-recently-played" in scope and token_type == "Bearer" and client_id == "fake-client-id"
        assert {"playlist-modify-private", "playlist-modify-public"} <= set(scope.split())
        assert timedelta(days=180) <= refresh_expiry - consented <= timedelta(days=184)
        checkpoint = connection.execute("SELECT status, next_poll_at <= now() FROM app.sync_checkpoints").fetchone()
        assert checkpoint == ("idle", True)
        state = connection.execute("SELECT used_at IS NOT NULL FROM app.oauth_states").fetchall()
        assert state == [(True,)]


def test_replayed_state_is_refused_and_changes_nothing(stack: Stack) -> None:
    with httpx.Client() as browser:
        back = stack.browse_to_spotify(browser)
        assert browser.get(back.headers["location"]).status_code == 200
        with psycopg.connect(libpq_url(stack.database_url)) as connection:
            before = connection.execute("SELECT refresh_token_enc, updated_at FROM app.spotify_tokens").fetchall()
        replay = browser.get(back.headers["location"])
    assert replay.status_code == 400
    assert "already used" in replay.text
    with psycopg.connect(libpq_url(stack.database_url)) as connection:
        after = connection.execute("SELECT refresh_token_enc, updated_at FROM app.spotify_tokens").fetchall()
    assert after == before
    assert stack.count("app.users") == 1


def test_forged_state_and_other_browser_store_nothing(stack: Stack) -> None:
    with httpx.Client() as attacker:
        forged = attacker.get(f"{stack.api}/auth/callback", params={"code": "whatever", "state": "made-up"})
        assert forged.status_code == 400 and "not valid" in forged.text
        missing = attacker.get(f"{stack.api}/auth/callback", params={"code": "whatever"})
        assert missing.status_code == 400
    with httpx.Client() as victim:
        back = stack.browse_to_spotify(victim)
    # The callback URL (code + state) arrives in a browser that did not start the login.
    with httpx.Client() as other:
        stolen = other.get(back.headers["location"])
    assert stolen.status_code == 400 and "another browser" in stolen.text
    assert stack.count("app.users") == 0
    assert stack.count("app.spotify_tokens") == 0
    # The code was never exchanged.
    assert "authorization_code" not in stack.fake.token_grants


def test_denied_consent_shows_a_clear_page_and_stores_nothing(stack: Stack) -> None:
    stack.fake.deny_consent = True
    with httpx.Client() as browser:
        back = stack.browse_to_spotify(browser)
        assert "error=access_denied" in back.headers["location"]
        page = browser.get(back.headers["location"])
    assert page.status_code == 400
    assert "declined" in page.text and "nothing was stored" in page.text
    assert stack.count("app.users") == 0 and stack.count("app.spotify_tokens") == 0


def test_spotify_refusing_the_code_stores_nothing(stack: Stack) -> None:
    with httpx.Client() as browser:
        back = stack.browse_to_spotify(browser)
        location = urlparse(back.headers["location"])
        params = parse_qs(location.query)
        # Spotify's token endpoint refuses a code it does not know (e.g. used elsewhere or expired).
        page = browser.get(
            f"{stack.api}/auth/callback", params={"code": "fake-code-bogus", "state": params["state"][0]}
        )
    assert page.status_code == 502
    assert "Spotify did not complete the login" in page.text and "Nothing was stored" in page.text
    assert stack.count("app.users") == 0 and stack.count("app.spotify_tokens") == 0


def test_spotify_error_page_then_login_again_works(stack: Stack) -> None:
    stack.fake.authorize_error = "INVALID_CLIENT: Invalid redirect URI"
    with httpx.Client() as browser:
        at_spotify = stack.browse_to_spotify(browser)
        assert at_spotify.status_code == 400  # Spotify's own page; nothing reached us
        stack.fake.authorize_error = None
        back = stack.browse_to_spotify(browser)
        assert browser.get(back.headers["location"]).status_code == 200
    assert stack.count("app.users") == 1


def test_reconnect_after_needs_reauth_reactivates_and_logout_forgets_tokens(stack: Stack) -> None:
    with httpx.Client() as browser:
        back = stack.browse_to_spotify(browser)
        assert browser.get(back.headers["location"]).status_code == 200
        with psycopg.connect(libpq_url(stack.database_url), autocommit=True) as connection:
            connection.execute("UPDATE app.users SET status = 'needs_reauth'")
            connection.execute("UPDATE app.sync_checkpoints SET status = 'needs_reauth', error_message = 'expired'")
        back = stack.browse_to_spotify(browser)
        assert browser.get(back.headers["location"]).status_code == 200
        with psycopg.connect(libpq_url(stack.database_url)) as connection:
            assert connection.execute("SELECT status FROM app.users").fetchall() == [("active",)]
            assert connection.execute("SELECT status, error_message FROM app.sync_checkpoints").fetchall() == [
                ("idle", None)
            ]
        assert stack.count("app.users") == 1
        out = browser.post(f"{stack.api}/auth/logout")
        assert out.status_code == 200 and "disconnected" in out.text.lower()
    assert stack.count("app.spotify_tokens") == 0
    assert stack.count("app.users") == 1  # history and user stay
    with httpx.Client() as stranger:
        assert stranger.post(f"{stack.api}/auth/logout").status_code == 400


def test_login_without_spotify_app_explains(database_url: str) -> None:
    settings = load_settings(
        {"DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEY": generate_key(), "ADMIN_TOKEN": "x" * 24}
    )
    with live_server(create_app(settings, database_url)) as api:
        page = httpx.get(f"{api}/auth/login")
    assert page.status_code == 404  # no such feature here; not a server fault
    assert "SPOTIFY_CLIENT_ID" in page.text


def test_account_not_on_the_allow_list_gets_told_how_to_fix_it(stack: Stack) -> None:
    stack.fake.not_allow_listed.add("alice")
    with httpx.Client() as browser:
        back = stack.browse_to_spotify(browser)
        page = browser.get(back.headers["location"])
    assert page.status_code == 403
    assert "User Management" in page.text and "Nothing was stored" in page.text
    assert stack.count("app.users") == 0 and stack.count("app.spotify_tokens") == 0
