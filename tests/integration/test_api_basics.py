from __future__ import annotations

import httpx

from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server


def test_healthz_over_real_http_with_request_id(settings: Settings, database_url: str) -> None:
    with live_server(create_app(settings, database_url)) as base:
        response = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}
        assert response.headers["x-request-id"] == "abc-123"
        missing = httpx.get(f"{base}/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert ADMIN_TOKEN  # the fixture's token exists for admin tests


def test_a_write_is_committed_before_the_response(settings: Settings, database_url: str) -> None:
    """The unit of work ends before the answer goes out: a read right after a 201 sees the row."""
    with live_server(create_app(settings, database_url)) as base:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for index in range(10):
            created = httpx.post(f"{base}/admin/users", json={"display_name": f"u{index}"}, headers=headers)
            assert created.status_code == 201, created.text
            user_id = created.json()["id"]
            assert httpx.get(f"{base}/admin/users/{user_id}", headers=headers).status_code == 200
