"""Hostile and careless input is a 4xx naming the field, never a 500; every error body carries the request id of
its response; an unreachable database is a 503. Over real HTTP, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import record_transform, standard_history
from tests.live_server import live_server
from tests.tcp_proxy import proxied_database

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_ARGS = b'{"tool": "history.top_artists", "args": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}"


@pytest.fixture
def base(settings: Settings, database_url: str) -> Iterator[str]:
    standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    with live_server(create_app(settings, database_url)) as url:
        yield url


@pytest.fixture
def user_token(base: str) -> str:
    users = httpx.get(f"{base}/admin/users", headers=ADMIN).json()["items"]
    created = httpx.post(f"{base}/admin/users/{users[0]['id']}/api-tokens", json={"name": "t"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object of our shape; its request id is the response's."""
    body = response.json()
    error: dict[str, Any] = body["error"]
    assert error["request_id"] is not None, body
    assert error["request_id"] == response.headers["x-request-id"], body
    return error


def _fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in _error_of(response)["details"]["fields"]]


def test_deeply_nested_json_is_a_422_naming_the_body(base: str, user_token: str) -> None:
    user = {"Authorization": f"Bearer {user_token}"}
    for path, body in (
        ("/mcp/call", DEEP_ARRAY),
        ("/mcp/call", DEEP_ARGS),
        ("/mcp/call/history.top_artists", DEEP_ARRAY),
        ("/admin/users", DEEP_ARRAY),
    ):
        headers = {**user, "content-type": "application/json"} if path.startswith("/mcp") else ADMIN
        response = httpx.post(f"{base}{path}", content=body, headers={"content-type": "application/json", **headers})
        assert response.status_code == 422, (path, response.text)
        assert _fields(response) == ["body"], path
        assert "nest" in response.text or "recursion" in response.text
    # Without a content type /mcp/call still reads JSON: the same checks apply.
    response = httpx.post(f"{base}/mcp/call", content=DEEP_ARRAY, headers=user)
    assert response.status_code == 422 and _fields(response) == ["body"]
    # Arguments sent as a JSON string go through the same parser.
    nested_string = '{"tool": "history.top_artists", "args": "' + "[" * 5_000 + "]" * 5_000 + '"}'
    response = httpx.post(f"{base}/mcp/call", content=nested_string, headers=user)
    assert response.status_code == 422 and _fields(response) == ["args"], response.text


def test_oauth_registration_refuses_nested_and_broken_json_in_its_own_error_shape(base: str) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000  # under the registration's 64 KiB cap
    for body in (deep, b'{"client_name": "\xff", "redirect_uris": ["https://a.example/cb"]}'):
        response = httpx.post(f"{base}/oauth/register", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_client_metadata"
        assert "body" in response.json()["error_description"]
        # Sent without a content type, the route's own parsing holds the same line.
        response = httpx.post(f"{base}/oauth/register", content=body)
        assert response.status_code == 400, response.text
    nul = httpx.post(
        f"{base}/oauth/register", json={"client_name": "a\x00b", "redirect_uris": ["https://a.example/cb"]}
    )
    assert nul.status_code == 400 and "client_name" in nul.json()["error_description"]


def test_invalid_utf8_is_a_422_naming_the_body(base: str, user_token: str) -> None:
    user = {"Authorization": f"Bearer {user_token}", "content-type": "application/json"}
    response = httpx.post(f"{base}/mcp/call", content=b'{"tool": "\xff\xfe"}', headers=user)
    assert response.status_code == 422 and _fields(response) == ["body"]
    assert "unicode" in response.text or "UTF-8" in response.text
    admin_json = {**ADMIN, "content-type": "application/json"}
    response = httpx.post(f"{base}/admin/users", content=b'{"display_name": "\xc3"}', headers=admin_json)
    assert response.status_code == 422 and _fields(response) == ["body"]
    # A lone surrogate escape is valid JSON but no text: PostgreSQL could not store it.
    response = httpx.post(f"{base}/admin/users", content=b'{"display_name": "\\ud800"}', headers=admin_json)
    assert response.status_code == 422 and _fields(response) == ["body"]


def test_a_nul_character_is_refused_naming_the_field(base: str) -> None:
    user_id = httpx.get(f"{base}/admin/users", headers=ADMIN).json()["items"][0]["id"]
    response = httpx.post(f"{base}/admin/users/{user_id}/api-tokens", json={"name": "a\x00b"}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert _fields(response) == ["name"]
    response = httpx.post(f"{base}/admin/users", json={"display_name": "x", "timezone": "UTC\x00"}, headers=ADMIN)
    assert response.status_code == 422 and _fields(response) == ["timezone"]
    tokens = httpx.get(f"{base}/admin/api-tokens", headers=ADMIN).json()
    assert tokens == []  # nothing half-written


def test_far_dates_are_a_422_naming_the_field(base: str, user_token: str) -> None:
    user = {"Authorization": f"Bearer {user_token}"}
    for args, field in (
        ({"end": "9999-12-31"}, "end"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "start"),
        ({"start": "9999-12-31"}, "start"),
        ({"end": "0001-01-01", "days": 30}, "end"),
    ):
        response = httpx.post(f"{base}/mcp/call", json={"tool": "history.top_artists", "args": args}, headers=user)
        assert response.status_code == 422, (args, response.text)
        assert field in _fields(response), (args, response.text)
    response = httpx.post(
        f"{base}/mcp/call/history.compare_periods", json={"compare_start": "9999-12-30", "compare_end": "9999-12-31"}
    )
    assert response.status_code == 401  # authentication first
    response = httpx.post(
        f"{base}/mcp/call/history.compare_periods",
        json={"compare_start": "9999-12-30", "compare_end": "9999-12-31"},
        headers=user,
    )
    assert response.status_code == 422 and set(_fields(response)) == {"compare_start", "compare_end"}
    for query, field in (("until=9999-12-31", "query.until"), ("since=0001-01-01T00:00:00Z", "query.since")):
        response = httpx.get(f"{base}/admin/logs?{query}", headers=ADMIN)
        assert response.status_code == 422, (query, response.text)
        assert _fields(response) == [field]
    # Dates inside the bounds still answer.
    assert httpx.get(f"{base}/admin/logs?until=2999-12-31", headers=ADMIN).status_code == 200


def test_ids_beyond_int64_are_a_422_naming_the_field(base: str) -> None:
    huge = "99999999999999999999"
    for path, field in (
        (f"/admin/job-runs/{huge}", "path.job_run_id"),
        (f"/admin/import-jobs/{huge}", "path.import_job_id"),
        (f"/admin/logs?before_id={huge}", "query.before_id"),
        (f"/admin/logs?after_id={huge}", "query.after_id"),
        (f"/admin/oauth/clients?offset={huge}", "query.offset"),
    ):
        response = httpx.get(f"{base}{path}", headers=ADMIN)
        assert response.status_code == 422, (path, response.text)
        assert _fields(response) == [field], path
    assert httpx.get(f"{base}/admin/job-runs/{2**63 - 1}", headers=ADMIN).status_code == 404


def test_a_json_body_over_the_cap_is_a_413(base: str) -> None:
    big = b'{"display_name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = httpx.post(f"{base}/admin/users", content=big, headers=ADMIN)
    assert response.status_code == 413, response.text
    assert _error_of(response)["code"] == "payload_too_large"
    # /mcp/call reads JSON whatever the content type says, and bounds it itself.
    response = httpx.post(f"{base}/mcp/call", content=big, headers={**ADMIN, "content-type": "text/plain"})
    assert response.status_code == 413, response.text
    assert _error_of(response)["code"] == "payload_too_large"


def test_every_error_body_carries_the_request_id_of_its_response(settings: Settings, database_url: str) -> None:
    app = create_app(settings, database_url)
    _add_failing_route(app)
    with live_server(app) as url:
        for method, path, headers in (
            ("GET", "/nope", {}),
            ("GET", "/admin/users", {}),
            ("POST", "/mcp/call", ADMIN),
            ("GET", "/admin/users/not-a-uuid", ADMIN),
            ("DELETE", "/healthz", {}),
            ("GET", "/boom", {}),
        ):
            response = httpx.request(method, f"{url}{path}", headers=headers)
            assert response.status_code >= 400, path
            _error_of(response)
            given = httpx.request(method, f"{url}{path}", headers={**headers, "X-Request-ID": "trace-42"})
            assert given.headers["x-request-id"] == "trace-42"
            assert _error_of(given)["request_id"] == "trace-42"
        boom = httpx.get(f"{url}/boom")
        assert boom.status_code == 500
        assert _error_of(boom)["code"] == "internal_error"
        assert "secret detail" not in boom.text  # never the exception itself


def _add_failing_route(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("secret detail")

    app.add_api_route("/boom", boom, methods=["GET"])
    # Routes after the MCP route are still reachable: it matches /mcp only.


def test_healthz_is_503_while_the_database_is_down_and_recovers(settings: Settings, database_url: str) -> None:
    with proxied_database(database_url) as (url, proxy), live_server(create_app(settings, url)) as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "database": "ok"}
        proxy.down()
        down = httpx.get(f"{base}/healthz", timeout=30)
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "database": "unreachable"}
        assert down.headers["retry-after"]
        # Other routes say the same in the error shape instead of a 500.
        listing = httpx.get(f"{base}/admin/users", headers=ADMIN, timeout=30)
        assert listing.status_code == 503, listing.text
        assert _error_of(listing)["code"] == "unavailable"
        proxy.up()
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        assert httpx.get(f"{base}/admin/users", headers=ADMIN, timeout=30).status_code == 200


def test_a_malformed_multipart_upload_is_a_422_and_leaves_nothing(base: str, settings: Settings) -> None:
    """Found by schemathesis: a broken multipart body reached the parser's exception as a 500."""
    user_id = httpx.get(f"{base}/admin/users", headers=ADMIN).json()["items"][0]["id"]
    boundary = "4c74eb80f9b5fc6cb11b1a72e31ef4d2"
    response = httpx.post(
        f"{base}/admin/users/{user_id}/imports/zip",
        content=f"--{boundary}\r\n100--{boundary}--\r\n".encode(),
        headers={**ADMIN, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 422, response.text
    assert _fields(response) == ["body"]
    assert "multipart" in _error_of(response)["message"]
    upload_dir = settings.effective_upload_dir
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_nul_in_query_strings_and_forms_is_refused_naming_the_field(base: str) -> None:
    for path in ("/admin/users?q=a%00b", "/admin/logs?q=%00"):
        response = httpx.get(f"{base}{path}", headers=ADMIN)
        assert response.status_code == 422, (path, response.text)
        assert _fields(response) == ["query.q"]
    # OAuth endpoints answer in OAuth's error shape.
    authorize = httpx.get(f"{base}/oauth/authorize?client_id=a%00b&response_type=code")
    assert authorize.status_code == 400
    assert authorize.json()["error"] == "invalid_request" and "client_id" in authorize.json()["error_description"]
    form = {"content-type": "application/x-www-form-urlencoded"}
    for path in ("/oauth/token", "/oauth/revoke"):
        response = httpx.post(f"{base}{path}", content=b"client_id=a%00b&grant_type=x&token=y", headers=form)
        assert response.status_code == 400, (path, response.text)
        assert "client_id" in response.json()["error_description"]


def test_a_nul_from_a_header_is_still_a_4xx(base: str) -> None:
    """Where no check names the field (a client id inside HTTP basic auth), the database's refusal is a 422."""
    response = httpx.post(f"{base}/oauth/token", data={"grant_type": "refresh_token"}, auth=("a\x00b", "secret"))
    assert response.status_code == 422, response.text
    assert _error_of(response)["code"] == "invalid_arguments"
    assert "NUL" in _error_of(response)["message"]


def test_an_upload_file_name_with_control_characters_is_cleaned(base: str) -> None:
    user_id = httpx.get(f"{base}/admin/users", headers=ADMIN).json()["items"][0]["id"]
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="my\x00data\x07.zip"\r\n'
            f"Content-Type: application/zip\r\n\r\n"
        ).encode()
        + b"PK\x05\x06"
        + b"\x00" * 18
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = httpx.post(
        f"{base}/admin/users/{user_id}/imports/zip",
        content=body,
        headers={**ADMIN, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["original_filename"] == "mydata.zip"


def test_a_tool_whose_mart_is_not_built_yet_is_a_503_to_retry(base: str, user_token: str, database_url: str) -> None:
    """During the first build the marts appear one by one: a tool reading one that is not there yet answers 503
    with Retry-After (on /mcp/call and over MCP alike, through the one registry), never a 500; others still answer."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DROP TABLE marts.dim_artists CASCADE")
    user = {"Authorization": f"Bearer {user_token}"}
    response = httpx.post(f"{base}/mcp/call", json={"tool": "history.taste_summary", "args": {}}, headers=user)
    assert response.status_code == 503, response.text
    assert _error_of(response)["code"] == "warehouse_building"
    assert int(response.headers["retry-after"]) > 0
    still = httpx.post(f"{base}/mcp/call", json={"tool": "history.coverage", "args": {}}, headers=user)
    assert still.status_code == 200, still.text  # the session was not left in a failed transaction
